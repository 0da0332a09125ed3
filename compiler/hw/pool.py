"""Pooling PEs in hardware: `spatial.pool` (max or sum over each window of an
SWU stream) and `spatial.global_pool` (sum over every pixel).

Both are one *reduction unit*: the input is a sequence of vectors of
`window · C` elements (the window's positions, each C channels, channel
innermost), and each vector becomes C outputs, `out[c] = max|sum_k in[k·C + c]`.
A pool's vectors are its window vectors; a global pool's frame is one vector of
all its pixels. `generate_pool(op, ctx)` / `generate_global_pool(op, ctx)` build
the `hw.module` named `ctx.module_name`.

Microarchitecture (`_ReductionBuilder`):

* **Accumulators**: C registers at the output element width (a sum cannot
  overflow it: the quantizer chose that width from the bounds; a max is
  compared there with signed compares). An input beat carries `L_in` lanes;
  lane l of the beat whose first element has channel `offset` holds channel
  (offset + l) mod C, so channel c takes lane l exactly when
  `offset == (c - l) mod C`: one compare per (channel, lane that can ever hold
  it). `offset` steps by L_in modulo C each beat (constant 0 when C | L_in).
  The first beat of a vector restarts every accumulator (from 0, or from the
  smallest value for max).
* **Hold registers**: the last beat of a vector moves the finished C values into
  hold registers, one per output beat (not one C-element-wide register: a
  simulator would assemble that whole vector every cycle), which the output
  side emits as C / L_out beats while the next vector accumulates (double
  buffering). The last input beat of a vector waits only if the hold
  registers are still being emitted; `in_ready` depends
  on the downstream `ready` (allowed), `valid` is a register.

* **Factors** (a sum pool with `factors`: an average pool whose border windows
  hold fewer taps): a pixel counter advances with every finished vector; each
  finished sum is multiplied by its pixel's factor on its way into the hold
  register (one constant product per distinct factor, the pixel's class from a
  small table selecting one), so the timing is unchanged.

Timing when never stalled: a vector takes max(input beats, output beats)
cycles, so a frame takes `nominal_ii()` cycles, frames back to back; the first
output beat leaves one cycle after the vector's last input beat
(latency = window·C / L_in cycles from the first input beat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.dialects import hw

from compiler.hw.bits import unsigned_bits
from compiler.hw.builder import ModuleBuilder
from compiler.hw.context import GeneratorContext
from dialects.spatial import GlobalPoolOp, PoolOp, stream_of


@dataclass(frozen=True)
class Reduction:
    """A reduction unit's shape: vectors of `window · channels` elements in,
    `channels` out, max or sum."""

    kind: str  # "max" | "sum"
    channels: int
    window: int
    lanes_in: int
    lanes_out: int
    width_in: int
    width_out: int

    @property
    def beats_in(self) -> int:
        """Input beats per vector."""
        return self.window * self.channels // self.lanes_in

    @property
    def beats_out(self) -> int:
        """Output beats per vector."""
        return self.channels // self.lanes_out

    @property
    def offset_step(self) -> int:
        return self.lanes_in % self.channels

    def offsets(self) -> list[int]:
        """The channel of lane 0, for every beat of a vector."""
        return [(beat * self.lanes_in) % self.channels for beat in range(self.beats_in)]

    def lanes_of_channel(self, channel: int) -> list[int]:
        """Lanes that hold `channel` in some beat of a vector."""
        offsets = set(self.offsets())
        return [lane for lane in range(self.lanes_in)
                if (channel - lane) % self.channels in offsets]


def generate_pool(op: PoolOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    """`spatial.pool` as a reduction unit (see the module doc).

    Requires: `op` verifies (input lanes divide window·C, output lanes divide C).
    Guarantees: ports in the project's order; out[..., c] = max|sum over the
    window of in[..., k·C + c], at the output element width."""
    source, target = stream_of(op.input), stream_of(op.output)
    reduction = Reduction(op.kind.data, target.frame[-1], op.window.value.data,
                          source.lanes.data, target.lanes.data, source.width, target.width)
    factors = None if op.factors is None else [int(f) for f in ctx.rom(op.factors).reshape(-1)]
    return _ReductionBuilder(ctx.module_name, reduction, factors).build()


def generate_global_pool(op: GlobalPoolOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    """`spatial.global_pool`: a sum reduction whose one vector is the whole frame.

    Guarantees: out[c] = sum over every pixel of in[..., c], at the output
    element width."""
    source, target = stream_of(op.input), stream_of(op.output)
    channels = source.frame[-1]
    pixels = math.prod(source.frame[:-1])
    reduction = Reduction("sum", channels, pixels, source.lanes.data, target.lanes.data,
                          source.width, target.width)
    return _ReductionBuilder(ctx.module_name, reduction).build()


class _ReductionBuilder:
    """Writes a reduction unit's hardware, one concern per method."""

    def __init__(self, name: str, reduction: Reduction, factors: list[int] | None = None):
        if reduction.kind not in ("max", "sum"):
            raise ValueError(f"unknown pool kind {reduction.kind}")
        self.r = reduction
        self.factors = factors
        self.b = ModuleBuilder(name)
        self.source = self.b.stream_input("in0", reduction.width_in, reduction.lanes_in)
        self.sink = self.b.stream_output("out0", reduction.width_out, reduction.lanes_out)

    def build(self) -> hw.HWModuleOp:
        b, r = self.b, self.r
        hold = [b.reg(f"hold_{beat}", r.lanes_out * r.width_out) for beat in range(r.beats_out)]
        hold_valid = b.reg("hold_valid", 1, reset_value=0)

        out_beat, out_last = self._counter("out_beat", r.beats_out,
                                           b.and_(hold_valid.value, self.sink.ready))
        hold_leaves = b.and_(hold_valid.value, self.sink.ready, out_last)
        hold_free = b.or_(b.not_(hold_valid.value), hold_leaves)

        in_beat, in_first, in_last = self._input_position()
        in_ready = b.or_(b.not_(in_last), hold_free)
        self.source.set_ready(in_ready)
        accept = b.and_(self.source.valid, in_ready)
        self._step_input(in_beat, in_last, accept)

        finished = self._accumulate(accept, in_first)
        finish = b.and_(accept, in_last)
        if self.factors is not None:
            finished = self._scaled(finished, finish)
        for beat, register in enumerate(hold):
            register.set_next(b.pack(finished[beat * r.lanes_out:(beat + 1) * r.lanes_out]), enable=finish)
        hold_valid.set_next(b.or_(finish, b.and_(hold_valid.value, b.not_(hold_leaves))))

        data = b.pick([register.value for register in hold], out_beat)
        self.sink.set(data, hold_valid.value)
        return b.finish()

    # ------------------------------------------------------------------ counters

    def _counter(self, name: str, count: int, enable):
        """A counter 0..count-1 advancing on `enable` (no register when count is 1).
        Returns (value or None, last)."""
        if count == 1:
            return None, self.b.true()
        return self.b.counter(name, count, enable)

    def _input_position(self):
        """(beat register or None, first, last) of the input beat within its vector."""
        b, r = self.b, self.r
        if r.beats_in == 1:
            return None, b.true(), b.true()
        beat = b.reg("in_beat", unsigned_bits(r.beats_in), reset_value=0)
        first = b.eq(beat.value, b.const(0, beat.width))
        last = b.eq(beat.value, b.const(r.beats_in - 1, beat.width))
        return beat, first, last

    def _step_input(self, beat, last, accept) -> None:
        """Advance the input beat counter on `accept`, wrapping after the vector's last beat."""
        b = self.b
        if beat is None:
            return
        bits = beat.width
        incremented = b.add(beat.value, b.const(1, bits), width=bits, signed=False)
        beat.set_next(b.mux(last, b.const(0, bits), incremented), enable=accept)

    def _channel_offset(self, accept):
        """The channel of lane 0 in the current beat (None when always 0)."""
        b, r = self.b, self.r
        if r.offset_step == 0:
            return None
        bits = unsigned_bits(r.channels)
        offset = b.reg("lane0_channel", bits, reset_value=0)
        total = b.add(offset.value, b.const(r.offset_step, bits + 1), width=bits + 1, signed=False)
        limit = b.const(r.channels, bits + 1)
        wrapped = b.mux(b.ult(total, limit), total, b.sub(total, limit, width=bits + 1, signed=False))
        offset.set_next(b.trunc(wrapped, bits), enable=accept)
        return offset.value

    # ------------------------------------------------------------------ arithmetic

    def _identity(self):
        r = self.r
        start = -(1 << (r.width_out - 1)) if r.kind == "max" else 0
        return self.b.const(start, r.width_out)

    def _combine(self, acc, value):
        b = self.b
        if self.r.kind == "sum":
            return b.add(acc, value, width=self.r.width_out)
        return b.mux(b.sgt(value, acc), value, acc)

    def _accumulate(self, accept, first) -> list:
        """Connect the accumulators; returns each channel's value including the
        current beat (the finished results on a vector's last beat)."""
        b, r = self.b, self.r
        offset = self._channel_offset(accept)
        lanes = [b.sext(x, r.width_out) for x in self.source.elements()]
        identity = self._identity()
        results = []
        for channel in range(r.channels):
            acc = b.reg(f"acc_{channel}", r.width_out)
            value = b.mux(first, identity, acc.value)
            for lane in self.r.lanes_of_channel(channel):
                takes = self._lane_holds(offset, channel, lane)
                value = self._combine(value, lanes[lane] if takes is None else b.mux(takes, lanes[lane], identity))
            acc.set_next(value, enable=accept)
            results.append(value)
        return results

    def _scaled(self, finished: list, finish) -> list:
        """Each channel's finished value times the factor of the current output pixel
        (a pixel counter advancing with every finished vector): one constant product
        per distinct factor, the pixel's class (a small table) selecting one."""
        b, r = self.b, self.r
        distinct = sorted(set(self.factors))
        pixel, _ = self._counter("pixel", len(self.factors), finish)
        classes = [distinct.index(f) for f in self.factors]
        bits = unsigned_bits(len(distinct))
        kind = b.rom_lookup(classes, bits, pixel) if pixel is not None else b.const(classes[0], bits)
        scaled = []
        for value in finished:
            result = b.mul_const(value, distinct[0], r.width_out)
            for index, factor in enumerate(distinct[1:], start=1):
                result = b.mux(b.eq(kind, b.const(index, bits)), b.mul_const(value, factor, r.width_out), result)
            scaled.append(result)
        return scaled

    def _lane_holds(self, offset, channel: int, lane: int):
        """High when `lane` holds `channel` in the current beat (None: always)."""
        b, r = self.b, self.r
        if offset is None:
            return None
        return b.eq(offset, b.const((channel - lane) % r.channels, unsigned_bits(r.channels)))
