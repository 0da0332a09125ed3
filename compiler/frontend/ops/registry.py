"""The dispatch table: ONNX op type -> handler, and the notes of docs/operators.md."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from compiler.frontend.node import NodeImport, Value


Handler = Callable[[NodeImport], Sequence[Value | None]]

HANDLERS: dict[str, Handler] = {}
SUPPORTED_OPS: dict[str, str] = {}
"""ONNX op type -> a short note on what is supported (the contents of docs/operators.md)."""
OTHER_DOMAINS: dict[str, str] = {}
"""Op type -> its domain, for the handled ops outside the standard one (`com.microsoft`)."""


def handles(*op_types: str, note: str, domain: str = ""):
    """Register the decorated function as the handler of `op_types` (of `domain`, the
    standard one by default)."""

    def register(handler: Handler) -> Handler:
        for op_type in op_types:
            HANDLERS[op_type] = handler
            SUPPORTED_OPS[op_type] = note
            if domain:
                OTHER_DOMAINS[op_type] = domain
        return handler

    return register


FOLDED_ONLY = {
    op: "only on constants (evaluated at import)"
    for op in ("Constant", "ConstantOfShape", "Shape", "Size", "Gather", "Slice", "Range",
               "Expand", "Equal", "Where", "Tile", "ReduceProd", "Split", "Neg", "Sqrt",
               "Pow", "Floor", "Ceil")
}
"""Ops commonly found in shape computations: fine whenever their inputs are constants."""
