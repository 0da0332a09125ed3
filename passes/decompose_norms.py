"""`decompose-norms`: write `nn.rms_norm` and `nn.layer_norm` out as the
element-wise ops and means they name (the inverse of `recognise-norms`).

* `rms_norm(x, w)` -> `x * reciprocal(sqrt(reduce_mean(pow(x, 2)) + eps)) * w`
* `layer_norm(x, s, b)` -> `d / sqrt(reduce_mean(pow(d, 2)) + eps) * s + b` with
  `d = x - reduce_mean(x)`

with the means over axes `axis..rank-1`, keepdims, and `2` and `eps` inline
f32 scalar constants; the last op takes the norm's attributes (its ONNX names). A level that has no kernel for a named norm (the integer
level, later the hardware) can run this first and handle the primitives.

Requires: a float nn module.
Guarantees: no `nn.rms_norm` or `nn.layer_norm` remains; the same function
(up to float rounding: the decomposition is the norm's definition).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier, PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern,
)

from compiler.ir import numpy_to_dense, tensor_type
from dialects import nn


class _Builder:
    """Ops inserted before the norm being decomposed, in order."""

    def __init__(self, rewriter: PatternRewriter, at: Operation):
        self.rewriter, self.at = rewriter, at

    def add(self, op: Operation) -> SSAValue:
        self.rewriter.insert(op, InsertPoint.before(self.at))
        return op.results[0]

    def scalar(self, value: float) -> SSAValue:
        return self.add(nn.ConstantOp(numpy_to_dense(np.array(value, np.float32))))

    def binary(self, op_class, a: SSAValue, b: SSAValue) -> SSAValue:
        shape = np.broadcast_shapes(nn.shape_of(a), nn.shape_of(b))
        return self.add(op_class(a, b, tensor_type(shape, nn.element_type_of(a))))

    def divided_by_rms(self, x: SSAValue, axis: int, epsilon: float, divide: bool) -> SSAValue:
        """`x / sqrt(mean(x²) + eps)` (as a division, or times the reciprocal)."""
        shape = nn.shape_of(x)
        axes = list(range(axis, len(shape)))
        square = self.binary(nn.PowOp, x, self.scalar(2.0))
        mean_type = tensor_type(nn.reduced_shape(shape, axes, True), nn.element_type_of(x))
        mean = self.add(nn.ReduceMeanOp(square, axes, True, mean_type))
        root = self.add(nn.SqrtOp(self.binary(nn.AddOp, mean, self.scalar(epsilon))))
        if divide:
            return self.binary(nn.DivOp, x, root)
        return self.binary(nn.MulOp, x, self.add(nn.ReciprocalOp(root)))


def replace_by(rewriter: PatternRewriter, norm: Operation, y: SSAValue) -> None:
    """Replace `norm` by the last op of its decomposition, which takes its attributes."""
    assert isinstance(y.owner, Operation)
    y.owner.attributes.update(norm.attributes)
    rewriter.replace(norm, [], [y])


class DecomposeRmsNorm(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.RmsNormOp, rewriter: PatternRewriter) -> None:
        build = _Builder(rewriter, op)
        y = build.divided_by_rms(op.input, op.axis.value.data, op.epsilon.value.data, divide=False)
        if op.weight is not None:
            y = build.binary(nn.MulOp, y, op.weight)
        replace_by(rewriter, op, y)


class DecomposeLayerNorm(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.LayerNormOp, rewriter: PatternRewriter) -> None:
        build = _Builder(rewriter, op)
        x, axis = op.input, op.axis.value.data
        shape = nn.shape_of(x)
        axes = list(range(axis, len(shape)))
        mean_type = tensor_type(nn.reduced_shape(shape, axes, True), nn.element_type_of(x))
        centred = build.binary(nn.SubOp, x, build.add(nn.ReduceMeanOp(x, axes, True, mean_type)))
        y = build.divided_by_rms(centred, axis, op.epsilon.value.data, divide=True)
        y = build.binary(nn.MulOp, y, op.scale)
        if op.bias is not None:
            y = build.binary(nn.AddOp, y, op.bias)
        replace_by(rewriter, op, y)


def decompose_norms(module: ModuleOp) -> None:
    """Apply the patterns everywhere in `module`."""
    PatternRewriteWalker(GreedyRewritePatternApplier([DecomposeRmsNorm(), DecomposeLayerNorm()])).rewrite_module(module)


@dataclass(frozen=True)
class DecomposeNormsPass(ModulePass):
    """Write named norms out as primitive nn ops (see the module docstring)."""

    name = "decompose-norms"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        decompose_norms(op)
