"""Sliding-window geometry shared by the convolution and pooling kernels: where
each window of an [N, C, *spatial] tensor reads, and the padded input it reads from."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from compiler.executor.kernel_table import Binding


class Window:
    """Geometry of a sliding window over the spatial axes of an [N, C, *spatial] tensor.

    The input is padded by `pads` (ONNX `[begin..., end...]`) and, when ceil_mode
    windows run past the end, by enough extra so that every window is in range.
    """

    def __init__(self, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 pads: Sequence[int], dilations: Sequence[int], out: Sequence[int]):
        rank = len(spatial)
        self.spatial, self.kernel, self.strides = tuple(spatial), tuple(kernel), tuple(strides)
        self.dilations, self.out = tuple(dilations), tuple(out)
        self.begin = tuple(pads[:rank])
        self.end = tuple(pads[rank:])
        self.padded = tuple(
            max(b + s + e, (o - 1) * st + (k - 1) * d + 1)
            for s, k, st, b, e, d, o in zip(spatial, kernel, strides, self.begin, self.end, dilations, out)
        )

    @property
    def needs_padding(self) -> bool:
        return self.padded != self.spatial or any(self.begin)

    def padded_buffer(self, rows: int, channels: int, fill: float, dtype) -> tuple[np.ndarray, tuple]:
        """A buffer pre-filled with `fill`, and the slice of it the input goes to."""
        buffer = np.full((rows, channels, *self.padded), fill, dtype)
        interior = (slice(None), slice(None)) + tuple(
            slice(b, b + s) for b, s in zip(self.begin, self.spatial)
        )
        return buffer, interior

    def tap_slices(self) -> list[tuple]:
        """For each kernel tap, the slice of the padded input its outputs read."""
        slices = []
        for tap in itertools.product(*(range(k) for k in self.kernel)):
            slices.append((slice(None), slice(None)) + tuple(
                slice(t * d, t * d + (o - 1) * st + 1, st)
                for t, d, o, st in zip(tap, self.dilations, self.out, self.strides)
            ))
        return slices

    def windows(self, padded: np.ndarray) -> np.ndarray:
        """Read-only view [N, C, *kernel, *out] of every window of `padded`."""
        spatial_strides = padded.strides[2:]
        return as_strided(
            padded,
            shape=padded.shape[:2] + self.kernel + self.out,
            strides=padded.strides[:2]
            + tuple(d * s for d, s in zip(self.dilations, spatial_strides))
            + tuple(st * s for st, s in zip(self.strides, spatial_strides)),
            writeable=False,
        )


def padder(window: Window, binding: Binding, fill: float):
    """A function returning the input padded as `window` wants (the input itself if no padding)."""
    if not window.needs_padding:
        return lambda x: x
    rows, channels = binding.operand_shapes[0][:2]
    buffer, interior = window.padded_buffer(rows, channels, fill, binding.dtype)

    def pad(x: np.ndarray) -> np.ndarray:
        buffer[interior] = x
        return buffer

    return pad
