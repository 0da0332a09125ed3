"""`Reduce*` on activations, normalised to one `nn` form: sorted non-negative
axes and an explicit keepdims.

ONNX spells the axes as an attribute before opset 18 (before opset 13 for
`ReduceSum`) and as an optional constant input from then on. No axes means
every axis, unless `noop_with_empty_axes` (with axes as an input) makes the
node the identity, which is then not emitted at all.
"""

from __future__ import annotations

import numpy as np

from compiler.frontend.node import NodeImport, Unsupported
from compiler.frontend.ops.registry import handles
from dialects import nn
from dialects.nn import reduced_shape

REDUCTIONS = {
    "ReduceSum": nn.ReduceSumOp, "ReduceMean": nn.ReduceMeanOp, "ReduceMax": nn.ReduceMaxOp,
    "ReduceMin": nn.ReduceMinOp, "ReduceProd": nn.ReduceProdOp, "ReduceL1": nn.ReduceL1Op,
    "ReduceL2": nn.ReduceL2Op, "ReduceSumSquare": nn.ReduceSumSquareOp,
    "ReduceLogSum": nn.ReduceLogSumOp, "ReduceLogSumExp": nn.ReduceLogSumExpOp,
}

AXES_INPUT_OPSET = {"ReduceSum": 13}
"""The opset from which the axes are an input rather than an attribute (18 for the others)."""


def reduction_axes(n: NodeImport) -> list[int] | None:
    """The node's axes, sorted, distinct and non-negative; None for the identity
    (`noop_with_empty_axes` with no axes)."""
    rank = n.rank(0)
    if n.opset >= AXES_INPUT_OPSET.get(n.node.op_type, 18):
        given = n.optional_constant(1, "axes")
        axes = [] if given is None else [int(a) for a in np.asarray(given).reshape(-1)]
        if not axes and n.attr("noop_with_empty_axes", 0):
            return None
    else:
        axes = [int(a) for a in n.attr("axes", [])]
    if not axes:
        return list(range(rank))
    normalised = sorted({n.axis(a, rank) for a in axes})
    if len(normalised) != len(axes):
        raise Unsupported(f"axes {axes} repeat an axis")
    return normalised


def _reduction(op_class):
    def handler(n: NodeImport):
        axes = reduction_axes(n)
        if axes is None:
            return [n.inputs[0]]
        keepdims = bool(n.attr("keepdims", 1))
        result_type = n.type(reduced_shape(n.shape(0), axes, keepdims))
        return [n.emit(op_class(n.activation(0), axes, keepdims, result_type))]

    return handler


for _op_type, _op_class in REDUCTIONS.items():
    handles(_op_type, note="float level; axes as attribute or constant input, keepdims, "
                           "noop_with_empty_axes")(_reduction(_op_class))
