"""Ops that vanish at import: Identity and inference-time Dropout (a Cast to the
same element type vanishes too, see `indexing`)."""

from __future__ import annotations

import numpy as np

from compiler.frontend.node import NodeImport, Unsupported
from compiler.frontend.ops.registry import handles


@handles("Identity", note="removed")
def _identity(n: NodeImport):
    return [n.inputs[0]]


@handles("Dropout", note="inference only (removed); the mask output must be unused")
def _dropout(n: NodeImport):
    if n.opset < 7 and n.attr("is_test", 0) == 0:
        raise Unsupported("is_test=0 (training mode)")
    if n.has_input(2) and bool(np.asarray(n.constant(2, "training_mode")).reshape(-1)[0]):
        raise Unsupported("training_mode=true")
    if n.output_used(1):
        raise Unsupported("the mask output is used")
    return [n.inputs[0], None]
