"""Constant matrix-vector multiplication as a shared adder graph (distributed
arithmetic by common subexpressions), independent of any IR.

    graph = share_subexpressions(weights)      # weights: int [rows, cols]
    graph.nodes[i] = (a, b, shift, sign)       # v[cols + i] = v[a] + sign * (v[b] << shift)
    graph.rows[r]  = [(var, shift, sign), ...] # y[r] = sum(sign * (v[var] << shift))
    graph.evaluate(x) == weights @ x           # exactly, for integer x

Each weight is written in canonical signed digits (CSD), so a row of `W x` is a
sum of signed, shifted inputs ("terms"). The most frequent pair of terms that
recurs, with the same relative shift and sign, in the rows (`x3 - (x7 << 2)`
found in twelve places, say) becomes one adder, a new variable, and every
occurrence is replaced by one term of it; repeat until no pair occurs twice
(Hartley's common subexpression elimination, the idea of da4ml's CMVM). A pair
of the same input at two shifts is the classic multiple `x * 3 = x + (x << 1)`,
so sharing multiples of one input (multiple-constant multiplication) is a
special case. What remains in a row is summed by an adder tree.

Digits: CSD has the fewest nonzero digits, but a weight often has other forms
with as few, and which one recurs decides what can be shared. Digits of one sign
recur more: `3 = 2 + 1` rather than `4 - 1`. So the search runs twice when
that changes a term, once on CSD and once on the same-sign form (a weight's
binary digits where they are no more than its CSD ones: 3, 6, 11, 13, ...;
CSD else), and the graph with fewer adders is kept (CSD on a tie). Measured
on the jet MLP at 4 bits: 2,107 adders against 2,164 (fc1 990 against 1,021);
at 6 and 8 bits CSD wins (the same-sign form is then ~0.3-1% dearer).

Cost: one adder per node plus (terms - 1) per row, against (nonzero digits - 1)
per row without sharing. The search is quadratic in a row's terms; callers check
`pair_count` against `SEARCH_PAIR_LIMIT` first. `adder_count` says which. The search is greedy, keeps
its pair counts up to date as rows change (a change touches one row's pairs),
and takes, among the most frequent pairs, one with the newest variable (a node
built on the last ones: 2,496 adders on the 4-bit jet MLP against 2,534 with
the smallest shift first), then the smallest relative shift (the narrowest adder).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

Term = tuple[int, int, int]
"""(variable, shift, sign): sign * (v[variable] << shift)."""

PairKey = tuple[int, int, int, int]
"""(a, b, shift, sign): the pattern v[a] + sign * (v[b] << shift) (shift >= 0)."""


def csd_digits(value: int) -> list[tuple[int, int]]:
    """The canonical signed digits of `value` > 0 as (shift, ±1), lowest first:
    sum(sign << shift) == value, no two digits adjacent."""
    digits = []
    shift = 0
    while value:
        if value & 1:
            digit = 2 - (value & 3)  # 1 when value ≡ 1 (mod 4), -1 when ≡ 3
            digits.append((shift, digit))
            value -= digit
        value >>= 1
        shift += 1
    return digits


def same_sign_digits(value: int) -> list[tuple[int, int]]:
    """The digits of `value` > 0 as (shift, ±1), lowest first: its binary digits
    (all +1) when they are no more than its CSD digits (3 = 2 + 1, 11 = 8 + 2 + 1),
    else its CSD digits (7 = 8 - 1)."""
    binary = [(shift, 1) for shift in range(value.bit_length()) if value >> shift & 1]
    csd = csd_digits(value)
    return binary if len(binary) <= len(csd) else csd


DIGIT_FORMS = {"csd": csd_digits, "same-sign": same_sign_digits}
"""How a weight is split into signed digits (the module docstring, "Digits")."""


def signed_digit_terms(column: int, weight: int, form: str = "csd") -> list[Term]:
    """The terms of `weight * v[column]`: one per digit of |weight| in `form`."""
    sign = 1 if weight > 0 else -1
    return [(column, shift, sign * digit) for shift, digit in DIGIT_FORMS[form](abs(int(weight)))]


@dataclass
class AdderGraph:
    """Shared adders (`nodes`) and the terms each row sums (see the module docstring)."""

    inputs: int
    nodes: list[PairKey] = field(default_factory=list)
    rows: list[list[Term]] = field(default_factory=list)

    def adder_count(self) -> int:
        """Adders in all: one per node, terms - 1 per nonempty row."""
        return len(self.nodes) + sum(max(0, len(row) - 1) for row in self.rows)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """The rows' values for integer inputs `x` ([inputs] or [inputs, batch]),
        as Python ints (object arrays), for checking the graph."""
        values = [np.asarray(v, dtype=object) for v in np.asarray(x, dtype=object)]
        for a, b, shift, sign in self.nodes:
            values.append(values[a] + sign * (values[b] * (1 << shift)))
        zero = np.zeros_like(values[0]) if values else 0
        return np.array([sum((sign * (values[var] * (1 << shift)) for var, shift, sign in row), zero)
                         for row in self.rows], dtype=object)


SEARCH_PAIR_LIMIT = 1_200_000
"""The most pairs of terms (summed over rows) the search starts from: its time
grows with them (about 10 s at this limit); a larger matrix is not shared, and
one above half of it is searched in CSD only."""


def pair_count(weights: np.ndarray) -> int:
    """The pairs of terms in the rows of `weights` (the search's starting size)."""
    digits = np.zeros(np.asarray(weights).shape, np.int64)
    for value in np.unique(np.abs(weights)):
        digits[np.abs(weights) == value] = len(csd_digits(int(value)))
    per_row = digits.sum(axis=1)
    return int((per_row * (per_row - 1) // 2).sum())


def share_subexpressions(weights: np.ndarray) -> AdderGraph:
    """The adder graph of `weights @ x` (int [rows, cols]) with common pairs of
    terms shared, of the digit form that needs fewer adders (the module docstring)."""
    weights = np.asarray(weights)
    best = _shared_graph(weights, "csd")
    magnitudes = np.unique(np.abs(weights)).tolist()
    differs = any(same_sign_digits(int(m)) != csd_digits(int(m)) for m in magnitudes if m)
    if differs and pair_count(weights) <= SEARCH_PAIR_LIMIT // 2:  # two searches within one's time
        other = _shared_graph(weights, "same-sign")
        if other.adder_count() < best.adder_count():
            best = other
    return best


def _shared_graph(weights: np.ndarray, form: str) -> AdderGraph:
    """The adder graph of `weights @ x` with every weight in digit `form`."""
    rows = [{(col, shift): sign for w_col, w in enumerate(row) if w
             for col, shift, sign in signed_digit_terms(w_col, int(w), form)}
            for row in weights.tolist()]
    search = _PairSearch(weights.shape[1], rows)
    search.run()
    graph = AdderGraph(weights.shape[1], search.nodes)
    graph.rows = [sorted(((var, shift, sign) for (var, shift), sign in row.items()), key=lambda t: (t[1], t[0]))
                  for row in rows]
    return graph


def _pair_key(first: Term, second: Term) -> tuple[PairKey, Term]:
    """The pattern of two terms of one row and the term that replaces both:
    the lower-shifted term (by variable on a tie) is the pattern's `a`."""
    if (second[1], second[0]) < (first[1], first[0]):
        first, second = second, first
    var_a, shift_a, sign_a = first
    var_b, shift_b, sign_b = second
    return (var_a, var_b, shift_b - shift_a, sign_a * sign_b), first


def _priority(count: int, key: PairKey) -> tuple[int, int, int, PairKey]:
    """The heap entry of a pattern: the most frequent first, then the one with the
    newest variable (it extends a chain of shared terms), then the narrowest."""
    return -count, -max(key[0], key[1]), key[2], key


class _PairSearch:
    """The greedy search: pair counts per pattern, updated as rows change; a lazy
    max-heap of patterns by count (a count that grew is pushed again, one that
    shrank is corrected when popped)."""

    def __init__(self, inputs: int, rows: list[dict[tuple[int, int], int]]):
        self.next_var = inputs
        self.rows = rows
        self.shifts_of: list[dict[int, set[int]]] = []
        self.nodes: list[PairKey] = []
        self.node_of: dict[PairKey, int] = {}
        self.count: dict[PairKey, int] = {}
        self.heap: list[tuple[int, int, int, PairKey]] = []
        for row in rows:
            shifts: dict[int, set[int]] = defaultdict(set)
            terms = [(var, shift, sign) for (var, shift), sign in row.items()]
            for i, first in enumerate(terms):
                shifts[first[0]].add(first[1])
                for second in terms[i + 1:]:
                    self._change(_pair_key(first, second)[0], 1)
            self.shifts_of.append(shifts)
        for key, count in self.count.items():
            if count >= 2:
                heapq.heappush(self.heap, _priority(count, key))

    def run(self) -> None:
        while self.heap:
            negative, _, _, key = heapq.heappop(self.heap)
            count = self.count.get(key, 0)
            if count != -negative:
                if count >= 2:
                    heapq.heappush(self.heap, _priority(count, key))
                continue
            self._extract(key)

    def _change(self, key: PairKey, delta: int) -> None:
        count = self.count.get(key, 0) + delta
        if count:
            self.count[key] = count
        else:
            del self.count[key]

    def _extract(self, key: PairKey) -> None:
        """A new variable for `key`, substituted into every row holding it."""
        var_a, var_b, shift, sign = key
        if key not in self.node_of:
            self.node_of[key] = self.next_var
            self.next_var += 1
            self.nodes.append(key)
        new = self.node_of[key]
        grown: set[PairKey] = set()
        for index, row in enumerate(self.rows):
            for low_shift in sorted(self.shifts_of[index].get(var_a, ())):
                low_sign = row.get((var_a, low_shift))
                partner = (var_b, low_shift + shift)
                if low_sign is None or partner == (var_a, low_shift) or row.get(partner) != low_sign * sign:
                    continue
                self._remove(index, (var_a, low_shift))
                self._remove(index, partner)
                self._add(index, (new, low_shift), low_sign, grown)
        for changed in grown:
            count = self.count.get(changed, 0)
            if count >= 2:
                heapq.heappush(self.heap, _priority(count, changed))

    def _remove(self, index: int, place: tuple[int, int]) -> None:
        row = self.rows[index]
        sign = row.pop(place)
        self.shifts_of[index][place[0]].discard(place[1])
        term = (*place, sign)
        for (var, shift), other_sign in row.items():
            self._change(_pair_key(term, (var, shift, other_sign))[0], -1)

    def _add(self, index: int, place: tuple[int, int], sign: int, grown: set[PairKey]) -> None:
        row = self.rows[index]
        term = (*place, sign)
        for (var, shift), other_sign in row.items():
            key = _pair_key(term, (var, shift, other_sign))[0]
            self._change(key, 1)
            grown.add(key)
        row[place] = sign
        self.shifts_of[index][place[0]].add(place[1])
