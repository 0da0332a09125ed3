"""
The CIRCT operations that xDSL 0.74 lacks, in CIRCT firtool-1.62's textual syntax.

xDSL ships CIRCT's `hw`, `comb` and `seq` dialects in part. The hardware
back-end also needs, one module per idea:

    aggregate_constant  %rom = hw.aggregate_constant [3 : i8, 2 : i8, 1 : i8] : !hw.array<3xi8>
    firreg              %r = seq.firreg %next clock %clk reset sync %rst, %init : i8
    firmem              %m = seq.firmem 1, 1, undefined, undefined {init = #seq.firmem.init<"rom/w.hex", false, false>} : <16 x 8>
                        %d = seq.firmem.read_port %m[%addr], clock %clk enable %en : <16 x 8>
                        seq.firmem.write_port %m[%waddr] = %wdata, clock %clk enable %we : <16 x 8>

(the type `!seq.firmem<depth x width>` and the attribute
`#seq.firmem.init<"file", isBinary, isInline>` with them). Every form was
checked by parsing it with CIRCT's own Python bindings (`circt` 1.62) and
comparing CIRCT's printout; `tests/unit/test_circt_dialect.py` keeps checking it.
Each module's docstring gives the semantics worth knowing (they are CIRCT's).

How the ops reach a context: xDSL's `Context` holds one dialect per name, so
this package builds *combined* dialects `HW` and `Seq` (xDSL's operations and
attributes plus ours) that `compiler.ir.hwc_dialects()` loads instead of xDSL's
`hw` and `seq`. A context that already registered xDSL's own `hw`/`seq` (as
`xdsl-opt`'s driver does) gets ours through `load_extensions(ctx)`, which loads
only the definitions xDSL lacks; their names never clash with xDSL's.
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import hw as xdsl_hw
from xdsl.dialects import seq as xdsl_seq
from xdsl.ir import Dialect

from dialects.circt.aggregate_constant import AggregateConstantOp
from dialects.circt.firmem import (
    FirMemInitAttr,
    FirMemOp,
    FirMemReadPortOp,
    FirMemType,
    FirMemWritePortOp,
    address_width,
)
from dialects.circt.firreg import FirRegOp

__all__ = [
    "HW", "Seq", "AggregateConstantOp", "FirMemInitAttr", "FirMemOp", "FirMemReadPortOp", "FirMemType",
    "FirMemWritePortOp", "FirRegOp", "address_width", "load_extensions",
]

HW_EXTENSION_OPS = (AggregateConstantOp,)
SEQ_EXTENSION_OPS = (FirRegOp, FirMemOp, FirMemReadPortOp, FirMemWritePortOp)
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
