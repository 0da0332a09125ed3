"""The MVU's requantization stage in hardware (R3 of `compiler.hw.mvu`): a
vector fold's final accumulators, one per `pe` lane, requantized into the
output beat.

* `requantized_lanes`: a requantization unit per lane, all in the same cycle;
  a lane's multiplier and offset are constants, or tables indexed by the neuron
  fold when they change between folds.
* `shared_requantized_lanes`: when each lane's multiplier changes between
  neuron folds (a per-channel multiplier: every lane needs a multiplier of a
  value, not of a constant), `MVUOp.requant_sharing` gives (units, cycles):
  the accumulators are held, and unit u takes lane u·per_unit + turn for turn
  = 0 .. per_unit-1, `cycles` cycles each; a part register keeps each result
  until the last turn completes the beat, per_unit·cycles cycles after the
  accumulators were final (the MVU's `pipeline_depth`), before the next fold's
  are (per_unit·cycles <= K/simd). Over several cycles the multiplier is taken
  a chunk of bits a cycle, most significant first: `p = (p << w) + acc * chunk`
  (the first chunk signed, the others unsigned), so a unit multiplies by w bits.

When every channel's multiplier is a power of two (`--requant-digits 1`), a
lane or unit shifts its accumulator left by the channel's exponent over the
lowest (a table) and requantizes by that lowest power: a shifter instead of a
multiplier (`requant.requantize_by_shift`), in one cycle even where a shared
unit's turn spans several.

All compute `compiler.hw.requant.requantize` of every lane, so the output
beats are the same bits; only when they leave differs.
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from compiler.hw.bits import to_unsigned, width_of
from compiler.hw.builder import ModuleBuilder
from compiler.hw.const_mult import ConstantMultiplier
from compiler.hw.requant import (
    power_of_two_exponents, requant_width, requantize, requantize_by_shift, requantize_product,
)
from compiler.hw.mvu_spec import MVUSpec
from compiler.numerics import signed_bits


def lane_values(b: ModuleBuilder, spec: MVUSpec, values: np.ndarray | None, fold: SSAValue | None, bits: int,
                what: str) -> list[SSAValue]:
    """For each pe lane, values[nf·pe + p] of the current fold `fold` (0 without values)."""
    if values is None:
        return [b.const(0, bits)] * spec.pe
    lanes = []
    for p in range(spec.pe):
        per_fold = [int(values[nf * spec.pe + p]) for nf in range(spec.neuron_folds)]
        if fold is None or len(set(per_fold)) == 1:
            lanes.append(b.const(per_fold[0], bits))
        else:
            lanes.append(b.rom_lookup(per_fold, bits, fold, name=f"{what}_{p}"))
    return lanes


def requantized_lanes(b: ModuleBuilder, spec: MVUSpec, accs: list[SSAValue], fold: SSAValue | None,
                      constants: ConstantMultiplier, bias_in_requant: bool) -> list[SSAValue]:
    """Every lane's accumulator requantized by its own unit (the accumulators as
    they are without a requant). With `bias_in_requant`, `(acc + bias) * M` is
    built as `acc * M + bias * M`: the bias joins the offset."""
    requant = spec.requant
    if requant is None:
        return accs
    channels = range(spec.out_features)
    multipliers = np.array([requant.multiplier_of(n) for n in channels])
    exponents = power_of_two_exponents(multipliers.tolist())
    if exponents is not None and fold is not None:
        return _shifted_lanes(b, spec, accs, fold, exponents, constants, bias_in_requant)
    lanes_m = lane_values(b, spec, multipliers, fold, signed_bits(min(requant.multiplier), max(requant.multiplier)),
                          "multiplier")
    lanes_c = _lane_offsets(b, spec, fold, multipliers, bias_in_requant)
    return [requantize(b, acc, m, requant.shift, requant.lo, requant.hi, spec.out_width, constants, c,
                       requant.rounding)
            for acc, m, c in zip(accs, lanes_m, lanes_c)]


def _lane_offsets(b: ModuleBuilder, spec: MVUSpec, fold: SSAValue | None, multipliers: np.ndarray,
                  bias_in_requant: bool) -> list[SSAValue | None]:
    """Each lane's requant offset of the current fold (None where all are 0); with
    `bias_in_requant`, the bias times the multiplier joins it."""
    requant = spec.requant
    assert requant is not None
    offsets = [requant.offset_of(n) if requant.offset else 0 for n in range(spec.out_features)]
    if bias_in_requant:
        assert spec.bias is not None
        offsets = [c + int(spec.bias[n]) * int(multipliers[n]) for n, c in enumerate(offsets)]
    if not any(offsets):
        return [None] * spec.pe
    return list(lane_values(b, spec, np.array(offsets), fold, signed_bits(min(offsets), max(offsets)), "offset"))


def _shifted_lanes(b: ModuleBuilder, spec: MVUSpec, accs: list[SSAValue], fold: SSAValue, exponents: list[int],
                   constants: ConstantMultiplier, bias_in_requant: bool) -> list[SSAValue]:
    """`requantized_lanes` when every multiplier is a power of two: each lane's
    accumulator shifted left by its channel's exponent over the lowest (a table
    of the fold), then requantized by that lowest power of two: shifters, not
    multipliers."""
    requant = spec.requant
    assert requant is not None
    lowest = min(exponents)
    relative = np.array(exponents) - lowest
    spread = int(relative.max())
    lanes_e = lane_values(b, spec, relative, fold, spread.bit_length() + 1, "exponent")  # a sign bit: read as >= 0
    multipliers = np.array([1 << e for e in exponents])
    lanes_c = _lane_offsets(b, spec, fold, multipliers, bias_in_requant)
    lanes = []
    for acc, e, c in zip(accs, lanes_e, lanes_c):
        known = b.constant_value(e)  # a lane whose channels share one exponent: a constant multiplier
        if known is not None:
            lanes.append(requantize(b, acc, 1 << (lowest + known), requant.shift, requant.lo, requant.hi,
                                    spec.out_width, constants, c, requant.rounding))
        else:
            lanes.append(requantize_by_shift(b, acc, e, spread, lowest, requant.shift, requant.lo, requant.hi,
                                             spec.out_width, constants, c, requant.rounding))
    return lanes


def shared_requantized_lanes(b: ModuleBuilder, spec: MVUSpec, accs: list[SSAValue], fold: SSAValue | None,
                             valid2: SSAValue, advance: SSAValue,
                             constants: ConstantMultiplier) -> tuple[list[SSAValue], SSAValue]:
    """The output lanes through `spec.requant_sharing` (see the module docstring),
    and the signal that they are all there. `valid2`: the accumulators `accs` of
    fold `fold` are final; every register moves on `advance`."""
    assert spec.requant_sharing is not None and fold is not None and spec.requant is not None
    units, cycles = spec.requant_sharing
    per_unit = -(-spec.pe // units)
    load = b.and_(advance, valid2)
    held = [b.held(f"held_{p}", acc, load) for p, acc in enumerate(accs)]
    fold_held = b.held("nf_held", fold, load)
    busy = b.reg("busy", 1, reset_value=0)
    taking = b.and_(advance, busy.value)
    chunk, last_chunk = b.counter("chunk", cycles, taking)  # back at 0 after the last one
    turn, last_turn = b.counter("turn", per_unit, b.and_(taking, last_chunk))
    finished = b.and_(last_turn, last_chunk)
    busy.set_next(b.or_(valid2, b.and_(busy.value, b.not_(finished))), enable=advance)
    lanes: list[SSAValue] = []
    for u in range(units):
        mine = list(range(u * per_unit, min((u + 1) * per_unit, spec.pe)))
        turns = [mine[min(j, len(mine) - 1)] for j in range(per_unit)]  # a short unit repeats its last lane
        unit = _TurnRequant(b, spec, turns, fold_held, turn, constants)
        result = unit.result(b.pick([held[p] for p in turns], turn), chunk, cycles, taking, u)
        for j, p in enumerate(mine):
            if j == per_unit - 1:
                lanes.append(result)
            else:
                on_turn = b.and_(taking, last_chunk, b.eq(turn, b.const(j, width_of(turn))))
                lanes.append(b.held(f"part_{p}", result, on_turn))
    return lanes, b.and_(busy.value, finished)


class _TurnRequant:
    """One shared unit: requant of lane turns[turn] of neuron fold `fold`, its
    channel's multiplier and offset from tables indexed by (fold, turn[, chunk])."""

    def __init__(self, b: ModuleBuilder, spec: MVUSpec, turns: list[int], fold: SSAValue, turn: SSAValue,
                 constants: ConstantMultiplier):
        self.b, self.spec, self.turns, self.constants = b, spec, turns, constants
        self.fold, self.turn = fold, turn
        requant = spec.requant
        assert requant is not None
        self.requant = requant
        channels = range(spec.out_features)
        self.multipliers = [requant.multiplier_of(n) for n in channels]
        offsets = [requant.offset_of(n) if requant.offset else 0 for n in channels]
        self.offset = self._table(self._entries(offsets), "offset", b.concat(fold, turn)) if any(offsets) else None

    def _entries(self, values: list[int]) -> list[int]:
        """values of the channel of each (fold, turn), in the order of concat(fold, turn)."""
        spec, turns = self.spec, self.turns
        return [values[nf * spec.pe + turns[min(j, len(turns) - 1)]]
                for nf in range(spec.neuron_folds) for j in range(1 << width_of(self.turn))]

    def _table(self, entries: list[int], what: str, index: SSAValue, bits: int | None = None) -> SSAValue:
        """entries[index] (signed, or `bits` wide): a constant when they are all the same."""
        bits = bits or signed_bits(min(entries), max(entries))
        if len(set(entries)) == 1:
            return self.b.const(entries[0], bits)
        return self.b.rom_lookup(entries, bits, index, name=f"{what}_{self.turns[0]}")

    def result(self, acc: SSAValue, chunk: SSAValue, cycles: int, taking: SSAValue, unit: int) -> SSAValue:
        """The lane's output: in one cycle, or on the last of `cycles` chunks."""
        b, requant = self.b, self.requant
        exponents = power_of_two_exponents(self.multipliers)
        if exponents is not None:  # a shifter takes the lane in one cycle, whatever `cycles` leaves
            lowest = min(exponents)
            relative = [e - lowest for e in exponents]
            spread = max(relative)
            amount = self._table(self._entries(relative), "exponent", b.concat(self.fold, self.turn),
                                 bits=max(1, spread.bit_length()))
            return requantize_by_shift(b, acc, amount, spread, lowest, requant.shift, requant.lo, requant.hi,
                                       self.spec.out_width, self.constants, self.offset, requant.rounding)
        if cycles == 1:
            multiplier = self._table(self._entries(self.multipliers), "multiplier", b.concat(self.fold, self.turn))
            return requantize(b, acc, multiplier, requant.shift, requant.lo, requant.hi, self.spec.out_width,
                              self.constants, self.offset, requant.rounding)
        m_bits = signed_bits(min(self.multipliers), max(self.multipliers))
        w = -(-m_bits // cycles)
        width = requant_width(width_of(acc), w * cycles, requant.shift, requant.lo, requant.hi, self.offset,
                              requant.rounding)
        slots = 1 << width_of(chunk)
        patterns = [self._chunk(m, k, w, cycles) if k < cycles else 0
                    for m in self._entries(self.multipliers) for k in range(slots)]
        word = self._table(patterns, "multiplier", b.concat(self.fold, self.turn, chunk), bits=w)
        first = b.eq(chunk, b.const(0, width_of(chunk)))
        signed_chunk = b.concat(b.and_(first, b.extract(word, w - 1, 1)), word)  # the first chunk's sign
        partial = b.reg(f"partial_{unit}", width)
        shifted = b.concat(b.extract(partial.value, 0, width - w), b.const(0, w))
        start = b.mux(first, b.const(0, width), shifted)
        term = b.mul(acc, signed_chunk, width=width_of(acc) + w + 1)  # the product of this chunk
        total = b.add(start, b.sext(term, width), width=width)
        partial.set_next(total, enable=taking)
        return requantize_product(b, total, requant.shift, requant.lo, requant.hi, self.spec.out_width, self.offset,
                                  requant.rounding)

    @staticmethod
    def _chunk(multiplier: int, k: int, w: int, cycles: int) -> int:
        """Bits [w·(cycles-1-k), +w) of `multiplier` in two's complement at w·cycles
        bits: chunk 0 is the most significant (and carries the sign)."""
        return (to_unsigned(multiplier, w * cycles) >> (w * (cycles - 1 - k))) & ((1 << w) - 1)
