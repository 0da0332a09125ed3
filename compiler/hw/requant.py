"""The requantization datapath in hardware: the integer rule of DESIGN.md's
numerics (`compiler.numerics.requantize` is its int64 reference), built with a
`ModuleBuilder` by the MVU and the element-wise PEs."""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from compiler.hw.bits import width_of
from compiler.hw.builder import ModuleBuilder
from compiler.hw.const_mult import ConstantMultiplier
from compiler.numerics import requantize as reference_requantize
from compiler.numerics import rounding_constant, signed_bits

EXHAUSTIVE_LIMIT = 1 << 22
"""The most accumulator values `narrowest_equivalent` checks one candidate on."""


def requantize(b: ModuleBuilder, acc: SSAValue, multiplier: SSAValue | int, shift: int, lo: int, hi: int,
               out_width: int, constants: ConstantMultiplier | None = None,
               offset: SSAValue | None = None, rounding: str = "half_up") -> SSAValue:
    """`clamp((acc * multiplier + offset + 2**(shift-1)) >> shift, lo, hi)` (DESIGN.md
    numerics), `out_width` bits; `multiplier` a signed value or a constant. A
    constant (an int or a `hw.constant` value) is
    multiplied by shift-and-add when `constants` has that style, else by `comb.mul`.
    `offset` (a signed value, or None for 0) is added with the rounding constant
    (`compiler.numerics.rounding_constant`: half up, half even — plus bit `shift` of the
    product and offset —, floor, ceil).

    Computed at a width that cannot overflow; the clamp compares the unshifted
    sum with `lo << shift` and `(hi + 1) << shift` (the same decisions as
    clamping the shifted value, and every bit of the sum is used)."""
    if isinstance(multiplier, int):
        m_bits = signed_bits(multiplier, multiplier)
    else:
        m_bits = width_of(multiplier)
    bounds = (lo << shift, ((hi + 1) << shift) - 1)
    width = max(width_of(acc) + m_bits + 1, signed_bits(min(bounds), max(bounds)) + 1)
    if offset is not None or rounding != "half_up":  # |acc * M| + |offset| + 2^shift: one bit more than the widest
        width = max(width, width_of(acc) + m_bits + 2, (width_of(offset) if offset is not None else 0) + 2, shift + 2)
    known = multiplier if isinstance(multiplier, int) else b.constant_value(multiplier)
    if known is not None and constants is not None and constants.style == "shift-add":
        narrow = narrowest_equivalent(known, shift, lo, hi, width_of(acc)) \
            if offset is None and rounding == "half_up" else (known, shift)
        if narrow != (known, shift):
            return requantize(b, acc, narrow[0], narrow[1], lo, hi, out_width, constants)
        scaled = constants.times(acc, known, width)
    elif isinstance(multiplier, int):
        scaled = b.mul_const(acc, multiplier, width)
    else:
        scaled = b.mul(acc, multiplier, width=width)
    constant = rounding_constant(rounding, shift)
    tie_bit = rounding == "half_even" and shift > 0
    known_offset = None if offset is None else b.constant_value(offset)
    if offset is not None and (known_offset is None or tie_bit):  # the tie bit is the offset sum's
        scaled = b.add(scaled, offset, width=width) if known_offset != 0 else scaled
    else:
        constant += known_offset or 0
    if tie_bit:
        scaled = b.add(scaled, b.zext(b.extract(scaled, shift, 1), width), width=width)
    if constant:
        scaled = b.add(scaled, b.const(constant, width), width=width)
    below = b.slt(scaled, b.const(bounds[0], width))
    above = b.sgt(scaled, b.const(bounds[1], width))
    inside = b.extract(scaled, shift, out_width)
    return b.mux(below, b.const(lo, out_width), b.mux(above, b.const(hi, out_width), inside))


def narrowest_equivalent(multiplier: int, shift: int, lo: int, hi: int, acc_bits: int) -> tuple[int, int]:
    """The (multiplier', shift') with the smallest shift' whose requantization
    equals that of (multiplier, shift) for every `acc_bits`-bit accumulator
    (the rule is the same, with rounding 2**(shift'-1)); (multiplier, shift)
    itself when no smaller one is proven or the check would be too big.

    Proof by exhaustion: for multiplier > 0 the output is monotone in acc, so it
    is enough to compare on the accumulators between the last one clamped to `lo`
    and the first one clamped to `hi` (both included), by the int64 reference
    `compiler.numerics.requantize`."""
    if multiplier <= 0 or shift <= 1 or acc_bits + multiplier.bit_length() > 62:
        return multiplier, shift
    domain = _unclamped_accumulators(multiplier, shift, lo, hi, acc_bits)
    if domain is None:
        return multiplier, shift
    expected = reference_requantize(domain, np.int64(multiplier), shift, lo, hi)
    best = (multiplier, shift)
    low, high = 1, shift - 1
    while low <= high:  # the smallest shift' with an equivalent multiplier (verified)
        middle = (low + high) // 2
        found = _equivalent_at(multiplier, shift, middle, domain, expected, lo, hi)
        if found is None:
            low = middle + 1
        else:
            best, high = (found, middle), middle - 1
    return best


def _unclamped_accumulators(multiplier: int, shift: int, lo: int, hi: int, acc_bits: int) -> np.ndarray | None:
    """The accumulators from the last one whose output is clamped to `lo` to the
    first one clamped to `hi` (within the acc_bits range), or None when too many."""
    rounding = (1 << shift) >> 1
    first = -((rounding - ((lo + 1) << shift)) // multiplier)  # smallest acc with output > lo
    last = ((hi << shift) - rounding - 1) // multiplier        # largest acc with output < hi
    start = max(first - 1, -(1 << (acc_bits - 1)))
    stop = min(last + 1, (1 << (acc_bits - 1)) - 1)
    if stop - start + 1 > EXHAUSTIVE_LIMIT:
        return None
    return np.arange(start, stop + 1, dtype=np.int64)


def _equivalent_at(multiplier: int, shift: int, narrow_shift: int, domain: np.ndarray, expected: np.ndarray,
                   lo: int, hi: int) -> int | None:
    """A multiplier for `narrow_shift` equal to (multiplier, shift) on `domain`, or None."""
    scaled = multiplier / (1 << (shift - narrow_shift))
    for candidate in sorted({int(np.floor(scaled)), int(np.ceil(scaled)), int(round(scaled))}):
        if candidate > 0 and np.array_equal(
                reference_requantize(domain, np.int64(candidate), narrow_shift, lo, hi), expected):
            return candidate
    return None
