"""Normalisations on activations: `LayerNormalization` (as `nn.layer_norm`),
`RMSNormalization` (opset 23, as `nn.rms_norm`), `InstanceNormalization` (a layer norm over the spatial axes, then the
per-channel affine as `nn.mul`/`nn.add`) and `LRN` (as `nn.lrn`). Float level.
"""

from __future__ import annotations

import numpy as np

from compiler.frontend.node import NodeImport, Unsupported
from compiler.frontend.ops.registry import handles
from compiler.frontend.ops.shared import derived, emit_binary
from dialects import nn


@handles("LayerNormalization", note="any axis, epsilon; scale and bias "
                                    "(constants); not the Mean/InvStdDev outputs")
def _layer_norm(n: NodeImport):
    if any(n.output_used(i) for i in (1, 2)):
        raise Unsupported("the Mean or InvStdDev output is used")
    axis = n.axis(n.attr("axis", -1), n.rank(0))
    bias = n.activation(2) if n.has_input(2) else None
    y = n.emit(nn.LayerNormOp(n.activation(0), n.activation(1), bias,
                              axis=axis, epsilon=n.attr("epsilon", 1e-5)))
    return [y, None, None]


@handles("RMSNormalization", note="opset 23; any axis, epsilon, scale (the integer level: over the last axis)")
def _rms_norm(n: NodeImport):
    axis = n.axis(n.attr("axis", -1), n.rank(0))
    return [n.emit(nn.RmsNormOp(n.activation(0), n.activation(1), axis=axis, epsilon=n.attr("epsilon", 1e-5)))]


@handles("InstanceNormalization", note="float level; constant scale and bias (a layer norm "
                                       "over the spatial axes, then the per-channel affine)")
def _instance_norm(n: NodeImport):
    rank = n.rank(0)
    if rank < 3:
        raise Unsupported("the input must be [N, C, spatial...]")
    per_channel = (n.shape(0)[1],) + (1,) * (rank - 2)
    scale, bias = (n.constant_input(i, role) for i, role in ((1, "the scale"), (2, "the bias")))
    one = n.graph.materialise(derived(f"{n.name}_one", (1,), lambda: np.ones(1, np.float32)))
    normalised = n.emit(nn.LayerNormOp(n.activation(0), one, None, axis=2,
                                       epsilon=n.attr("epsilon", 1e-5)))
    scale_c, bias_c = (
        n.graph.materialise(derived(c.name, per_channel,
                                    lambda c=c: np.asarray(c.value(), np.float32).reshape(per_channel)))
        for c in (scale, bias)
    )
    return [emit_binary(n, nn.AddOp, emit_binary(n, nn.MulOp, normalised, scale_c), bias_c)]


@handles("LRN", note="size, alpha, beta, bias (ONNX semantics); `nn.lrn`; on integers over [N, C, H, W]")
def _lrn(n: NodeImport):
    if n.rank(0) < 2:
        raise Unsupported("the input must be [N, C, ...]")
    size = n.attr("size")
    if size is None or size < 1:
        raise Unsupported("size must be a positive integer")
    return [n.emit(nn.LrnOp(n.activation(0), size=size, alpha=n.attr("alpha", 1e-4),
                            beta=n.attr("beta", 0.75), bias=n.attr("bias", 1.0)))]
