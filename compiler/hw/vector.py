"""`spatial.vector` in hardware: a one-ALU sequencer running its unit's program
(`compiler/hw/vector_program.py`), cycle for cycle as `dialects/spatial/vector.py`
times it.

* Every storage is written by one step (or by the capture of its input stream),
  at an address from a per-cycle table or, for a cache, `base + position · stride`.
  An input, and any storage of at most `MEMORY_THRESHOLD` elements, is a bank of
  registers; the others (the K/V caches, the attention scores, the long
  intermediates) are `seq.firmem` RAMs with one write port and a combinational
  read port per place that reads them. A RAM is not reset: a cache position is
  written before it is read and positions past the current one are masked out,
  so what an earlier prompt left there never reaches a result.
* A `phase` register walks: capture (0) → step 1 .. step S → result 1 .. result R
  → capture. Capture takes every input stream's beats (`in<k>_ready` while its
  frame is not complete) and leaves when the last one has arrived; step s runs
  exactly its `cycles` (a shared `count` register indexes its tables); result r
  offers its beats on `out<r>` one a cycle.
* So the first output beat leaves `compute + 1` cycles after the last input beat
  (`VectorOp.pipeline_depth`), a frame takes input beats + compute + output beats
  when nothing stalls (`VectorOp.nominal_ii`), and the arithmetic is the integer
  executor's, operation for operation (`compiler.executor.int_kernels`).
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import hw
from xdsl.ir import SSAValue

from compiler.hw.bits import unsigned_bits, width_of
from compiler.hw.builder import ModuleBuilder, Register
from compiler.hw.context import GeneratorContext
from compiler.hw.requant import requantize
from compiler.hw.vector_program import Program, Step, element_of, storage_of, vector_program
from compiler.numerics import signed_bits
from dialects.circt import FirMemOp, FirMemReadPortOp, FirMemType, FirMemWritePortOp, address_width
from dialects.spatial import VectorOp, stream_of
from dialects.spatial.vector import divider_bits

MEMORY_THRESHOLD = 32
"""Storages of more elements than this (inputs excepted) are RAMs, not registers..."""
MEMORY_READ_PORTS = 4
"""... when at most this many places read them (a result sent on many lanes stays registers)."""
TAG_TABLES = ("lhs", "rhs", "x", "ids", "value", "position", "keep", "buffer")
"""The per-cycle tables of a step that name stored elements (each a read port)."""


def _bits_for(values: np.ndarray) -> int:
    """Bits holding every value: unsigned when none is negative (addresses, counts),
    else signed (at least 2)."""
    values = np.asarray(values)
    low, high = int(values.min(initial=0)), int(values.max(initial=0))
    if low >= 0:
        return max(1, high.bit_length())
    return max(2, signed_bits(low, high))


class VectorHardware:
    """Builds one vector unit (see module doc)."""

    def __init__(self, name: str, unit: VectorOp, program: Program):
        self.b = ModuleBuilder(name)
        self.unit, self.program = unit, program
        self.elements: list[list[Register]] = []
        self.writes: list[list[tuple[SSAValue, SSAValue, SSAValue]]] = [[] for _ in program.storages]
        """Per storage: (enable, element address, data) of every write port."""
        self.element_writes: list[dict[int, list[tuple[SSAValue, SSAValue]]]] = [{} for _ in program.storages]
        """Per storage and element: (enable, data) of writes to that element alone (the capture)."""
        self.arrays: dict[int, SSAValue] = {}
        self.memories: dict[int, SSAValue] = {}
        """The `seq.firmem` of each storage held in RAM."""

    # ------------------------------------------------------------------ reading

    def table(self, values: np.ndarray, index: SSAValue, signed: bool = False) -> SSAValue:
        """values[index] (a per-cycle table): a constant when it does not vary; `signed`
        for an operand of arithmetic (else the narrowest unsigned width: an address)."""
        values = np.asarray(values).reshape(-1).astype(np.int64)
        width = max(2, signed_bits(int(values.min(initial=0)), int(values.max(initial=0)))) if signed \
            else _bits_for(values)
        if values.size and np.all(values == values[0]):
            return self.b.const(int(values[0]), width)
        return self.b.rom_lookup([int(v) for v in values], width, index)

    def flag(self, values: np.ndarray, index: SSAValue) -> SSAValue:
        """A per-cycle 1-bit table."""
        values = np.asarray(values).reshape(-1).astype(bool)
        if values.all() or not values.any():
            return self.b.const(int(values[0]), 1)
        return self.b.rom_lookup([int(v) for v in values], 1, index)

    def storage_array(self, sid: int) -> SSAValue:
        if sid not in self.arrays:
            values = [r.value for r in self.elements[sid]]
            self.arrays[sid] = self.b._add(hw.ArrayCreateOp(*reversed(values)))
        return self.arrays[sid]

    def element(self, sid: int, address: SSAValue | int) -> SSAValue:
        if sid in self.memories:
            return self.memory_read(sid, address)
        registers = self.elements[sid]
        if isinstance(address, int):
            return registers[address].value
        if len(registers) == 1:
            return registers[0].value
        return self.b.array_get(self.storage_array(sid), address)

    def read(self, tags: np.ndarray, index: SSAValue) -> SSAValue:
        """The stored element each cycle's tag names, sign-extended to the widest storage read."""
        tags = np.asarray(tags).reshape(-1)
        sids, eids = storage_of(tags), element_of(tags)
        storages = sorted(set(int(s) for s in sids))
        width = max(self.program.storages[s].width for s in storages)
        parts = []
        for sid in storages:
            table = np.where(sids == sid, eids, 0)
            address = int(table[0]) if np.all(table == table[0]) else self.table(table, index)
            parts.append(self.b.sext(self.element(sid, address), width))
        if len(parts) == 1:
            return parts[0]
        which = np.searchsorted(storages, sids)
        return self.b.pick(parts, self.table(which, index))

    def memory_read(self, sid: int, address: SSAValue | int) -> SSAValue:
        b = self.b
        bits = address_width(self.program.storages[sid].size)
        index = b.const(address, bits) if isinstance(address, int) else b.zext(address, bits)
        return b._add(FirMemReadPortOp(self.memories[sid], index, b.clock, b.true()))

    def write(self, sid: int, enable: SSAValue, address: SSAValue, data: SSAValue) -> None:
        self.writes[sid].append((enable, address, self.b.sext(data, self.program.storages[sid].width)))

    # ------------------------------------------------------------------ the whole unit

    def build(self) -> hw.HWModuleOp:
        b, unit, program = self.b, self.unit, self.program
        inputs = [b.stream_input(f"in{k}", stream_of(v).width, stream_of(v).lanes.data)
                  for k, v in enumerate(unit.inputs)]
        outputs = [b.stream_output(f"out{k}", stream_of(v).width, stream_of(v).lanes.data)
                   for k, v in enumerate(unit.outputs)]
        readers = read_ports(program, [stream_of(v).lanes.data for v in unit.outputs])
        for sid, storage in enumerate(program.storages):
            if sid not in program.inputs and storage.size > MEMORY_THRESHOLD and readers[sid] <= MEMORY_READ_PORTS:
                memory = FirMemOp(FirMemType(storage.size, storage.width), read_latency=0,
                                  name=f"{b.name}_{storage.name}")
                self.memories[sid] = b._add(memory, storage.name)
                self.elements.append([])
                continue
            reset = 0 if storage.state else None
            self.elements.append([b.reg(f"{storage.name}_{i}", storage.width, reset_value=reset)
                                  for i in range(storage.size)])
        steps, results = len(program.steps), len(outputs)
        phase = b.reg("phase", unsigned_bits(steps + results + 1), reset_value=0)
        most = max((s.cycles for s in program.steps), default=1)
        count = b.reg("count", unsigned_bits(most + 1), reset_value=0)
        transitions: list[tuple[SSAValue, int]] = []
        in_phase = lambda p: b.eq(phase.value, b.const(p, width_of(phase.value)))  # noqa: E731
        captured = self.capture(inputs, in_phase(0))
        transitions.append((b.and_(in_phase(0), captured), 1))
        step_ends = []
        for s, step in enumerate(program.steps):
            active = in_phase(1 + s)
            last = b.and_(active, b.eq(count.value, b.const(step.cycles - 1, width_of(count.value))))
            STEP_BUILDERS[step.kind](self, step, active, count.value)
            transitions.append((last, 2 + s))
            step_ends.append((active, last))
        for r, (port, tags) in enumerate(zip(outputs, program.outputs)):
            done = self.emit(port, tags, in_phase(1 + steps + r), f"out{r}")
            transitions.append((done, 2 + steps + r if r + 1 < results else 0))
        next_phase = phase.value
        for condition, target in transitions:
            next_phase = b.mux(condition, b.const(target, width_of(phase.value)), next_phase)
        phase.set_next(next_phase)
        counting = b.or_(*[b.and_(a, b.not_(last)) for a, last in step_ends]) if step_ends else b.false()
        bits = width_of(count.value)
        count.set_next(b.mux(counting, b.add(count.value, b.const(1, bits), width=bits, signed=False),
                             b.const(0, bits)))
        self.connect_storage()
        return b.finish()

    def capture(self, inputs, capturing: SSAValue) -> SSAValue:
        """Input frames into their storages; high on the cycle the last missing beat arrives."""
        b = self.b
        complete = []
        for k, (port, sid) in enumerate(zip(inputs, self.program.inputs)):
            beats = self.program.storages[sid].size // port.lanes
            full = b.reg(f"in{k}_full", 1, reset_value=0)
            ready = b.and_(capturing, b.not_(full.value))
            accept = b.and_(ready, port.valid)
            beat, last = b.counter(f"in{k}_beat", beats, accept)
            lanes = port.elements()
            width = self.program.storages[sid].width
            for index in range(beats):
                hit = b.and_(accept, b.eq(beat, b.const(index, width_of(beat)))) if beats > 1 else accept
                for lane, value in enumerate(lanes):
                    self.element_writes[sid].setdefault(index * port.lanes + lane, []).append(
                        (hit, b.sext(value, width)))
            port.set_ready(ready)
            complete.append((full, b.or_(full.value, b.and_(accept, last))))
        done = b.and_(*[now for _, now in complete]) if complete else b.true()
        for full, now in complete:
            full.set_next(b.and_(now, b.not_(b.and_(capturing, done))))
        return done

    def emit(self, port, tags: np.ndarray, offering: SSAValue, name: str) -> SSAValue:
        """Result beats one a cycle while `offering`; high when its last beat leaves."""
        b = self.b
        beats = tags.size // port.lanes
        fire = b.and_(offering, port.ready)
        beat, last = b.counter(f"{name}_beat", beats, fire)
        lanes = [self.read(tags[lane::port.lanes], beat) for lane in range(port.lanes)]
        port.set(b.pack([b.sext(v, port.width) for v in lanes]), offering)
        return b.and_(fire, last)

    def connect_storage(self) -> None:
        """Every element register: its write ports, the last one connected winning; every
        RAM: its one write port."""
        b = self.b
        for sid, memory in self.memories.items():
            (enable, address, data), = self.writes[sid]
            bits = address_width(self.program.storages[sid].size)
            b.block.add_op(FirMemWritePortOp(memory, b.zext(address, bits), data, b.clock, enable))
        for sid, registers in enumerate(self.elements):
            if sid in self.memories:
                continue
            ports = self.writes[sid]
            for i, register in enumerate(registers):
                value = register.value
                for enable, data in self.element_writes[sid].get(i, []):
                    value = b.mux(enable, data, value)
                for enable, address, data in ports:
                    hit = b.and_(enable, b.eq(address, b.const(i, width_of(address))))
                    value = b.mux(hit, data, value)
                register.set_next(value)


def read_ports(program: Program, output_lanes: list[int]) -> list[int]:
    """Per storage, the places that read it: a tag table of a step, a lane of a result."""
    counts = [0] * len(program.storages)
    for step in program.steps:
        for key in TAG_TABLES:
            if key in step.tables:
                for sid in set(int(s) for s in storage_of(step.tables[key])):
                    counts[sid] += 1
    for tags, lanes in zip(program.outputs, output_lanes):
        for sid in set(int(s) for s in storage_of(tags)):
            counts[sid] += lanes
    return counts


# --------------------------------------------------------------------------- steps


def _wrap(b: ModuleBuilder, value: SSAValue, width: int) -> SSAValue:
    return b.sext(value, width)


def elementwise_step(v: VectorHardware, step: Step, active: SSAValue, count: SSAValue) -> None:
    b, t, k = v.b, step.tables, step.constants
    width = v.program.storages[step.target].width

    def operand(key: str) -> SSAValue:
        return v.read(t[key], count) if key in t else v.table(k[key], count, signed=True)

    if step.kind in ("add", "sub", "mul"):
        lhs, rhs = operand("lhs"), operand("rhs")
        full = {"add": b.add, "sub": b.sub, "mul": b.mul}[step.kind](lhs, rhs)
        result = _wrap(b, full, width)
    elif step.kind == "neg":
        result = _wrap(b, b.sub(b.const(0, 2), operand("x")), width)
    elif step.kind == "relu":
        x = operand("x")
        result = _wrap(b, b.mux(b.slt(x, b.const(0, width_of(x))), b.const(0, width_of(x)), x), width)
    elif step.kind == "requant":
        op = step.op
        multipliers = np.asarray(k["multiplier"])
        multiplier = int(multipliers[0]) if np.all(multipliers == multipliers[0]) \
            else v.table(multipliers, count, signed=True)
        result = requantize(b, operand("x"), multiplier, op.shift.value.data, op.lo.value.data, op.hi.value.data,
                            width)
    elif step.kind == "lookup":
        x = operand("x")
        table = b.array_constant([int(e) for e in k["table"]], width)
        result = b.array_get(table, b.xor(x, b.const(1 << (width_of(x) - 1), width_of(x))))
    else:
        raise AssertionError(step.kind)
    v.write(step.target, active, count, result)


def embedding_step(v: VectorHardware, step: Step, active: SSAValue, count: SSAValue) -> None:
    b, t, k = v.b, step.tables, step.constants
    table = np.asarray(k["table"])
    columns = int(k["columns"][0])
    bits = unsigned_bits(table.size) + 1
    row = b.trunc(v.read(t["ids"], count), bits)
    address = b.add(b.mul_const(row, columns, bits), v.table(t["column"], count), width=bits, signed=False)
    width = v.program.storages[step.target].width
    value = b.array_get(b.array_constant([int(e) for e in table], width), address)
    v.write(step.target, active, count, value)


def accumulation_step(v: VectorHardware, step: Step, active: SSAValue, count: SSAValue) -> None:
    """matmul / reduce_sum: one multiply-accumulate a cycle, modulo 2^width (the wrap)."""
    b, t = v.b, step.tables
    width = v.program.storages[step.target].width
    term = v.read(t["lhs"], count)
    if "rhs" in t:
        term = b.mul(term, v.read(t["rhs"], count))
    term = _wrap(b, term, width)
    acc = b.reg(f"acc{len(v.writes[step.target])}_{step.target}", width)
    first = v.flag(t["first"], count)
    total = b.mux(first, term, b.add(acc.value, term, width=width))
    acc.set_next(total, enable=active)
    v.write(step.target, b.and_(active, v.flag(t["last"], count)), v.table(t["out"], count), total)


def inv_sqrt_step(v: VectorHardware, step: Step, active: SSAValue, count: SSAValue) -> None:
    """The largest r with r² · max(v, 1) ≤ 4^shift, one result bit a cycle from the top."""
    b, t = v.b, step.tables
    width = v.program.storages[step.target].width
    x = v.read(t["x"], count)
    positive = b.mux(b.slt(x, b.const(1, width_of(x))), b.const(1, width_of(x)), x)
    r = b.reg(f"root_{step.target}", width)
    base = b.mux(v.flag(t["first"], count), b.const(0, width), r.value)
    masks = np.array([1 << int(bit) for bit in t["bit"]], dtype=object)
    mask = b.rom_lookup([int(m) % (1 << width) for m in masks], width, count) \
        if len(set(masks.tolist())) > 1 else b.const(int(masks[0]), width)
    trial = b.or_(base, mask)
    product_bits = 2 * width + width_of(x) + 1
    square = b.mul(trial, trial, width=product_bits, signed=False)
    product = b.mul(square, positive, width=product_bits, signed=False)
    bound = b.const(1 << (2 * step.op.shift.value.data), product_bits)
    fits = b.not_(b.ult(bound, product))
    root = b.mux(fits, trial, base)
    r.set_next(root, enable=active)
    v.write(step.target, b.and_(active, v.flag(t["last"], count)), v.table(t["out"], count), root)


def cache_write_step(v: VectorHardware, step: Step, active: SSAValue, count: SSAValue) -> None:
    b, t = v.b, step.tables
    size = v.program.storages[step.target].size
    bits = unsigned_bits(size) + 1
    position = b.trunc(v.read(t["position"], count), bits)
    stride = int(step.constants["stride"][0])
    address = b.add(v.table(t["base"], count), b.mul_const(b.zext(position, bits + 1), stride, bits + 1),
                    width=bits + 1, signed=False)
    v.write(step.target, active, address, v.read(t["value"], count))


def softmax_step(v: VectorHardware, step: Step, active: SSAValue, count: SSAValue) -> None:
    """Per row: maximum of the kept scores, exponentials (buffered) and their sum, a
    restoring division of `out_max << shift` by the sum, the rounded products."""
    b, t, op = v.b, step.tables, step.op
    table = [int(e) for e in step.constants["table"]]
    phase = v.table(t["phase"], count)
    in_phase = [b.and_(active, b.eq(phase, b.const(p, width_of(phase)))) for p in range(4)]
    first = v.flag(t["first"], count)
    x = v.read(t["x"], count)
    xw = width_of(x) + 2
    x = b.sext(x, xw)
    keep = v.read(t["keep"], count)
    kept = b.ne(keep, b.const(0, width_of(keep)))
    lowest = b.const(-(1 << (xw - 2)) - 1, xw)
    candidate = b.mux(kept, x, lowest)
    peak = b.reg(f"peak_{step.target}", xw)
    peak.set_next(b.mux(b.or_(first, b.sgt(candidate, peak.value)), candidate, peak.value), enable=in_phase[0])
    distance = b.sub(peak.value, x, width=xw + 1)
    largest = b.const(len(table) - 1, xw + 1)
    clipped = b.mux(b.sgt(distance, largest), largest, distance)
    e_width = max(table).bit_length() + 1
    exponent = b.array_get(b.array_constant(table, e_width), clipped)
    e = b.mux(kept, exponent, b.const(0, e_width))
    buffer_tags = np.asarray(t["buffer"])
    buffer = int(storage_of(buffer_tags[0]))
    v.write(buffer, in_phase[1], v.table(element_of(buffer_tags), count), e)
    length = int(np.max(element_of(buffer_tags))) + 1
    total_width = e_width + unsigned_bits(length) + 1
    total = b.reg(f"total_{step.target}", total_width)
    total.set_next(b.mux(first, b.sext(e, total_width), b.add(total.value, e, width=total_width)),
                   enable=in_phase[1])
    divisor = b.mux(b.eq(total.value, b.const(0, total_width)), b.const(1, total_width), total.value)
    rem_width = total_width + 1
    rem = b.reg(f"remainder_{step.target}", rem_width)
    previous = b.mux(first, b.const(0, rem_width), rem.value)
    shifted = b.concat(b.extract(previous, 0, rem_width - 1), v.flag(t["numerator_bit"], count))
    divisor_wide = b.zext(divisor, rem_width)
    fits = b.not_(b.ult(shifted, divisor_wide))
    rem.set_next(b.mux(fits, b.sub(shifted, divisor_wide, width=rem_width, signed=False), shifted),
                 enable=in_phase[2])
    q_width = divider_bits(op) + 1
    quotient = b.reg(f"quotient_{step.target}", q_width)
    q_previous = b.mux(first, b.const(0, q_width), quotient.value)
    quotient.set_next(b.concat(b.extract(q_previous, 0, q_width - 1), fits), enable=in_phase[2])
    shift = op.shift.value.data
    stored = v.read(buffer_tags, count)
    product_width = width_of(stored) + q_width + 2
    product = b.mul(b.zext(stored, product_width), b.zext(quotient.value, product_width), width=product_width,
                    signed=False)
    rounded = b.add(product, b.const((1 << shift) >> 1, product_width), width=product_width, signed=False)
    width = v.program.storages[step.target].width
    value = b.extract(b.zext(rounded, max(product_width, shift + width)), shift, width)
    v.write(step.target, in_phase[3], v.table(t["out"], count), value)


STEP_BUILDERS = {
    "add": elementwise_step, "sub": elementwise_step, "mul": elementwise_step, "neg": elementwise_step,
    "relu": elementwise_step, "requant": elementwise_step, "lookup": elementwise_step,
    "embedding": embedding_step, "matmul": accumulation_step, "reduce_sum": accumulation_step,
    "inv_sqrt": inv_sqrt_step, "cache_write": cache_write_step, "softmax": softmax_step,
}


def generate_vector(op: VectorOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    """The vector unit `op` as a one-ALU sequencer (module doc)."""
    program = vector_program(op, ctx.module, ctx.store)
    return VectorHardware(ctx.module_name, op, program).build()
