"""The patterns of the ImageNet model zoo (issue 16) on small models built with
`onnx.helper`: a Caffe-era final softmax over axis 1 of [1, C, 1, 1], LRN on
integers, `Sum`, and a dense block's chain of concats; each through the float
level (against onnxruntime), the integer level (against the float one) and the
spatial level (bit-exact with the integer one)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.executor import IntExecutor, SpatialExecutor
from compiler.ir import parse_module
from compiler.numerics import host_softmax_axis, requant_parameters, round_half_up
from passes.quantize import quantize_with_samples
from passes.quantize_ops import lrn_window
from tests.support import onnxruntime_per_sample

RNG = np.random.default_rng(16)


def conv(name: str, x: str, out: str, cin: int, cout: int, k: int = 1, pad: int = 0):
    weight = numpy_helper.from_array((RNG.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k))
                                     .astype(np.float32), f"{name}.w")
    bias = numpy_helper.from_array((0.1 * RNG.standard_normal(cout)).astype(np.float32), f"{name}.b")
    node = helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [out], kernel_shape=[k, k], pads=[pad] * 4)
    return node, [weight, bias]


def save_model(tmp_path, nodes, initializers, channels: int, side: int, output: str, out_shape) -> str:
    graph = helper.make_graph(
        nodes, "zoo", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, side, side])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, out_shape)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    return str(path)


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory):
    """conv → relu → LRN → maxpool → fire-like branches joined by concat, a
    three-way Sum, a dense block of concats, global average pool, 1×1 conv to
    classes and a softmax over axis 1 of [1, 10, 1, 1]."""
    nodes, inits = [], []

    def add(result):
        node, weights = result
        nodes.append(node)
        inits.extend(weights)

    add(conv("c1", "x", "c1", 3, 8, k=3, pad=1))
    nodes += [helper.make_node("Relu", ["c1"], ["r1"]),
              helper.make_node("LRN", ["r1"], ["n1"], size=5, alpha=1e-2, beta=0.75, bias=1.0),
              helper.make_node("MaxPool", ["n1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2])]
    add(conv("e1", "p1", "e1", 8, 4))
    add(conv("e3", "p1", "e3", 8, 4, k=3, pad=1))
    add(conv("e5", "p1", "e5", 8, 8))
    nodes.append(helper.make_node("Concat", ["e1", "e3"], ["f"], axis=1))
    nodes.append(helper.make_node("Sum", ["f", "e5", "p1"], ["s"]))
    previous, channels = "s", 8
    for i in range(3):  # a dense block: each layer's features joined to all before
        add(conv(f"d{i}", previous, f"d{i}", channels, 2, k=3, pad=1))
        nodes.append(helper.make_node("Concat", [previous, f"d{i}"], [f"cat{i}"], axis=1))
        previous, channels = f"cat{i}", channels + 2
    add(conv("cls", previous, "logits4", channels, 10))
    nodes += [helper.make_node("GlobalAveragePool", ["logits4"], ["g"]),
              helper.make_node("Softmax", ["g"], ["prob"], axis=1)]
    return save_model(tmp_path_factory.mktemp("zoo"), nodes, inits, 3, 8, "prob", [1, 10, 1, 1])


def test_host_softmax_axis():
    assert host_softmax_axis((5, 1000, 1, 1)) == 1
    assert host_softmax_axis((5, 10)) == 1
    assert host_softmax_axis((5, 4, 2, 1)) == 2
    assert host_softmax_axis((5, 1, 1)) == 2


def test_zoo_patterns_through_every_level(zoo_model, tmp_path):
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=RNG.standard_normal((16, 3, 8, 8)).astype(np.float32))
    design = compiler.compile(zoo_model, calib=calib, target_fps=1e5)
    x = RNG.standard_normal((64, 3, 8, 8)).astype(np.float32)
    floats = design.run(x)["prob"]
    theirs = onnxruntime_per_sample(zoo_model, {"x": x[:4]})["prob"]
    np.testing.assert_allclose(floats[:4], theirs, rtol=1e-4, atol=1e-5)
    names = {op.name for op in design.rom_module.walk()}
    assert "nn.softmax" not in names and "nn.lrn" not in names
    ints = design.run(x, level="int")["prob"]
    assert ints.shape == (64, 10, 1, 1)
    np.testing.assert_allclose(ints.sum(axis=1), 1.0, rtol=1e-5)  # the host's softmax over axis 1
    assert np.mean(ints.argmax(axis=1) == floats.argmax(axis=1)) >= 0.9
    assert np.abs(ints - floats).max() < 0.05
    int_executor, spatial_executor = IntExecutor(design.rom_module), SpatialExecutor(design.spatial_module)
    q = int_executor.quantize_inputs({"x": x[:8]})
    expected, actual = int_executor.run_int(q), spatial_executor.run_int(q)
    assert np.array_equal(expected["prob"], actual["prob"])


def test_lrn_window():
    band = lrn_window(5, 3)[:, :, 0, 0]
    assert band.tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 1, 1]]
    even = lrn_window(4, 2)[:, :, 0, 0]  # ONNX: floor((size-1)/2) = 0 before, ceil = 1 after
    assert even.tolist() == [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]]


LRN_GRAPH = """
func.func @main(%x: tensor<1x3x1x1xf32> {nn.name = "x"}) -> (tensor<1x3x1x1xf32> {nn.name = "y"}) {
  %y = nn.lrn %x {size = 3 : i64, alpha = 0.3 : f32, beta = 1.0 : f32, bias = 1.0 : f32} : (tensor<1x3x1x1xf32>) -> tensor<1x3x1x1xf32>
  func.return %y : tensor<1x3x1x1xf32>
}
"""


def test_lrn_on_integers_by_hand():
    """abits = 4 (L = 7); calibrated on x = [7, -7, 0] and [0, 0, 7]: s = 1, B = 7.
    For q = [1, 2, 3]: S = Σ_window q² = [1+4, 1+4+9, 4+9] = [5, 14, 13];
    t = requant(S) at scale size·B·s² = 21: round(S / 21) = [0, 1, 1];
    table f(t) = (1 + 0.3/3 · 21·t)^-1: f(0) = 1, f(1) = 1/3.1, at scale f(0)/L = 1/7:
    f_q = [round(7), round(7/3.1)] = [7, 2], so f_q(t) = [7, 2, 2];
    q · f_q = [7, 4, 6] at scale s/7: y = [1, 4/7, 6/7] (to one output LSB)."""
    module = parse_module(LRN_GRAPH)
    samples = {"x": np.array([[7, -7, 0], [0, 0, 7]], np.float32).reshape(2, 3, 1, 1)}
    multipliers, shift = requant_parameters(np.array([1 / 21]), "lrn")
    t = round_half_up(np.array([5, 14, 13]) * (multipliers[0] / 2.0 ** shift))
    assert t.tolist() == [0, 1, 1]
    quantize_with_samples(module, samples, wbits=8, abits=4)
    executor = IntExecutor(module)
    y_q = executor.run_int({"x": np.array([1, 2, 3]).reshape(1, 3, 1, 1)})["y"].reshape(-1)
    s_y = executor.output_scales["y"]
    np.testing.assert_allclose(y_q * s_y, [1, 4 / 7, 6 / 7], atol=s_y)


AVERAGE_POOL_GRAPH = """
func.func @main(%x: tensor<1x1x5x5xf32> {nn.name = "x"}) -> (tensor<1x1x3x3xf32> {nn.name = "y"}) {
  %y = nn.average_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, ceil_mode = 0 : i64, count_include_pad = 0 : i64} : (tensor<1x1x5x5xf32>) -> tensor<1x1x3x3xf32>
  func.return %y : tensor<1x1x3x3xf32>
}
"""


def test_border_average_pool_on_integers_by_hand():
    """3×3 windows, stride 2, pad 1 on 5×5 (count_include_pad = 0): the windows hold
    4 (corners), 6 (edges) or 9 taps inside the input, L = lcm = 36, so the sum pool
    multiplies each sum by 36/n = 9, 6 or 4 and the requant divides by 36: every
    output is the window's exact average (36 times it, exactly, before the requant),
    to one output LSB."""
    module = parse_module(AVERAGE_POOL_GRAPH)
    samples = {"x": np.full((1, 1, 5, 5), 127, np.float32)}  # scale 1 at abits = 8
    quantize_with_samples(module, samples, wbits=8, abits=8)
    (pool,) = [op for op in module.walk() if op.name == "nn.sum_pool"]
    assert pool.average_times.value.data == 36
    assert pool.window_factors().tolist() == [[9, 6, 9], [6, 4, 6], [9, 6, 9]]
    x = np.arange(25).reshape(1, 1, 5, 5) - 12
    executor = IntExecutor(module)
    y = executor.run_int({"x": x})["y"][0, 0] * executor.output_scales["y"]
    padded = np.pad(x[0, 0].astype(float), 1, constant_values=np.nan)
    averages = [[np.nanmean(padded[2 * i:2 * i + 3, 2 * j:2 * j + 3]) for j in range(3)] for i in range(3)]
    np.testing.assert_allclose(y, averages, atol=executor.output_scales["y"])
    assert len(set(np.round(averages, 6).ravel())) == 9 and max(abs(np.array(averages).ravel())) > 5


def test_border_average_pool_through_every_level(tmp_path):
    """ShuffleNet's stride-2 unit: a channel shuffle (reshape to [1, 2, 2, H, W],
    transpose the groups, reshape back), then a 3×3 average pool (stride 2, pad 1,
    count_include_pad = 0) beside a stride-2 conv, joined by a concat."""
    nodes, inits = [], []
    node, weights = conv("c1", "x", "c1", 3, 4, k=3, pad=1)
    nodes.append(node)
    inits += weights
    inits += [numpy_helper.from_array(np.array([1, 2, 2, 7, 7], np.int64), "groups"),
              numpy_helper.from_array(np.array([1, 4, 7, 7], np.int64), "image")]
    nodes += [helper.make_node("Relu", ["c1"], ["c1r"]),
              helper.make_node("Reshape", ["c1r", "groups"], ["g"]),
              helper.make_node("Transpose", ["g"], ["gt"], perm=[0, 2, 1, 3, 4]),
              helper.make_node("Reshape", ["gt", "image"], ["r1"]),
              helper.make_node("AveragePool", ["r1"], ["a"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)]
    weight = numpy_helper.from_array((RNG.standard_normal((4, 4, 3, 3)) / 6).astype(np.float32), "s.w")
    nodes += [helper.make_node("Conv", ["r1", "s.w"], ["s"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4),
              helper.make_node("Concat", ["a", "s"], ["y"], axis=1)]
    model = save_model(tmp_path, nodes, [*inits, weight], 3, 7, "y", [1, 8, 4, 4])
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=RNG.standard_normal((16, 3, 7, 7)).astype(np.float32))
    design = compiler.compile(model, calib=calib, target_fps=1e5)
    x = RNG.standard_normal((8, 3, 7, 7)).astype(np.float32)
    floats = design.run(x)["y"]
    np.testing.assert_allclose(floats, onnxruntime_per_sample(model, {"x": x})["y"], rtol=1e-4, atol=1e-5)
    ints = design.run(x, level="int")["y"]
    assert np.abs(ints - floats).max() < 0.05 * np.abs(floats).max()
    int_executor, spatial_executor = IntExecutor(design.rom_module), SpatialExecutor(design.spatial_module)
    q = int_executor.quantize_inputs({"x": x})
    assert np.array_equal(int_executor.run_int(q)["y"], spatial_executor.run_int(q)["y"])
    pools = [op for op in design.spatial_module.walk() if op.name == "spatial.pool"]
    assert [op.factors is not None for op in pools] == [True]
    assert any(op.name == "spatial.mvu" and "transpose" in op.layer.data for op in design.spatial_module.walk())
