"""What the MVU hardware (`compiler.hw.mvu`) is built from, as plain numbers:
the weights, folding, bias and requantization of one `spatial.mvu`, and the
layout of its weight ROM's step words."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.errors import HwcError
from compiler.executor.int_kernels import accumulator_bound
from compiler.hw.adder_tree import bits_for
from compiler.hw.bits import to_unsigned
from compiler.numerics import signed_bits


@dataclass(frozen=True)
class Requant:
    """`y = clamp((acc * multiplier[c] + offset[c] + 2**(shift-1)) >> shift, lo, hi)`;
    `multiplier` (and `offset`, 0 when empty) has one value per output channel or a single
    one; `rounding` other than half_up as `compiler.numerics.requantize`'s."""

    multiplier: tuple[int, ...]
    shift: int
    lo: int
    hi: int
    offset: tuple[int, ...] = ()
    rounding: str = "half_up"

    def multiplier_of(self, channel: int) -> int:
        return self.multiplier[channel] if len(self.multiplier) > 1 else self.multiplier[0]

    def offset_of(self, channel: int) -> int:
        return 0 if not self.offset else self.offset[channel] if len(self.offset) > 1 else self.offset[0]


@dataclass
class MVUSpec:
    """Everything the MVU hardware needs, as plain numbers."""

    name: str
    weights: np.ndarray  # [N, K] signed integers
    weight_bits: int
    in_width: int
    out_width: int
    pe: int
    simd: int
    bias: np.ndarray | None = None  # [N]
    requant: Requant | None = None
    rom_style: str = "logic"
    rom_file: str | None = None  # `rom/<name>.hex` for rom_style == "memory"
    const_mult: str = "shift-add"  # constant products: `compiler.hw.const_mult.CONST_MULTS`
    in_range: tuple[int, int] | None = None  # every input value's bounds, when the producer guarantees them
    requant_sharing: tuple[int, int] | None = None  # (units, cycles a lane): `MVUOp.requant_sharing`

    @property
    def out_features(self) -> int:
        return self.weights.shape[0]

    @property
    def in_features(self) -> int:
        return self.weights.shape[1]

    @property
    def neuron_folds(self) -> int:
        return self.out_features // self.pe

    @property
    def synapse_folds(self) -> int:
        return self.in_features // self.simd

    @property
    def steps(self) -> int:
        return self.neuron_folds * self.synapse_folds

    @property
    def uses_memory(self) -> bool:
        """A ROM memory is used for the weights (memory style, more than one step,
        and some weight position that changes between steps)."""
        return self.rom_style == "memory" and self.steps > 1 and bool(self.field_bits().any())

    def acc_bits(self) -> int:
        """Accumulator width: the output width without requant, else from the bounds."""
        if self.requant is None:
            return self.out_width
        bound = accumulator_bound(self.weights, self.bias, self.in_width)
        return signed_bits(-bound, bound)

    def position_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """The least and greatest weight each (lane, simd position) multiplier sees
        over the steps, [pe, simd] each (weight (p, s) of step (nf, sf) is
        W[nf·pe + p, sf·simd + s])."""
        blocks = self.weights.reshape(self.neuron_folds, self.pe, self.synapse_folds, self.simd)
        return blocks.min(axis=(0, 2)), blocks.max(axis=(0, 2))

    def field_bits(self) -> np.ndarray:
        """[pe, simd]: the bits weight position (p, s) takes in a step word, those of
        its range (unsigned when it is never negative; none when it never changes)."""
        lows, highs = self.position_ranges()
        return np.array([[0 if lo == hi else bits_for(int(lo), int(hi)) for lo, hi in zip(*rows)]
                         for rows in zip(lows, highs)], dtype=np.int64).reshape(self.pe, self.simd)

    def step_words(self) -> list[int]:
        """The weights of each step as one unsigned word (see the module docstring)."""
        pe, simd = self.pe, self.simd
        widths = self.field_bits().reshape(-1)
        offsets = np.concatenate([[0], np.cumsum(widths)[:-1]])
        words = []
        for nf in range(self.neuron_folds):
            for sf in range(self.synapse_folds):
                block = self.weights[nf * pe:(nf + 1) * pe, sf * simd:(sf + 1) * simd]
                word = 0
                for value, bits, offset in zip(block.reshape(-1), widths, offsets):
                    if bits:
                        word |= to_unsigned(int(value), int(bits)) << int(offset)
                words.append(word)
        return words

    def rom_hex(self) -> str:
        """The `$readmemh` image of the weight memory: one step word per line."""
        digits = (int(self.field_bits().sum()) + 3) // 4
        return "".join(f"{word:0{digits}x}\n" for word in self.step_words())

    def validate(self) -> None:
        if self.pe < 1 or self.out_features % self.pe or self.simd < 1 or self.in_features % self.simd:
            raise HwcError(f"MVU {self.name}: pe {self.pe} / simd {self.simd} do not divide "
                           f"{self.out_features} x {self.in_features}")
        if self.rom_style not in ("logic", "memory"):
            raise HwcError(f"MVU {self.name}: unknown ROM style {self.rom_style!r}")
        if self.uses_memory and not self.rom_file:
            raise HwcError(f"MVU {self.name}: the memory ROM style needs a ROM file name")
