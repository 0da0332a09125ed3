"""A small API for writing hardware modules (`hw`/`comb`/`seq` IR) from Python.

Every PE generator of `compiler/hw/` builds its `hw.module` with a
`ModuleBuilder`; values are plain xDSL `SSAValue`s of integer type (`i1` for
bits), and every helper infers widths from its operands. The IR it makes parses
in CIRCT firtool-1.62 (`compiler.backend.circt_export`).

    b = ModuleBuilder("add3")                        # ports clk : !seq.clock, rst : i1
    x = b.stream_input("in0", width=8, lanes=2)      # in0_data : i16, in0_valid in; in0_ready out
    y = b.stream_output("out0", width=9, lanes=2)    # out0_ready in; out0_data : i18, out0_valid out
    sums = [b.add(e, b.const(3, 8)) for e in x.elements()]      # 9-bit sums, no overflow
    data, valid, ready = b.pipeline_stage("s1", b.pack(sums), x.valid, y.ready)
    x.set_ready(ready)
    y.set(data, valid)
    module_op = b.finish()                           # an hw.HWModuleOp

Conventions (DESIGN.md, "Hardware interface"):

* `ModuleBuilder(name)` starts with the ports `clk : !seq.clock` and
  `rst : i1` (synchronous, active high); `clocked=False` for pure wiring.
* Ports keep the order in which they were declared, inputs and outputs each;
  `stream_input`/`stream_output` declare a stream's three ports at once, so
  declaring the input streams first and then the output streams gives the
  project's port order (inputs: clk, rst, in<k>_data, in<k>_valid, out<k>_ready;
  outputs: in<k>_ready, out<k>_data, out<k>_valid).
* Handshakes are registered at module boundaries: in a clocked module an
  input stream passes a skid buffer, so `<name>_ready` is a register and no
  combinational path runs from one module's `ready` to another's.
* A beat packs `lanes` elements of `width` bits, lane 0 in the least
  significant bits: `pack(values)` / `unpack(beat, lanes)` convert.
* Integers are two's complement: `add`/`sub`/`mul` sign-extend their operands to
  the result width (default: a width that cannot overflow); `zext` and
  `signed=False` are there for counters and indices.
* A register's next value is connected after it is made
  (`Register.set_next`), so feedback loops read naturally; `finish` refuses
  a module with an unconnected register or output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xdsl.dialects import comb
from xdsl.dialects import hw as xdsl_hw
from xdsl.dialects.builtin import ArrayAttr, FlatSymbolRefAttr, IntegerAttr, IntegerType, StringAttr, i32
from xdsl.dialects.hw import Direction, DirectionAttr, ModulePort, ModuleType
from xdsl.dialects.seq import clock
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from compiler.hw.bits import as_signed, to_unsigned, unsigned_bits, width_of
from compiler.hw.memories import MemoryMethods
from dialects.circt import FirRegOp


@dataclass
class Register:
    """A `seq.firreg` whose next value is connected later with `set_next`."""

    op: FirRegOp
    builder: ModuleBuilder
    connected: bool = False

    @property
    def value(self) -> SSAValue:
        """The register's current value (its output)."""
        return self.op.data

    @property
    def width(self) -> int:
        return width_of(self.value)

    def set_next(self, next_value: SSAValue, enable: SSAValue | None = None) -> None:
        """The value loaded at the next clock edge (only when `enable` is high, if given)."""
        if self.connected:
            raise ValueError(f"register {self.op.data.name_hint} connected twice")
        if enable is not None:
            next_value = self.builder.mux(enable, next_value, self.value)
        if next_value.type != self.value.type:
            raise TypeError(f"register {self.value.name_hint}: next value {next_value.type}, register {self.value.type}")
        self.op.operands[0] = next_value
        self.connected = True


@dataclass
class StreamPort:
    """A valid/ready stream interface of a module: `<name>_data` of `lanes *
    width` bits, `<name>_valid`, `<name>_ready` (the beat moves on a clock edge
    when valid and ready are both high)."""

    name: str
    lanes: int
    width: int

    @property
    def beat_width(self) -> int:
        return self.lanes * self.width


@dataclass
class StreamInput(StreamPort):
    """An input stream: `data`, `valid` are what the module sees (the ports, or
    the skid buffer's output); the module answers with `set_ready`, which drives
    the `<name>_ready` port (or the skid buffer, whose `<name>_ready` is a register)."""

    data: SSAValue = field(default=None)  # type: ignore[assignment]
    valid: SSAValue = field(default=None)  # type: ignore[assignment]
    builder: ModuleBuilder | None = None
    skid: tuple[Register, Register, SSAValue] | None = None
    """(skid_valid, skid_data, the data port) of a skid buffer, else None."""

    def set_ready(self, ready: SSAValue) -> None:
        b = self.builder
        assert b is not None
        if self.skid is None:
            b.output(f"{self.name}_ready", ready)
            return
        skid_valid, skid_data, port_data = self.skid
        empty = b.not_(skid_valid.value)
        skid_valid.set_next(b.and_(self.valid, b.not_(ready)))
        skid_data.set_next(port_data, enable=empty)
        b.output(f"{self.name}_ready", empty)

    def elements(self) -> list[SSAValue]:
        """The beat's lanes, lane 0 first."""
        assert self.builder is not None
        return self.builder.unpack(self.data, self.lanes)


@dataclass
class StreamOutput(StreamPort):
    """An output stream: `ready` is a module input; the module drives
    `<name>_data` and `<name>_valid` with `set`."""

    ready: SSAValue = field(default=None)  # type: ignore[assignment]
    builder: ModuleBuilder | None = None

    def set(self, data: SSAValue, valid: SSAValue) -> None:
        assert self.builder is not None
        if width_of(data) != self.beat_width:
            raise TypeError(f"{self.name}_data is i{self.beat_width}, got i{width_of(data)}")
        self.builder.output(f"{self.name}_data", data)
        self.builder.output(f"{self.name}_valid", valid)


class ModuleBuilder(MemoryMethods):
    """Builds one `hw.module` (see the module docstring for an example); its ROM,
    RAM and lookup methods are `compiler.hw.memories.MemoryMethods`."""

    def __init__(self, name: str, *, clocked: bool = True):
        self.name = name
        self.block = Block()
        self._inputs: list[tuple[str, Attribute]] = []
        self._outputs: dict[str, SSAValue | None] = {}
        self._constants: dict[tuple[int, int], SSAValue] = {}
        self._registers: list[Register] = []
        self._names: set[str] = set()
        self.clock: SSAValue | None = None
        self.reset: SSAValue | None = None
        if clocked:
            self.clock = self.input("clk", clock)
            self.reset = self.input("rst", 1)

    # ------------------------------------------------------------------ ports

    def input(self, name: str, width_or_type: int | Attribute) -> SSAValue:
        """A new input port (`int` = that many bits)."""
        port_type = IntegerType(width_or_type) if isinstance(width_or_type, int) else width_or_type
        self._claim_port(name)
        value = self.block.insert_arg(port_type, len(self.block.args))
        value.name_hint = name
        self._inputs.append((name, port_type))
        return value

    def output(self, name: str, value: SSAValue | None = None) -> None:
        """Drive output port `name` with `value`; without a value, only reserve the
        port's place in the port order (drive it later with another `output`)."""
        if name in self._outputs:
            if self._outputs[name] is not None:
                raise ValueError(f"output {name} driven twice")
        else:
            self._claim_port(name)
        self._outputs[name] = value

    def stream_input(self, name: str, width: int, lanes: int = 1) -> StreamInput:
        """Ports `<name>_data : i<lanes*width>`, `<name>_valid` in, `<name>_ready` out.

        In a clocked module the stream enters through a skid buffer, so that
        `<name>_ready` is a register and no combinational path runs from the
        module's output `ready`s to its input ones: the port is ready while the
        skid register is empty; a beat that arrives while the module is not ready
        waits in it and is offered again (`valid = skid_valid | port_valid`, the
        skid's beat first). No latency is added; the stream holds one more beat."""
        data = self.input(f"{name}_data", lanes * width)
        valid = self.input(f"{name}_valid", 1)
        self.output(f"{name}_ready")
        if self.clock is None:
            return StreamInput(name, lanes, width, data=data, valid=valid, builder=self)
        skid_valid = self.reg(f"{name}_skid_valid", 1, reset_value=0)
        skid_data = self.reg(f"{name}_skid_data", lanes * width)
        return StreamInput(name, lanes, width, data=self.mux(skid_valid.value, skid_data.value, data),
                           valid=self.or_(skid_valid.value, valid), builder=self,
                           skid=(skid_valid, skid_data, data))

    def stream_output(self, name: str, width: int, lanes: int = 1) -> StreamOutput:
        """Port `<name>_ready` in, `<name>_data : i<lanes*width>`, `<name>_valid` out."""
        ready = self.input(f"{name}_ready", 1)
        self.output(f"{name}_data")
        self.output(f"{name}_valid")
        return StreamOutput(name, lanes, width, ready=ready, builder=self)

    def _claim_port(self, name: str) -> None:
        if name in self._names:
            raise ValueError(f"module {self.name}: port {name} declared twice")
        self._names.add(name)

    # ------------------------------------------------------------------ plumbing

    def _add(self, op: Operation, name: str | None = None) -> SSAValue:
        self.block.add_op(op)
        result = op.results[0]
        if name:
            result.name_hint = name
        return result

    def const(self, value: int, width: int) -> SSAValue:
        """A `hw.constant` of `width` bits (any Python int; taken modulo 2**width)."""
        key = (to_unsigned(value, width), width)
        if key not in self._constants:
            self._constants[key] = self._add(
                xdsl_hw.ConstantOp(as_signed(value, width), IntegerType(width))
            )
        return self._constants[key]

    @staticmethod
    def constant_value(value: SSAValue) -> int | None:
        """The signed value of a `hw.constant`, or None for any other value."""
        owner = value.owner
        if isinstance(owner, xdsl_hw.ConstantOp):
            return as_signed(owner.value.value.data, width_of(value))
        return None

    def true(self) -> SSAValue:
        return self.const(1, 1)

    def false(self) -> SSAValue:
        return self.const(0, 1)

    # ------------------------------------------------------------------ registers

    def reg(self, name: str, width: int, reset_value: int | None = None) -> Register:
        """A register of `width` bits; with `reset_value`, synchronously reset to it
        by `rst`. Connect its next value with `Register.set_next`."""
        if self.clock is None:
            raise ValueError(f"module {self.name} has no clock")
        placeholder = xdsl_hw.ConstantOp(0, IntegerType(width))
        reset = None
        if reset_value is not None:
            assert self.reset is not None
            reset = (self.reset, self.const(reset_value, width))
        op = FirRegOp(placeholder.result, self.clock, reset=reset, name=name)
        self._add(op, name)
        register = Register(op, self)
        self._registers.append(register)
        return register

    def held(self, name: str, value: SSAValue, enable: SSAValue, reset_value: int | None = None) -> SSAValue:
        """A register of `value`'s width that takes `value` when `enable` is high."""
        register = self.reg(name, width_of(value), reset_value=reset_value)
        register.set_next(value, enable=enable)
        return register.value

    def pipeline_stage(
        self, name: str, data: SSAValue, valid: SSAValue, ready_out: SSAValue
    ) -> tuple[SSAValue, SSAValue, SSAValue]:
        """A one-beat register stage between a producer (`data`, `valid`) and a
        consumer that answers `ready_out`. Returns (data_reg, valid_reg, ready_in):
        the stage loads when it is empty or its beat leaves
        (`ready_in = !valid_reg | ready_out`), so it moves a beat every cycle."""
        valid_reg = self.reg(f"{name}_valid", 1, reset_value=0)
        data_reg = self.reg(f"{name}_data", width_of(data))
        ready_in = self.or_(self.not_(valid_reg.value), ready_out)
        valid_reg.set_next(valid, enable=ready_in)
        data_reg.set_next(data, enable=self.and_(ready_in, valid))
        return data_reg.value, valid_reg.value, ready_in

    def counter(self, name: str, count: int, step: SSAValue) -> tuple[SSAValue, SSAValue]:
        """A counter 0 .. count-1 (reset to 0) that advances when `step` is high.
        Returns (value, last): `last` is high while the value is count-1 (for
        count 1: the constant 0 and true, no register)."""
        bits = unsigned_bits(count)
        if count == 1:
            return self.const(0, 1), self.true()
        reg = self.reg(name, bits, reset_value=0)
        last = self.eq(reg.value, self.const(count - 1, bits))
        wrapped = self.mux(last, self.const(0, bits), self.add(reg.value, self.const(1, bits), width=bits, signed=False))
        reg.set_next(wrapped, enable=step)
        return reg.value, last

    # ------------------------------------------------------------------ bits

    def extract(self, value: SSAValue, low: int, width: int) -> SSAValue:
        """Bits [low, low+width) of `value`."""
        if low == 0 and width == width_of(value):
            return value
        known = self.constant_value(value)
        if known is not None:
            return self.const(to_unsigned(known, width_of(value)) >> low, width)
        return self._add(comb.ExtractOp(value, IntegerAttr(low, i32), IntegerType(width)))

    def concat(self, *values: SSAValue) -> SSAValue:
        """`comb.concat`: the FIRST value ends up in the MOST significant bits."""
        if len(values) == 1:
            return values[0]
        total = sum(width_of(v) for v in values)
        return self._add(comb.ConcatOp(list(values), IntegerType(total)))

    def pack(self, elements: Sequence[SSAValue]) -> SSAValue:
        """A beat from its lanes, lane 0 in the least significant bits."""
        return self.concat(*reversed(list(elements)))

    def unpack(self, beat: SSAValue, lanes: int) -> list[SSAValue]:
        """The `lanes` equal-width fields of `beat`, lane 0 (least significant) first."""
        total = width_of(beat)
        if total % lanes:
            raise ValueError(f"i{total} does not split into {lanes} lanes")
        width = total // lanes
        return [self.extract(beat, lane * width, width) for lane in range(lanes)]

    def sext(self, value: SSAValue, width: int) -> SSAValue:
        """Sign-extend (or, if narrower, truncate) to `width` bits."""
        have = width_of(value)
        if have >= width:
            return self.trunc(value, width)
        known = self.constant_value(value)
        if known is not None:
            return self.const(known, width)
        sign = self.extract(value, have - 1, 1)
        fill = self._add(comb.ReplicateOp(sign, IntegerType(width - have))) if width - have > 1 else sign
        return self.concat(fill, value)

    def zext(self, value: SSAValue, width: int) -> SSAValue:
        """Zero-extend (or, if narrower, truncate) to `width` bits."""
        have = width_of(value)
        if have >= width:
            return self.trunc(value, width)
        known = self.constant_value(value)
        if known is not None:
            return self.const(to_unsigned(known, have), width)
        return self.concat(self.const(0, width - have), value)

    def extend(self, value: SSAValue, width: int, signed: bool = True) -> SSAValue:
        return self.sext(value, width) if signed else self.zext(value, width)

    def trunc(self, value: SSAValue, width: int) -> SSAValue:
        """The low `width` bits."""
        return self.extract(value, 0, width)

    # ------------------------------------------------------------------ arithmetic

    def add(self, a: SSAValue, b: SSAValue, *, width: int | None = None, signed: bool = True) -> SSAValue:
        """a + b at `width` bits (default: max(widths) + 1, which cannot overflow)."""
        width = width or max(width_of(a), width_of(b)) + 1
        return self._add(comb.AddOp([self.extend(a, width, signed), self.extend(b, width, signed)]))

    def sum(self, values: Sequence[SSAValue], width: int) -> SSAValue:
        """The sum of `values` (sign-extended) at `width` bits, as a balanced adder tree."""
        level = [self.sext(v, width) for v in values]
        if not level:
            return self.const(0, width)
        while len(level) > 1:
            paired = [self._add(comb.AddOp([level[i], level[i + 1]])) for i in range(0, len(level) - 1, 2)]
            level = paired + ([level[-1]] if len(level) % 2 else [])
        return level[0]

    def sub(self, a: SSAValue, b: SSAValue, *, width: int | None = None, signed: bool = True) -> SSAValue:
        """a - b at `width` bits (default: max(widths) + 1)."""
        width = width or max(width_of(a), width_of(b)) + 1
        return self._add(comb.SubOp(self.extend(a, width, signed), self.extend(b, width, signed)))

    def mul(self, a: SSAValue, b: SSAValue, *, width: int | None = None, signed: bool = True) -> SSAValue:
        """a * b at `width` bits (default: the sum of the widths, which cannot overflow)."""
        width = width or width_of(a) + width_of(b)
        return self._add(comb.MulOp([self.extend(a, width, signed), self.extend(b, width, signed)]))

    def mul_const(self, a: SSAValue, constant: int, width: int) -> SSAValue:
        """a * constant (signed) at `width` bits; constants 0 and 1 cost nothing."""
        if constant == 0:
            return self.const(0, width)
        if constant == 1:
            return self.sext(a, width)
        return self._add(comb.MulOp([self.sext(a, width), self.const(constant, width)]))

    def shl(self, value: SSAValue, amount: SSAValue) -> SSAValue:
        """value << amount (`comb.shl`; `amount` zero-extended to value's width)."""
        return self._add(comb.ShlOp(value, self.zext(amount, width_of(value))))

    # ------------------------------------------------------------------ logic

    def mux(self, cond: SSAValue, if_true: SSAValue, if_false: SSAValue) -> SSAValue:
        return self._add(comb.MuxOp(cond, if_true, if_false))

    def _cmp(self, a: SSAValue, b: SSAValue, predicate: str) -> SSAValue:
        return self._add(comb.ICmpOp(a, b, predicate))

    def eq(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._cmp(a, b, "eq")

    def ne(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._cmp(a, b, "ne")

    def slt(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._cmp(a, b, "slt")

    def sgt(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._cmp(a, b, "sgt")

    def ult(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self._cmp(a, b, "ult")

    def and_(self, *values: SSAValue) -> SSAValue:
        return values[0] if len(values) == 1 else self._add(comb.AndOp(list(values)))

    def or_(self, *values: SSAValue) -> SSAValue:
        return values[0] if len(values) == 1 else self._add(comb.OrOp(list(values)))

    def xor(self, *values: SSAValue) -> SSAValue:
        return values[0] if len(values) == 1 else self._add(comb.XorOp(list(values)))

    def not_(self, value: SSAValue) -> SSAValue:
        return self._add(comb.XorOp([value, self.const(-1, width_of(value))]))

    # ------------------------------------------------------------------ hierarchy

    def instance(
        self, instance_name: str, module: xdsl_hw.HWModuleOp, inputs: dict[str, SSAValue]
    ) -> dict[str, SSAValue]:
        """An `hw.instance` of `module`, inputs connected by port name (in the
        module's port order, as CIRCT requires); returns the outputs by name."""
        ports = module.module_type.ports.data
        in_ports = [p for p in ports if p.dir.data is Direction.INPUT]
        out_ports = [p for p in ports if p.dir.data is Direction.OUTPUT]
        missing = [p.port_name.data for p in in_ports if p.port_name.data not in inputs]
        extra = set(inputs) - {p.port_name.data for p in in_ports}
        if missing or extra:
            raise ValueError(f"instance {instance_name} of {module.sym_name.data}: missing {missing}, unknown {sorted(extra)}")
        op = xdsl_hw.InstanceOp(
            instance_name,
            FlatSymbolRefAttr(module.sym_name),
            [(p.port_name.data, inputs[p.port_name.data]) for p in in_ports],
            [(p.port_name.data, p.type) for p in out_ports],
        )
        self.block.add_op(op)
        results = {}
        for port, result in zip(out_ports, op.results):
            result.name_hint = f"{instance_name}_{port.port_name.data}"
            results[port.port_name.data] = result
        return results

    # ------------------------------------------------------------------ finish

    def finish(self) -> xdsl_hw.HWModuleOp:
        """The `hw.module`. Requires every output driven and every register connected."""
        undriven = [name for name, value in self._outputs.items() if value is None]
        if undriven:
            raise ValueError(f"module {self.name}: outputs not driven: {undriven}")
        unconnected = [r.value.name_hint for r in self._registers if not r.connected]
        if unconnected:
            raise ValueError(f"module {self.name}: registers without a next value: {unconnected}")
        outputs = [(name, value) for name, value in self._outputs.items() if value is not None]
        self.block.add_op(xdsl_hw.OutputOp([value for _, value in outputs]))
        ports = [ModulePort(StringAttr(name), port_type, DirectionAttr(Direction.INPUT))
                 for name, port_type in self._inputs]
        ports += [ModulePort(StringAttr(name), value.type, DirectionAttr(Direction.OUTPUT))
                  for name, value in outputs]
        return xdsl_hw.HWModuleOp(StringAttr(self.name), ModuleType(ArrayAttr(ports)), Region(self.block))
