"""
The CIRCT operations that xDSL 0.74 lacks, in CIRCT firtool-1.62's textual syntax.

xDSL ships CIRCT's `hw`, `comb` and `seq` dialects in part. The hardware
back-end also needs:

    %rom = hw.aggregate_constant [3 : i8, 2 : i8, 1 : i8] : !hw.array<3xi8>
    %r = seq.firreg %next clock %clk : i8
    %r = seq.firreg %next clock %clk reset sync %rst, %init : i8
    %r = seq.firreg %next clock %clk reset async %rst, %init preset 5 : i8
    %m = seq.firmem 1, 1, undefined, undefined {init = #seq.firmem.init<"rom/w.hex", false, false>} : <16 x 8>
    %d = seq.firmem.read_port %m[%addr], clock %clk enable %en : <16 x 8>
    %out, %full, %empty = seq.fifo depth 4 in %d rdEn %rd wrEn %wr clk %clk rst %rst : i8

(the types `!seq.firmem<depth x width>` and the attribute
`#seq.firmem.init<"file", isBinary, isInline>` with them). Every form above was
checked by parsing it with CIRCT's own Python bindings (`circt` 1.62) and
comparing CIRCT's printout; `tests/unit/test_circt_dialect.py` keeps checking it.

Semantics worth knowing (they are CIRCT's, not ours):

* `hw.aggregate_constant [a, b, c]` puts the *first* field at the *highest*
  index (as `hw.array_create` does): `hw.array_get %rom[0]` is `c`. Build it
  with `AggregateConstantOp.from_elements(values, type)`, which takes values in
  index order and reverses them.
* A `seq.firreg`'s or `seq.firmem`'s Verilog name is its `name` property; CIRCT
  infers it from the SSA name (`%acc = seq.firreg ...` names the register
  `acc`) when the property is absent, so xDSL results with a name hint get
  sensible Verilog names. xDSL prints an explicit name in the attribute
  dictionary (`{name = "acc"}`), which CIRCT accepts.
* A `seq.firmem` read port of read latency 1 holds its address and enable in
  registers; the data read when the enable was low is `x`.

How the ops reach a context: xDSL's `Context` holds one dialect per name, so
this module builds *combined* dialects `HW` and `Seq` (xDSL's operations and
attributes plus ours) that `compiler.ir.hwc_dialects()` loads instead of xDSL's
`hw` and `seq`. A context that already registered xDSL's own `hw`/`seq` (as
`xdsl-opt`'s driver does) gets ours through `load_extensions(ctx)`, which loads
only the definitions xDSL lacks; their names never clash with xDSL's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.context import Context
from xdsl.dialects import hw as xdsl_hw
from xdsl.dialects import seq as xdsl_seq
from xdsl.dialects.builtin import (
    I32,
    ArrayAttr,
    BoolAttr,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    UnitAttr,
    i1,
    i32,
)
from xdsl.dialects.hw import ArrayType
from xdsl.dialects.seq import ClockType, clock
from xdsl.ir import Attribute, Dialect, Operation, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    AnyAttr,
    AttrSizedResultSegments,
    IRDLOperation,
    VarConstraint,
    attr_def,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    opt_result_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser, Parser, UnresolvedOperand
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

# --------------------------------------------------------------------------- helpers


def _move_to_properties(op: Operation, names: Sequence[str]) -> None:
    """Properties printed in the attribute dictionary (CIRCT accepts them there)
    go back to being properties after parsing."""
    for name in names:
        if name in op.attributes:
            op.properties[name] = op.attributes.pop(name)


def _print_attr_dict(printer: Printer, op: Operation, property_names: Sequence[str]) -> None:
    shown: dict[str, Attribute] = {
        name: op.properties[name] for name in property_names if name in op.properties
    }
    shown.update(op.attributes)
    printer.print_op_attributes(shown)


def _integer_width(attr: Attribute) -> int:
    if not isinstance(attr, IntegerType):
        raise VerifyException(f"expected an integer type, got {attr}")
    return attr.width.data


def address_width(depth: int) -> int:
    """The address width CIRCT requires for a memory of `depth` words: ceil(log2(depth))."""
    return max(depth - 1, 0).bit_length()


# --------------------------------------------------------------------------- hw.aggregate_constant


@irdl_op_definition
class AggregateConstantOp(IRDLOperation):
    """A constant array (possibly nested) of integers: the `logic` realisation of a ROM.

    `fields` lists the elements from the highest index down to index 0, as
    CIRCT does; use `from_elements` to build one from values in index order.
    """

    name = "hw.aggregate_constant"

    fields = attr_def(ArrayAttr)
    result = result_def(ArrayType)

    traits = traits_def(Pure(), ConstantLike())

    def __init__(self, fields: ArrayAttr, result_type: ArrayType):
        super().__init__(attributes={"fields": fields}, result_types=[result_type])

    @classmethod
    def from_elements(cls, values: Sequence, array_type: ArrayType) -> AggregateConstantOp:
        """An array whose element `i` is `values[i]` (nested sequences for nested
        arrays). Values are taken modulo 2**width, so signed values work."""
        return cls(_fields_in_circt_order(values, array_type), array_type)

    def element_values(self) -> list:
        """The elements in index order (element 0 first), as unsigned integers."""
        return _values_in_index_order(self.fields, self.result.type)

    def verify_(self) -> None:
        _verify_fields(self.fields, self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> AggregateConstantOp:
        fields = parser.parse_attribute()
        if not isinstance(fields, ArrayAttr):
            parser.raise_error("hw.aggregate_constant expects a list of fields")
        extra = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        result_type = parser.parse_type()
        if not isinstance(result_type, ArrayType):
            parser.raise_error("hw.aggregate_constant expects an !hw.array type")
        op = cls(fields, result_type)
        op.attributes.update(extra)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_attribute(self.fields)
        printer.print_op_attributes(
            {k: v for k, v in self.attributes.items() if k != "fields"}
        )
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)


def _fields_in_circt_order(values: Sequence, array_type: Attribute) -> ArrayAttr:
    if not isinstance(array_type, ArrayType):
        raise ValueError(f"expected an !hw.array type, got {array_type}")
    if len(values) != len(array_type):
        raise ValueError(f"{len(values)} values for {array_type}")
    element_type = array_type.get_element_type()
    fields: list[Attribute] = []
    for value in reversed(values):
        if isinstance(element_type, ArrayType):
            fields.append(_fields_in_circt_order(value, element_type))
        else:
            width = _integer_width(element_type)
            fields.append(IntegerAttr(int(value) % (1 << width), element_type, truncate_bits=True))
    return ArrayAttr(fields)


def _values_in_index_order(fields: ArrayAttr, array_type: Attribute) -> list:
    assert isinstance(array_type, ArrayType)
    element_type = array_type.get_element_type()
    values = []
    for field in reversed(fields.data):
        if isinstance(element_type, ArrayType):
            assert isinstance(field, ArrayAttr)
            values.append(_values_in_index_order(field, element_type))
        else:
            assert isinstance(field, IntegerAttr)
            values.append(field.value.data % (1 << _integer_width(element_type)))
    return values


def _verify_fields(fields: Attribute, array_type: Attribute) -> None:
    if not isinstance(array_type, ArrayType):
        raise VerifyException(f"hw.aggregate_constant: {array_type} is not an !hw.array")
    if not isinstance(fields, ArrayAttr) or len(fields.data) != len(array_type):
        raise VerifyException(
            f"hw.aggregate_constant: {array_type} needs {len(array_type)} fields"
        )
    element_type = array_type.get_element_type()
    for field in fields.data:
        if isinstance(element_type, ArrayType):
            _verify_fields(field, element_type)
        elif not isinstance(field, IntegerAttr) or field.type != element_type:
            raise VerifyException(
                f"hw.aggregate_constant: field {field} is not of type {element_type}"
            )


# --------------------------------------------------------------------------- seq.firreg


@irdl_op_definition
class FirRegOp(IRDLOperation):
    """A register with FIRRTL semantics, optionally with a synchronous or
    asynchronous reset to `reset_value`, and an optional power-on `preset`."""

    name = "seq.firreg"

    T: ClassVar = VarConstraint("T", AnyAttr())

    next = operand_def(T)
    clk = operand_def(ClockType)
    # CIRCT's two optional operands (reset, resetValue) come and go together and
    # have no segment sizes in CIRCT's generic form: one variadic, 0 or 2 values.
    resets = var_operand_def()
    data = result_def(T)

    reg_name = opt_prop_def(StringAttr, prop_name="name")
    is_async = opt_prop_def(UnitAttr, prop_name="isAsync")
    preset = opt_prop_def(IntegerAttr)

    def __init__(
        self,
        next: SSAValue | Operation,
        clk: SSAValue | Operation,
        *,
        reset: tuple[SSAValue | Operation, SSAValue | Operation] | None = None,
        is_async: bool = False,
        preset: int | None = None,
        name: str | None = None,
    ):
        next_value = SSAValue.get(next)
        properties: dict[str, Attribute] = {}
        if name is not None:
            properties["name"] = StringAttr(name)
        if is_async:
            properties["isAsync"] = UnitAttr()
        if preset is not None:
            properties["preset"] = IntegerAttr(preset, next_value.type, truncate_bits=True)
        resets = list(reset) if reset is not None else []
        super().__init__(
            operands=[next_value, clk, resets], result_types=[next_value.type], properties=properties
        )

    @property
    def reset(self) -> SSAValue | None:
        return self.resets[0] if self.resets else None

    @property
    def reset_value(self) -> SSAValue | None:
        return self.resets[1] if self.resets else None

    def verify_(self) -> None:
        if len(self.resets) not in (0, 2):
            raise VerifyException("seq.firreg: a reset needs a reset signal and a reset value")
        if self.resets and (self.resets[0].type != i1 or self.resets[1].type != self.data.type):
            raise VerifyException("seq.firreg: reset must be i1 and the reset value of the register's type")
        if self.is_async is not None and self.reset is None:
            raise VerifyException("seq.firreg: an asynchronous register needs a reset")
        if self.preset is not None and self.preset.type != self.data.type:
            raise VerifyException("seq.firreg: the preset must have the register's type")

    @classmethod
    def parse(cls, parser: Parser) -> FirRegOp:
        unresolved = [parser.parse_unresolved_operand()]
        parser.parse_keyword("clock")
        unresolved.append(parser.parse_unresolved_operand())
        is_async = False
        if parser.parse_optional_keyword("reset") is not None:
            kind = parser.parse_optional_keyword_in(("sync", "async"))
            if kind is None:
                parser.raise_error("expected 'sync' or 'async' after 'reset'")
            is_async = kind == "async"
            unresolved.append(parser.parse_unresolved_operand())
            parser.parse_punctuation(",")
            unresolved.append(parser.parse_unresolved_operand())
        preset = None
        if parser.parse_optional_keyword("preset") is not None:
            preset = parser.parse_integer()
        extra = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        data_type = parser.parse_type()
        types = [data_type, clock, i1, data_type][: len(unresolved)]
        operands = parser.resolve_operands(unresolved, types, parser.pos)
        op = cls(
            operands[0],
            operands[1],
            reset=(operands[2], operands[3]) if len(operands) == 4 else None,
            is_async=is_async,
            preset=preset,
        )
        op.attributes.update(extra)
        _move_to_properties(op, ("name",))
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.next)
        printer.print_string(" clock ")
        printer.print_operand(self.clk)
        if self.reset is not None and self.reset_value is not None:
            printer.print_string(" reset async " if self.is_async else " reset sync ")
            printer.print_operand(self.reset)
            printer.print_string(", ")
            printer.print_operand(self.reset_value)
        if self.preset is not None:
            printer.print_string(f" preset {self.preset.value.data}")
        _print_attr_dict(printer, self, ("name",))
        printer.print_string(" : ")
        printer.print_attribute(self.data.type)


# --------------------------------------------------------------------------- seq.firmem


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
        _move_to_properties(op, cls.PRINTED_PROPERTIES)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(
            f" {self.read_latency.value.data}, {self.write_latency.value.data}, "
            f"{_READ_UNDER_WRITE[self.ruw.value.data]}, {_WRITE_UNDER_WRITE[self.wuw.value.data]}"
        )
        _print_attr_dict(printer, self, self.PRINTED_PROPERTIES)
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
        memory_type = self.memory.type
        assert isinstance(memory_type, FirMemType)
        expected = address_width(memory_type.depth.data)
        if _integer_width(self.address.type) != expected:
            raise VerifyException(
                f"seq.firmem.read_port: a memory of depth {memory_type.depth.data} "
                f"needs an i{expected} address, got {self.address.type}"
            )
        if _integer_width(self.data.type) != memory_type.width.data:
            raise VerifyException("seq.firmem.read_port: data width differs from the memory's")

    @classmethod
    def parse(cls, parser: Parser) -> FirMemReadPortOp:
        memory = parser.parse_unresolved_operand()
        parser.parse_punctuation("[")
        address = parser.parse_unresolved_operand()
        parser.parse_punctuation("]")
        parser.parse_punctuation(",")
        parser.parse_keyword("clock")
        clk = parser.parse_unresolved_operand()
        enable: UnresolvedOperand | None = None
        if parser.parse_optional_keyword("enable") is not None:
            enable = parser.parse_unresolved_operand()
        extra = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        memory_type = _parse_firmem_type(parser)
        unresolved = [memory, address, clk] + ([enable] if enable is not None else [])
        types = [memory_type, IntegerType(address_width(memory_type.depth.data)), clock, i1]
        operands = parser.resolve_operands(unresolved, types[: len(unresolved)], parser.pos)
        op = cls(*operands)
        op.attributes.update(extra)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.memory)
        printer.print_string("[")
        printer.print_operand(self.address)
        printer.print_string("], clock ")
        printer.print_operand(self.clk)
        if self.enable is not None:
            printer.print_string(" enable ")
            printer.print_operand(self.enable)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        memory_type = self.memory.type
        assert isinstance(memory_type, FirMemType)
        printer.print_string(memory_type._body())


# --------------------------------------------------------------------------- seq.fifo


@irdl_op_definition
class FIFOOp(IRDLOperation):
    """A synchronous FIFO of `depth` entries (`lower-seq-fifo` makes it registers
    and a memory). `output` is the head entry; pop with `rdEn`, push with
    `wrEn`; optional almost-full/almost-empty flags at the given thresholds."""

    name = "seq.fifo"

    T: ClassVar = VarConstraint("T", AnyAttr())

    input = operand_def(T)
    rd_en = operand_def(i1)
    wr_en = operand_def(i1)
    clk = operand_def(ClockType)
    rst = operand_def(i1)

    output = result_def(T)
    full = result_def(i1)
    empty = result_def(i1)
    almost_full = opt_result_def(i1)
    almost_empty = opt_result_def(i1)

    depth = prop_def(IntegerAttr)
    almost_full_threshold = opt_prop_def(IntegerAttr, prop_name="almostFullThreshold")
    almost_empty_threshold = opt_prop_def(IntegerAttr, prop_name="almostEmptyThreshold")

    irdl_options = (AttrSizedResultSegments(as_property=True),)

    def __init__(
        self,
        input: SSAValue | Operation,
        rd_en: SSAValue | Operation,
        wr_en: SSAValue | Operation,
        clk: SSAValue | Operation,
        rst: SSAValue | Operation,
        depth: int,
        *,
        almost_full: int | None = None,
        almost_empty: int | None = None,
    ):
        from xdsl.dialects.builtin import i64

        data_type = SSAValue.get(input).type
        properties: dict[str, Attribute] = {"depth": IntegerAttr(depth, i64)}
        if almost_full is not None:
            properties["almostFullThreshold"] = IntegerAttr(almost_full, i64)
        if almost_empty is not None:
            properties["almostEmptyThreshold"] = IntegerAttr(almost_empty, i64)
        super().__init__(
            operands=[input, rd_en, wr_en, clk, rst],
            result_types=[
                data_type, i1, i1,
                [i1] if almost_full is not None else [],
                [i1] if almost_empty is not None else [],
            ],
            properties=properties,
        )

    def verify_(self) -> None:
        depth = self.depth.value.data
        if depth < 1:
            raise VerifyException("seq.fifo: depth must be positive")
        for threshold in (self.almost_full_threshold, self.almost_empty_threshold):
            if threshold is not None and not 0 <= threshold.value.data <= depth:
                raise VerifyException("seq.fifo: thresholds must lie within the depth")

    @classmethod
    def parse(cls, parser: Parser) -> FIFOOp:
        parser.parse_keyword("depth")
        depth = parser.parse_integer(allow_boolean=False, allow_negative=False)
        almost_full = almost_empty = None
        if parser.parse_optional_keyword("almost_full") is not None:
            almost_full = parser.parse_integer(allow_boolean=False, allow_negative=False)
        if parser.parse_optional_keyword("almost_empty") is not None:
            almost_empty = parser.parse_integer(allow_boolean=False, allow_negative=False)
        unresolved = []
        for keyword in ("in", "rdEn", "wrEn", "clk", "rst"):
            parser.parse_keyword(keyword)
            unresolved.append(parser.parse_unresolved_operand())
        extra = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        data_type = parser.parse_type()
        operands = parser.resolve_operands(unresolved, [data_type, i1, i1, clock, i1], parser.pos)
        op = cls(*operands, depth, almost_full=almost_full, almost_empty=almost_empty)
        op.attributes.update(extra)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(f" depth {self.depth.value.data}")
        if self.almost_full_threshold is not None:
            printer.print_string(f" almost_full {self.almost_full_threshold.value.data}")
        if self.almost_empty_threshold is not None:
            printer.print_string(f" almost_empty {self.almost_empty_threshold.value.data}")
        for keyword, operand in zip(
            ("in", "rdEn", "wrEn", "clk", "rst"),
            (self.input, self.rd_en, self.wr_en, self.clk, self.rst),
        ):
            printer.print_string(f" {keyword} ")
            printer.print_operand(operand)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.input.type)


# --------------------------------------------------------------------------- dialects

HW_EXTENSION_OPS = (AggregateConstantOp,)
SEQ_EXTENSION_OPS = (FirRegOp, FirMemOp, FirMemReadPortOp, FIFOOp)
SEQ_EXTENSION_ATTRS = (FirMemType, FirMemInitAttr)

HW = Dialect(
    "hw",
    [*xdsl_hw.HW.operations, *HW_EXTENSION_OPS],
    list(xdsl_hw.HW.attributes),
)
"""xDSL's `hw` dialect plus the operations it lacks."""

Seq = Dialect(
    "seq",
    [*xdsl_seq.Seq.operations, *SEQ_EXTENSION_OPS],
    [*xdsl_seq.Seq.attributes, *SEQ_EXTENSION_ATTRS],
)
"""xDSL's `seq` dialect plus the operations, types and attributes it lacks."""


def load_extensions(ctx: Context) -> None:
    """Make our operations known to a context that registered xDSL's own `hw` and
    `seq` (e.g. `xdsl-opt`'s). Harmless when they are already loaded."""
    loaded_ops = {op.name for op in ctx.loaded_ops}
    for op in (*HW_EXTENSION_OPS, *SEQ_EXTENSION_OPS):
        if op.name not in loaded_ops:
            ctx.load_op(op)
    loaded_attrs = {attr.name for attr in (*ctx.loaded_attrs, *ctx.loaded_types)}
    for attr in SEQ_EXTENSION_ATTRS:
        if attr.name not in loaded_attrs:
            ctx.load_attr_or_type(attr)
