"""Constant tensors: inline (`nn.constant`) or in the module's weight store
(`nn.weight`, see compiler/weights.py). Both are `ConstantLike`.
"""

from __future__ import annotations

from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, StringAttr, TensorType
from xdsl.irdl import IRDLOperation, irdl_op_definition, prop_def, result_def, traits_def
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, NoMemoryEffect
from xdsl.utils.exceptions import VerifyException


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A constant tensor held inline in the IR."""

    name = "nn.constant"
    value = prop_def(DenseIntOrFPElementsAttr)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect(), ConstantLike())

    def __init__(self, value: DenseIntOrFPElementsAttr):
        super().__init__(properties={"value": value}, result_types=[value.get_type()])

    def verify_(self) -> None:
        if self.value.get_type() != self.output.type:
            raise VerifyException("nn.constant: result type differs from the value's type")

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        value = parser.parse_attribute()
        if not isinstance(value, DenseIntOrFPElementsAttr):
            parser.raise_error("nn.constant expects a dense<...> tensor literal")
        extra = parser.parse_optional_attr_dict()
        op = cls(value)
        op.attributes.update(extra)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_attribute(self.value)
        printer.print_op_attributes(self.attributes)


@irdl_op_definition
class WeightOp(IRDLOperation):
    """A constant tensor whose contents live in the module's weight store under `key`."""

    name = "nn.weight"
    key = prop_def(StringAttr)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect(), ConstantLike())
    assembly_format = "$key attr-dict `:` type($output)"

    def __init__(self, key: str, result_type: TensorType):
        super().__init__(properties={"key": StringAttr(key)}, result_types=[result_type])
