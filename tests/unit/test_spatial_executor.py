"""The spatial executor on hand-written spatial graphs: results against a plain
Python reference, cycles per inference and latency derived by hand, and the
AXI4-Stream beat packing against hand-packed words."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import HwcError
from compiler.executor import SpatialExecutor
from compiler.ir import parse_module

W1 = [[1, -2, 0, 3], [2, 1, -1, 0], [0, 0, 4, -4], [-3, 1, 1, 1]]
B1 = [5, -5, 0, 10]
M1, SHIFT1, LO1, HI1 = [3, 5, 7, 1], 2, -8, 7
W2 = [[1, 2, 3, -4], [-1, 0, 2, 5]]

TWO_LAYERS = f"""
builtin.module {{
  rom.rom @w1 : tensor<4x4xi4> = dense<{W1}> : tensor<4x4xi4>
  rom.rom @b1 : tensor<4xi8> = dense<{B1}> : tensor<4xi8>
  rom.rom @m1 : tensor<4xi4> = dense<{M1}> : tensor<4xi4>
  rom.rom @w2 : tensor<2x4xi4> = dense<{W2}> : tensor<2x4xi4>
  spatial.graph @main attributes {{
      spatial.inputs = [{{nn.name = "x", nn.scale = 0.5 : f64, nn.shape = array<i64: 1, 4>, spatial.source = array<i64: 4>, spatial.perm = array<i64: 0>}}],
      spatial.outputs = [{{nn.name = "y", nn.scale = 0.25 : f64, nn.shape = array<i64: 1, 2>, spatial.source = array<i64: 2>, spatial.perm = array<i64: 0>}}]}} {{
  ^bb0(%x: !spatial.stream<4xi8, 2>):
    %h = spatial.mvu %x {{layer = "fc1", weights = @w1, bias = @b1, multiplier = @m1, shift = {SHIFT1} : i64, lo = {LO1} : i64, hi = {HI1} : i64, pe = 2 : i64, simd = 2 : i64}} : (!spatial.stream<4xi8, 2>) -> !spatial.stream<4xi4, 2>
    %r = spatial.resize %h {{layer = "fc1_resize"}} : (!spatial.stream<4xi4, 2>) -> !spatial.stream<4xi4, 1>
    %y = spatial.mvu %r {{layer = "fc2", weights = @w2, pe = 1 : i64, simd = 1 : i64}} : (!spatial.stream<4xi4, 1>) -> !spatial.stream<2xi16, 1>
    spatial.yield %y : !spatial.stream<2xi16, 1>
  }}
}}
"""


def reference(x: list[int]) -> list[int]:
    """Dense + bias, requant `clamp((acc·M + 2^(S-1)) >> S, lo, hi)`, then the exact second dense."""
    hidden = []
    for n in range(4):
        acc = sum(x[k] * W1[n][k] for k in range(4)) + B1[n]
        hidden.append(min(HI1, max(LO1, (acc * M1[n] + (1 << (SHIFT1 - 1))) >> SHIFT1)))
    return [sum(hidden[k] * W2[n][k] for k in range(4)) for n in range(2)]


@pytest.fixture(scope="module")
def two_layers() -> SpatialExecutor:
    return SpatialExecutor(parse_module(TWO_LAYERS))


def test_two_layers_against_a_python_reference(two_layers):
    x = np.random.default_rng(0).integers(-127, 128, size=(300, 4))
    x[0], x[1] = 127, -127
    y = two_layers.run_int({"x": x})["y"]
    assert y.shape == (300, 2)
    assert y.tolist() == [reference(row) for row in x.tolist()]


def test_two_layers_timing_by_hand(two_layers):
    """fc1: ii = 1 vector · (N/pe = 4/2) · (K/simd = 4/2) = 4; its per-channel
    multipliers change between its 2 neuron folds, so one requant unit takes its 2
    lanes in turn (K/simd = 2 cycles leave 1 cycle a lane): depth 3 + 2, latency =
    K/simd + 5 = 7; resize 2→1 lanes: ii = max(2, 4) beats = 4, latency = ceil(1/2) + 1
    = 2; fc2 (no requant): ii = (2/1) · (4/1) = 8, latency = 4/1 + 3 = 7.
    Cycles per inference = max ii = 8. Latency, from the first frame's schedule: the
    input's 2 beats at cycles 0, 1; fc1 (whole vector, depth 5, a beat per 2 cycles)
    emits at 6, 8; the resize (depth 1, a beat per cycle) at 7, 8, 9, 10; fc2 (whole
    vector ready at 10, depth 3, a beat per 4 cycles) at 13, 17: latency 18."""
    timing = {t.layer: (t.ii, t.latency) for t in two_layers.pe_timing}
    assert timing == {"fc1": (4, 7), "fc1_resize": (4, 2), "fc2": (8, 7)}
    assert two_layers.cycles_per_inference == 8
    assert two_layers.latency == 18


def test_float_run_quantizes_and_dequantizes(two_layers):
    x = np.array([[1.0, -0.74, 0.25, 100.0]])
    q = [2, -1, 1, 127]  # floor(x / 0.5 + 0.5), clamped to ±127
    assert two_layers.run({"x": x})["y"].tolist() == [[v * 0.25 for v in reference(q)]]


def test_beats_round_trip_through_the_graph(two_layers):
    x = np.array([[1, -2, 3, -4], [127, -127, 0, 5]])
    beats = two_layers.stream_frames("x", x)
    # 8-bit lanes, 2 per beat, lane 0 lowest: [1, -2] -> 0xFE01, [3, -4] -> 0xFC03 ...
    assert beats == [0xFE01, 0xFC03, 0x817F, 0x0500]
    assert np.array_equal(two_layers.unpack_beats("x", beats), x)
    out = two_layers.run_beats({"x": beats})["y"]
    expected = [reference(row) for row in x.tolist()]
    assert out == [v & 0xFFFF for row in expected for v in row]  # one 16-bit lane per beat


IMAGE_IDENTITY = """
builtin.module {
  spatial.graph @main attributes {
      spatial.inputs = [{nn.name = "x", nn.shape = array<i64: 1, 2, 1, 2>, spatial.source = array<i64: 2, 1, 2>, spatial.perm = array<i64: 1, 2, 0>}],
      spatial.outputs = [{nn.name = "y", nn.shape = array<i64: 1, 2, 1, 2>, spatial.source = array<i64: 2, 1, 2>, spatial.perm = array<i64: 1, 2, 0>}]} {
  ^bb0(%x: !spatial.stream<1x2x2xi4, 2>):
    spatial.yield %x : !spatial.stream<1x2x2xi4, 2>
  }
}
"""


def test_image_beats_are_channel_innermost():
    """x[c, h, w]: c0 = (1, -1), c1 = (3, -8) over w. NHWC: pixel w0 holds (1, 3), w1 (-1, -8);
    4-bit lanes: 1 | 3 << 4 = 0x31, 0xF | 0x8 << 4 = 0x8F."""
    executor = SpatialExecutor(parse_module(IMAGE_IDENTITY))
    x = np.array([[[[1, -1]], [[3, -8]]]])
    assert executor.stream_frames("x", x) == [0x31, 0x8F]
    assert np.array_equal(executor.unpack_beats("y", [0x31, 0x8F]), x)
    assert np.array_equal(executor.run_int({"x": x})["y"], x)


def test_input_errors(two_layers):
    with pytest.raises(HwcError, match="outside the 8-bit range"):
        two_layers.run_int({"x": np.full((1, 4), 128)})
    with pytest.raises(HwcError, match="expected samples of shape"):
        two_layers.run_int({"x": np.zeros((1, 5), np.int64)})
    with pytest.raises(HwcError, match="missing input 'x'"):
        two_layers.run_int({})
    with pytest.raises(HwcError, match="no graph input or output 'z'"):
        two_layers.stream_frames("z", np.zeros((1, 4), np.int64))


RESIDUAL = f"""
builtin.module {{
  rom.rom @w : tensor<4x4xi4> = dense<{W1}> : tensor<4x4xi4>
  spatial.graph @main attributes {{
      spatial.inputs = [{{nn.name = "x", nn.shape = array<i64: 1, 4>, spatial.source = array<i64: 4>, spatial.perm = array<i64: 0>}}],
      spatial.outputs = [{{nn.name = "y", nn.shape = array<i64: 1, 4>, spatial.source = array<i64: 4>, spatial.perm = array<i64: 0>}}]}} {{
  ^bb0(%x: !spatial.stream<4xi8, 2>):
    %d:2 = spatial.dup %x {{layer = "split"}} : (!spatial.stream<4xi8, 2>) -> (!spatial.stream<4xi8, 2>, !spatial.stream<4xi8, 2>)
    %h = spatial.mvu %d#0 {{layer = "fc", weights = @w, pe = 2 : i64, simd = 2 : i64}} : (!spatial.stream<4xi8, 2>) -> !spatial.stream<4xi16, 2>
    %y = spatial.eltwise %h, %d#1 {{layer = "add", kind = "add", lhs_scale = 3 : i64, rhs_scale = -2 : i64, multiplier = 5 : i64, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64}} : (!spatial.stream<4xi16, 2>, !spatial.stream<4xi8, 2>) -> !spatial.stream<4xi8, 2>
    spatial.yield %y : !spatial.stream<4xi8, 2>
  }}
}}
"""


def residual_reference(x: list[int]) -> tuple[list[int], list[int]]:
    """The exact dense, then `clamp((3·h - 2·x)·5 + 2^3) >> 4, ±127)`: (h, y)."""
    h = [sum(x[k] * W1[n][k] for k in range(4)) for n in range(4)]
    y = [min(127, max(-127, ((3 * h[n] - 2 * x[n]) * 5 + 8) >> 4)) for n in range(4)]
    return h, y


def test_dup_feeds_both_branches_of_a_residual_add():
    """`spatial.dup` is an op with two results: both reach their consumers, and every
    stream of the run (`stream_values`) is what the reference computes."""
    module = parse_module(RESIDUAL)
    executor = SpatialExecutor(module)
    x = np.random.default_rng(1).integers(-127, 128, size=(50, 4))
    x[0] = [127, -127, 127, -127]
    expected = [residual_reference(row) for row in x.tolist()]
    assert executor.run_int({"x": x})["y"].tolist() == [y for _, y in expected]

    streams = executor.stream_values({"x": x})
    graph = next(op for op in module.ops if op.name == "spatial.graph")
    dup, mvu, add = list(graph.body.block.ops)[:3]
    assert streams[dup.results[0]].tolist() == x.tolist()
    assert streams[dup.results[1]].tolist() == x.tolist()
    assert streams[mvu.results[0]].tolist() == [h for h, _ in expected]
    assert streams[add.results[0]].tolist() == [y for _, y in expected]
