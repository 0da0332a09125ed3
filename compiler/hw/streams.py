"""Stream plumbing in hardware: fifo, dup, resize, reshape, concat.

All follow the project's stream conventions (`compiler/hw/builder.py`): ports
`in<k>_data/valid` → `in<k>_ready`, `out<k>_ready` → `out<k>_data/valid`, a
beat moves when valid and ready are high, `valid` never depends on `ready`.
Every clocked module's input streams enter through a skid buffer
(`ModuleBuilder.stream_input`), so its `in<k>_ready` ports are registers; the
`in_ready` below is what the module answers its skid buffer.

* fifo — `depth` beats in a circular buffer with read/write pointers and a
  count: a memory written at the write pointer and read combinationally at
  the read pointer (`ModuleBuilder.buffer`: a LUT-RAM, or registers and a read
  mux at depth 1 and 2). `out_valid = count != 0` (registered state); `in_ready =
  count != depth | out_ready` (a full FIFO takes a beat in the cycle one leaves),
  so even depth 1 moves a beat per cycle.
* dup — a combinational fork: the input beat is offered to every output at
  once (`out<k>_valid = in_valid & !taken<k>`); an output that took it is
  marked `taken` until the input beat leaves, which happens when every output
  has taken it (`in_ready = AND_k (taken<k> | out<k>_ready)`). No storage, no
  latency, one beat per cycle when every consumer is ready.
* resize / concat — an element buffer of `capacity` elements, filled at the top
  and drained from the bottom: an output beat (the lowest `lanes_out` elements)
  leaves when there are enough, an input beat of `lanes_in` elements is
  appended above the ones kept (`count` elements, slots above `count` are 0);
  the input is taken when it fits after this cycle's output leaves. Capacity
  `lanes_in + lanes_out` never deadlocks and keeps the faster side at one beat
  per cycle. The element order is exactly the stream order.
  Concat feeds the buffer from its inputs in turn: for every pixel, C_0/l_0
  beats of input 0, then C_1/l_1 beats of input 1, ... (channel-wise
  concatenation). It therefore takes the *sum* of its inputs' beats per
  frame (at least the output's), which is more than `ConcatOp.nominal_ii`
  (the largest single stream) when the inputs carry comparable beat counts.
* reshape — wires (`clocked=False`).
"""

from __future__ import annotations


from xdsl.dialects import hw

from compiler.hw.bits import unsigned_bits
from compiler.hw.builder import ModuleBuilder
from compiler.hw.context import GeneratorContext
from dialects.spatial import ConcatOp, DupOp, FifoOp, ReshapeOp, ResizeOp, stream_of

# --------------------------------------------------------------------------- fifo


def build_fifo(name: str, beat_width: int, depth: int) -> hw.HWModuleOp:
    """A FIFO of `depth` beats of `beat_width` bits (see the module docstring)."""
    b = ModuleBuilder(name)
    inp = b.stream_input("in0", beat_width)
    out = b.stream_output("out0", beat_width)
    count_bits = unsigned_bits(depth + 1)
    count = b.reg("count", count_bits, reset_value=0)
    out_valid = b.ne(count.value, b.const(0, count_bits))
    full = b.eq(count.value, b.const(depth, count_bits))
    in_ready = b.or_(b.not_(full), out.ready)
    push = b.and_(inp.valid, in_ready)
    pop = b.and_(out_valid, out.ready)
    write, _ = b.counter("write_ptr", depth, push)
    read, _ = b.counter("read_ptr", depth, pop)
    one = b.const(1, count_bits)
    plus = b.add(count.value, one, width=count_bits, signed=False)
    minus = b.sub(count.value, one, width=count_bits, signed=False)
    count.set_next(b.mux(push, b.mux(pop, count.value, plus), b.mux(pop, minus, count.value)))
    data = b.buffer("slot", depth, write, inp.data, push, read)
    inp.set_ready(in_ready)
    out.set(data, out_valid)
    return b.finish()


def width_of_index(count: int) -> int:
    return unsigned_bits(count)


def generate_fifo(op: FifoOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    stream = stream_of(op.input)
    return build_fifo(ctx.module_name, stream.lanes.data * stream.width, op.depth.value.data)


# --------------------------------------------------------------------------- dup


def build_dup(name: str, beat_width: int, outputs: int) -> hw.HWModuleOp:
    """One input stream to `outputs` streams (see the module docstring)."""
    b = ModuleBuilder(name)
    inp = b.stream_input("in0", beat_width)
    outs = [b.stream_output(f"out{k}", beat_width) for k in range(outputs)]
    taken = [b.reg(f"taken_{k}", 1, reset_value=0) for k in range(outputs)]
    in_ready = b.and_(*[b.or_(t.value, o.ready) for t, o in zip(taken, outs)])
    leave = b.and_(inp.valid, in_ready)
    for t, o in zip(taken, outs):
        valid = b.and_(inp.valid, b.not_(t.value))
        took = b.or_(t.value, b.and_(valid, o.ready))
        t.set_next(b.mux(leave, b.false(), took))
        o.set(inp.data, valid)
    inp.set_ready(in_ready)
    return b.finish()


def generate_dup(op: DupOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    stream = stream_of(op.input)
    return build_dup(ctx.module_name, stream.lanes.data * stream.width, len(op.outputs))


# --------------------------------------------------------------------------- resize and concat


def build_resize(name: str, width: int, lanes_in: int, lanes_out: int) -> hw.HWModuleOp:
    """The same elements in beats of `lanes_out` instead of `lanes_in`."""
    return _build_packer(name, width, [(lanes_in, 1)], lanes_out)


def generate_resize(op: ResizeOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    source, target = stream_of(op.input), stream_of(op.output)
    return build_resize(ctx.module_name, source.width, source.lanes.data, target.lanes.data)


def build_concat(name: str, width: int, inputs: list[tuple[int, int]], lanes_out: int) -> hw.HWModuleOp:
    """Channel-wise concatenation; `inputs` lists (lanes, channels) per input stream."""
    return _build_packer(name, width, [(lanes, channels // lanes) for lanes, channels in inputs], lanes_out)


def generate_concat(op: ConcatOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    streams = [stream_of(v) for v in op.inputs]
    widths = {s.width for s in streams} | {stream_of(op.output).width}
    if len(widths) != 1:
        from compiler.errors import HwcError

        raise HwcError(f"spatial.concat '{op.layer.data}': inputs of different element widths are not supported")
    return build_concat(ctx.module_name, streams[0].width, [(s.lanes.data, s.frame[-1]) for s in streams],
                        stream_of(op.output).lanes.data)


def _build_packer(name: str, width: int, inputs: list[tuple[int, int]], lanes_out: int) -> hw.HWModuleOp:
    """The element buffer of resize/concat. `inputs` lists (lanes, beats per turn):
    the buffer takes `beats` beats from input 0, then from input 1, ..., round robin."""
    b = ModuleBuilder(name)
    ins = [b.stream_input(f"in{k}", width, lanes) for k, (lanes, _) in enumerate(inputs)]
    out = b.stream_output("out0", width, lanes_out)
    capacity = max(lanes for lanes, _ in inputs) + lanes_out
    bits = capacity * width
    count_bits = unsigned_bits(capacity + 1)
    buffer = b.reg("buffer", bits, reset_value=0)
    count = b.reg("count", count_bits, reset_value=0)

    out_valid = b.ult(b.const(lanes_out - 1, count_bits), count.value)  # count >= lanes_out
    pop = b.and_(out_valid, out.ready)
    kept_count = b.mux(pop, b.sub(count.value, b.const(lanes_out, count_bits), width=count_bits, signed=False),
                       count.value)
    shifted = b.zext(b.extract(buffer.value, lanes_out * width, bits - lanes_out * width), bits)
    kept = b.mux(pop, shifted, buffer.value)

    turn, turn_step = _turns(b, inputs)
    selected = [b.eq(turn, b.const(k, width_of_index(len(inputs)))) if len(inputs) > 1 else b.true()
                for k in range(len(inputs))]
    pushes, appended_data, appended_counts = [], [], []
    for k, (stream, (lanes, _)) in enumerate(zip(ins, inputs)):
        fits = b.ult(kept_count, b.const(capacity - lanes + 1, count_bits))  # kept + lanes <= capacity
        ready = b.and_(selected[k], fits)
        stream.set_ready(ready)
        pushes.append(b.and_(ready, stream.valid))
        appended_data.append(b.zext(stream.data, bits))
        appended_counts.append(b.const(lanes, count_bits))
    push = b.or_(*pushes)
    data_in = appended_data[0]
    added = appended_counts[0]
    for k in range(1, len(inputs)):
        data_in = b.mux(selected[k], appended_data[k], data_in)
        added = b.mux(selected[k], appended_counts[k], added)
    offset = b.mul(b.zext(kept_count, bits), b.const(width, bits), width=bits, signed=False)
    placed = b.shl(data_in, offset)
    buffer.set_next(b.mux(push, b.or_(kept, placed), kept))
    count.set_next(b.mux(push, b.add(kept_count, added, width=count_bits, signed=False), kept_count))
    turn_step(push)
    out.set(b.extract(buffer.value, 0, lanes_out * width), out_valid)
    return b.finish()


def _turns(b: ModuleBuilder, inputs: list[tuple[int, int]]):
    """Which input feeds the buffer: a beat counter per turn and a turn counter.
    Returns (turn value, a function connecting the step signal)."""
    if len(inputs) == 1:
        return b.const(0, 1), lambda push: None
    turn_bits = width_of_index(len(inputs))
    turn = b.reg("turn", turn_bits, reset_value=0)
    beat_bits = unsigned_bits(max(beats for _, beats in inputs))
    beat = b.reg("turn_beat", beat_bits, reset_value=0)

    def connect(push):
        limits = [b.const(beats - 1, beat_bits) for _, beats in inputs]
        limit = b.pick(limits, turn.value)
        last_beat = b.eq(beat.value, limit)
        last_turn = b.eq(turn.value, b.const(len(inputs) - 1, turn_bits))
        next_beat = b.mux(last_beat, b.const(0, beat_bits),
                          b.add(beat.value, b.const(1, beat_bits), width=beat_bits, signed=False))
        next_turn = b.mux(last_turn, b.const(0, turn_bits),
                          b.add(turn.value, b.const(1, turn_bits), width=turn_bits, signed=False))
        beat.set_next(next_beat, enable=push)
        turn.set_next(next_turn, enable=b.and_(push, last_beat))

    return turn.value, connect


# --------------------------------------------------------------------------- reshape


def build_reshape(name: str, beat_width: int) -> hw.HWModuleOp:
    """Wires: the same beats, reframed."""
    b = ModuleBuilder(name, clocked=False)
    inp = b.stream_input("in0", beat_width)
    out = b.stream_output("out0", beat_width)
    inp.set_ready(out.ready)
    out.set(inp.data, inp.valid)
    return b.finish()


def generate_reshape(op: ReshapeOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    stream = stream_of(op.input)
    return build_reshape(ctx.module_name, stream.lanes.data * stream.width)

