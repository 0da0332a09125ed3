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
from compiler.numerics import signed_bits

EXHAUSTIVE_LIMIT = 1 << 22
"""The most accumulator values `narrowest_equivalent` checks one candidate on."""


def requantize(b: ModuleBuilder, acc: SSAValue, multiplier: SSAValue | int, shift: int, lo: int, hi: int,
               out_width: int, constants: ConstantMultiplier | None = None, offset: int = 0) -> SSAValue:
    """`clamp(((acc + offset) * multiplier + 2**(shift-1)) >> shift, lo, hi)`
    (DESIGN.md numerics with the bias `offset` added first), `out_width` bits;
    `multiplier` a signed value or a constant. A constant (an int or a
    `hw.constant` value) is narrowed to the smallest equivalent shift and
    multiplied by shift-and-add when `constants` has that style (its digits and
    the constant `offset * multiplier + rounding` summed by one adder tree), else
    by `comb.mul`.

    Computed at a width that cannot overflow; the clamp compares the unshifted
    sum with `lo << shift` and `(hi + 1) << shift` (the same decisions as
    clamping the shifted value, and every bit of the sum is used)."""
    if isinstance(multiplier, int):
        m_bits = signed_bits(multiplier, multiplier)
    else:
        m_bits = width_of(multiplier)
    known = multiplier if isinstance(multiplier, int) else b.constant_value(multiplier)
    if known is not None and constants is not None and constants.style == "shift-add":
        narrow = narrowest_equivalent(known, shift, lo, hi, width_of(acc), offset)
        if narrow != (known, shift):
            return requantize(b, acc, narrow[0], narrow[1], lo, hi, out_width, constants, offset)
        return _clamped(b, _scaled_by_digits(b, acc, known, offset, shift), shift, lo, hi, out_width)
    if offset:
        acc = b.add(acc, b.const(offset, signed_bits(offset, offset)), width=max(width_of(acc),
                                                                             signed_bits(offset, offset)) + 1)
    bounds = (lo << shift, ((hi + 1) << shift) - 1)
    width = max(width_of(acc) + m_bits + 1, signed_bits(min(bounds), max(bounds)) + 1)
    if isinstance(multiplier, int):
        scaled = b.mul_const(acc, multiplier, width)
    else:
        scaled = b.mul(acc, multiplier, width=width)
    rounding = (1 << shift) >> 1
    if rounding:
        scaled = b.add(scaled, b.const(rounding, width), width=width)
    return _clamped(b, Ranged(scaled, -(1 << (width - 1)), (1 << (width - 1)) - 1), shift, lo, hi, out_width)


def _scaled_by_digits(b: ModuleBuilder, acc: SSAValue, multiplier: int, offset: int, shift: int) -> Ranged:
    """acc * multiplier + (offset * multiplier + rounding): the multiplier's signed
    digits of `acc` and one constant, summed narrowest first."""
    x = Ranged.of(acc)
    terms = [(x, k, sign if multiplier > 0 else -sign) for k, sign in csd_digits(abs(multiplier))]
    constant = offset * multiplier + ((1 << shift) >> 1)
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


def narrowest_equivalent(multiplier: int, shift: int, lo: int, hi: int, acc_bits: int,
                         offset: int = 0) -> tuple[int, int]:
    """The (multiplier', shift') with the smallest shift' whose requantization
    equals that of (multiplier, shift) for every `acc_bits`-bit accumulator plus
    `offset` (the rule is the same, with rounding 2**(shift'-1)); (multiplier, shift)
    itself when no smaller one is proven or the check would be too big.

    Proof by exhaustion: for multiplier > 0 the output is monotone in acc, so it
    is enough to compare on the accumulators between the last one clamped to `lo`
    and the first one clamped to `hi` (both included), by the int64 reference
    `compiler.numerics.requantize`."""
    if multiplier <= 0 or shift <= 1 or max(acc_bits, signed_bits(offset, offset)) + 1 + multiplier.bit_length() > 62:
        return multiplier, shift
    reachable = (-(1 << (acc_bits - 1)) + offset, (1 << (acc_bits - 1)) - 1 + offset)
    domain = _unclamped_accumulators(multiplier, shift, lo, hi, reachable)
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


def _unclamped_accumulators(multiplier: int, shift: int, lo: int, hi: int,
                            reachable: tuple[int, int]) -> np.ndarray | None:
    """The accumulators from the last one whose output is clamped to `lo` to the
    first one clamped to `hi` (within the `reachable` range), or None when too many."""
    rounding = (1 << shift) >> 1
    first = -((rounding - ((lo + 1) << shift)) // multiplier)  # smallest acc with output > lo
    last = ((hi << shift) - rounding - 1) // multiplier        # largest acc with output < hi
    start = max(first - 1, reachable[0])
    stop = min(last + 1, reachable[1])
    if stop < start or stop - start + 1 > EXHAUSTIVE_LIMIT:
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
