"""The integer definitions of the transformer ops, against values worked out by
hand (comments show the arithmetic) or by an independent float reference with
the error bound the definition states (docs/integer-transformers.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compiler.executor.int_kernels import int_softmax_values, inv_sqrt_values
from compiler.weight_formats import quantize_groups
from passes.quantize_transformer import exp_table


def test_exp_table_halves_when_the_scale_is_ln2():
    # 2^15·exp(-d ln 2) = 2^(15-d): 32768, 16384, ... 1 at d = 15; 0.5 at d = 16 rounds half up to 1;
    # 0.25 at d = 17 rounds to 0, where the table ends
    table = exp_table(math.log(2), 40)
    assert list(table[:4]) == [32768, 16384, 8192, 4096]
    assert table[15] == 1 and table[16] == 1 and table[17] == 0 and len(table) == 18


def test_int_softmax_by_hand():
    table = exp_table(math.log(2), 40)
    x = np.array([[3, 1, 0]])
    # e = 2^15·[1, 1/4, 1/8] = [32768, 8192, 4096], S = 45056; p = 127·e/S = [92.36, 23.09, 11.55]
    kept = int_softmax_values(x, np.ones((1, 3)), table, axis=1, shift=25, out_max=127)
    assert kept.tolist() == [[92, 23, 12]]
    # the third masked: S = 40960, p = 127·[0.8, 0.2, 0] = [101.6, 25.4, 0]
    masked = int_softmax_values(x, np.array([[1, 1, 0]]), table, axis=1, shift=25, out_max=127)
    assert masked.tolist() == [[102, 25, 0]]


def test_int_softmax_ignores_masked_maxima_and_keeps_rows_apart():
    table = exp_table(math.log(2), 40)
    x = np.array([[0, 100], [5, 5]])
    # row 0: the 100 is masked, so the row is one kept entry: p = 127; row 1: two equal entries, 63.5 -> 64
    p = int_softmax_values(x, np.array([[1, 0], [1, 1]]), table, axis=1, shift=25, out_max=127)
    assert p.tolist() == [[127, 0], [64, 64]]


def test_inv_sqrt_by_hand():
    # floor(1024 / sqrt(v)): 1024, 512, 724.08 -> 724, 1.02 -> 1; v <= 0 counts as 1
    assert inv_sqrt_values(np.array([1, 4, 2, 10 ** 6, 0]), 10).tolist() == [1024, 512, 724, 1, 1024]
    # at a 40-bit shift, beyond float64's exact integers: isqrt(4^40 // 3) = floor(2^40 / sqrt 3)
    assert inv_sqrt_values(np.array([3]), 40).tolist() == [math.isqrt((1 << 80) // 3)]


def test_group_quantization_by_hand():
    # 3-bit weights (limit 3), groups of 2: ideal group scales [2/3, 8/3], channel scale (8/3)/255;
    # g = [round(63.75), 255] = [64, 255]; q = [1/0.669, 2/0.669, -4/2.667, 8/2.667] rounded half up
    q, g, s = quantize_groups(np.array([[1.0, 2.0, -4.0, 8.0]]), bits=3, group_size=2)
    assert g.tolist() == [[64, 255]]
    assert q.tolist() == [[1, 3, -1, 3]]
    assert s[0] == pytest.approx(8 / 3 / 255)


def test_group_quantization_error_is_within_half_a_step():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((8, 112))  # 3.5 groups: the last one shorter
    q, g, s = quantize_groups(weight, bits=4, group_size=32)
    steps = np.repeat(g, 32, axis=1)[:, :weight.shape[1]] * s[:, None]
    assert np.all(np.abs(q * steps - weight) <= steps / 2 + 1e-12)


def norm_model(op_type: str, path, channels: int = 16):
    """A one-op ONNX model: x [1, 4, channels] -> norm over the last axis, with a
    weight of mixed signs (and a bias for LayerNormalization)."""
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(3)
    weight = rng.uniform(0.5, 1.5, channels) * np.where(np.arange(channels) % 5 == 0, -1, 1)
    initializers = [numpy_helper.from_array(weight.astype(np.float32), "w")]
    inputs = ["x", "w"]
    if op_type == "LayerNormalization":
        initializers.append(numpy_helper.from_array(rng.uniform(-0.5, 0.5, channels).astype(np.float32), "b"))
        inputs.append("b")
    node = helper.make_node(op_type, inputs, ["y"], axis=-1, epsilon=1e-5)
    graph = helper.make_graph([node], "norm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, channels])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, channels])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 10
    save(model, path)
    return path


@pytest.mark.parametrize("op_type, roundings", [("RMSNormalization", 1), ("LayerNormalization", 2)])
def test_integer_norms_are_within_their_error_bound_of_the_float_norm(op_type, roundings, tmp_path):
    """The definition's error (docs/integer-transformers.md), in steps of the 16-bit output
    (limit L = 32767): 1/sqrt with >= 18 significant bits (L·2^-18), the requant multiplier's
    15 bits (L·2^-15), half a step per rounding (one; two with a bias), against the float
    norm of the integers the design was given (the float reference runs on the dequantized input)."""
    limit = 32767
    bound = limit * 2.0 ** -18 + limit * 2.0 ** -15 + 0.5 * roundings
    import compiler

    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 4, 16)).astype(np.float32) * 3
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=x)  # calibrated on the inputs themselves: no output saturates
    design = compiler.compile(norm_model(op_type, tmp_path / "norm.onnx"), calib=calib)
    executor = design.executor("int")
    ints = executor.quantize_inputs({"x": x})
    got = executor.run_int(ints)["y"]
    exact = design.run({"x": (ints["x"] * executor.input_scales["x"]).astype(np.float32)}, level="float")["y"]
    exact = exact / executor.output_scales["y"]
    inside = np.abs(exact) < limit  # the calibrated output range (an entry just past it saturates)
    assert inside.mean() > 0.99
    assert np.abs(got - exact)[inside].max() <= bound


def test_group_dense_by_hand():
    """acc = Σ_k G[c,k] Σ_{i in k} x_i W[c,i] + b: 3·(1·1 + 2·-1) + 5·(3·2 + 4·0) + 7 = 34,
    and a shorter last group: groups of 3 over 4 inputs, 2·(1 - 2 + 6) + 9·0 = 10."""
    from xdsl.parser import Parser

    from compiler.executor import IntExecutor
    from compiler.ir import make_context

    text = """
    func.func @main(%x: tensor<1x4xi8> {nn.name = "x"}) -> (tensor<1x2xi16> {nn.name = "y"}) {
      %w = nn.constant dense<[[1, -1, 2, 0], [1, -1, 2, 0]]> : tensor<2x4xi4>
      %g = nn.constant dense<[[3, 5], [2, 9]]> : tensor<2x2xi9>
      %b = nn.constant dense<[7, 0]> : tensor<2xi16>
      %y = nn.group_dense %x, %w, %g, %b {group_size = GROUP : i64} : (tensor<1x4xi8>, tensor<2x4xi4>, tensor<2x2xi9>, tensor<2xi16>) -> tensor<1x2xi16>
      func.return %y : tensor<1x2xi16>
    }"""
    x = np.array([[1, 2, 3, 4]])
    pairs = Parser(make_context(), text.replace("GROUP", "2")).parse_module()
    assert IntExecutor(pairs).run_int({"x": x})["y"][0, 0] == 34
    threes = Parser(make_context(), text.replace("GROUP", "3")).parse_module()
    assert IntExecutor(threes).run_int({"x": x})["y"][0, 1] == 2 * (1 - 2 + 6) + 9 * 0
