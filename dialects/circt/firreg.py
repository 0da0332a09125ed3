"""`seq.firreg`: a register with FIRRTL semantics.

    %r = seq.firreg %next clock %clk : i8
    %r = seq.firreg %next clock %clk reset sync %rst, %init : i8
    %r = seq.firreg %next clock %clk reset async %rst, %init preset 5 : i8

Its Verilog name is its `name` property; CIRCT infers it from the SSA name
(`%acc = seq.firreg ...` names the register `acc`) when the property is
absent, so xDSL results with a name hint get sensible Verilog names. xDSL
prints an explicit name in the attribute dictionary (`{name = "acc"}`), which
CIRCT accepts.

Why not xDSL's `seq.compreg` (which has a synchronous reset too): CIRCT
firtool-1.62 exports each `seq.compreg` as its own `always_ff` block, while it
gathers the `seq.firreg`s of a clock into shared `always @(posedge clk)` blocks
(and turns a feedback mux into an enable). The hardware is the same, the
Verilog is not, and hwc's exported Verilog must not change.
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import IntegerAttr, StringAttr, UnitAttr, i1
from xdsl.dialects.seq import ClockType, clock
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    result_def,
    var_operand_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from dialects.circt.syntax import move_to_properties, print_attr_dict


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
        move_to_properties(op, ("name",))
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
        print_attr_dict(printer, self, ("name",))
        printer.print_string(" : ")
        printer.print_attribute(self.data.type)
