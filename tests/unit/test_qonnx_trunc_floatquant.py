"""QONNX `Trunc` and `FloatQuant` (docs/prequantized.md): Brevitas' truncating average
pool (tests/fixtures/quantized/make_brevitas_cnn.py), hand-built truncations and an MLP
with FP8 E4M3 and FP4 E2M1 weights (make_floatquant.py) keep the model's integers:
hwc's float and integer levels equal what qonnx's own executor computes
(make_qonnx_expected.py) bit for bit, spatial and RTL the integer level; a Trunc or
FloatQuant hwc cannot honour is one error naming it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.errors import HwcError
from compiler.frontend import import_onnx
from compiler.ir import main_function
from compiler.oracle import qonnx_as_standard_onnx
from dialects import nn
from tests.support import FIXTURES, onnxruntime_session
from tests.unit.test_prequantized import in_float64

QUANTIZED = FIXTURES / "quantized"
CNN = QUANTIZED / "brevitas_digits_cnn_trunc.onnx"
FLOAT_MLP = QUANTIZED / "qonnx_mlp_floatquant.onnx"
DOMAIN = "qonnx.custom_op.general"


def held_out_images(shape=(1, 8, 8)) -> tuple[np.ndarray, np.ndarray]:
    with np.load(QUANTIZED / "brevitas_digits_test.npz") as data:
        return data["input"].reshape(-1, *shape), data["label"]


def qonnx_executor_logits(model) -> np.ndarray:
    with np.load(model.with_suffix(".qonnx.npz")) as data:
        return data["logits"]


@pytest.mark.parametrize("model, shape, accuracy", [(CNN, (1, 8, 8), 0.95), (FLOAT_MLP, (64,), 0.96)])
def test_float_and_int_levels_equal_qonnxs_own_executor_on_every_held_out_digit(model, shape, accuracy):
    x, labels = held_out_images(shape)
    theirs = qonnx_executor_logits(model)
    design = compiler.compile(model)
    np.testing.assert_array_equal(design.run(x, "float")["logits"], theirs)
    ours = design.run(x, "int")["logits"]
    np.testing.assert_array_equal(ours, theirs)
    assert (ours.argmax(axis=1) == labels).mean() >= accuracy  # the model's own (95.4%, 96.3%)
    np.testing.assert_array_equal(design.run(x[:8], "spatial")["logits"], ours[:8])


def reference(model: onnx.ModelProto, x: np.ndarray, exact: bool = False) -> np.ndarray:
    """onnxruntime on the model with its QONNX nodes in standard ops, in float32, or with
    `exact` in float64 (the model's exact arithmetic on its integers and scales)."""
    model = qonnx_as_standard_onnx(model)
    name = model.graph.input[0].name
    if exact:  # onnxruntime has no float64 Conv: onnx's reference evaluator
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(in_float64(model))
        return np.concatenate([evaluator.run(None, {name: x[i:i + 1].astype(np.float64)})[0] for i in range(len(x))])
    session = onnxruntime_session(model.SerializeToString())
    return np.concatenate([session.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def test_brevitas_truncating_pools_oracle_is_qonnx_and_int_level_the_exact_arithmetic():
    """hwc verify's oracle (Trunc in standard ops) computes what qonnx does; the int level is
    also the model's exact arithmetic (float64)."""
    x, _ = held_out_images()
    model = onnx.load(CNN)
    np.testing.assert_array_equal(reference(model, x), qonnx_executor_logits(CNN))
    ours = compiler.compile(CNN).run(x[:100], "int")["logits"]
    np.testing.assert_allclose(ours, reference(model, x[:100], exact=True), rtol=0, atol=1e-6)


def test_a_truncating_pool_is_one_requant_of_its_sum():
    """The sum pool's sum is the Trunc's input integer as it is: one requant by 2^-2
    rounding down drops its two low bits, clamped to 4 unsigned bits."""
    module = compiler.compile(CNN).rom_module
    pools = [op for op in main_function(module).body.block.ops if isinstance(op, nn.SumPoolOp)]
    assert len(pools) == 2
    for pool in pools:
        (requant,) = [use.operation for use in pool.results[0].uses]
        assert isinstance(requant, nn.RequantOp) and requant.shift.value.data == 2
        assert (requant.lo.value.data, requant.hi.value.data) == (0, 15)
        assert requant.offset is None and requant.rounding.data == "floor"


def trunc_model(path, rounding="FLOOR", zero=0.0, scale=0.125, out_scale=0.125, inputs=6, signed=1):
    """x -> Quant (8 bits, signed, at 0.125) -> AveragePool 2x2 -> Trunc (8 bits at 0.125 / 4
    to 4 bits at `out_scale`: the pool's sum loses its two low bits, as Brevitas' truncating
    average pool writes it) -> y."""
    numbers = {"s": 0.125, "z": 0.0, "b8": 8.0, "ts": scale / 4, "tz": zero, "tb": 8.0, "os": out_scale,
               "oz": 0.0, "ob": 4.0}
    trunc_inputs = ["pooled", "ts", "tz", "tb", "os", "ob"] if inputs == 6 else \
        ["pooled", "ts", "tz", "tb", "os", "oz", "ob"][:inputs]
    nodes = [helper.make_node("Quant", ["x", "s", "z", "b8"], ["q"], domain=DOMAIN, rounding_mode="ROUND",
                              signed=1, narrow=0),
             helper.make_node("AveragePool", ["q"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Trunc", trunc_inputs, ["y"], name="trunc", domain=DOMAIN, rounding_mode=rounding,
                              signed=signed, narrow=0)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])],
                              [numpy_helper.from_array(np.float32(v), n) for n, v in numbers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 2)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def qonnx_trunc(t: np.ndarray, rounding: str, bits: int = 4) -> np.ndarray:
    """qonnx's Trunc of the integers `t` (zero point 0) by 2^2, in exact arithmetic."""
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return {"FLOOR": np.floor, "CEIL": np.ceil, "ROUND": np.round}[rounding](np.clip(t / 4.0, low, high))


@pytest.mark.parametrize("rounding", ["FLOOR", "CEIL", "ROUND"])
def test_trunc_rounds_negative_and_positive_sums_as_the_model_says(tmp_path, rounding):
    """Every sum of four 8-bit inputs from -32 to 31, each lane's, is truncated as qonnx does:
    negative sums show floor and ceil apart, sums 2 mod 4 (ties) ROUND's half to even."""
    design = compiler.compile(trunc_model(tmp_path / "m.onnx", rounding))
    sums = np.arange(-32, 32)
    x = np.zeros((len(sums), 2, 4, 4), np.float32)
    x[:, :, 0, 0] = sums[:, None] * 0.125  # one tap of each window carries the whole sum
    x[:, :, 2, 3] = -sums[:, None] * 0.125
    expected = np.zeros((len(sums), 2, 2, 2))
    expected[:, :, 0, 0] = qonnx_trunc(sums, rounding)[:, None] * 0.125
    expected[:, :, 1, 1] = qonnx_trunc(-sums, rounding)[:, None] * 0.125
    for level in ("float", "int"):
        np.testing.assert_array_equal(design.run(x, level)["y"], expected, err_msg=level)
    np.testing.assert_array_equal(reference(onnx.load(tmp_path / "m.onnx"), x), expected)
    np.testing.assert_array_equal(design.run(x[:8], "spatial")["y"], expected[:8])


@pytest.mark.parametrize("options, message", [
    ({"rounding": "HALF_UP"}, "'trunc' (Trunc: rounding_mode HALF_UP (supported: ROUND, CEIL, FLOOR))"),
    ({"zero": 1.0}, "'trunc' (Trunc: a nonzero zero point is not supported)"),
    ({"inputs": 5}, "'trunc' (Trunc: 5 inputs (supported: qonnx opset 2's six"),
    ({"out_scale": 0.0078125}, "'trunc' (Trunc: an output scale finer than the input's is not supported)"),
])
def test_a_trunc_hwc_cannot_honour_is_one_error_naming_it(tmp_path, options, message):
    with pytest.raises(HwcError) as error:
        import_onnx(trunc_model(tmp_path / "m.onnx", **options))
    assert message in str(error.value)


@pytest.mark.rtl
def test_brevitas_truncating_pools_rtl_equals_int():
    x, _ = held_out_images()
    design = compiler.compile(CNN, fold="min")
    np.testing.assert_array_equal(design.run(x[:8], "rtl")["logits"], design.run(x[:8], "int")["logits"])


def test_float_quant_weights_are_integers_under_the_formats_finest_step():
    """E4M3 (bias 7, 3 mantissa bits): values are integers times 2^-9 of the channel's scale,
    up to 448 · 2^9 (19 bits); E2M1 (bias 1, 1 mantissa bit): 2·v in [-12, 12] (5 bits)."""
    from compiler.ir import rom_contents
    from compiler.weights import store_for
    from dialects.rom import find_rom

    model = onnx.load(FLOAT_MLP)
    folded = {t.name: numpy_helper.to_array(t) for t in qonnx_as_standard_onnx(model).graph.initializer}
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    module = compiler.compile(FLOAT_MLP).rom_module
    layers = [op for op in main_function(module).body.block.ops if isinstance(op, nn.DenseOp)]
    for layer, name, finest, width in zip(layers, ("fc1", "fc2", "fc3"), (-9, -9, -1), (19, 19, 5)):
        codes = rom_contents(layer.weight.owner, store_for(module))
        scales = arrays[f"{name}.weight.scale"].astype(np.float64) * 2.0 ** finest
        np.testing.assert_array_equal((codes * scales).astype(np.float32), folded[f"{name}.weight_q"])
        assert find_rom(layer.weight.owner).width <= width
    assert np.abs(rom_contents(layers[2].weight.owner, store_for(module))).max() <= 12


def float_quant_model(path, on_weight=True, saturation=1, fmt=(4.0, 3.0, 7.0, 448.0)):
    names = ["w" if on_weight else "x", "s", "e", "m", "b", "max"]
    node = helper.make_node("FloatQuant", names, ["q"], name="fq", domain=DOMAIN, saturation=saturation)
    nodes = [node, helper.make_node("MatMul", ["x", "q"] if on_weight else ["q", "w"], ["y"], name="mm")]
    inits = [numpy_helper.from_array(np.float32(v), n) for n, v in zip(names[1:], (0.25, *fmt))]
    inits.append(numpy_helper.from_array(np.ones((4, 2), np.float32), "w"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("options, message", [
    ({"on_weight": False}, "'fq' (FloatQuant: on an activation is not supported"),
    ({"saturation": 0}, "'fq' (FloatQuant: saturation 0"),
    ({"fmt": (5.0, 10.0, 15.0, 65504.0)}, "'fq' (FloatQuant: its values are integers of 41 bits times 2^-24"),
])
def test_a_float_quant_hwc_cannot_honour_is_one_error_naming_it(tmp_path, options, message):
    with pytest.raises(HwcError) as error:
        import_onnx(float_quant_model(tmp_path / "m.onnx", **options))
    assert message in str(error.value)


@pytest.mark.rtl
def test_a_truncation_rounding_ties_to_even_rtl_equals_int(tmp_path):
    """The pool and its requant in RTL, ties to even (ROUND; the CNN's pools floor)."""
    design = compiler.compile(trunc_model(tmp_path / "m.onnx", "ROUND"))
    x = np.random.default_rng(5).integers(-32, 32, (16, 2, 4, 4)).astype(np.float32) * 0.125
    np.testing.assert_array_equal(design.run(x, "rtl")["y"], design.run(x, "int")["y"])


def rounding_mlp(path, hidden="FLOOR", out="CEIL"):
    """x -> Quant (int8, ROUND) -> MatMul (int4 weights) + float bias -> Relu -> Quant (uint4,
    `hidden`) -> MatMul (int4) -> Quant (int8, `out`) -> y; numbers from a fixed seed."""
    rng = np.random.default_rng(11)
    arrays = {"s_x": np.float32(0.05), "s_h": np.float32(0.3), "s_y": np.float32(0.07), "zero": np.float32(0),
              "b8": np.float32(8), "b4": np.float32(4), "s_w1": np.float32(0.1), "s_w2": np.float32(0.15),
              "w1": rng.standard_normal((16, 8)).astype(np.float32) * 0.4,
              "bias1": rng.standard_normal(8).astype(np.float32) * 0.3,
              "w2": rng.standard_normal((8, 4)).astype(np.float32) * 0.4}

    def quant(x, s, bits, out_name, rounding="ROUND", signed=1, narrow=0):
        return helper.make_node("Quant", [x, s, "zero", bits], [out_name], domain=DOMAIN, rounding_mode=rounding,
                                signed=signed, narrow=narrow)

    nodes = [quant("x", "s_x", "b8", "xq"), quant("w1", "s_w1", "b4", "w1q", narrow=1),
             quant("w2", "s_w2", "b4", "w2q", narrow=1),
             helper.make_node("MatMul", ["xq", "w1q"], ["mm1"]), helper.make_node("Add", ["mm1", "bias1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]), quant("r", "s_h", "b4", "rq", hidden, signed=0),
             helper.make_node("MatMul", ["rq", "w2q"], ["mm2"]), quant("mm2", "s_y", "b8", "y", out)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(v, k) for k, v in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("hidden, out", [("FLOOR", "CEIL"), ("CEIL", "FLOOR")])
def test_floor_and_ceil_activations_round_as_the_model_says(tmp_path, hidden, out):
    """A QONNX Quant that floors or ceils an activation: its requant's offset rounds as the
    model's exact arithmetic (float64) on every output. In float32, FLOOR and CEIL turn a
    sum that should cancel to 0 but lands at ±1e-8 into a whole step: the float level,
    which sums in another order than onnxruntime, is within one output step of it."""
    path = rounding_mlp(tmp_path / "m.onnx", hidden, out)
    x = np.random.default_rng(3).standard_normal((400, 16)).astype(np.float32)
    model = onnx.load(path)
    design = compiler.compile(path)
    np.testing.assert_allclose(design.run(x, "float")["y"], reference(model, x), rtol=0, atol=0.07 * 1.001)
    ours = design.run(x, "int")["y"]
    np.testing.assert_allclose(ours, reference(model, x, exact=True), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(design.run(x[:8], "spatial")["y"], ours[:8])
