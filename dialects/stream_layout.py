"""How a spatial stream holds an nn tensor: the stream-layout contract shared by
`map-to-spatial` (which chooses layouts), the spatial executor and the RTL
harness (which convert between the host's nn tensors and frames of beats).

A frame is an nn tensor without its batch axis, reshaped to `source`,
transposed by `perm` and read in row-major order as `frame`. Graph ports record
their layout in the graph's `spatial.inputs` / `spatial.outputs` entries
(`SOURCE_KEY`, `PERM_KEY`, with the nn shape under `SHAPE_KEY`); a PE's
`spatial.probe` records the layout of the nn value its stream carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SOURCE_KEY = "spatial.source"
PERM_KEY = "spatial.perm"
SHAPE_KEY = "nn.shape"


@dataclass(frozen=True)
class Layout:
    """How a stream's frame holds an nn tensor (without batch): reshape it to
    `source`, transpose by `perm`, and read it in row-major order as `frame`."""

    source: tuple[int, ...]
    perm: tuple[int, ...]
    frame: tuple[int, ...]

    @staticmethod
    def natural(shape: Sequence[int]) -> Layout:
        """Channel innermost: [C, *spatial] → [*spatial, C]; a vector [F] stays [F]."""
        shape = tuple(shape)
        if len(shape) <= 1:
            return Layout(shape or (1,), (0,), shape or (1,))
        perm = (*range(1, len(shape)), 0)
        return Layout(shape, perm, tuple(shape[p] for p in perm))

    @staticmethod
    def of(source: Sequence[int], perm: Sequence[int]) -> Layout:
        """The layout reshaping to `source` and transposing by `perm`."""
        source, perm = tuple(source), tuple(perm)
        return Layout(source, perm, tuple(source[p] for p in perm))

    def order(self) -> np.ndarray:
        """`order[j]` is the nn (row-major) index of stream element j."""
        count = int(np.prod(self.source))
        return np.arange(count).reshape(self.source).transpose(self.perm).reshape(-1)

    def same_order(self, other: Layout) -> bool:
        if (self.source, self.perm) == (other.source, other.perm):
            return True
        return np.array_equal(self.order(), other.order())

    def is_natural_for(self, shape: Sequence[int]) -> bool:
        return self.same_order(Layout.natural(shape))

    def to_frames(self, samples: np.ndarray, frame: Sequence[int]) -> np.ndarray:
        """[count, *nn shape] → [count, *frame] (`frame` reshapes this layout's order)."""
        count = samples.shape[0]
        moved = samples.reshape(count, *self.source).transpose(0, *[p + 1 for p in self.perm])
        return moved.reshape(count, *frame)

    def from_frames(self, frames: np.ndarray, shape: Sequence[int]) -> np.ndarray:
        """[count, *frame] → [count, *shape], the inverse of `to_frames`."""
        count = frames.shape[0]
        transposed = frames.reshape(count, *[self.source[p] for p in self.perm])
        inverse = np.argsort(self.perm)
        return transposed.transpose(0, *[int(i) + 1 for i in inverse]).reshape(count, *shape)
