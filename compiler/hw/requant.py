"""The requantization datapath in hardware: the integer rule of DESIGN.md's
numerics (`compiler.numerics.requantize` is its int64 reference), built with a
`ModuleBuilder` by the MVU and the element-wise PEs."""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from compiler.hw.adder_tree import Ranged, sum_terms
from compiler.hw.bits import width_of
from compiler.hw.builder import ModuleBuilder
from compiler.hw.cmvm import csd_digits
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
    constant (an int or a `hw.constant` value) is narrowed to the smallest
    equivalent shift and multiplied by shift-and-add when `constants` has that
    style — its signed digits of `acc` and a constant offset with the rounding
    summed by one adder tree (`_scaled_by_digits`) —, else by `comb.mul`.
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
    width = requant_width(width_of(acc), m_bits, shift, lo, hi, offset, rounding)
    known = multiplier if isinstance(multiplier, int) else b.constant_value(multiplier)
    known_offset = 0 if offset is None else b.constant_value(offset)
    if known is not None and constants is not None and constants.style == "shift-add":
        if known_offset is not None:
            narrow = narrowest_requant(known, shift, lo, hi, width_of(acc), rounding, known_offset)
            if narrow != (known, shift, known_offset):
                narrow_offset = b.const(narrow[2], signed_bits(narrow[2], narrow[2])) if narrow[2] else None
                return requantize(b, acc, narrow[0], narrow[1], lo, hi, out_width, constants, narrow_offset, rounding)
            if not (rounding == "half_even" and shift > 0):
                total = _scaled_by_digits(b, acc, known, known_offset + rounding_constant(rounding, shift))
                return _clamped(b, total, shift, lo, hi, out_width)
        scaled = constants.times(acc, known, width)
    elif isinstance(multiplier, int):
        scaled = b.mul_const(acc, multiplier, width)
    else:
        scaled = b.mul(acc, multiplier, width=width)
    return requantize_product(b, scaled, shift, lo, hi, out_width, offset, rounding)


def power_of_two_exponents(multipliers: list[int]) -> list[int] | None:
    """log2 of each multiplier when every one is a positive power of two (as
    `--requant-digits 1` makes them), else None."""
    if not multipliers or any(m <= 0 or m & (m - 1) for m in multipliers):
        return None
    return [m.bit_length() - 1 for m in multipliers]


def requantize_by_shift(b: ModuleBuilder, acc: SSAValue, exponent: SSAValue, spread: int, lowest: int, shift: int,
                        lo: int, hi: int, out_width: int, constants: ConstantMultiplier | None = None,
                        offset: SSAValue | None = None, rounding: str = "half_up") -> SSAValue:
    """`requantize` by the multiplier 2**(lowest + exponent), `exponent` a value in
    [0, spread] (a table's entry): `acc << exponent` by a shifter (log2(spread)
    levels of muxes, no multiplier) requantized by the constant 2**lowest."""
    shifted = b.shl(b.sext(acc, width_of(acc) + spread), exponent)
    return requantize(b, shifted, 1 << lowest, shift, lo, hi, out_width, constants, offset, rounding)


def requant_width(acc_bits: int, m_bits: int, shift: int, lo: int, hi: int, offset: SSAValue | None,
                  rounding: str) -> int:
    """Bits that hold `acc * M + offset + rounding` of an `acc_bits` accumulator and an
    `m_bits` multiplier, and the clamp's bounds, without overflow."""
    bounds = (lo << shift, ((hi + 1) << shift) - 1)
    width = max(acc_bits + m_bits + 1, signed_bits(min(bounds), max(bounds)) + 1)
    if offset is not None or rounding != "half_up":  # |acc * M| + |offset| + 2^shift: one bit more than the widest
        width = max(width, acc_bits + m_bits + 2, (width_of(offset) if offset is not None else 0) + 2, shift + 2)
    return width


def requantize_product(b: ModuleBuilder, scaled: SSAValue, shift: int, lo: int, hi: int, out_width: int,
                       offset: SSAValue | None = None, rounding: str = "half_up") -> SSAValue:
    """`clamp((scaled + offset + rounding) >> shift, lo, hi)` of a product `acc * M`
    already formed, at a width that holds the sum (`requant_width`)."""
    width = width_of(scaled)
    known_offset = 0 if offset is None else b.constant_value(offset)
    bounds = (lo << shift, ((hi + 1) << shift) - 1)
    constant = rounding_constant(rounding, shift)
    tie_bit = rounding == "half_even" and shift > 0
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


def _scaled_by_digits(b: ModuleBuilder, acc: SSAValue, multiplier: int, constant: int) -> Ranged:
    """acc * multiplier + constant: the multiplier's signed digits of `acc` and the
    constant summed narrowest first (`compiler.hw.adder_tree`)."""
    x = Ranged.of(acc)
    sign = 1 if multiplier > 0 else -1
    terms = [(x, k, sign * digit) for k, digit in csd_digits(abs(multiplier))]
    if constant:
        terms.append((Ranged(b.const(constant, signed_bits(constant, constant)), constant, constant), 0, 1))
    total = sum_terms(b, terms)
    return total if total is not None else Ranged(b.const(0, 1), 0, 0)


def _clamped(b: ModuleBuilder, scaled: Ranged, shift: int, lo: int, hi: int, out_width: int) -> SSAValue:
    """clamp(scaled >> shift, lo, hi) at `out_width` bits, comparing the unshifted
    value with `lo << shift` and `(hi + 1) << shift`."""
    bounds = (lo << shift, ((hi + 1) << shift) - 1)
    width = max(signed_bits(scaled.lo << scaled.shift, scaled.hi << scaled.shift),
                signed_bits(min(bounds), max(bounds))) + 1
    value = scaled.at_width(b, width)
    below = b.slt(value, b.const(bounds[0], width))
    above = b.sgt(value, b.const(bounds[1], width))
    inside = b.extract(b.sext(value, max(width, shift + out_width)), shift, out_width)
    return b.mux(below, b.const(lo, out_width), b.mux(above, b.const(hi, out_width), inside))


def narrowest_equivalent(multiplier: int, shift: int, lo: int, hi: int, acc_bits: int) -> tuple[int, int]:
    """The (multiplier', shift') with the smallest shift' whose requantization
    equals that of (multiplier, shift) for every `acc_bits`-bit accumulator
    (the rule is the same, with rounding 2**(shift'-1)); (multiplier, shift)
    itself when no smaller one is proven or the check would be too big
    (`narrowest_requant` without offset, rounding half up)."""
    narrow_multiplier, narrow_shift, _ = narrowest_requant(multiplier, shift, lo, hi, acc_bits)
    return narrow_multiplier, narrow_shift


def narrowest_requant(multiplier: int, shift: int, lo: int, hi: int, acc_bits: int, rounding: str = "half_up",
                      offset: int = 0) -> tuple[int, int, int]:
    """The (multiplier', shift', offset') with the smallest shift' whose requantization
    (same rounding) equals that of (multiplier, shift, offset) for every `acc_bits`-bit
    accumulator; the requant itself when no smaller one is proven or the check would
    be too big.

    Proof by exhaustion: for multiplier > 0 the output is monotone in acc, so it
    is enough to compare on the accumulators between the last one clamped to `lo`
    and the first one clamped to `hi` (both included), by the int64 reference
    `compiler.numerics.requantize`."""
    same = (multiplier, shift, offset)
    if multiplier <= 0 or shift <= 1 or acc_bits + multiplier.bit_length() > 61 or abs(offset).bit_length() > 61:
        return same
    domain = _unclamped_accumulators(multiplier, shift, lo, hi, acc_bits, rounding, offset)
    if domain is None:
        return same
    expected = reference_requantize(domain, np.int64(multiplier), shift, lo, hi, np.int64(offset), rounding)
    best = same
    low, high = 1, shift - 1
    while low <= high:  # the smallest shift' with an equivalent multiplier and offset (verified)
        middle = (low + high) // 2
        found = _equivalent_at(same, middle, domain, expected, lo, hi, rounding)
        if found is None:
            low = middle + 1
        else:
            best, high = (found[0], middle, found[1]), middle - 1
    return best


def _unclamped_accumulators(multiplier: int, shift: int, lo: int, hi: int, acc_bits: int, rounding: str = "half_up",
                            offset: int = 0) -> np.ndarray | None:
    """The accumulators from the last one whose output is clamped to `lo` to the
    first one clamped to `hi` (within the acc_bits range), or None when too many.
    Other roundings and offsets: the accumulators between those bounds for any
    rounding constant in [0, 2^shift]."""
    if rounding == "half_up" and not offset:
        rounding_constant = (1 << shift) >> 1
        first = -((rounding_constant - ((lo + 1) << shift)) // multiplier)  # smallest acc with output > lo
        last = ((hi << shift) - rounding_constant - 1) // multiplier        # largest acc with output < hi
    else:
        first = -((offset + (1 << shift) - ((lo + 1) << shift)) // multiplier)
        last = ((hi << shift) - offset - 1) // multiplier
    start = max(first - 1, -(1 << (acc_bits - 1)))
    stop = min(last + 1, (1 << (acc_bits - 1)) - 1)
    if stop - start + 1 > EXHAUSTIVE_LIMIT:
        return None
    return np.arange(start, stop + 1, dtype=np.int64)


def _candidates(value: int, divisor: int) -> list[int]:
    scaled = value / divisor
    return sorted({int(np.floor(scaled)), int(np.ceil(scaled)), int(round(scaled))})


def _equivalent_at(requant: tuple[int, int, int], narrow_shift: int, domain: np.ndarray, expected: np.ndarray,
                   lo: int, hi: int, rounding: str) -> tuple[int, int] | None:
    """A (multiplier, offset) for `narrow_shift` equal to `requant` on `domain`, or None."""
    multiplier, shift, offset = requant
    divisor = 1 << (shift - narrow_shift)
    for candidate in _candidates(multiplier, divisor):
        for candidate_offset in _candidates(offset, divisor) if offset else [0]:
            if candidate > 0 and np.array_equal(reference_requantize(
                    domain, np.int64(candidate), narrow_shift, lo, hi, np.int64(candidate_offset), rounding), expected):
                return candidate, candidate_offset
    return None
