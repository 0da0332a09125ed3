"""The Verilog names of the generated hardware: one `hw.module` per PE, named
after its layer and kind, unique in the design."""

from __future__ import annotations

import re

from xdsl.dialects.builtin import StringAttr
from xdsl.ir import Operation

from dialects import spatial


def sanitize(name: str) -> str:
    """A Verilog-safe identifier from a layer or symbol name."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"m_{cleaned}"


def top_module_name(graph: spatial.GraphOp) -> str:
    """`<graph>_top`: the AXI4-Stream top module of a graph."""
    return f"{sanitize(graph.sym_name.data)}_top"


def pe_module_name(op: Operation, taken: set[str]) -> str:
    """`<layer>_<kind>` for a PE (a FIFO is named after its producer's layer),
    numbered `_2`, `_3`, ... when `taken` already has it; the name is added to `taken`."""
    kind = op.name.split(".", 1)[1]
    layer = op.properties.get("layer")
    if layer is None and isinstance(op, spatial.FifoOp) and isinstance(op.input.owner, Operation):
        layer = op.input.owner.properties.get("layer")
    base = sanitize(f"{layer.data}_{kind}" if isinstance(layer, StringAttr) else kind)
    name, index = base, 1
    while name in taken:
        index += 1
        name = f"{base}_{index}"
    taken.add(name)
    return name
