"""Element-wise PEs in hardware: `spatial.requant`, `spatial.lookup`, `spatial.eltwise`.

Each is `lanes` elements wide and takes one beat per cycle: the lanes are
computed combinationally from the input beat(s) and loaded into one output
register stage (`ModuleBuilder.pipeline_stage`: `in_ready = !out_valid |
out_ready`), so the first output leaves one cycle after the first input
(`STREAM_PIPELINE_DEPTH`) and a frame takes its beat count in cycles.

* requant — `clamp((x * M[c] + round) >> shift, lo, hi)`, c the channel
  (innermost index) of the lane: with C/lanes > 1 beats per pixel, a beat
  counter selects each lane's multiplier from an `hw.aggregate_constant`
  (a constant when it does not vary).
* lookup — `table[x - min]` per lane: the table is an `hw.aggregate_constant`
  indexed by the element's bits with the sign bit flipped (x - min as unsigned).
  Tables are always logic (2**width entries; small for the widths quantize emits).
* eltwise — two input streams (`in0` = lhs, `in1` = rhs, same lanes); a beat pair
  moves when both are valid and the stage can load (`in<k>_ready = load &
  in<other>_valid`); add/sub: `lhs * lhs_scale ± rhs * rhs_scale`, mul:
  `lhs * rhs`, then requantized with the scalar multiplier.
"""

from __future__ import annotations


import numpy as np
from xdsl.dialects import hw

from compiler.hw.builder import ModuleBuilder
from compiler.hw.const_mult import ConstantMultiplier
from compiler.hw.context import GeneratorContext
from compiler.hw.requant import requantize
from compiler.numerics import signed_bits
from dialects.spatial import EltwiseOp, LookupOp, RequantOp, stream_of


def _int(attr) -> int:
    return attr.value.data


# --------------------------------------------------------------------------- requant


def build_requant(name: str, channels: int, lanes: int, in_width: int, out_width: int,
                  multiplier: np.ndarray, shift: int, lo: int, hi: int,
                  const_mult: str = "shift-add", offset: np.ndarray | None = None,
                  rounding: str = "half_up") -> hw.HWModuleOp:
    """A requant unit for a stream whose innermost dimension is `channels`;
    `multiplier` (and `offset`, if any) has `channels` values or one; constant
    multipliers are built in the `const_mult` style (`compiler.hw.const_mult`);
    `rounding` as `compiler.hw.requant.requantize`'s."""
    b = ModuleBuilder(name)
    constants = ConstantMultiplier(b, const_mult)
    inp = b.stream_input("in0", in_width, lanes)
    out = b.stream_output("out0", out_width, lanes)
    multipliers = [int(m) for m in np.asarray(multiplier).reshape(-1)]
    if len(multipliers) == 1:
        multipliers = multipliers * channels
    m_bits = signed_bits(min(multipliers), max(multipliers))
    offsets = None if offset is None else [int(c) for c in np.asarray(offset).reshape(-1)]
    if offsets is not None and len(offsets) == 1:
        offsets = offsets * channels
    beats_per_pixel = channels // lanes
    # The stage's ready also steps the beat counter: the stage is built by hand.
    valid_reg = b.reg("stage_valid", 1, reset_value=0)
    ready = b.or_(b.not_(valid_reg.value), out.ready)
    fire = b.and_(ready, inp.valid)
    beat = b.counter("beat", beats_per_pixel, fire)[0] if beats_per_pixel > 1 else None
    lanes_out = []
    for lane, x in enumerate(inp.elements()):
        per_beat = [multipliers[j * lanes + lane] for j in range(beats_per_pixel)]
        if beat is None or len(set(per_beat)) == 1:
            m = b.const(per_beat[0], m_bits)
        else:
            m = b.rom_lookup(per_beat, m_bits, beat, name=f"multiplier_{lane}")
        c = None
        if offsets is not None:
            per_beat = [offsets[j * lanes + lane] for j in range(beats_per_pixel)]
            c_bits = signed_bits(min(offsets), max(offsets))
            c = b.const(per_beat[0], c_bits) if beat is None or len(set(per_beat)) == 1 else \
                b.rom_lookup(per_beat, c_bits, beat, name=f"offset_{lane}")
        lanes_out.append(requantize(b, x, m, shift, lo, hi, out_width, constants, c, rounding))
    data = b.reg("stage_data", lanes * out_width)
    data.set_next(b.pack(lanes_out), enable=fire)
    valid_reg.set_next(inp.valid, enable=ready)
    inp.set_ready(ready)
    out.set(data.value, valid_reg.value)
    return b.finish()


def _rounding(op: RequantOp | EltwiseOp) -> str:
    return op.rounding.data if op.rounding is not None else "half_up"


def generate_requant(op: RequantOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    source, target = stream_of(op.input), stream_of(op.output)
    return build_requant(ctx.module_name, source.frame[-1], source.lanes.data, source.width, target.width,
                         ctx.rom(op.multiplier), _int(op.shift), _int(op.lo), _int(op.hi), ctx.const_mult,
                         ctx.rom(op.offset) if op.offset is not None else None, _rounding(op))


# --------------------------------------------------------------------------- lookup


def build_lookup(name: str, lanes: int, in_width: int, out_width: int, table: np.ndarray) -> hw.HWModuleOp:
    """`table[x + 2**(in_width-1)]` per lane (`table` has 2**in_width entries)."""
    values = [int(v) for v in np.asarray(table).reshape(-1)]
    if len(values) != 1 << in_width:
        raise ValueError(f"lookup {name}: a table for i{in_width} needs {1 << in_width} entries, has {len(values)}")
    b = ModuleBuilder(name)
    inp = b.stream_input("in0", in_width, lanes)
    out = b.stream_output("out0", out_width, lanes)
    table_value = b.array_constant(values, out_width, name="table")
    sign = b.const(1 << (in_width - 1), in_width)
    results = [b.array_get(table_value, b.xor(x, sign)) for x in inp.elements()]
    data, valid, ready = b.pipeline_stage("stage", b.pack(results), inp.valid, out.ready)
    inp.set_ready(ready)
    out.set(data, valid)
    return b.finish()


def generate_lookup(op: LookupOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    source, target = stream_of(op.input), stream_of(op.output)
    return build_lookup(ctx.module_name, source.lanes.data, source.width, target.width, ctx.rom(op.table))


# --------------------------------------------------------------------------- eltwise


def build_eltwise(name: str, kind: str, lanes: int, lhs_width: int, rhs_width: int, out_width: int,
                  lhs_scale: int, rhs_scale: int, multiplier: int, shift: int, lo: int, hi: int,
                  const_mult: str = "shift-add", rounding: str = "half_up") -> hw.HWModuleOp:
    """Two streams combined lane by lane and requantized (see the module docstring);
    products by constants in the `const_mult` style (`compiler.hw.const_mult`);
    `rounding` as `compiler.hw.requant.requantize`'s."""
    b = ModuleBuilder(name)
    constants = ConstantMultiplier(b, const_mult)
    lhs = b.stream_input("in0", lhs_width, lanes)
    rhs = b.stream_input("in1", rhs_width, lanes)
    out = b.stream_output("out0", out_width, lanes)
    lhs_max, rhs_max = 1 << (lhs_width - 1), 1 << (rhs_width - 1)
    if kind == "mul":
        bound = lhs_max * rhs_max
    else:
        bound = lhs_max * abs(lhs_scale) + rhs_max * abs(rhs_scale)
    acc_bits = signed_bits(-bound, bound)
    results = []
    for x, y in zip(lhs.elements(), rhs.elements()):
        if kind == "mul":
            acc = b.mul(x, y, width=acc_bits)
        else:
            left = constants.times(x, lhs_scale, acc_bits)
            right = constants.times(y, rhs_scale, acc_bits)
            acc = b.add(left, right, width=acc_bits) if kind == "add" else b.sub(left, right, width=acc_bits)
        results.append(requantize(b, acc, multiplier, shift, lo, hi, out_width, constants, rounding=rounding))
    both = b.and_(lhs.valid, rhs.valid)
    data, valid, ready = b.pipeline_stage("stage", b.pack(results), both, out.ready)
    lhs.set_ready(b.and_(ready, rhs.valid))
    rhs.set_ready(b.and_(ready, lhs.valid))
    out.set(data, valid)
    return b.finish()


def generate_eltwise(op: EltwiseOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    lhs, rhs, target = stream_of(op.lhs), stream_of(op.rhs), stream_of(op.output)
    return build_eltwise(ctx.module_name, op.kind.data, lhs.lanes.data, lhs.width, rhs.width, target.width,
                         _int(op.lhs_scale), _int(op.rhs_scale), _int(op.multiplier), _int(op.shift),
                         _int(op.lo), _int(op.hi), ctx.const_mult, _rounding(op))
