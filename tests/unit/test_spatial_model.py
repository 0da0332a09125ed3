"""The PE performance model on the spatial ops (needs, pipeline depth, multipliers,
foldings, ROM references) and the one scheduler built on it (compiler.schedule),
on small graphs whose numbers are worked out by hand in the comments."""

from __future__ import annotations

import pytest

from compiler.ir import parse_module
from compiler.schedule import latency, schedule
from dialects.spatial import (
    MVU_PIPELINE_DEPTH,
    EltwiseOp,
    GraphOp,
    LookupOp,
    MVUOp,
    RequantOp,
    ReshapeOp,
    SWUOp,
    rom_references,
)

MODULE = """
builtin.module {
  rom.rom @w : tensor<4x4xi8>
  rom.rom @b : tensor<4xi16>
  rom.rom @m : tensor<1xi16>
  rom.rom @t : tensor<256xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<4xi8, 2>, %z: !spatial.stream<3x1xi8, 1>):
    %y = spatial.mvu %x {layer = "fc", weights = @w, bias = @b, multiplier = @m, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, pe = 2 : i64, simd = 2 : i64} : (!spatial.stream<4xi8, 2>) -> !spatial.stream<4xi8, 2>
    %r = spatial.requant %y {layer = "r", multiplier = @m, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64} : (!spatial.stream<4xi8, 2>) -> !spatial.stream<4xi8, 2>
    %l = spatial.lookup %r {layer = "l", table = @t} : (!spatial.stream<4xi8, 2>) -> !spatial.stream<4xi8, 2>
    %s = spatial.swu %z {layer = "s", kernel = array<i64: 2>, strides = array<i64: 1>, pads = array<i64: 0, 0>, dilations = array<i64: 1>, pad_value = 0 : i64} : (!spatial.stream<3x1xi8, 1>) -> !spatial.stream<2x2xi8, 2>
    %f = spatial.reshape %s {layer = "f"} : (!spatial.stream<2x2xi8, 2>) -> !spatial.stream<4xi8, 2>
    %l2 = spatial.requant %f {layer = "r2", multiplier = @m, shift = 0 : i64, lo = -127 : i64, hi = 127 : i64} : (!spatial.stream<4xi8, 2>) -> !spatial.stream<4xi8, 2>
    %e = spatial.eltwise %l, %l2 {layer = "e", kind = "mul", lhs_scale = 1 : i64, rhs_scale = 1 : i64, multiplier = 1 : i64, shift = 0 : i64, lo = -127 : i64, hi = 127 : i64} : (!spatial.stream<4xi8, 2>, !spatial.stream<4xi8, 2>) -> !spatial.stream<4xi8, 2>
    spatial.yield %e : !spatial.stream<4xi8, 2>
  }
}
"""


@pytest.fixture(scope="module")
def ops():
    module = parse_module(MODULE)
    return {op.layer.data: op for op in module.walk() if hasattr(op, "layer")}


def test_mvu_needs_a_whole_input_vector_per_output_vector(ops):
    mvu = ops["fc"]
    assert isinstance(mvu, MVUOp)
    # K/simd = 2 input beats per vector, N/pe = 2 output beats per vector, one vector
    # a frame: output beats 1, 2 need the 2 beats of frame 0, beats 3, 4 (frame 1) all 4.
    (need,) = mvu.needs()
    assert [need(m) for m in range(1, 5)] == [2, 2, 4, 4]
    assert mvu.pipeline_depth() == MVU_PIPELINE_DEPTH
    assert mvu.nominal_latency() == 2 + MVU_PIPELINE_DEPTH
    assert mvu.multipliers() == 4


@pytest.mark.parametrize("pe, simd, sharing", [(4, 1, (1, 2)), (4, 2, (1, 1)), (8, 2, (2, 1)), (4, 4, (2, 1)),
                                               (1, 1, (1, 8)), (1, 8, None), (2, 8, None), (16, 2, None)])
def test_per_channel_requants_are_shared_by_the_lanes(pe, simd, sharing):
    """A per-channel multiplier with N/pe > 1: ceil(pe / (K/simd)) units take the lanes
    in turn, each for as many cycles as the K/simd cycles of a vector fold leave
    (at most the multiplier's 16 bits); the beat leaves lanes-per-unit x cycles later.
    One single-cycle unit per lane when that is what it comes to, or when N = pe (each
    lane's multiplier is then a constant) or the multiplier is the same for all (one
    value per channel, all equal: a tensor scale)."""
    k, n = 8, 16
    module = parse_module(f"""
builtin.module {{
  rom.rom @w : tensor<{n}x{k}xi8>
  rom.rom @m : tensor<{n}xi16>
  rom.rom @m1 : tensor<{n}xi16> = dense<7> : tensor<{n}xi16>
  spatial.graph @main {{
  ^bb0(%x: !spatial.stream<{k}xi8, {simd}>, %x1: !spatial.stream<{k}xi8, {simd}>):
    %y = spatial.mvu %x {{layer = "fc", weights = @w, multiplier = @m, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, pe = {pe} : i64, simd = {simd} : i64}} : (!spatial.stream<{k}xi8, {simd}>) -> !spatial.stream<{n}xi8, {pe}>
    %z = spatial.mvu %x1 {{layer = "fc1", weights = @w, multiplier = @m1, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, pe = {pe} : i64, simd = {simd} : i64}} : (!spatial.stream<{k}xi8, {simd}>) -> !spatial.stream<{n}xi8, {pe}>
    spatial.yield %y, %z : !spatial.stream<{n}xi8, {pe}>, !spatial.stream<{n}xi8, {pe}>
  }}
}}""")
    per_channel, one = [op for op in module.walk() if isinstance(op, MVUOp)]
    assert per_channel.requant_sharing() == sharing
    extra = 0 if sharing is None else -(-pe // sharing[0]) * sharing[1]
    assert per_channel.pipeline_depth() == MVU_PIPELINE_DEPTH + extra
    assert one.requant_sharing() is None and one.pipeline_depth() == MVU_PIPELINE_DEPTH


def test_swu_needs_the_last_pixel_of_each_window(ops):
    swu = ops["s"]
    assert isinstance(swu, SWUOp)
    # 1-D, 3 pixels of one channel, kernel 2: window 0 ends at pixel 1 (2 beats), window 1
    # at pixel 2 (3 beats); one window per output beat (2 lanes of 2 elements).
    (need,) = swu.needs()
    assert [need(m) for m in (1, 2, 3, 4)] == [2, 3, 3 + 2, 3 + 3]
    assert swu.nominal_latency() == 2 + 1


def test_multipliers_and_depths_per_kind(ops):
    assert ops["r"].multipliers() == 2           # a variable product per lane
    assert ops["l"].multipliers() == 0           # a table
    assert isinstance(ops["e"], EltwiseOp) and ops["e"].multipliers() == 2  # mul: per lane
    assert isinstance(ops["f"], ReshapeOp) and ops["f"].pipeline_depth() == 0
    assert ops["r"].pipeline_depth() == 1


def test_foldings_cover_every_lanes_divisor(ops):
    # The MVU: pe and simd each divide 4 → 3 × 3 foldings; pe·simd multipliers.
    foldings = ops["fc"].foldings()
    assert {(f.outputs, f.inputs) for f in foldings} == {((p,), (s,)) for p in (1, 2, 4) for s in (1, 2, 4)}
    assert all(f.multipliers == f.outputs[0] * f.inputs[0] for f in foldings)
    # A requant of 4 elements: lanes 1, 2, 4 at 4, 2, 1 cycles per frame.
    assert {(f.inputs, f.ii, f.multipliers) for f in ops["r"].foldings()} == {
        ((1,), 4, 1), ((2,), 2, 2), ((4,), 1, 4)}


def test_rom_references_in_property_order(ops):
    assert [(k, r.string_value()) for k, r in rom_references(ops["fc"])] == [
        ("weights", "w"), ("bias", "b"), ("multiplier", "m")]
    assert isinstance(ops["l"], LookupOp) and [r.string_value() for _, r in rom_references(ops["l"])] == ["t"]
    assert isinstance(ops["r"], RequantOp) and rom_references(ops["e"]) == []


def test_schedule_whole_and_fractional_cycles(ops):
    graph = ops["fc"].parent_op()
    assert isinstance(graph, GraphOp)
    swu_out = ops["s"].output
    # Host: one beat per cycle, z's beats at 0, 1, 2. The SWU emits one beat a cycle
    # once its pixels are in, behind one register: window 0 (pixels 0, 1) at 1 + 1 = 2,
    # window 1 (pixel 2) at max(2 + 1, 2 + 1) = 3.
    assert schedule(graph)[swu_out] == [2, 3]
    # A frame every 5 cycles: z's beats at 0, 5/3, 10/3; windows at 5/3 + 1 = 8/3 and
    # max(8/3 + 1, 10/3 + 1) = 13/3, in whole cycles 3 and max(3 + 1, 13/3) -> 5.
    assert schedule(graph, host_period=5)[swu_out] == [3, 5]
    assert list(schedule(graph, host_period=5, whole_cycles=False)[swu_out]) == pytest.approx([8 / 3, 13 / 3])
    # A frame of z every 6 cycles: beats at 0, 2, 4, then 6, 8, 10. The line buffer
    # (2 + 1 rows) takes frame 1's pixel 0 once window 0 has left (at 3), pixel 1 once
    # window 1 has (at 5): both after they arrive, so windows at 3, 5, then 9, 11.
    fluid = schedule(graph, frames=2, host_period=6, whole_cycles=False)
    assert list(fluid[graph.body.block.args[1]]) == [0, 2, 4, 6, 8, 10]
    assert list(fluid[swu_out]) == [3, 5, 9, 11]  # fractional times: a float64 array


def test_latency_is_the_cycle_after_the_last_output_beat(ops):
    graph = ops["fc"].parent_op()
    times = schedule(graph)
    # x: beats 0, 1; the MVU (ii 1·2·2 = 4 for 2 output beats: one per 2 cycles) emits at
    # 1 + 3 = 4, then 6; the requant and the lookup add a register each: 6, 8. The other
    # branch: SWU 2, 3; reshape (wires) 2, 3; requant 3, 4. The eltwise takes the later
    # of its inputs plus one: 7, 9.
    assert times[ops["fc"].output] == [4, 6]
    assert times[ops["l"].output] == [6, 8]
    assert times[ops["r2"].output] == [3, 4]
    assert times[ops["e"].output] == [7, 9]
    assert latency(graph) == 10
