"""Multiplication by compile-time constants in hardware: `comb.mul` or shift-and-add.

    constants = ConstantMultiplier(b, "shift-add")
    constants.prepare(x, [3, -6, 12, 5])      # share x*3 (for 3, -6, 12) and build x*5 from it
    y = constants.times(x, -6, width=16)      # -((x*3) << 1)
    dot = constants.dot([x0, x1], [5, -3], width=16)   # x0*5 - x1*3, one subtraction
    ys = constants.matrix([x0, x1], [[1, 2], [1, 2], [3, 0]], width=16)   # W x as one shared adder graph

Styles (`CONST_MULTS`):

* `shift-add` (the default): a product `x * c` is built from `x` by shifts,
  additions and subtractions, and shared: `x * c = (x * o) << k` for the odd
  part `o` of `|c|`, each odd multiple of one `x` built once (zero costs
  nothing, ±2^k is a shift, a negative constant subtracts its term in a sum
  instead of negating it). An odd multiple is one adder from two multiples
  already built when it can be (`o = a·2^k ± b`, a simple multiple-constant
  multiplication), otherwise its canonical signed digits (CSD: no two adjacent
  nonzero digits, the fewest nonzero digits) are summed. A whole constant
  matrix (`matrix`, a fully unrolled layer) is one adder graph instead: pairs
  of signed-digit terms that recur across its rows are added once
  (`compiler.hw.cmvm`) and every adder is as narrow as its operands' ranges
  allow (`compiler.hw.adder_tree`).
* `mul`: `comb.mul` by a `hw.constant`, left to synthesis (the old path).

Exactness: every multiple `x * m` is computed modulo 2**W at W = bits(x) +
bits(m) bits, which holds it exactly; intermediate wrap-around cancels in
two's complement. Results are sign-extended (or truncated) to the `width`
asked for, as `ModuleBuilder.mul_const` does, so both styles compute the same
bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from xdsl.ir import SSAValue

from compiler.hw.adder_tree import Ranged, add_shifted, constant_term, sum_terms, unsigned_operand
from compiler.hw.bits import width_of
from compiler.hw.cmvm import SEARCH_PAIR_LIMIT, csd_digits, pair_count, share_subexpressions
from compiler.numerics import signed_bits

if TYPE_CHECKING:
    from compiler.hw.builder import ModuleBuilder

CONST_MULTS = ("shift-add", "mul")
"""How a multiplication by a compile-time constant becomes hardware (the module docstring)."""


def odd_part(value: int) -> tuple[int, int]:
    """(o, k) with value == o << k and o odd (value > 0)."""
    shift = (value & -value).bit_length() - 1
    return value >> shift, shift


class ConstantMultiplier:
    """Products of values by constants for one `ModuleBuilder`, in one style
    (see the module docstring); multiples of a value are shared between calls."""

    def __init__(self, builder: ModuleBuilder, style: str = "shift-add"):
        if style not in CONST_MULTS:
            raise ValueError(f"constant multiplication must be one of {', '.join(CONST_MULTS)}, not {style!r}")
        self.b = builder
        self.style = style
        self._multiples: dict[SSAValue, dict[int, SSAValue]] = {}

    # ------------------------------------------------------------------ public

    def prepare(self, x: SSAValue, constants: Sequence[int]) -> None:
        """Build the odd multiples of `x` that `constants` need, cheapest first, so
        that the dearer ones can reuse the cheaper ones."""
        if self.style != "shift-add":
            return
        odd = {odd_part(abs(int(c)))[0] for c in constants if c}
        for o in sorted(odd, key=lambda o: (len(csd_digits(o)), o)):
            self._odd_multiple(x, o)

    def times(self, x: SSAValue, constant: int, width: int) -> SSAValue:
        """x * constant (signed) at `width` bits."""
        b = self.b
        if self.style == "mul":
            return b.mul_const(x, constant, width)
        if constant == 0:
            return b.const(0, width)
        magnitude = self._magnitude(x, abs(constant), width)
        return magnitude if constant > 0 else b.sub(b.const(0, width), magnitude, width=width)

    def matrix(self, xs: Sequence[SSAValue], rows: Sequence[Sequence[int]], width: int,
               input_range: tuple[int, int] | None = None) -> list[SSAValue]:
        """[sum(x * c) for each row of constants] at `width` bits, every x in
        `input_range` when given (unsigned when that is nonnegative), else in its
        signed width's range: with shift-add, as one adder graph whose common
        subexpressions are shared across rows (`compiler.hw.cmvm`), each adder as narrow as its operands' ranges allow
        (`compiler.hw.adder_tree`), every signed operand of a shared node and every
        signed term of a row in offset binary (no sign extensions; each row's
        offsets taken back by one constant); with mul, or when the matrix is too large
        for the search (`cmvm.SEARCH_PAIR_LIMIT`), row by row, each input's
        multiples shared."""
        weights = np.array(rows, dtype=np.int64).reshape(len(rows), len(xs))
        if self.style == "mul" or pair_count(weights) > SEARCH_PAIR_LIMIT:
            if input_range is not None and input_range[0] >= 0:  # nonnegative inputs may use their top bit
                xs = [self.b.zext(x, width_of(x) + 1) for x in xs]
            for s, x in enumerate(xs):
                self.prepare(x, weights[:, s].tolist())
            return [self.dot(xs, row, width) for row in weights.tolist()]
        graph = share_subexpressions(weights)
        values = [Ranged.of(x, *(input_range or (None, None))) for x in xs]
        offsets = [0] * len(values)  # v[i] = values[i] + offsets[i]: every node's operands in offset binary
        for a, b_var, shift, sign in graph.nodes:
            (low, low_offset), (high, high_offset) = (unsigned_operand(self.b, values[a], offsets[a]),
                                                      unsigned_operand(self.b, values[b_var], offsets[b_var]))
            values.append(add_shifted(self.b, low, high, shift, sign))
            offsets.append(low_offset + sign * (high_offset << shift))
        sums = [self._row_sum(row, values, offsets) for row in graph.rows]
        return [self.b.const(0, width) if total is None else total.at_width(self.b, width) for total in sums]

    def _row_sum(self, row: list[tuple[int, int, int]], values: list[Ranged], offsets: list[int]) -> Ranged | None:
        """sum(sign * ((values[var] + offsets[var]) << shift)) over the row's terms, in offset binary."""
        offset = sum(sign * (offsets[var] << shift) for var, shift, sign in row)
        terms = [(values[var], shift, sign) for var, shift, sign in row]
        return sum_terms(self.b, terms + [(constant_term(self.b, offset), 0, 1)], offset_binary=True)

    def dot(self, xs: Sequence[SSAValue], constants: Sequence[int], width: int) -> SSAValue:
        """sum(x * c) at `width` bits (zero constants skipped): with shift-add, the
        terms of positive and of negative constants are summed apart, each by an
        adder tree whose adders are as wide as their operands' bounds need, and
        subtracted once."""
        b = self.b
        pairs = [(x, int(c)) for x, c in zip(xs, constants) if c]
        if self.style == "mul":
            return b.sum([b.mul_const(x, c, width) for x, c in pairs], width)
        plus = [self._bounded_term(x, c, width) for x, c in pairs if c > 0]
        minus = [self._bounded_term(x, -c, width) for x, c in pairs if c < 0]
        if not minus:
            return b.sext(self._tree(plus, width), width)
        return b.sub(self._tree(plus, width), self._tree(minus, width), width=width)

    def _bounded_term(self, x: SSAValue, magnitude: int, width: int) -> tuple[SSAValue, int]:
        """(x * magnitude at the bits it needs, the largest |value| it can take)."""
        bound = magnitude << (width_of(x) - 1)
        bits = min(width, signed_bits(-bound, bound))
        return self._magnitude(x, magnitude, bits), bound

    def _tree(self, terms: list[tuple[SSAValue, int]], width: int) -> SSAValue:
        """The sum of bounded terms as a balanced adder tree, each adder
        signed_bits(sum of its bounds) wide (at most `width`)."""
        b = self.b
        if not terms:
            return b.const(0, width)
        level = terms
        while len(level) > 1:
            paired = []
            for (u, bu), (v, bv) in zip(level[::2], level[1::2]):
                bits = min(width, signed_bits(-(bu + bv), bu + bv))
                paired.append((b.add(u, v, width=bits), bu + bv))
            level = paired + ([level[-1]] if len(level) % 2 else [])
        return level[0][0]

    # ------------------------------------------------------------------ multiples

    def _magnitude(self, x: SSAValue, magnitude: int, width: int) -> SSAValue:
        """x * magnitude (> 0) at `width` bits: the shared odd multiple, shifted."""
        odd, shift = odd_part(magnitude)
        value = self._odd_multiple(x, odd)
        return self._shifted(value, shift, width)

    def _odd_multiple(self, x: SSAValue, odd: int) -> SSAValue:
        """x * odd at its exact width, built once per (x, odd)."""
        known = self._multiples.setdefault(x, {1: x})
        if odd not in known:
            known[odd] = self._build_odd(x, odd, known)
        return known[odd]

    def _build_odd(self, x: SSAValue, odd: int, known: dict[int, SSAValue]) -> SSAValue:
        width = width_of(x) + odd.bit_length()
        pair = _one_adder(odd, known)
        if pair is not None:
            terms = [(known[multiple], shift, sign) for multiple, shift, sign in pair]
        else:
            terms = [(x, shift, sign) for shift, sign in csd_digits(odd)]
        return self._signed_sum(terms, width)

    def _signed_sum(self, terms: list[tuple[SSAValue, int, int]], width: int) -> SSAValue:
        """sum(sign * (value << shift)) at `width` bits, positive terms first."""
        b = self.b
        terms = sorted(terms, key=lambda term: -term[2])
        total = self._shifted(terms[0][0], terms[0][1], width)
        if terms[0][2] < 0:
            total = b.sub(b.const(0, width), total, width=width)
        for value, shift, sign in terms[1:]:
            term = self._shifted(value, shift, width)
            total = b.add(total, term, width=width) if sign > 0 else b.sub(total, term, width=width)
        return total

    def _shifted(self, value: SSAValue, shift: int, width: int) -> SSAValue:
        """(value << shift) at `width` bits, value sign-extended."""
        b = self.b
        if shift == 0:
            return b.sext(value, width)
        if shift >= width:
            return b.const(0, width)
        return b.concat(b.sext(value, width - shift), b.const(0, shift))


def _one_adder(odd: int, known: dict[int, SSAValue]) -> list[tuple[int, int, int]] | None:
    """Terms (multiple, shift, sign) of `odd` as one addition or subtraction of two
    multiples already built, one of them shifted: odd = (a << k) ± c or c - (a << k)
    (k ≥ 1); None when there is no such pair."""
    largest = max(known)
    for a in sorted(known):
        shift = 1
        while (a << shift) <= odd + largest:
            shifted = a << shift
            if odd - shifted in known:
                return [(a, shift, 1), (odd - shifted, 0, 1)]
            if shifted - odd in known:
                return [(a, shift, 1), (shifted - odd, 0, -1)]
            if odd + shifted in known:
                return [(odd + shifted, 0, 1), (a, shift, -1)]
            shift += 1
    return None
