"""The sliding-window unit's line buffer as a timing model: which input pixels it
may accept when, which pixels each window waits for, and the frame period the two
together allow (`spatial.swu`; the hardware is `compiler.hw.swu`).

The line buffer holds `rows` input rows (the window's row span plus one stride).
The input side writes pixel after pixel, running on into the next frame, but may
write pixel p (counted from the start of the frame the output side is in) only
while p < `limits[oh]` for the window row oh the output side is at: it never
overwrites a row that window row still reads. The output side emits window
(oh, ow) once every pixel up to its last real one (raster order) is written; a
frame's last window waits for all H·W pixels.

Both sides move one beat per cycle, so within a frame neither waits for the other
(the stride's extra rows let the input fill the next window row while the current
one is emitted). At a frame boundary they do: the next frame's first window row
needs its first (KH-1)·dil+1 rows, but the input may run only `rows` rows past the
window row being emitted. `LineBuffer.period` is the resulting cycles per frame of
an SWU fed and drained as fast as it can go, which can exceed both sides' beats
per frame (a 5x5 window over 8x8 pixels: 487 cycles for 400 output beats).
Everything is counted in pixels (one row of the line buffer's view = W pixels;
a 1-D stream [W, C] is W rows of one pixel), so one `LineBuffer` serves every
folding of the SWU.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

RELEASE_DELAY = 1
"""Cycles from the output side leaving a window row to the input side writing
into the rows it freed (the `avail`/limit comparison is registered)."""
PERIOD_FRAMES = 4
"""Frames simulated by `LineBuffer.period`: the first frame starts from an empty
buffer, every later one finds the previous frame's tail in it (periodic from the
second frame on)."""


@dataclass(frozen=True)
class LineBuffer:
    """The pixel-level geometry of an SWU's line buffer (see module doc).

    `window_pixels[oh][ow]`: input pixels of the frame written before window
    (oh, ow) may leave (nondecreasing in raster order); `limits[oh]`: the input may
    write pixel p of the output side's frame (past `height·width` into the next)
    only while p < limits[oh]."""

    height: int
    width: int
    limits: tuple[int, ...]
    window_pixels: tuple[tuple[int, ...], ...]

    @property
    def frame_pixels(self) -> int:
        return self.height * self.width

    @property
    def out_rows(self) -> int:
        return len(self.limits)

    def rows_left_before(self, frame: int, pixel: int) -> int:
        """The window rows (counted over all frames) the output side must have left
        before pixel `pixel` (0 ≤ pixel < H·W) of frame `frame` may be written: the
        first window row whose limit admits it, in the previous frame if one does,
        else in the pixel's own frame."""
        if frame > 0:
            previous = bisect.bisect_right(self.limits, self.frame_pixels + pixel)
            if previous < self.out_rows:
                return (frame - 1) * self.out_rows + previous
        return frame * self.out_rows + bisect.bisect_right(self.limits, pixel)

    def input_release(self, beats_per_pixel: int, beats_per_window_row: int) -> Callable[[int], int]:
        """Input beat i (0-based, over any number of frames) is accepted only once
        this many output beats have left."""
        frame_beats = self.frame_pixels * beats_per_pixel

        def release(i: int) -> int:
            frame, rest = divmod(i, frame_beats)
            return self.rows_left_before(frame, rest // beats_per_pixel) * beats_per_window_row

        return release

    def release_table(self, beats_per_pixel: int, beats_per_window_row: int, count: int) -> np.ndarray:
        """`input_release(beats_per_pixel, beats_per_window_row)(i)` for i = 0..`count`-1,
        as one array (evaluated per pixel of a frame, then tiled over the frames)."""
        pixels = np.arange(self.frame_pixels)
        limits = np.asarray(self.limits, np.int64)
        own = np.searchsorted(limits, pixels, side="right")
        previous = np.searchsorted(limits, self.frame_pixels + pixels, side="right")
        later = np.where(previous < self.out_rows, previous - self.out_rows, own)
        frame, rest = np.divmod(np.arange(count, dtype=np.int64), self.frame_pixels * beats_per_pixel)
        pixel = rest // beats_per_pixel
        rows = np.where(frame > 0, later[pixel], own[pixel]) + frame * self.out_rows
        return rows * beats_per_window_row

    @functools.lru_cache(maxsize=256)
    def period(self, beats_per_pixel: int, beats_per_window: int, depth: int) -> int:
        """Cycles per frame in steady state when the input offers a beat every cycle
        and the output's reader takes one every cycle: the interval between the last
        beats of the last two of `PERIOD_FRAMES` frames, exactly as the hardware
        times them (input rows go in whole, each starting `RELEASE_DELAY` cycles
        after the window row that frees its slot has left; a window's first beat
        leaves `depth` cycles after its last needed pixel is written)."""
        row_beats = self.width * beats_per_pixel
        in_start = np.zeros(PERIOD_FRAMES * self.height, dtype=np.int64)
        out_end = np.zeros(PERIOD_FRAMES * self.out_rows, dtype=np.int64)
        written = 0  # input rows timed so far
        for emitted in range(len(out_end)):
            frame, oh = divmod(emitted, self.out_rows)
            pixels = np.asarray(self.window_pixels[oh], dtype=np.int64)
            rows_needed = frame * self.height + (int(pixels[-1]) - 1) // self.width + 1
            while written < rows_needed:
                freed = self._freed_row(written)
                if freed >= emitted:
                    raise ValueError("line buffer deadlock: a window row waits for rows that cannot be written")
                previous_end = in_start[written - 1] + row_beats - 1 if written else -1
                in_start[written] = max(previous_end + 1, out_end[freed] + RELEASE_DELAY if freed >= 0 else 0)
                written += 1
            last = pixels - 1 + frame * self.frame_pixels
            ready = in_start[last // self.width] + (last % self.width + 1) * beats_per_pixel - 1 + depth
            windows = len(pixels)
            after = (windows - 1 - np.arange(windows)) * beats_per_window
            first_free = out_end[emitted - 1] + 1 if emitted else 0
            out_end[emitted] = max(first_free + (windows - 1) * beats_per_window,
                                   int((ready + after).max())) + beats_per_window - 1
        frame_ends = out_end[self.out_rows - 1::self.out_rows]
        return int(frame_ends[-1] - frame_ends[-2])

    def _freed_row(self, row: int) -> int:
        """The window row (global over frames) that must have left before input row
        `row` (global over frames) may be written; -1 when none."""
        frame, local = divmod(row, self.height)
        return self.rows_left_before(frame, local * self.width) - 1


@functools.lru_cache(maxsize=64)
def line_buffer_of(spatial: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
                   pads: tuple[int, ...], dilations: tuple[int, ...]) -> LineBuffer:
    """The line buffer of a window over pixels of shape `spatial` ([H, W], or [W]:
    W rows of one pixel), `pads` = (begins..., ends...)."""
    rank = len(spatial)
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    outs = [(size + pads[i] + pads[rank + i] - spans[i]) // strides[i] + 1 for i, size in enumerate(spatial)]
    height, width = (spatial[0], spatial[1]) if rank == 2 else (spatial[0], 1)
    out_rows, out_cols = (outs[0], outs[1]) if rank == 2 else (outs[0], 1)

    def last_real(axis: int, count: int) -> np.ndarray:
        """Per window position along `axis`: the last real pixel it reads, clamped."""
        last = np.arange(count) * strides[axis] - pads[axis] + spans[axis] - 1
        return np.clip(last, 0, spatial[axis] - 1)

    columns = last_real(1, out_cols) if rank == 2 else np.zeros(1, dtype=np.int64)
    pixels = last_real(0, out_rows)[:, None] * width + columns[None, :] + 1
    pixels.flat[-1] = height * width  # a frame ends only when all its pixels are in
    pixels = np.maximum.accumulate(pixels.reshape(-1)).reshape(out_rows, out_cols)
    rows = spans[0] + strides[0]
    limits = tuple((max(oh * strides[0] - pads[0], 0) + rows) * width for oh in range(out_rows))
    return LineBuffer(height, width, limits, tuple(tuple(int(p) for p in row) for row in pixels))
