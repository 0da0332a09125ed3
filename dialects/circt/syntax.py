"""Helpers shared by the CIRCT operations' custom parsers and printers."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import IntegerType
from xdsl.ir import Attribute, Operation
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException


def move_to_properties(op: Operation, names: Sequence[str]) -> None:
    """Properties printed in the attribute dictionary (CIRCT accepts them there)
    go back to being properties after parsing."""
    for name in names:
        if name in op.attributes:
            op.properties[name] = op.attributes.pop(name)


def print_attr_dict(printer: Printer, op: Operation, property_names: Sequence[str]) -> None:
    shown: dict[str, Attribute] = {
        name: op.properties[name] for name in property_names if name in op.properties
    }
    shown.update(op.attributes)
    printer.print_op_attributes(shown)


def integer_width(attr: Attribute) -> int:
    if not isinstance(attr, IntegerType):
        raise VerifyException(f"expected an integer type, got {attr}")
    return attr.width.data

