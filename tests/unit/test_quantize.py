"""The `quantize` pass: accuracy of the integer graph against the float graph on
the committed fixtures, accumulator widths against the true accumulators, the
ops beyond dense/conv, and the user errors."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects.builtin import IntegerType, ModuleOp, TensorType, i64
from xdsl.dialects.func import FunctionType, ReturnOp
from xdsl.rewriter import Rewriter

from compiler.calibration import NO_DATA_WARNING, activation_absmax, record_ranges
from compiler.errors import HwcError
from compiler.executor import FloatExecutor, IntExecutor
from compiler.frontend import import_onnx
from compiler.ir import constant_value, main_function, make_context, parse_module
from compiler.numerics import signed_digit_count
from compiler.weights import store_for
from dialects import nn
from passes import ALL_PASSES
from passes.calibrate import CalibratePass
from passes.quantize import QuantizePass, quantize_with_samples

CALIBRATION_SAMPLES = 256
TEST_SAMPLES = 500


def float_model(path):
    module = import_onnx(path)
    for name in ("fold-batchnorm", "fold-constants"):
        ALL_PASSES[name]()().apply(make_context(), module)
    return module


def normal(seed: int, count: int, shape) -> dict[str, np.ndarray]:
    return {"input": np.random.default_rng(seed).standard_normal((count, *shape)).astype(np.float32)}


def quantized_pair(path, wbits=8, abits=8):
    """(float executor, quantized module) for a fixture, calibrated on normal samples."""
    module = float_model(path)
    reference = FloatExecutor(module)
    calibration = normal(1, CALIBRATION_SAMPLES, reference.input_shapes["input"])
    return reference, quantize_with_samples(module, calibration, wbits, abits)


def agreement(reference: FloatExecutor, quantized, seed=2) -> float:
    """Top-1 agreement on fresh normal samples: argmax of the integer logits equals
    the float argmax."""
    executor = IntExecutor(quantized)
    x = normal(seed, TEST_SAMPLES, reference.input_shapes["input"])
    expected = reference.run(x)["logits"].argmax(axis=1)
    logits = executor.run_int(executor.quantize_inputs(x))["logits"]
    return float(np.mean(logits.argmax(axis=1) == expected))


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_8bit_top1_agreement_with_the_float_model(fixtures_dir, name):
    reference, quantized = quantized_pair(fixtures_dir / f"{name}.onnx")
    top1 = agreement(reference, quantized)
    print(f"{name}: 8-bit top-1 agreement {top1:.1%} ({TEST_SAMPLES} samples)")
    assert top1 >= 0.98


def test_graph_is_integer_with_scales(fixtures_dir):
    _, quantized = quantized_pair(fixtures_dir / "cnn.onnx")
    function = main_function(quantized)
    for value in [*function.body.block.args, *(r for op in function.body.walk() for r in op.results)]:
        assert isinstance(value.type.get_element_type(), IntegerType), value
    assert "nn.scale" in function.arg_attrs.data[0].data
    assert "nn.scale" in function.res_attrs.data[0].data
    for op in function.body.walk():
        if isinstance(op, (nn.RequantOp, nn.MaxPoolOp, nn.ReshapeOp)):
            assert "nn.scale" in op.attributes
        if isinstance(op, (nn.DenseOp, nn.ConvOp, nn.AddOp)):
            assert "nn.acc_bits" in op.attributes


def test_4bit_weights(fixtures_dir):
    reference, quantized = quantized_pair(fixtures_dir / "cnn.onnx", wbits=4)
    store = store_for(quantized)
    layers = [op for op in main_function(quantized).body.walk() if isinstance(op, (nn.DenseOp, nn.ConvOp))]
    assert len(layers) == 4
    for layer in layers:
        assert layer.weight.type.get_element_type() == IntegerType(4)
        weight = constant_value(layer.weight, store)
        assert weight.min() >= -7 and weight.max() <= 7
        # per-channel scales: every output channel uses the full range
        assert np.all(np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1) == 7)
    top1 = agreement(reference, quantized)
    print(f"cnn: 4-bit weights, top-1 agreement {top1:.1%}")
    assert top1 >= 0.85


@pytest.mark.parametrize("digits", [1, 2])
def test_requant_digits_bound_every_layer_multiplier(fixtures_dir, digits):
    """`requant_digits`: every dense/conv requant multiplier has at most that many
    signed digits, weights stay in range (no channel coarser than one more bit),
    and the 4-bit CNN still agrees with the float model."""
    module = float_model(fixtures_dir / "cnn.onnx")
    reference = FloatExecutor(module)
    calibration = normal(1, CALIBRATION_SAMPLES, reference.input_shapes["input"])
    record_ranges(module, activation_absmax(module, calibration))
    QuantizePass(4, 8, requant_digits=digits).apply(make_context(), module)
    store = store_for(module)
    layers = [op for op in main_function(module).body.walk() if isinstance(op, (nn.DenseOp, nn.ConvOp))]
    for layer in layers:
        requant = next(iter(layer.results[0].uses)).operation
        assert isinstance(requant, nn.RequantOp)
        multipliers = constant_value(requant.multiplier, store)
        assert max(signed_digit_count(int(m)) for m in multipliers.reshape(-1)) <= digits
        weight = constant_value(layer.weight, store)
        widest = np.abs(weight.reshape(weight.shape[0], -1)).max(axis=1)
        assert widest.max() <= 7 and widest.min() >= (4 if digits == 1 else 5)  # at most 2x, 1.2x coarser
    top1 = agreement(reference, module)
    print(f"cnn: 4-bit weights, multipliers of {digits} digit(s), top-1 agreement {top1:.1%}")
    assert top1 >= (0.85 if digits == 2 else 0.7)


def test_tensor_weight_scales_give_each_layer_one_requant_multiplier(fixtures_dir):
    module = float_model(fixtures_dir / "cnn.onnx")
    reference = FloatExecutor(module)
    record_ranges(module, activation_absmax(module, normal(1, CALIBRATION_SAMPLES, reference.input_shapes["input"])))
    QuantizePass(8, 8, weight_scales="tensor", requant_digits=2).apply(make_context(), module)
    store = store_for(module)
    for layer in [op for op in main_function(module).body.walk() if isinstance(op, (nn.DenseOp, nn.ConvOp))]:
        requant = next(iter(layer.results[0].uses)).operation
        multipliers = constant_value(requant.multiplier, store).reshape(-1)
        assert len(set(multipliers.tolist())) == 1 and signed_digit_count(int(multipliers[0])) <= 2
        assert np.abs(constant_value(layer.weight, store)).max() >= 106  # the largest weight near ±127
    assert agreement(reference, module) >= 0.9


def test_requant_digits_out_of_range_is_one_error():
    with pytest.raises(HwcError, match="--requant-digits 9"):
        QuantizePass(8, 8, requant_digits=9).apply(make_context(), ModuleOp([]))
    with pytest.raises(HwcError, match="--weight-scales layer"):
        QuantizePass(8, 8, weight_scales="layer").apply(make_context(), ModuleOp([]))


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_accumulator_widths_hold_the_true_accumulators(fixtures_dir, name):
    """Widen every accumulator to i64, return them all, and compare their true
    maximum (on inputs at the extremes and random ones) to the declared width."""
    reference, quantized = quantized_pair(fixtures_dir / f"{name}.onnx")
    function = main_function(quantized)
    accumulators, widths = [], []
    for op in list(function.body.walk()):
        if "nn.acc_bits" in op.attributes:
            widths.append(op.attributes["nn.acc_bits"].value.data)
            assert op.results[0].type.get_element_type() == IntegerType(widths[-1])
            wide = TensorType(i64, op.results[0].type.get_shape())
            accumulators.append(Rewriter.replace_value_with_new_type(op.results[0], wide))
    ret = next(op for op in function.body.walk() if isinstance(op, ReturnOp))
    ret.operands = [*accumulators]
    function.function_type = FunctionType.from_lists(function.function_type.inputs.data,
                                                     [v.type for v in accumulators])
    function.res_attrs = None
    executor = IntExecutor(quantized)
    shape = executor.input_shapes["input"]
    samples = np.concatenate([
        np.full((1, *shape), 127), np.full((1, *shape), -127),
        np.random.default_rng(3).integers(-127, 128, size=(64, *shape)),
    ])
    outputs = executor.run_int({"input": samples})
    for index, bits in enumerate(widths):
        largest = int(np.abs(outputs[f"output{index}"]).max())
        assert largest <= (1 << (bits - 1)) - 1, (index, largest, bits)


# --------------------------------------------------------------------------- other ops


OPS_GRAPH = """
builtin.module {
  func.func @main(%x: tensor<1x2x4x4xf32> {nn.name = "input"}) -> (tensor<1x4xf32> {nn.name = "logits"}) {
    %s = nn.sigmoid %x : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %t = nn.tanh %x : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %l = nn.leaky_relu %x {alpha = 0.1 : f32} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %c = nn.concat %s, %t, %l {axis = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x6x4x4xf32>
    %k = nn.constant dense<[0.5, -2.0, 1.5, 1.0, 0.25, -0.75]> : tensor<6xf32>
    %kb = nn.constant dense<[0.1, 0.2, -0.3, 0.0, 0.5, 1.0]> : tensor<6xf32>
    %km = nn.constant dense<[0.0, 0.1, 0.2, -0.1, 0.0, 0.3]> : tensor<6xf32>
    %kv = nn.constant dense<[1.0, 0.5, 2.0, 1.5, 1.0, 0.8]> : tensor<6xf32>
    %bn = nn.batch_norm %c, %k, %kb, %km, %kv {epsilon = 1.0e-05 : f32} : (tensor<1x6x4x4xf32>, tensor<6xf32>, tensor<6xf32>, tensor<6xf32>, tensor<6xf32>) -> tensor<1x6x4x4xf32>
    %a = nn.average_pool %bn {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 0 : i64, count_include_pad = 0 : i64} : (tensor<1x6x4x4xf32>) -> tensor<1x6x2x2xf32>
    %m = nn.mul %a, %a : (tensor<1x6x2x2xf32>, tensor<1x6x2x2xf32>) -> tensor<1x6x2x2xf32>
    %three = nn.constant dense<3.0> : tensor<1xf32>
    %d = nn.div %m, %three : (tensor<1x6x2x2xf32>, tensor<1xf32>) -> tensor<1x6x2x2xf32>
    %e = nn.sub %d, %a : (tensor<1x6x2x2xf32>, tensor<1x6x2x2xf32>) -> tensor<1x6x2x2xf32>
    %half = nn.constant dense<0.5> : tensor<1xf32>
    %f = nn.add %e, %half : (tensor<1x6x2x2xf32>, tensor<1xf32>) -> tensor<1x6x2x2xf32>
    %cl = nn.clip %f {min = -1.0 : f32, max = 1.0 : f32} : (tensor<1x6x2x2xf32>) -> tensor<1x6x2x2xf32>
    %p = nn.pad %cl {pads = array<i64: 0, 0, 1, 1, 0, 0, 1, 1>, mode = "constant", value = 0.25 : f32} : (tensor<1x6x2x2xf32>) -> tensor<1x6x4x4xf32>
    %g = nn.global_average_pool %p : (tensor<1x6x4x4xf32>) -> tensor<1x6x1x1xf32>
    %r = nn.reshape %g : (tensor<1x6x1x1xf32>) -> tensor<1x6xf32>
    %w = nn.constant dense<[[1.0, -1.0, 0.5, 0.0, 2.0, -0.5], [0.3, 0.2, -0.1, 1.0, -1.0, 0.7], [-0.4, 0.9, 0.0, 0.2, 0.1, 0.6], [0.5, 0.5, 0.5, -0.5, -0.5, 0.1]]> : tensor<4x6xf32>
    %y = nn.dense %r, %w : (tensor<1x6xf32>, tensor<4x6xf32>) -> tensor<1x4xf32>
    %sm = nn.softmax %y {axis = 1 : i64} : (tensor<1x4xf32>) -> tensor<1x4xf32>
    func.return %sm : tensor<1x4xf32>
  }
}
"""


def test_every_op_kind_quantizes_close_to_float():
    """Lookups, concat, unfolded batch norm, pools, mul/div/sub/add, clip, pad and
    a final softmax (moved to the host) stay close to the float graph at 12 bits."""
    module = parse_module(OPS_GRAPH)
    reference = FloatExecutor(module)
    quantize_with_samples(module, normal(4, 128, (2, 4, 4)), wbits=8, abits=12)
    names = {op.name for op in main_function(module).body.walk()}
    assert {"nn.lookup", "nn.sum_pool", "nn.global_sum_pool", "nn.concat", "nn.requant"} <= names
    assert "nn.softmax" not in names
    assert main_function(module).res_attrs.data[0].data["nn.host_op"].data == "softmax"
    x = normal(5, 200, (2, 4, 4))
    expected, actual = reference.run(x)["logits"], IntExecutor(module).run(x)["logits"]
    assert np.abs(expected - actual).max() < 0.02
    assert np.mean(expected.argmax(1) == actual.argmax(1)) >= 0.95


def test_average_pool_with_varying_divisor_averages_each_window():
    """count_include_pad=0 with padding divides border windows by fewer taps: the
    sum pool scales each window's sum by L/n (`average_times`), close to float."""
    module = parse_module("""
    func.func @main(%x: tensor<1x1x4x4xf32> {nn.name = "input"}) -> (tensor<1x1x3x3xf32> {nn.name = "y"}) {
      %a = nn.average_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, ceil_mode = 0 : i64, count_include_pad = 0 : i64} : (tensor<1x1x4x4xf32>) -> tensor<1x1x3x3xf32>
      func.return %a : tensor<1x1x3x3xf32>
    }""")
    reference = FloatExecutor(module)
    x = normal(5, 50, (1, 4, 4))
    quantize_with_samples(module, x, wbits=8, abits=12)  # calibrated on x: no clamping
    (pool,) = [op for op in main_function(module).body.walk() if isinstance(op, nn.SumPoolOp)]
    assert pool.window_factors().tolist() == [[4, 2, 4], [2, 1, 2], [4, 2, 4]]  # taps 1, 2, 4; L = 4
    expected, actual = reference.run(x)["y"], IntExecutor(module).run(x)["y"]
    assert np.abs(expected - actual).max() < 0.01 * np.abs(expected).max()


def test_padded_average_pool_with_ceil_mode_is_refused():
    """count_include_pad=1 counts the pads, but not ceil_mode's positions past them."""
    module = parse_module("""
    func.func @main(%x: tensor<1x1x5x5xf32> {nn.name = "input"}) -> (tensor<1x1x3x3xf32> {nn.name = "y"}) {
      %a = nn.average_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 1 : i64, count_include_pad = 1 : i64} : (tensor<1x1x5x5xf32>) -> tensor<1x1x3x3xf32>
      func.return %a : tensor<1x1x3x3xf32>
    }""")
    with pytest.raises(HwcError, match="count_include_pad=1 with ceil_mode"):
        quantize_with_samples(module, normal(4, 8, (1, 5, 5)))


# --------------------------------------------------------------------------- user errors


@pytest.mark.parametrize("options", [{"wbits": 1}, {"wbits": 9}, {"abits": 1}, {"abits": 17}])
def test_bits_out_of_range(fixtures_dir, options):
    module = float_model(fixtures_dir / "mlp.onnx")
    with pytest.raises(HwcError, match=r"quantize: [wa]bits=\d+: must be an integer from 2 to"):
        QuantizePass(**options).apply(make_context(), module)


def test_bad_calibration_files(fixtures_dir, tmp_path):
    module = float_model(fixtures_dir / "mlp.onnx")
    cases = {
        "wrong_key.npz": ({"x": np.zeros((4, 64), np.float32)}, "key 'x' is not a graph input"),
        "wrong_shape.npz": ({"input": np.zeros((4, 63), np.float32)}, r"key 'input' has shape \[4, 63\]"),
        "no_samples.npz": ({"input": np.zeros((0, 64), np.float32)}, "key 'input' has shape"),
    }
    for file_name, (arrays, message) in cases.items():
        np.savez(tmp_path / file_name, **arrays)
        with pytest.raises(HwcError, match=message):
            CalibratePass(calib=str(tmp_path / file_name)).apply(make_context(), module)
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(HwcError, match="not a readable .npz"):
        CalibratePass(calib=str(tmp_path / "junk.npz")).apply(make_context(), module)
    with pytest.raises(HwcError, match="does not exist"):
        CalibratePass(calib=str(tmp_path / "missing.npz")).apply(make_context(), module)


def test_calibration_path_relative_to_cwd_and_random_fallback(fixtures_dir, tmp_path, monkeypatch, capsys):
    samples = normal(6, 32, (64,))
    np.savez(tmp_path / "calib.npz", **samples)
    monkeypatch.chdir(tmp_path)
    module = float_model(fixtures_dir / "mlp.onnx")
    CalibratePass(calib="calib.npz").apply(make_context(), module)
    QuantizePass().apply(make_context(), module)
    assert NO_DATA_WARNING not in capsys.readouterr().err
    # The input scale is the calibrated absmax over the samples / 127.
    scale = main_function(module).arg_attrs.data[0].data["nn.scale"].value.data
    assert scale == pytest.approx(np.abs(samples["input"]).max() / 127)
    CalibratePass().apply(make_context(), float_model(fixtures_dir / "mlp.onnx"))
    assert NO_DATA_WARNING in capsys.readouterr().err


OUTPUT_ALSO_USED_INSIDE = """
func.func @main(%x: tensor<1x2xf32> {nn.name = "input"}) -> (tensor<1x2xf32> {nn.name = "hidden"}, tensor<1x2xf32> {nn.name = "y"}) {
  %w = nn.constant dense<[[1.0, -0.5], [0.25, 0.5]]> : tensor<2x2xf32>
  %h = nn.dense %x, %w : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  %r = nn.reshape %h : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = nn.dense %r, %w : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  func.return %h, %y : tensor<1x2xf32>, tensor<1x2xf32>
}
"""


def test_outputs_the_graph_also_computes_on_stay_activation_wide():
    """Only a value that is nothing but an output is widened to 16 bits; one that
    later layers read stays `abits` wide, and ops on it keep its width."""
    module = parse_module(OUTPUT_ALSO_USED_INSIDE)
    samples = {"input": np.random.default_rng(0).standard_normal((32, 2)).astype(np.float32)}
    quantize_with_samples(module, samples, wbits=8, abits=8)
    function = main_function(module)
    hidden, y = function.function_type.outputs.data
    assert hidden.get_element_type() == IntegerType(8)
    assert y.get_element_type() == IntegerType(16)
    reshapes = [op for op in function.body.walk() if isinstance(op, nn.ReshapeOp)]
    assert [r.output.type.get_element_type() for r in reshapes] == [IntegerType(8)]


# --------------------------------------------------------------------------- lookup tables


LOOKUP_GRAPH = """
func.func @main(%x: tensor<1x4xf32> {{nn.name = "input", nn.absmax = {x} : f64}}) -> (tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>) {{
  %s = nn.sigmoid %x {{nn.absmax = {s} : f64}} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %t = nn.tanh %x {{nn.absmax = {t} : f64}} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %l = nn.leaky_relu %x {{alpha = 0.1 : f32, nn.absmax = {l} : f64}} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %m = nn.leaky_relu %x {{alpha = 1.5 : f32, nn.absmax = {m} : f64}} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  func.return %s, %t, %l, %m : tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>
}}
"""

TABLE_FUNCTIONS = [
    # The float64 formulas quantize used before its tables came from the float kernels.
    lambda x: 1.0 / (1.0 + np.exp(-x)),
    np.tanh,
    lambda x: np.where(x >= 0, x, float(np.float32(0.1)) * x),
    lambda x: np.where(x >= 0, x, 1.5 * x),
]


@pytest.mark.parametrize("abits", [2, 3, 4, 6, 8, 10, 12, 16])
@pytest.mark.parametrize("x_absmax, out_absmax", [(1.0, 1.0), (4.0, 0.75), (7.3, 0.99), (0.37, 3.1), (100.0, 2.5)])
def test_lookup_tables_equal_the_float_formulas(abits, x_absmax, out_absmax):
    """Every entry of the sigmoid, tanh and leaky-relu tables (computed by the
    float kernels) equals the entry the plain float64 formula gives:
    `clamp(floor(f(q * s_x) / s_y + 0.5), ±limit)` over every `abits`-bit q."""
    module = parse_module(LOOKUP_GRAPH.format(x=x_absmax, s=out_absmax, t=out_absmax, l=out_absmax, m=out_absmax))
    with np.errstate(over="ignore"):
        QuantizePass(wbits=8, abits=abits).apply(make_context(), module)
    limit = (1 << (abits - 1)) - 1
    s_x, s_y = x_absmax / limit, out_absmax / limit
    q = np.arange(-(1 << (abits - 1)), 1 << (abits - 1))
    lookups = [op for op in main_function(module).body.walk() if isinstance(op, nn.LookupOp)]
    assert len(lookups) == len(TABLE_FUNCTIONS)
    for lookup, function in zip(lookups, TABLE_FUNCTIONS):
        with np.errstate(over="ignore"):
            expected = np.clip(np.floor(function(q * s_x) / s_y + 0.5), -limit, limit)
        np.testing.assert_array_equal(constant_value(lookup.table, store_for(module)), expected)


# --------------------------------------------------------------------------- the patterns


CLAMPS_GRAPH = """
func.func @main(%acc: tensor<1x64xi12>) -> (tensor<1x64xi8>, tensor<1x64xi8>) {{
  %m = nn.constant dense<3> : tensor<1xi16>
  %r = nn.requant %acc, %m {{shift = 2 : i64, lo = {lo1} : i64, hi = {hi1} : i64, axis = 1 : i64}} : (tensor<1x64xi12>, tensor<1xi16>) -> tensor<1x64xi8>
  %one = nn.constant dense<1> : tensor<1xi16>
  %c = nn.requant %r, %one {{shift = 0 : i64, lo = {lo2} : i64, hi = {hi2} : i64, axis = 1 : i64}} : (tensor<1x64xi8>, tensor<1xi16>) -> tensor<1x64xi8>
  %s = nn.requant %acc, %m {{shift = 2 : i64, lo = {lo1} : i64, hi = {hi1} : i64, axis = 1 : i64}} : (tensor<1x64xi12>, tensor<1xi16>) -> tensor<1x64xi8>
  %y = nn.relu %s : (tensor<1x64xi8>) -> tensor<1x64xi8>
  func.return %c, %y : tensor<1x64xi8>, tensor<1x64xi8>
}}
"""


def test_absorb_clamps_computes_the_same_integers():
    """For random bounds (overlapping or not), the folded requants give the same
    integers as requant-then-clip and requant-then-relu on every accumulator."""
    from passes.absorb_clamps import absorb_clamps

    rng = np.random.default_rng(7)
    acc = np.arange(-2048, 2048).reshape(64, 64)
    for _ in range(20):
        lo1, hi1 = sorted(rng.integers(-127, 128, size=2))
        lo2, hi2 = sorted(rng.integers(-127, 128, size=2))
        module = parse_module(CLAMPS_GRAPH.format(lo1=lo1, hi1=hi1, lo2=lo2, hi2=hi2))
        executor = IntExecutor(module)
        name = executor.input_names[0]
        expected = executor.run_int({name: acc})
        absorb_clamps(module)
        module.verify()
        names = {op.name for op in main_function(module).body.walk()}
        assert "nn.relu" not in names
        assert sum(isinstance(op, nn.RequantOp) for op in main_function(module).body.walk()) == 2
        actual = IntExecutor(module).run_int({name: acc})
        for key in expected:
            np.testing.assert_array_equal(actual[key], expected[key])


@pytest.mark.parametrize("weight_scales, warned", [("tensor", True), ("channel", False)])
def test_a_layer_whose_weights_round_to_zero_is_warned_about(tmp_path, capsys, weight_scales, warned):
    # One weight of 100 among standard-normal ones: at 2 bits (levels -1, 0, 1) one
    # scale for the layer is 100, and every other weight rounds to zero; per output
    # channel only the outlier's column loses its 7 others (22% of the 32).
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    weight[0, 0] = 100.0
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], ["logits"])], "outlier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(weight, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "outlier.onnx")
    module = float_model(tmp_path / "outlier.onnx")
    record_ranges(module, activation_absmax(module, normal(1, 64, (8,))))
    QuantizePass(2, 8, weight_scales=weight_scales).apply(make_context(), module)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "round to zero" in line]
    assert warnings == (["hwc: warning: quantize: nn.dense 'MatMul_0': 97% of its weights round "
                         "to zero at 2 bits; the model may compute little (more bits, or one scale per output "
                         "channel, keep more; 'hwc verify' measures it)"] if warned else [])
