"""
The `rom` dialect: weights as hardwired constants.

A `rom.rom` symbol (at module level) is a tensor of fixed signed integers of
one width from 1 to 32 bits, with the quantization parameters that say what
the integers mean (`real = value * scale`, per tensor or per channel along
`axis`). Its contents are either inline (`= dense<...>`) or, when large, in the
module's ROM image: the safetensors file named by the module attribute
`nn.weights`, under the symbol's name (a large per-channel scale likewise,
under `<name>.scale`). `rom.read @name` gives the contents to the ops of the
graph.

    rom.rom @fc1_weight : tensor<32x64xi4> {axis = 0 : i64, scale = dense<...> : tensor<32xf64>}
    rom.rom @fc1_bias : tensor<32xi20> = dense<[...]> : tensor<32xi20>
    %w = rom.read @fc1_weight : tensor<32x64xi4>
"""

from __future__ import annotations

import weakref

from xdsl.dialects.builtin import (
    I64,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, NoMemoryEffect, SymbolOpInterface, SymbolTable
from xdsl.utils.exceptions import VerifyException

MAX_WIDTH = 32


def signed_range(width: int) -> tuple[int, int]:
    """The values a `width`-bit two's-complement integer holds."""
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def rom_width(tensor_type: Attribute) -> int:
    if not isinstance(tensor_type, TensorType) or not isinstance(
        tensor_type.get_element_type(), IntegerType
    ):
        raise VerifyException(f"a ROM holds an integer tensor, not {tensor_type}")
    return tensor_type.get_element_type().width.data


@irdl_op_definition
class RomOp(IRDLOperation):
    """A ROM symbol: fixed integer contents and what they mean."""

    name = "rom.rom"
    sym_name = prop_def(StringAttr)
    type = prop_def(TensorType)
    value = opt_prop_def(DenseIntOrFPElementsAttr)
    scale = opt_prop_def(DenseIntOrFPElementsAttr)
    axis = opt_prop_def(IntegerAttr[I64])
    traits = traits_def(SymbolOpInterface())

    def __init__(self, sym_name: str, tensor_type: TensorType, *,
                 value: DenseIntOrFPElementsAttr | None = None,
                 scale: DenseIntOrFPElementsAttr | None = None, axis: int | None = None):
        properties: dict[str, Attribute] = {"sym_name": StringAttr(sym_name), "type": tensor_type}
        if value is not None:
            properties["value"] = value
        if scale is not None:
            properties["scale"] = scale
        if axis is not None:
            properties["axis"] = IntegerAttr(axis, i64)
        super().__init__(properties=properties)

    @property
    def width(self) -> int:
        return rom_width(self.type)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.type.get_shape())

    def verify_(self) -> None:
        width = rom_width(self.type)
        if not 1 <= width <= MAX_WIDTH:
            raise VerifyException(f"rom.rom @{self.sym_name.data}: width {width} is outside 1..{MAX_WIDTH}")
        if self.value is not None:
            self._verify_inline_value(width)
        if self.axis is not None and not 0 <= self.axis.value.data < len(self.shape):
            raise VerifyException(f"rom.rom @{self.sym_name.data}: axis out of range")
        if self.scale is not None:
            expected = (self.shape[self.axis.value.data],) if self.axis is not None else (1,)
            if tuple(self.scale.get_type().get_shape()) != expected:
                raise VerifyException(
                    f"rom.rom @{self.sym_name.data}: scale must have shape {list(expected)}"
                )

    def _verify_inline_value(self, width: int) -> None:
        assert self.value is not None
        if tuple(self.value.get_type().get_shape()) != self.shape:
            raise VerifyException(f"rom.rom @{self.sym_name.data}: value shape differs from the ROM's")
        lo, hi = signed_range(width)
        values = self.value.get_values()
        if values and (min(values) < lo or max(values) > hi):
            raise VerifyException(
                f"rom.rom @{self.sym_name.data}: contents do not fit {width} bits [{lo}, {hi}]"
            )

    @classmethod
    def parse(cls, parser: Parser) -> RomOp:
        sym_name = parser.parse_symbol_name()
        parser.parse_punctuation(":")
        tensor_type = parser.parse_type()
        if not isinstance(tensor_type, TensorType):
            parser.raise_error("rom.rom expects a tensor type")
        extra = parser.parse_optional_attr_dict()
        value = None
        if parser.parse_optional_punctuation("=") is not None:
            value = parser.parse_attribute()
            if not isinstance(value, DenseIntOrFPElementsAttr):
                parser.raise_error("rom.rom contents must be a dense<...> literal")
        scale = extra.pop("scale", None)
        axis = extra.pop("axis", None)
        op = cls(sym_name.data, tensor_type, value=value, scale=scale,
                 axis=axis.value.data if isinstance(axis, IntegerAttr) else None)
        op.attributes.update(extra)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" @")
        printer.print_string(self.sym_name.data)
        printer.print_string(" : ")
        printer.print_attribute(self.type)
        shown = dict(self.attributes)
        if self.axis is not None:
            shown["axis"] = self.axis
        if self.scale is not None:
            shown["scale"] = self.scale
        printer.print_op_attributes(shown)
        if self.value is not None:
            printer.print_string(" = ")
            printer.print_attribute(self.value)


@irdl_op_definition
class ReadOp(IRDLOperation):
    """The contents of ROM `@rom` as a tensor."""

    name = "rom.read"
    rom = prop_def(SymbolRefAttr)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect(), ConstantLike())
    assembly_format = "$rom attr-dict `:` type($output)"

    def __init__(self, rom: str, result_type: TensorType):
        super().__init__(properties={"rom": SymbolRefAttr(rom)}, result_types=[result_type])

    def verify_(self) -> None:
        symbol = find_rom(self)
        if symbol is None:
            raise VerifyException(f"rom.read: no rom.rom @{self.rom.string_value()}")
        if symbol.type != self.output.type:
            raise VerifyException(
                f"rom.read @{self.rom.string_value()}: type {self.output.type} differs from the ROM's {symbol.type}"
            )


def find_rom(read: ReadOp) -> RomOp | None:
    """The `rom.rom` that `read` names, looked up in the enclosing symbol tables."""
    parent = read.parent_op()
    while parent is not None:
        if parent.has_trait(SymbolTable):
            found = lookup_rom(parent, read.rom)
            if found is not None:
                return found
        parent = parent.parent_op()
    return None


_SYMBOLS: weakref.WeakKeyDictionary[Operation, dict[str, Operation]] = weakref.WeakKeyDictionary()
"""Per symbol-table op: its symbols by name, as last walked."""


def lookup_rom(op: Operation, symbol: SymbolRefAttr) -> RomOp | None:
    """The `rom.rom` named `symbol` in the nearest symbol table around `op` (or `op`
    itself), as `SymbolTable.lookup_symbol` finds it, but from a name → op map of
    the table: xDSL's lookup walks the whole table, and a module's thousands of PEs
    each look up their ROMs (quadratic in the model). A mapped op is used only while
    it is still in that table under that name; otherwise the table is walked again."""
    table = op
    while table is not None and not table.has_trait(SymbolTable):
        table = table.parent_op()
    if table is None or symbol.nested_references.data:
        found = SymbolTable.lookup_symbol(op, symbol)
        return found if isinstance(found, RomOp) else None
    name = symbol.root_reference.data
    found = _SYMBOLS.get(table, {}).get(name)
    if found is None or found.parent_op() is not table or _symbol_name(found) != name:
        symbols: dict[str, Operation] = {}
        for child in table.regions[0].block.ops:
            child_name = _symbol_name(child)
            if child_name is not None:
                symbols.setdefault(child_name, child)
        _SYMBOLS[table] = symbols
        found = symbols.get(name)
    return found if isinstance(found, RomOp) else None


def _symbol_name(op: Operation) -> str | None:
    name = op.properties.get("sym_name") or op.attributes.get("sym_name")
    return name.data if isinstance(name, StringAttr) else None


ROM = Dialect("rom", [RomOp, ReadOp])
