"""The MVU's requantization stage in hardware (R3 of `compiler.hw.mvu`): a
vector fold's final accumulators, one per `pe` lane, requantized into the
output beat.

* `requantized_lanes`: a requantization unit per lane, all in the same cycle;
  a lane's multiplier and offset are constants, or tables indexed by the neuron
  fold when they change between folds.
* `shared_requantized_lanes`: when each lane's multiplier changes between
  neuron folds (a per-channel multiplier: every lane needs a multiplier of a
  value, not of a constant), `MVUOp.requant_units` units take the lanes in turn,
  one a cycle, while the next accumulations run: the accumulators are held,
  unit u takes lane u·per_unit + turn for turn = 0 .. per_unit-1, a part
  register keeps each result until the last turn completes the beat. The beat
  leaves `per_unit` cycles after the accumulators are final (the MVU's
  `pipeline_depth`), before the next fold's are (`per_unit` <= K/simd).

Both compute `compiler.hw.requant.requantize` of every lane, so the output
beats are the same bits; only when they leave differs.
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from compiler.hw.bits import width_of
from compiler.hw.builder import ModuleBuilder
from compiler.hw.const_mult import ConstantMultiplier
from compiler.hw.requant import requantize
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
    lanes_m = lane_values(b, spec, multipliers, fold, signed_bits(min(requant.multiplier), max(requant.multiplier)),
                          "multiplier")
    offsets = [requant.offset_of(n) if requant.offset else 0 for n in channels]
    if bias_in_requant:
        assert spec.bias is not None
        offsets = [c + int(spec.bias[n]) * int(multipliers[n]) for n, c in enumerate(offsets)]
    lanes_c: list[SSAValue | None] = [None] * spec.pe
    if any(offsets):
        lanes_c = list(lane_values(b, spec, np.array(offsets), fold, signed_bits(min(offsets), max(offsets)), "offset"))
    return [requantize(b, acc, m, requant.shift, requant.lo, requant.hi, spec.out_width, constants, c,
                       requant.rounding)
            for acc, m, c in zip(accs, lanes_m, lanes_c)]


def shared_requantized_lanes(b: ModuleBuilder, spec: MVUSpec, accs: list[SSAValue], fold: SSAValue | None,
                             valid2: SSAValue, advance: SSAValue,
                             constants: ConstantMultiplier) -> tuple[list[SSAValue], SSAValue]:
    """The output lanes through `spec.requant_units` shared units (see the module
    docstring), and the signal that they are all there. `valid2`: the
    accumulators `accs` of fold `fold` are final; every register moves on `advance`."""
    units = spec.requant_units
    assert units is not None and fold is not None and spec.requant is not None
    per_unit = -(-spec.pe // units)
    load = b.and_(advance, valid2)
    held = [b.held(f"held_{p}", acc, load) for p, acc in enumerate(accs)]
    fold_held = b.held("nf_held", fold, load)
    busy = b.reg("busy", 1, reset_value=0)
    taking = b.and_(advance, busy.value)
    turn, last_turn = b.counter("turn", per_unit, taking)  # back at 0 after the last turn
    busy.set_next(b.or_(valid2, b.and_(busy.value, b.not_(last_turn))), enable=advance)
    lanes: list[SSAValue] = []
    for u in range(units):
        mine = list(range(u * per_unit, min((u + 1) * per_unit, spec.pe)))
        turns = [mine[min(j, len(mine) - 1)] for j in range(per_unit)]  # a short unit repeats its last lane
        acc = b.pick([held[p] for p in turns], turn)
        result = _requantize_turn(b, spec, acc, turns, fold_held, turn, constants)
        for j, p in enumerate(mine):
            if j == per_unit - 1:
                lanes.append(result)
            else:
                on_turn = b.and_(taking, b.eq(turn, b.const(j, width_of(turn))))
                lanes.append(b.held(f"part_{p}", result, on_turn))
    return lanes, b.and_(busy.value, last_turn)


def _requantize_turn(b: ModuleBuilder, spec: MVUSpec, acc: SSAValue, turns: list[int], fold: SSAValue,
                     turn: SSAValue, constants: ConstantMultiplier) -> SSAValue:
    """requant of `acc`, lane turns[turn] of neuron fold `fold`: its channel's
    multiplier and offset from tables indexed by (fold, turn)."""
    requant = spec.requant
    assert requant is not None
    slots = 1 << width_of(turn)
    index = b.concat(fold, turn)

    def table(values: list[int], what: str) -> SSAValue:
        entries = [values[nf * spec.pe + turns[min(j, len(turns) - 1)]]
                   for nf in range(spec.neuron_folds) for j in range(slots)]
        bits = signed_bits(min(entries), max(entries))
        return b.rom_lookup(entries, bits, index, name=f"{what}_{turns[0]}") if len(set(entries)) > 1 \
            else b.const(entries[0], bits)

    channels = range(spec.out_features)
    multiplier = table([requant.multiplier_of(n) for n in channels], "multiplier")
    offsets = [requant.offset_of(n) if requant.offset else 0 for n in channels]
    offset = table(offsets, "offset") if any(offsets) else None
    return requantize(b, acc, multiplier, requant.shift, requant.lo, requant.hi, spec.out_width, constants, offset,
                      requant.rounding)
