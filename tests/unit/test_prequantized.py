"""Pre-quantized models (docs/prequantized.md): QDQ graphs from onnxruntime's
`quantize_static`, MatMulNBits from its weight-only quantizer and QONNX graphs
(tests/fixtures/quantized/make_*.py) keep their own scales and integers, and
hwc's integer level equals the quantized model run by onnxruntime except next
to a rounding boundary; a graph mixing quantized and float parts says so; every
quantized op or parameter hwc cannot honour is one error line naming it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.calibration import NO_DATA_WARNING
from compiler.errors import HwcError
from compiler.frontend import import_onnx
from compiler.ir import constant_value, main_function, rom_contents
from compiler.oracle import as_onnxruntime_runs_it, qonnx_as_standard_onnx
from compiler.weights import store_for
from dialects import nn, spatial
from dialects.rom import find_rom
from tests.support import FIXTURES, onnxruntime_session

QUANTIZED = FIXTURES / "quantized"
SHAPES = {"mlp_qdq_u8": (64,), "cnn_qdq_s8": (3, 8, 8), "mlp_mixed": (64,), "mlp_qdq_u4": (64,)}
SAMPLES = 400


def samples(name: str, count: int = SAMPLES, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, *SHAPES[name])).astype(np.float32)


def onnxruntime_outputs(name: str, x: np.ndarray) -> np.ndarray:
    session = onnxruntime_session(QUANTIZED / f"{name}.onnx")
    return np.concatenate([session.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])


def initializer(name: str, tensor: str) -> np.ndarray:
    model = onnx.load(QUANTIZED / f"{name}.onnx")
    return next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == tensor)


@pytest.mark.parametrize("name", ["mlp_qdq_u8", "cnn_qdq_s8", "mlp_qdq_u4"])
def test_qdq_float_level_equals_onnxruntime_and_int_level_is_within_1_lsb_of_it(name):
    """The int level is exact integer arithmetic; onnxruntime's float32 differs from it
    only next to a rounding boundary (docs/prequantized.md: ~1 output in 10^4)."""
    x = samples(name)
    theirs = onnxruntime_outputs(name, x)
    design = compiler.compile(QUANTIZED / f"{name}.onnx")
    np.testing.assert_array_equal(design.run(x, "float")["logits"], theirs)
    ours = design.run(x, "int")["logits"]
    step = float(initializer(name, "logits_scale"))
    lsb = np.abs(ours.astype(np.float64) - theirs) / step
    assert np.all(np.abs(lsb - np.rint(lsb)) < 1e-3), "the int level is not on the model's output grid"
    assert lsb.max() <= 1 + 1e-3 and (lsb > 0.5).mean() <= 1e-3, f"{(lsb > 0.5).sum()} outputs differ"
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).mean() >= 0.999


def test_qdq_cnn_spatial_level_equals_int():
    x = samples("cnn_qdq_s8", 8)
    design = compiler.compile(QUANTIZED / "cnn_qdq_s8.onnx")
    np.testing.assert_array_equal(design.run(x, "spatial")["logits"], design.run(x, "int")["logits"])


@pytest.mark.rtl
def test_qdq_mlp_rtl_equals_int():
    x = samples("mlp_qdq_u8", 16)
    design = compiler.compile(QUANTIZED / "mlp_qdq_u8.onnx", fold="min")
    np.testing.assert_array_equal(design.run(x, "rtl")["logits"], design.run(x, "int")["logits"])


def test_a_4_bit_input_keeps_the_models_range_at_every_level():
    """uint4 with zero point 8 is q - 8 in [-8, 7]: the host sends -8 (not hwc's narrow -7)
    where onnxruntime's QuantizeLinear saturates, at the int and spatial levels alike."""
    x = samples("mlp_qdq_u4", 8) * 4  # beyond the input's range on both sides
    design = compiler.compile(QUANTIZED / "mlp_qdq_u4.onnx")
    sent = design.executor("int").quantize_inputs({"input": x})["input"]
    assert sent.min() == -8 and sent.max() == 7
    np.testing.assert_array_equal(design.executor("spatial").quantize_inputs({"input": x})["input"], sent)
    ours = design.run(x, "int")["logits"]
    np.testing.assert_array_equal(ours, onnxruntime_outputs("mlp_qdq_u4", x))
    np.testing.assert_array_equal(design.run(x, "spatial")["logits"], ours)


def test_qdq_weights_are_the_models_integers_and_scales_whatever_wbits():
    design = compiler.compile(QUANTIZED / "cnn_qdq_s8.onnx", wbits=4)
    module = design.rom_module
    layers = [op for op in main_function(module).body.block.ops if isinstance(op, (nn.ConvOp, nn.DenseOp))]
    assert len(layers) == 3
    for layer, name in zip(layers, ("stem", "conv", "fc")):
        read = layer.weight.owner
        np.testing.assert_array_equal(rom_contents(read, store_for(module)),
                                      initializer("cnn_qdq_s8", f"{name}.weight_quantized"))
        scales = np.asarray(find_rom(read).scale.get_values(), np.float64)
        np.testing.assert_array_equal(scales, initializer("cnn_qdq_s8", f"{name}.weight_scale"))


def test_mixed_graph_quantizes_its_float_part_and_says_so(capsys):
    x = samples("mlp_mixed")
    design = compiler.compile(QUANTIZED / "mlp_mixed.onnx")
    ours = design.run(x, "int")["logits"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "quantizes only part" in line]
    assert warnings == ["hwc: warning: quantize: the model quantizes only part of the graph; hwc chose the "
                        "scales of 1 float value from calibration (logits)"]
    theirs = onnxruntime_outputs("mlp_mixed", x)
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).mean() >= 0.98


# --------------------------------------------------------------------------- float level: rounding


def qdq_model(path, scale=0.25, zero=np.uint8(3), nodes=(), initializers=(), shape=(2, 8), out="y",
              opset=17, out_type=TensorProto.FLOAT, out_shape=None):
    zero_tensor = numpy_helper.from_array(np.asarray(zero), "z")
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="quant"),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dequant"), *nodes],
        "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(out, out_type, list(out_shape or shape))],
        [numpy_helper.from_array(np.asarray(scale, np.float32), "s"), zero_tensor, *initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("zero", [np.uint8(3), np.int8(-2)])
def test_fake_quant_rounds_half_to_even_and_saturates_like_onnxruntime(tmp_path, zero):
    path = qdq_model(tmp_path / "m.onnx", zero=zero)
    # every tie k + 0.5 of the scale (0.25) in range, and values far beyond it
    x = np.concatenate([(np.arange(-12, 12) + 0.5) * 0.25, [-100.0, -40.0, 40.0, 100.0], np.linspace(-3, 3, 4)])
    x = x.astype(np.float32).reshape(4, 8)
    theirs = np.concatenate([onnxruntime_session(path).run(None, {"x": x[i:i + 2]})[0] for i in (0, 2)])
    design = compiler.compile(path)
    np.testing.assert_array_equal(design.run(x, "float")["y"], theirs)


# --------------------------------------------------------------------------- what cannot be honoured


def _gemm_model(path, weight_zero=0, axis=None, scales=(0.5, 0.25), transB=1, opset=17, block=None):
    codes = numpy_helper.from_array(np.array([[1, -2, 3], [4, 5, -6]], np.int8), "wq")
    attrs = {} if axis is None else {"axis": axis}
    if block:
        attrs["block_size"] = block
    scale = np.asarray(scales, np.float32)
    dq = helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], name="weight_dq", **attrs)
    gemm = helper.make_node("Gemm", ["y", "w"], ["out"], name="fc", transB=transB)
    zero = np.full(scale.shape, weight_zero, np.int8)
    return qdq_model(path, shape=(1, 3), nodes=[dq, gemm], out="out", opset=opset, out_shape=(1, 2),
                     initializers=[codes, numpy_helper.from_array(scale, "ws"), numpy_helper.from_array(zero, "wz")])


@pytest.mark.parametrize("build, message", [
    (lambda p: qdq_model(p, out="q", out_type=TensorProto.UINT8),
     "'quant' (QuantizeLinear: its integers are read by the graph output; hwc reads a QuantizeLinear on an "
     "activation only through DequantizeLinear)"),
    (lambda p: qdq_model(p, nodes=[helper.make_node("Relu", ["q"], ["r"], name="r")], out="r",
                         out_type=TensorProto.UINT8),
     "'quant' (QuantizeLinear: its integers are read by Relu 'r'"),
    (lambda p: qdq_model(p, scale=np.array([0.25] * 8, np.float32), zero=np.zeros(8, np.uint8)),
     "'quant' (QuantizeLinear: per-axis scales on an activation are not supported (one scale per tensor))"),
    (lambda p: _gemm_model(p, weight_zero=1, axis=0),
     "'fc' (Gemm: weight 'w' has a nonzero zero point; hwc keeps weights symmetric (zero point 0))"),
    (lambda p: _gemm_model(p, axis=1, scales=(0.5, 0.25, 0.125)),
     "'fc' (Gemm: weight 'w' is quantized along an axis other than its output channels"),
    (lambda p: _gemm_model(p, axis=0, scales=[[0.5, 0.25, 0.125]], opset=21, block=2),
     "'fc' (Gemm: weight 'w' has blocked scales along its output channels"),
    (lambda p: _gemm_model(p, axis=1, scales=[[0.5], [0.25]], opset=21, block=2),
     "'weight_dq' (DequantizeLinear: blocked scales of shape [2, 1] for [2, 3] in blocks of 2 along axis 1 "
     "(expected [2, 2])"),
])
def test_quantized_ops_hwc_cannot_honour_are_one_error_naming_them(tmp_path, build, message):
    path = build(tmp_path / "m.onnx")
    with pytest.raises(HwcError) as error:
        import_onnx(path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_per_axis_weight_of_a_matmul_is_honoured_after_the_transpose(tmp_path):
    """A MatMul weight [in, out] quantized along axis 1 is an nn.dense weight [out, in] with one scale per row."""
    codes = numpy_helper.from_array(np.array([[1, -2], [3, 4], [5, -6]], np.int8), "wq")
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"], axis=1),
             helper.make_node("MatMul", ["y", "w"], ["out"], name="mm")]
    path = qdq_model(tmp_path / "m.onnx", shape=(1, 3), nodes=nodes, out="out", out_shape=(1, 2),
                     initializers=[codes, numpy_helper.from_array(np.array([0.5, 0.125], np.float32), "ws")])
    (dense,) = [op for op in main_function(import_onnx(path)).body.block.ops if isinstance(op, nn.DenseOp)]
    assert list(dense.weight.owner.attributes[nn.GIVEN_SCALE_ATTR].get_values()) == [0.5, 0.125]
    x = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    design = compiler.compile(path)
    theirs = np.concatenate([onnxruntime_session(path).run(None, {"x": x[i:i + 1]})[0] for i in range(len(x))])
    np.testing.assert_array_equal(design.run(x, "float")["out"], theirs)


# --------------------------------------------------------------------------- MatMulNBits

NBITS = ["mlp_nbits_b32_sym", "mlp_nbits_b64_zp", "mlp_nbits_b128_zp",
         "mlp_qdq_blocked_b32", "mlp_qdq_blocked_b64_zp"]
"""MatMulNBits, and opset 21's blocked DequantizeLinear (the same quantizer's QDQ format)."""


def first_layer_block_scales(name: str) -> np.ndarray:
    """The model's block scales [N, blocks] of its first layer."""
    if "qdq" in name:  # DequantizeLinear of the MatMul's weight [K, N]: blocks along axis 0
        return initializer(name, "fc0.weight_DQ_scales").T.astype(np.float64)
    return initializer(name, "fc0.weight_scales").reshape(128, -1).astype(np.float64)


def onnxruntime_first_layer_weights(name: str) -> np.ndarray:
    """onnxruntime's own float weights [N, K] of the first MatMulNBits: its output
    (before the bias) for each one-hot input is one column, exactly."""
    model = onnx.load(QUANTIZED / f"{name}.onnx")
    model.graph.output.extend([helper.make_tensor_value_info("mm0", TensorProto.FLOAT, [1, 128])])
    session = onnxruntime_session(model.SerializeToString())
    eye = np.eye(128, dtype=np.float32)
    return np.concatenate([session.run(["mm0"], {"input": eye[i:i + 1]})[0] for i in range(128)]).T


@pytest.mark.parametrize("name", NBITS)
def test_matmul_nbits_float_weights_are_onnxruntimes_and_int_weights_its_integers(name):
    theirs = onnxruntime_first_layer_weights(name)
    design = compiler.compile(QUANTIZED / f"{name}.onnx")
    dense = next(op for op in main_function(design.nn_module).body.block.ops if isinstance(op, nn.DenseOp))
    np.testing.assert_array_equal(np.asarray(constant_value(dense.weight, store_for(design.nn_module))), theirs)

    module = design.rom_module
    layer = next(op for op in main_function(module).body.block.ops if isinstance(op, nn.GroupDenseOp))
    codes = rom_contents(layer.weight.owner, store_for(module))
    groups = rom_contents(layer.group_scale.owner, store_for(module))
    rom = find_rom(layer.weight.owner)
    channel = np.asarray(store_for(module).get(f"{rom.sym_name.data}.scale"), np.float64)  # > INLINE_LIMIT
    block = layer.group_size.value.data
    scales = first_layer_block_scales(name)
    # the model's integers: onnxruntime's weights divided by their block scales
    np.testing.assert_array_equal(codes, np.rint(theirs / np.repeat(scales, block, axis=1)))
    assert rom.width == (5 if name.endswith("zp") else 4)
    # each float block scale as an integer group scale under the channel scale, within half a step
    assert np.all(np.abs(groups * channel[:, None] - scales) <= channel[:, None] / 2 * (1 + 1e-9))


@pytest.mark.parametrize("name", NBITS)
def test_matmul_nbits_int_level_agrees_with_onnxruntime_and_spatial_with_int(name):
    x = np.random.default_rng(5).standard_normal((300, 128)).astype(np.float32)
    session = onnxruntime_session(QUANTIZED / f"{name}.onnx")
    theirs = np.concatenate([session.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])
    design = compiler.compile(QUANTIZED / f"{name}.onnx")
    np.testing.assert_allclose(design.run(x, "float")["logits"], theirs, rtol=1e-4, atol=1e-5)
    ours = design.run(x, "int")["logits"]
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).mean() >= 0.95
    np.testing.assert_array_equal(design.run(x[:4], "spatial")["logits"], ours[:4])


@pytest.mark.parametrize("change, message", [
    ({"bits": 3}, "'fc0_q' (MatMulNBits: bits 3 (supported: 2, 4, 8))"),
    ({"accuracy_level": 4}, "'fc0_q' (MatMulNBits: accuracy_level 4 (onnxruntime then quantizes the input to int8))"),
])
def test_matmul_nbits_it_cannot_honour_is_one_error_naming_it(tmp_path, change, message):
    model = onnx.load(QUANTIZED / "mlp_nbits_b64_zp.onnx")
    node = next(n for n in model.graph.node if n.op_type == "MatMulNBits")
    node.name = "fc0_q"
    for key, value in change.items():
        kept = [a for a in node.attribute if a.name != key]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute(key, value)])
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(HwcError) as error:
        import_onnx(tmp_path / "m.onnx")
    assert message in str(error.value)


# --------------------------------------------------------------------------- QONNX

QONNX = ["qonnx_mlp_w4w2a4", "qonnx_mlp_bipolar"]
QONNX_OUTPUT_STEP = 4.0 / 127  # the fixtures' last Quant


def qonnx_reference(name: str, x: np.ndarray, exact: bool = False) -> np.ndarray:
    """onnxruntime running the model with QONNX's quantizers written out in standard ops,
    in float32 as the model states it, or with `exact` in float64 (the model's exact
    arithmetic on its integers and scales, up to 2^-52)."""
    model = qonnx_as_standard_onnx(onnx.load(QUANTIZED / f"{name}.onnx"))
    if exact:
        model = in_float64(model)
        x = x.astype(np.float64)
    session = onnxruntime_session(model.SerializeToString())
    return np.concatenate([session.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])


def in_float64(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` (float32 initializers, inputs and outputs) computing in float64."""
    for index, tensor in enumerate(model.graph.initializer):
        array = numpy_helper.to_array(tensor)
        if array.dtype == np.float32:
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(array.astype(np.float64), tensor.name))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.elem_type = TensorProto.DOUBLE
    del model.graph.value_info[:]  # the exporter's float32 intermediates
    return model


@pytest.mark.parametrize("name", QONNX)
def test_qonnx_float_level_equals_the_reference_and_int_level_its_exact_arithmetic(name):
    """The int level is the model's exact arithmetic (its float bias added fine enough that
    every accumulator value rounds as exactly: docs/prequantized.md); the float32 reference
    differs from it only next to a rounding boundary, by 1 LSB."""
    x = np.random.default_rng(3).standard_normal((400, 16)).astype(np.float32)
    theirs = qonnx_reference(name, x)
    design = compiler.compile(QUANTIZED / f"{name}.onnx")
    np.testing.assert_array_equal(design.run(x, "float")["logits"], theirs)
    ours = design.run(x, "int")["logits"]
    exact = qonnx_reference(name, x, exact=True)
    np.testing.assert_allclose(ours, exact, rtol=0, atol=QONNX_OUTPUT_STEP * 1e-3)
    lsb = np.abs(ours.astype(np.float64) - theirs) / QONNX_OUTPUT_STEP
    assert lsb.max() <= 1 + 1e-3 and (lsb > 0.5).mean() <= 1e-3, f"{(lsb > 0.5).sum()} outputs differ"
    np.testing.assert_array_equal(design.run(x[:8], "spatial")["logits"], ours[:8])


def test_a_float_bias_rounds_every_accumulator_value_as_the_models_exact_arithmetic():
    """qonnx_mlp_w4w2a4's first layer leaves its bias float: hwc keeps its whole accumulator
    steps as the layer's bias and the rest as the requant's offset (at 2^-shift of an output
    step); for every accumulator value the layer can reach, the result is the model's
    round_half_even((acc · s_x · s_w + b) / s_h), computed here in float64 from the
    model's own numbers. The layer is one MVU: no PE for the bias."""
    from compiler.numerics import requantize

    design = compiler.compile(QUANTIZED / "qonnx_mlp_w4w2a4.onnx")
    module, store = design.rom_module, store_for(design.rom_module)
    requant = next(op for op in main_function(module).body.block.ops if isinstance(op, nn.RequantOp))
    dense = requant.operands[0].owner
    assert isinstance(dense, nn.DenseOp) and requant.offset is not None
    weight_codes, bias_q = rom_contents(dense.weight.owner, store), rom_contents(dense.bias.owner, store)
    multipliers, offsets = rom_contents(requant.multiplier.owner, store), rom_contents(requant.offset.owner, store)
    s_x, s_h = initializer("qonnx_mlp_w4w2a4", "input_q.scale"), initializer("qonnx_mlp_w4w2a4", "relu1_q.scale")
    s_w = initializer("qonnx_mlp_w4w2a4", "fc1.weight_q.scale").reshape(-1).astype(np.float64)
    bias = initializer("qonnx_mlp_w4w2a4", "fc1.bias").astype(np.float64)
    bound = int(np.abs(weight_codes).sum(axis=1).max()) * 127
    accs = np.arange(-bound, bound + 1, dtype=np.int64)
    for c in range(len(bias)):
        ours = requantize(accs + int(bias_q[c]), np.int64(multipliers[c]), requant.shift.value.data, 0, 15,
                          np.int64(offsets[c]))
        exact = np.clip(np.rint((accs * (float(s_x) * s_w[c]) + bias[c]) / float(s_h)), 0, 15)
        np.testing.assert_array_equal(ours, exact, err_msg=f"channel {c}")
    assert sum(isinstance(op, spatial.MVUOp) for op in design.spatial_module.walk()) == 2


def test_qonnx_ternary_and_binary_weights_are_kept_as_their_integers():
    model = onnx.load(QUANTIZED / "qonnx_mlp_bipolar.onnx")
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for name, layer_index, expected in [
        ("qonnx_mlp_bipolar", 0, np.where(weights["fc1.weight"] >= 0, 1, -1).T),  # BipolarQuant
        ("qonnx_mlp_w4w2a4", 1,  # Quant, 2 bits, signed, narrow: ternary
         np.round(np.clip(weights["fc2.weight"] / weights["fc2.weight_q.scale"], -1, 1)).T),
    ]:
        module = compiler.compile(QUANTIZED / f"{name}.onnx").rom_module
        layers = [op for op in main_function(module).body.block.ops if isinstance(op, nn.DenseOp)]
        read = layers[layer_index].weight.owner
        np.testing.assert_array_equal(rom_contents(read, store_for(module)), expected)
        assert find_rom(read).width == 2


@pytest.mark.rtl
def test_qonnx_ternary_mlp_rtl_equals_int():
    x = np.random.default_rng(9).standard_normal((16, 16)).astype(np.float32)
    design = compiler.compile(QUANTIZED / "qonnx_mlp_w4w2a4.onnx", fold="min")
    np.testing.assert_array_equal(design.run(x, "rtl")["logits"], design.run(x, "int")["logits"])


# --------------------------------------------------------------------------- Brevitas

BREVITAS = ["brevitas_digits_w2a4", "brevitas_digits_qcdq_w4a4"]
"""Trained with quantization in the loop on digits (tests/fixtures/quantized/make_brevitas.py):
ternary weights exported as QONNX (Int32Bias), 4-bit weights as QCDQ (float biases); 4-bit activations."""


def held_out_digits() -> tuple[np.ndarray, np.ndarray]:
    with np.load(QUANTIZED / "brevitas_digits_test.npz") as data:
        return data["input"], data["label"]


@pytest.mark.parametrize("name", BREVITAS)
def test_brevitas_models_int_level_equals_the_reference_and_keeps_the_trained_accuracy(name):
    """Float level: onnxruntime's float32, bit for bit. Int level: the model's exact
    arithmetic, which equals the float32 reference on every held-out image (and the
    float64 model, for QONNX); its accuracy is the one Brevitas measured in torch
    (96.3% ternary, 97.0% 4-bit, printed by the script)."""
    x, labels = held_out_digits()
    model = qonnx_as_standard_onnx(onnx.load(QUANTIZED / f"{name}.onnx"))
    session = onnxruntime_session(model.SerializeToString())
    theirs = np.concatenate([session.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])
    design = compiler.compile(QUANTIZED / f"{name}.onnx")
    np.testing.assert_array_equal(design.run(x, "float")["logits"], theirs)
    ours = design.run(x, "int")["logits"]
    np.testing.assert_array_equal(ours, theirs)
    if "qcdq" not in name:
        exact = onnxruntime_session(in_float64(model).SerializeToString())
        exact_out = np.concatenate([exact.run(None, {"input": x[i:i + 1].astype(np.float64)})[0] for i in range(len(x))])
        np.testing.assert_allclose(ours, exact_out, rtol=0, atol=1e-6)
    assert (ours.argmax(axis=1) == labels).mean() >= 0.94
    np.testing.assert_array_equal(design.run(x[:8], "spatial")["logits"], ours[:8])


def test_qcdq_clips_narrow_the_quantizers_range():
    """Brevitas' QCDQ: a 4-bit weight is QuantizeLinear(int8) -> Clip(-7, 7) -> DequantizeLinear
    (folded at import: integers in [-7, 7]); a 4-bit activation after a ReLU is uint8 clipped
    to [0, 15] (one nn.fake_quant of that range)."""
    design = compiler.compile(QUANTIZED / "brevitas_digits_qcdq_w4a4.onnx")
    quants = [op for op in main_function(design.nn_module).body.block.ops if isinstance(op, nn.FakeQuantOp)]
    assert [(op.qmin.value.data, op.qmax.value.data) for op in quants] == [(-128, 127), (0, 15), (0, 15), (-128, 127)]
    module = design.rom_module
    for layer in [op for op in main_function(module).body.block.ops if isinstance(op, nn.DenseOp)]:
        codes = rom_contents(layer.weight.owner, store_for(module))
        assert find_rom(layer.weight.owner).width == 4 and np.abs(codes).max() == 7


def test_a_model_quantizing_its_inputs_and_outputs_needs_no_calibration(capsys):
    assert compiler.compile(QUANTIZED / "brevitas_digits_w2a4.onnx").rom_module
    assert NO_DATA_WARNING not in capsys.readouterr().err
    assert compiler.compile(QUANTIZED / "brevitas_digits_w2a4.onnx", calib=DIGITS / "calib.npz").rom_module
    assert "calibrate: the model quantizes its inputs and outputs itself; the calibration data only sets the " \
           "scales of values it leaves in float, if any" in capsys.readouterr().err
    assert compiler.compile(QUANTIZED / "mlp_mixed.onnx").rom_module  # its logits are float: calibration needed
    assert NO_DATA_WARNING in capsys.readouterr().err


@pytest.mark.rtl
def test_brevitas_ternary_mlp_rtl_equals_int():
    x, _ = held_out_digits()
    design = compiler.compile(QUANTIZED / "brevitas_digits_w2a4.onnx", fold="min")
    np.testing.assert_array_equal(design.run(x[:16], "rtl")["logits"], design.run(x[:16], "int")["logits"])


# --------------------------------------------------------------------------- MXFP4

MXFP4 = QUANTIZED / "mlp_mxfp4.onnx"
DIGITS = FIXTURES.parent.parent / "examples" / "digits_mlp"


def mxfp4_reference_weights() -> list[np.ndarray]:
    """Each layer's float weights [out, in] as onnx's reference DequantizeLinear computes them."""
    from onnx.reference import ReferenceEvaluator

    model = onnx.load(MXFP4)
    outputs = [n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"]
    graph = helper.make_graph([n for n in model.graph.node if n.op_type == "DequantizeLinear"], "weights", [],
                              [helper.make_empty_tensor_value_info(name) for name in outputs],
                              list(model.graph.initializer))
    return ReferenceEvaluator(helper.make_model(graph, opset_imports=model.opset_import)).run(None, {})


def test_mxfp4_weights_are_e2m1_integers_under_exact_power_of_two_block_scales():
    """MXFP4 (FLOAT4E2M1 under FLOAT8E8M0 block scales): the float weights are onnx's own
    dequantization; at the int level each weight is 2·e2m1 (in [-12, 12], 5 bits) times an
    integer group scale 2^(e - e_min) times the channel scale 2^(e_min - 1): exactly W."""
    design = compiler.compile(MXFP4, calib=DIGITS / "calib.npz")
    reference = mxfp4_reference_weights()
    dense = [op for op in main_function(design.nn_module).body.block.ops if isinstance(op, nn.DenseOp)]
    for op, weight in zip(dense, reference, strict=True):
        np.testing.assert_array_equal(np.asarray(constant_value(op.weight, store_for(design.nn_module))), weight)
    module = design.rom_module
    layers = [op for op in main_function(module).body.block.ops if isinstance(op, nn.GroupDenseOp)]
    for layer, weight in zip(layers, reference, strict=True):
        codes = rom_contents(layer.weight.owner, store_for(module))
        groups = rom_contents(layer.group_scale.owner, store_for(module))
        rom = find_rom(layer.weight.owner)
        channel = np.asarray(rom.scale.get_values(), np.float64)  # 32 or fewer: inline
        steps = np.repeat(groups, layer.group_size.value.data, axis=1)[:, :codes.shape[1]] * channel[:, None]
        np.testing.assert_array_equal(codes * steps, weight.astype(np.float64))
        assert rom.width == 5 and np.abs(codes).max() <= 12
        assert np.all(np.log2(groups) == np.rint(np.log2(groups)))  # shifts


def test_mxfp4_mlp_keeps_its_accuracy_at_the_int_level_and_spatial_equals_int():
    """The activations are float in the model: hwc quantizes them (8 bits, calibrated), so
    the int level agrees with the MXFP4 model's top-1, not bit for bit (95.7% held out, the
    float MLP 96.9%)."""
    with np.load(DIGITS / "test.npz") as data:
        x, labels = data["input"], data["label"]
    session = onnxruntime_session(as_onnxruntime_runs_it(onnx.load(MXFP4)).SerializeToString())
    theirs = np.concatenate([session.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])
    design = compiler.compile(MXFP4, calib=DIGITS / "calib.npz")
    np.testing.assert_array_equal(design.run(x, "float")["logits"], theirs)
    ours = design.run(x, "int")["logits"]
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).mean() >= 0.99
    assert (ours.argmax(axis=1) == labels).mean() >= 0.95
    np.testing.assert_array_equal(design.run(x[:8], "spatial")["logits"], ours[:8])


@pytest.mark.rtl
def test_mxfp4_mlp_rtl_equals_int():
    with np.load(DIGITS / "test.npz") as data:
        x = data["input"][:16]
    design = compiler.compile(MXFP4, calib=DIGITS / "calib.npz", fold="min")
    np.testing.assert_array_equal(design.run(x, "rtl")["logits"], design.run(x, "int")["logits"])


def _qonnx_model(path, op_type="Quant", on_weight=False, zero=0.0, rounding="ROUND", bits=4.0):
    domain = "qonnx.custom_op.general"
    inputs = ["w" if on_weight else "x", "s", "z", "b"][:2 if op_type == "BipolarQuant" else 4]
    attrs = {"rounding_mode": rounding} if op_type == "Quant" else {}
    quant = helper.make_node(op_type, inputs, ["q"], name="quant", domain=domain, **attrs)
    nodes = [quant, helper.make_node("MatMul", ["x", "q"] if on_weight else ["q", "w"], ["y"], name="mm")]
    inits = [numpy_helper.from_array(np.float32(v), n) for n, v in (("s", 0.25), ("z", zero), ("b", bits))]
    inits.append(numpy_helper.from_array(np.ones((4, 2), np.float32), "w"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("options, message", [
    ({"rounding": "FLOOR"}, "'quant' (Quant: rounding_mode FLOOR on a graph input is not supported"),
    ({"rounding": "HALF_UP"}, "'quant' (Quant: rounding_mode HALF_UP (supported: ROUND, CEIL, FLOOR))"),
    ({"zero": 1.0}, "'quant' (Quant: a nonzero zero point on an activation is not supported)"),
    ({"bits": 2.5}, "'quant' (Quant: the bit width must be one integer)"),
    ({"op_type": "BipolarQuant"}, "'quant' (BipolarQuant: on an activation (a sign function) is not supported)"),
    ({"op_type": "Trunc"}, "'quant' (Trunc: 4 inputs (supported: qonnx opset 2's six"),
    ({"on_weight": True, "zero": 1.0}, "'mm' (MatMul: weight 'q' has a nonzero zero point"),
])
def test_qonnx_ops_hwc_cannot_honour_are_one_error_naming_them(tmp_path, options, message):
    path = _qonnx_model(tmp_path / "m.onnx", **options)
    with pytest.raises(HwcError) as error:
        import_onnx(path)
    assert message in str(error.value)


@pytest.mark.parametrize("name, label", [
    ("brevitas_digits_w2a4", "model's w2 a4/8"),  # ternary weights; 4-bit hidden, 8-bit input and logits
    ("mlp_qdq_u4", "model's w4 a4"),
    ("mlp_mxfp4", "model's w5, hwc's a8"),  # 2·e2m1 in [-12, 12]; float activations quantized by hwc
    ("mlp_mixed", "model's w8 a8, hwc's w8"),  # the last layer left float
])
def test_the_int_rung_names_the_models_own_formats(name, label):
    from compiler.verify import quantization_label

    assert quantization_label(compiler.compile(QUANTIZED / f"{name}.onnx")) == label
    assert quantization_label(compiler.compile(DIGITS / "model.onnx")) == "w8a8"
