"""`hw.aggregate_constant`: a constant array (possibly nested) of integers.

    %rom = hw.aggregate_constant [3 : i8, 2 : i8, 1 : i8] : !hw.array<3xi8>

CIRCT puts the *first* field at the *highest* index (as `hw.array_create`
does): `hw.array_get %rom[0]` is `1` above. Build it with
`AggregateConstantOp.from_elements(values, type)`, which takes values in index
order and reverses them.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import ArrayAttr, IntegerAttr
from xdsl.dialects.hw import ArrayType
from xdsl.ir import Attribute
from xdsl.irdl import IRDLOperation, attr_def, irdl_op_definition, result_def, traits_def
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from dialects.circt.syntax import integer_width


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
            width = integer_width(element_type)
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
            values.append(field.value.data % (1 << integer_width(element_type)))
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
