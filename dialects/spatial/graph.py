"""The dataflow graph of the spatial dialect (`spatial.graph`, `spatial.yield`) and
the attribute names it and its PEs carry."""

from __future__ import annotations

from xdsl.dialects.builtin import StringAttr
from xdsl.ir import Attribute, Region
from xdsl.irdl import IRDLOperation, irdl_op_definition, prop_def, region_def, traits_def, var_operand_def
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import IsTerminator, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException

from dialects.spatial.stream import StreamType

INPUTS_ATTR = "spatial.inputs"
"""On a graph: per input port, a dictionary of its nn name, scale, shape and layout."""
OUTPUTS_ATTR = "spatial.outputs"
"""On a graph: per output port, the same as `INPUTS_ATTR` plus its host op."""
PROBE_ATTR = "spatial.probe"
"""On a PE: which nn value its result stream carries (`index` among the integer
graph's activations in program order, `compiler.calibration.activations`) and its
layout (`source`, `perm`), so that a mismatch can be traced to the first layer."""


@irdl_op_definition
class YieldOp(IRDLOperation):
    """The graph's output streams."""

    name = "spatial.yield"
    values = var_operand_def(StreamType)
    traits = traits_def(IsTerminator())
    assembly_format = "($values^ `:` type($values))? attr-dict"


@irdl_op_definition
class GraphOp(IRDLOperation):
    """A dataflow graph: block arguments are the input streams, `spatial.yield` the outputs.

    Every stream has exactly one consumer (fan-out goes through `spatial.dup`).
    """

    name = "spatial.graph"
    sym_name = prop_def(StringAttr)
    body = region_def("single_block")
    traits = traits_def(SymbolOpInterface())

    def __init__(self, sym_name: str, body: Region, attributes: dict[str, Attribute] | None = None):
        super().__init__(properties={"sym_name": StringAttr(sym_name)}, regions=[body],
                         attributes=attributes or {})

    @classmethod
    def parse(cls, parser: Parser) -> GraphOp:
        sym_name = parser.parse_symbol_name()
        attributes = parser.parse_optional_attr_dict_with_keyword()
        body = parser.parse_region()
        return cls(sym_name.data, body, dict(attributes.data) if attributes else {})

    def print(self, printer: Printer) -> None:
        printer.print_string(" @")
        printer.print_string(self.sym_name.data)
        if self.attributes:
            printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=True)

    def verify_(self) -> None:
        block = self.body.block
        if not isinstance(block.last_op, YieldOp):
            raise VerifyException("spatial.graph must end with spatial.yield")
        values = list(block.args) + [r for op in block.ops for r in op.results]
        for value in values:
            uses = sum(1 for _ in value.uses)
            if uses != 1:
                raise VerifyException(
                    f"spatial.graph: every stream needs exactly one consumer "
                    f"({value.name_hint or 'a stream'} has {uses}; use spatial.dup)"
                )
