"""`seq.firmem` and its read and write ports: a memory with FIRRTL semantics, a
ROM loaded by `$readmemh` or a RAM written through a write port.

    %m = seq.firmem 1, 1, undefined, undefined {init = #seq.firmem.init<"rom/w.hex", false, false>} : <16 x 8>
    %d = seq.firmem.read_port %m[%addr], clock %clk enable %en : <16 x 8>
    seq.firmem.write_port %m[%waddr] = %wdata, clock %clk enable %we : <16 x 8>

with the type `!seq.firmem<depth x width>` and the attribute
`#seq.firmem.init<"file", isBinary, isInline>`. The memory's Verilog name is its
`name` property (inferred from the SSA name when absent). A read port of read
latency 1 holds its address and enable in registers; the data read when the
enable was low is `x`. A read port of read latency 0 reads combinationally
(the word written at a clock edge is read after it). A write port (write
latency 1) stores `data` at `address` on the clock edge when `enable` is high.
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import I32, BoolAttr, IntAttr, IntegerAttr, IntegerType, StringAttr, i1, i32
from xdsl.dialects.seq import ClockType, clock
from xdsl.ir import Attribute, Operation, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
)
from xdsl.parser import AttrParser, Parser, UnresolvedOperand
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from dialects.circt.syntax import integer_width, move_to_properties, print_attr_dict


def address_width(depth: int) -> int:
    """The address width CIRCT requires for a memory of `depth` words: ceil(log2(depth))."""
    return max(depth - 1, 0).bit_length()


@irdl_attr_definition
class FirMemType(ParametrizedAttribute, TypeAttribute):
    """`!seq.firmem<depth x width>` or `!seq.firmem<depth x width, mask N>`:
    a memory of `depth` words of `width` bits (mask granularity N when masked)."""

    name = "seq.firmem"

    depth: IntAttr
    width: IntAttr
    mask_width: IntAttr  # 0: no mask

    def __init__(self, depth: int, width: int, mask_width: int = 0):
        super().__init__(IntAttr(depth), IntAttr(width), IntAttr(mask_width))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            depth = parser.parse_integer(allow_boolean=False, allow_negative=False)
            parser.parse_keyword("x")
            width = parser.parse_integer(allow_boolean=False, allow_negative=False)
            mask = 0
            if parser.parse_optional_punctuation(",") is not None:
                parser.parse_keyword("mask")
                mask = parser.parse_integer(allow_boolean=False, allow_negative=False)
        return [IntAttr(depth), IntAttr(width), IntAttr(mask)]

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(self._body())

    def _body(self) -> str:
        mask = f", mask {self.mask_width.data}" if self.mask_width.data else ""
        return f"<{self.depth.data} x {self.width.data}{mask}>"

    def verify(self) -> None:
        if self.depth.data < 1 or self.width.data < 1:
            raise VerifyException(f"{self}: depth and width must be positive")


@irdl_attr_definition
class FirMemInitAttr(ParametrizedAttribute):
    """`#seq.firmem.init<"file", isBinary, isInline>`: the file a memory is
    loaded from (`$readmemh`, or `$readmemb` when binary), path as written."""

    name = "seq.firmem.init"

    filename: StringAttr
    is_binary: BoolAttr
    is_inline: BoolAttr

    def __init__(self, filename: str, is_binary: bool = False, is_inline: bool = False):
        super().__init__(StringAttr(filename), BoolAttr.from_bool(is_binary), BoolAttr.from_bool(is_inline))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            filename = parser.parse_str_literal()
            parser.parse_punctuation(",")
            is_binary = parser.parse_boolean()
            parser.parse_punctuation(",")
            is_inline = parser.parse_boolean()
        return [StringAttr(filename), BoolAttr.from_bool(is_binary), BoolAttr.from_bool(is_inline)]

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string_literal(self.filename.data)
            printer.print_string(f", {str(bool(self.is_binary.value.data)).lower()}")
            printer.print_string(f", {str(bool(self.is_inline.value.data)).lower()}")


_READ_UNDER_WRITE = ("undefined", "old", "new")
_WRITE_UNDER_WRITE = ("undefined", "port_order")


@irdl_op_definition
class FirMemOp(IRDLOperation):
    """A memory with FIRRTL semantics; with `init`, a ROM loaded by `$readmemh`.
    `hw-memory-sim` turns it into a Verilog module per distinct configuration."""

    name = "seq.firmem"

    read_latency = prop_def(IntegerAttr[I32], prop_name="readLatency")
    write_latency = prop_def(IntegerAttr[I32], prop_name="writeLatency")
    ruw = prop_def(IntegerAttr[I32])
    wuw = prop_def(IntegerAttr[I32])
    mem_name = opt_prop_def(StringAttr, prop_name="name")
    init = opt_prop_def(FirMemInitAttr)
    prefix = opt_prop_def(StringAttr)
    memory = result_def(FirMemType)

    PRINTED_PROPERTIES: ClassVar = ("init", "name", "prefix")

    def __init__(
        self,
        memory_type: FirMemType,
        *,
        read_latency: int = 1,
        write_latency: int = 1,
        init: FirMemInitAttr | None = None,
        name: str | None = None,
        ruw: str = "undefined",
        wuw: str = "undefined",
    ):
        properties: dict[str, Attribute] = {
            "readLatency": IntegerAttr(read_latency, i32),
            "writeLatency": IntegerAttr(write_latency, i32),
            "ruw": IntegerAttr(_READ_UNDER_WRITE.index(ruw), i32),
            "wuw": IntegerAttr(_WRITE_UNDER_WRITE.index(wuw), i32),
        }
        if init is not None:
            properties["init"] = init
        if name is not None:
            properties["name"] = StringAttr(name)
        super().__init__(properties=properties, result_types=[memory_type])

    def verify_(self) -> None:
        if not 0 <= self.ruw.value.data < len(_READ_UNDER_WRITE):
            raise VerifyException(f"seq.firmem: bad read-under-write value {self.ruw.value.data}")
        if not 0 <= self.wuw.value.data < len(_WRITE_UNDER_WRITE):
            raise VerifyException(f"seq.firmem: bad write-under-write value {self.wuw.value.data}")
        if self.read_latency.value.data < 0 or self.write_latency.value.data < 1:
            raise VerifyException("seq.firmem: read latency must be >= 0 and write latency >= 1")

    @classmethod
    def parse(cls, parser: Parser) -> FirMemOp:
        read_latency = parser.parse_integer(allow_boolean=False, allow_negative=False)
        parser.parse_punctuation(",")
        write_latency = parser.parse_integer(allow_boolean=False, allow_negative=False)
        parser.parse_punctuation(",")
        ruw = parser.parse_optional_keyword_in(_READ_UNDER_WRITE)
        parser.parse_punctuation(",")
        wuw = parser.parse_optional_keyword_in(_WRITE_UNDER_WRITE)
        if ruw is None or wuw is None:
            parser.raise_error("expected read-under-write and write-under-write kinds")
        extra = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        memory_type = _parse_firmem_type(parser)
        op = cls(memory_type, read_latency=read_latency, write_latency=write_latency, ruw=ruw, wuw=wuw)
        op.attributes.update(extra)
        move_to_properties(op, cls.PRINTED_PROPERTIES)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(
            f" {self.read_latency.value.data}, {self.write_latency.value.data}, "
            f"{_READ_UNDER_WRITE[self.ruw.value.data]}, {_WRITE_UNDER_WRITE[self.wuw.value.data]}"
        )
        print_attr_dict(printer, self, self.PRINTED_PROPERTIES)
        printer.print_string(" : ")
        printer.print_string(self.memory.type._body())


def _parse_firmem_type(parser: Parser) -> FirMemType:
    """CIRCT writes the memory type of firmem ops without its `!seq.firmem` prefix."""
    if parser._current_token.text == "<":
        return FirMemType(*(p.data for p in FirMemType.parse_parameters(parser)))
    memory_type = parser.parse_type()
    if not isinstance(memory_type, FirMemType):
        parser.raise_error(f"expected a !seq.firmem type, got {memory_type}")
    return memory_type


@irdl_op_definition
class FirMemReadPortOp(IRDLOperation):
    """A read port of a `seq.firmem`: the word at `address`, `readLatency` clock
    cycles after the address is presented (with `enable` high, when given)."""

    name = "seq.firmem.read_port"

    memory = operand_def(FirMemType)
    address = operand_def(IntegerType)
    clk = operand_def(ClockType)
    enable = opt_operand_def(i1)
    data = result_def(IntegerType)

    def __init__(
        self,
        memory: SSAValue | Operation,
        address: SSAValue | Operation,
        clk: SSAValue | Operation,
        enable: SSAValue | Operation | None = None,
    ):
        memory_type = SSAValue.get(memory).type
        assert isinstance(memory_type, FirMemType)
        super().__init__(
            operands=[memory, address, clk, enable],
            result_types=[IntegerType(memory_type.width.data)],
        )

    def verify_(self) -> None:
        _verify_port(self)

    @classmethod
    def parse(cls, parser: Parser) -> FirMemReadPortOp:
        memory, address, _, clk, enable, extra = _parse_port(parser, with_data=False)
        op = cls(memory, address, clk, enable)
        op.attributes.update(extra)
        return op

    def print(self, printer: Printer) -> None:
        _print_port(printer, self, None)


@irdl_op_definition
class FirMemWritePortOp(IRDLOperation):
    """A write port of a `seq.firmem`: `data` is stored at `address` on the clock
    edge when `enable` is high (always, without `enable`). No write mask."""

    name = "seq.firmem.write_port"

    memory = operand_def(FirMemType)
    address = operand_def(IntegerType)
    clk = operand_def(ClockType)
    enable = opt_operand_def(i1)
    data = operand_def(IntegerType)
    mask = opt_operand_def(IntegerType)

    irdl_options = (AttrSizedOperandSegments(as_property=True),)

    def __init__(
        self,
        memory: SSAValue | Operation,
        address: SSAValue | Operation,
        data: SSAValue | Operation,
        clk: SSAValue | Operation,
        enable: SSAValue | Operation | None = None,
    ):
        super().__init__(operands=[memory, address, clk, enable, data, None])

    def verify_(self) -> None:
        _verify_port(self)
        if self.mask is not None:
            raise VerifyException("seq.firmem.write_port: write masks are not supported")

    @classmethod
    def parse(cls, parser: Parser) -> FirMemWritePortOp:
        memory, address, data, clk, enable, extra = _parse_port(parser, with_data=True)
        assert data is not None
        op = cls(memory, address, data, clk, enable)
        op.attributes.update(extra)
        return op

    def print(self, printer: Printer) -> None:
        _print_port(printer, self, self.data)


def _verify_port(op: FirMemReadPortOp | FirMemWritePortOp) -> None:
    """A port's address is as wide as its memory's depth needs, its data as its words."""
    memory_type = op.memory.type
    assert isinstance(memory_type, FirMemType)
    expected = address_width(memory_type.depth.data)
    if integer_width(op.address.type) != expected:
        raise VerifyException(
            f"{op.name}: a memory of depth {memory_type.depth.data} "
            f"needs an i{expected} address, got {op.address.type}"
        )
    if integer_width(op.data.type) != memory_type.width.data:
        raise VerifyException(f"{op.name}: data width differs from the memory's")


def _parse_port(parser: Parser, with_data: bool):
    """Both ports' syntax, `%mem[%addr] [= %data], clock %clk [enable %en] {attrs} :
    <depth x width>` (`= %data` for a write port): the resolved memory, address,
    data (None for a read port), clock and enable (None without) and the attributes."""
    memory = parser.parse_unresolved_operand()
    parser.parse_punctuation("[")
    address = parser.parse_unresolved_operand()
    parser.parse_punctuation("]")
    data: UnresolvedOperand | None = None
    if with_data:
        parser.parse_punctuation("=")
        data = parser.parse_unresolved_operand()
    parser.parse_punctuation(",")
    parser.parse_keyword("clock")
    clk = parser.parse_unresolved_operand()
    enable: UnresolvedOperand | None = None
    if parser.parse_optional_keyword("enable") is not None:
        enable = parser.parse_unresolved_operand()
    extra = parser.parse_optional_attr_dict()
    parser.parse_punctuation(":")
    memory_type = _parse_firmem_type(parser)
    memory_v, address_v, clk_v = parser.resolve_operands(
        [memory, address, clk], [memory_type, IntegerType(address_width(memory_type.depth.data)), clock], parser.pos)
    data_v = parser.resolve_operand(data, IntegerType(memory_type.width.data)) if data is not None else None
    enable_v = parser.resolve_operand(enable, i1) if enable is not None else None
    return memory_v, address_v, data_v, clk_v, enable_v, extra


def _print_port(printer: Printer, op: FirMemReadPortOp | FirMemWritePortOp, data: SSAValue | None) -> None:
    """Both ports' syntax (see `_parse_port`); `data` is the write port's."""
    printer.print_string(" ")
    printer.print_operand(op.memory)
    printer.print_string("[")
    printer.print_operand(op.address)
    printer.print_string("]")
    if data is not None:
        printer.print_string(" = ")
        printer.print_operand(data)
    printer.print_string(", clock ")
    printer.print_operand(op.clk)
    if op.enable is not None:
        printer.print_string(" enable ")
        printer.print_operand(op.enable)
    printer.print_op_attributes(op.attributes)
    printer.print_string(" : ")
    memory_type = op.memory.type
    assert isinstance(memory_type, FirMemType)
    printer.print_string(memory_type._body())
