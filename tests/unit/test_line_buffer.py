"""The SWU's line buffer as a timing model (dialects/spatial/line_buffer.py): its
frame period, worked out by hand on a small case and checked against the
beat-by-beat scheduler on many window geometries (two computations that share
only the buffer's geometry: whole rows at a time, and one beat at a time). The
RTL agrees with both: tests/property (5x5 windows over 8x8 and 12x12 pixels)."""

from __future__ import annotations

import random

import pytest

from compiler.ir import parse_module
from compiler.schedule import schedule
from dialects.spatial import SWUOp, stream_of
from dialects.spatial.line_buffer import PERIOD_FRAMES, line_buffer_of


def test_a_window_as_wide_as_the_row_makes_frames_wait():
    # 1-D [3 pixels, 1 channel], kernel 3, stride 1: the buffer holds 3 + 1 = 4
    # rows of one pixel, one window per frame of 3 beats (one lane).
    # Frame 0: pixels at cycles 0, 1, 2; the window's first beat one cycle after
    # its last pixel, 3..5. Frame 1: pixel 0 fits the free fourth slot (cycle 3);
    # pixel 1 must wait for the window to leave (cycle 5) plus the registered
    # credit: 6, pixel 2 at 7; the window at 8..10. Frame 2: pixel 0 at 8,
    # pixels 1, 2 at 11, 12, the window at 13..15. Period: 15 - 10 = 5 cycles for
    # 3 beats in and 3 out.
    buffer = line_buffer_of((3,), (3,), (1,), (0, 0), (1,))
    assert buffer.limits == (4,) and buffer.window_pixels == ((3,),)
    assert buffer.period(beats_per_pixel=1, beats_per_window=3, depth=1) == 5


def test_a_small_window_never_waits():
    # 1x1 windows: every pixel is a window; the input never runs into a row in use.
    buffer = line_buffer_of((4, 4), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1))
    assert buffer.period(beats_per_pixel=2, beats_per_window=2, depth=1) == 32


def _one_swu_graph(height, width, channels, kernel, stride, pad, lanes_in, lanes_out):
    out = (height + 2 * pad - kernel) // stride + 1, (width + 2 * pad - kernel) // stride + 1
    window = kernel * kernel * channels
    text = f"""
    builtin.module {{
      spatial.graph @main {{
      ^bb0(%x: !spatial.stream<{height}x{width}x{channels}xi8, {lanes_in}>):
        %s = spatial.swu %x {{layer = "s", kernel = array<i64: {kernel}, {kernel}>, strides = array<i64: {stride}, {stride}>, pads = array<i64: {pad}, {pad}, {pad}, {pad}>, dilations = array<i64: 1, 1>, pad_value = 0 : i64}} : (!spatial.stream<{height}x{width}x{channels}xi8, {lanes_in}>) -> !spatial.stream<{out[0]}x{out[1]}x{window}xi8, {lanes_out}>
        spatial.yield %s : !spatial.stream<{out[0]}x{out[1]}x{window}xi8, {lanes_out}>
      }}
    }}
    """
    module = parse_module(text)
    graph = next(op for op in module.walk() if op.name == "spatial.graph")
    swu = next(op for op in module.walk() if isinstance(op, SWUOp))
    return graph, swu


def _geometries(count):
    rng = random.Random(7)
    for _ in range(count):
        kernel = rng.choice([1, 2, 3, 5])
        size = rng.randint(kernel, 9)
        channels = rng.choice([1, 2, 3, 4])
        yield (size, rng.randint(kernel, 9), channels, kernel, rng.choice([1, 2]),
               rng.choice([0, kernel // 2]), rng.choice([d for d in (1, 2, 4) if channels % d == 0]),
               rng.choice([1, channels, kernel * channels]))


@pytest.mark.parametrize("geometry", list(_geometries(40)))
def test_period_equals_the_beat_by_beat_schedule(geometry):
    graph, swu = _one_swu_graph(*geometry)
    frame_beats = stream_of(swu.output).beats
    times = schedule(graph, frames=PERIOD_FRAMES)[swu.output]  # the host offers a beat every cycle
    beat_by_beat = times[-1] - times[-1 - frame_beats]
    source, target = stream_of(swu.input), stream_of(swu.output)
    period = swu.line_buffer().period(source.beats_per_vector, target.beats_per_vector, swu.pipeline_depth())
    assert period == beat_by_beat
    assert swu.nominal_ii() == max(source.beats, target.beats, period)
