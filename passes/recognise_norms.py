"""`recognise-norms`: name the RMS norms and layer norms a graph spells out op by op.

Exporters write normalisations element by element: torch's dynamo exporter
writes Llama's RMSNorm as `x * Reciprocal(Sqrt(ReduceMean(Pow(x, 2)) + eps)) *
weight` (its `rsqrt` becomes Reciprocal∘Sqrt, float32 Casts vanish at import),
and older exports write LayerNorm as `ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/
Div/Mul/Add`. The patterns replace each chain by the one op that names it:

* `x * reciprocal(sqrt(reduce_mean(x²) + eps))`, also `x * (1 / sqrt(...))` (the
  classic TorchScript exporter's rsqrt) and `x / sqrt(...)`, with x²
  as `pow(x, 2)` or `x * x`, operands of `mul` and `add` in either order
  -> `nn.rms_norm(x)`;
* `rms_norm(x) * weight` -> `nn.rms_norm(x, weight)` and `layer_norm(x, s) + bias`
  -> `nn.layer_norm(x, s, bias)`, when the norm has no other user and the
  weight or bias is a constant that broadcasts over the normalised axes;
* `rms_norm(x - reduce_mean(x), scale)` over the same axes -> `nn.layer_norm(x,
  scale)` (a layer norm is the RMS norm of the centred value, so the patterns
  above have named `d / sqrt(mean(d²) + eps) * scale` already).

The means must be over trailing axes with keepdims, `eps` and the exponent 2
inline constants of one value. The new op takes the root's ONNX attributes;
ops of the chain left without users are erased.

Requires: a float nn module (as the importer writes it).
Guarantees: the same function (the named op equals its decomposition, see
`dialects/nn/norms.py`); a graph without such chains is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier, PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern,
)

from compiler.ir import dense_to_numpy, is_constant
from dialects import nn


def scalar_constant(value: SSAValue) -> float | None:
    """The value of an inline constant holding exactly one number."""
    owner = value.owner
    if isinstance(owner, nn.ConstantOp):
        array = dense_to_numpy(owner.value)
        if array.size == 1:
            return float(array.reshape(-1)[0])
    return None


def operand_pairs(op: Operation):
    """`(a, b)` and `(b, a)` of a commutative binary op."""
    a, b = op.operands
    return ((a, b), (b, a))


def squared(value: SSAValue) -> SSAValue | None:
    """x when `value` is `pow(x, 2)` or `x * x`."""
    owner = value.owner
    if isinstance(owner, nn.PowOp) and scalar_constant(owner.rhs) == 2.0:
        return owner.lhs
    if isinstance(owner, nn.MulOp) and owner.lhs is owner.rhs:
        return owner.lhs
    return None


def trailing_mean_axis(value: SSAValue) -> int | None:
    """The first axis of a keepdims mean over trailing axes producing `value`."""
    owner = value.owner
    if not isinstance(owner, nn.ReduceMeanOp) or not owner.keepdims.value.data:
        return None
    axes = owner.axis_list()
    rank = len(nn.shape_of(owner.input))
    return axes[0] if axes == tuple(range(axes[0], rank)) else None


@dataclass(frozen=True)
class MeanSquare:
    """`sqrt(reduce_mean(x²) + eps)`: the value squared, the first axis, eps."""

    x: SSAValue
    axis: int
    epsilon: float
    chain: tuple[Operation, ...]


def root_mean_square(value: SSAValue) -> MeanSquare | None:
    """The parts of `sqrt(mean(x²) + eps)` when `value` is one."""
    sqrt = value.owner
    if not isinstance(sqrt, nn.SqrtOp) or not isinstance(sqrt.input.owner, nn.AddOp):
        return None
    add = sqrt.input.owner
    for mean, eps in operand_pairs(add):
        epsilon, axis = scalar_constant(eps), trailing_mean_axis(mean)
        if epsilon is None or axis is None:
            continue
        x = squared(mean.owner.input)
        if x is not None:
            return MeanSquare(x, axis, epsilon, (sqrt, add, mean.owner, mean.owner.input.owner))
    return None


def reciprocal_of(value: SSAValue) -> SSAValue | None:
    """y when `value` is `reciprocal(y)` or `1 / y` (the classic exporter's rsqrt)."""
    owner = value.owner
    if isinstance(owner, nn.ReciprocalOp):
        return owner.input
    if isinstance(owner, nn.DivOp) and scalar_constant(owner.lhs) == 1.0:
        return owner.rhs
    return None


def divided_by_rms(op: Operation) -> tuple[SSAValue, MeanSquare] | None:
    """`(x, stats)` when `op` is `x * reciprocal(sqrt(...))` (or `x * (1 / sqrt(...))`)
    or `x / sqrt(...)` of x's own mean square."""
    if isinstance(op, nn.DivOp):
        stats = root_mean_square(op.rhs)
        return (op.lhs, stats) if stats is not None and stats.x is op.lhs else None
    if isinstance(op, nn.MulOp):
        for x, other in operand_pairs(op):
            root = reciprocal_of(other)
            stats = root_mean_square(root) if root is not None else None
            if stats is not None and stats.x is x:
                return x, MeanSquare(x, stats.axis, stats.epsilon, (other.owner, *stats.chain))
    return None


def replace_chain(rewriter: PatternRewriter, root: Operation, new_op: Operation,
                  chain: tuple[Operation, ...]) -> None:
    """Replace `root` by `new_op` (which takes its attributes); erase the chain's ops
    left without users (users before producers), then the constants they alone used."""
    new_op.attributes.update(root.attributes)
    constants = {id(v.owner): v.owner for op in (root, *chain) for v in op.operands if is_constant(v.owner)}
    rewriter.replace(root, new_op)
    for op in (*chain, *constants.values()):
        if op.parent is not None and all(not result.uses for result in op.results):
            rewriter.erase(op)


class RmsNormPattern(RewritePattern):
    """`x * reciprocal(sqrt(mean(x²) + eps))` or `x / sqrt(...)` -> `nn.rms_norm(x)`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MulOp | nn.DivOp, rewriter: PatternRewriter) -> None:
        found = divided_by_rms(op)
        if found is None:
            return
        x, stats = found
        if op.output.type != x.type:
            return
        replace_chain(rewriter, op, nn.RmsNormOp(x, None, axis=stats.axis, epsilon=stats.epsilon), stats.chain)


class LayerNormPattern(RewritePattern):
    """`rms_norm(x - mean(x), scale)` -> `nn.layer_norm(x, scale)`: the RMS of the
    centred value is the standard deviation (the other patterns have named the rest)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.RmsNormOp, rewriter: PatternRewriter) -> None:
        centred = op.input.owner
        axis = op.axis.value.data
        if op.weight is None or not isinstance(centred, nn.SubOp) or centred.lhs.type != op.input.type:
            return
        x, mean = centred.lhs, centred.rhs
        if trailing_mean_axis(mean) != axis or mean.owner.input is not x:
            return
        if any(use.operation is not op for use in centred.output.uses):
            return
        replace_chain(rewriter, op, nn.LayerNormOp(x, op.weight, None, axis=axis,
                                                   epsilon=op.epsilon.value.data), (centred, mean.owner))


def fits_normalised(value: SSAValue, x: SSAValue, axis: int) -> bool:
    """Whether `value` broadcasts over x's axes `axis..` only (the affine of a norm)."""
    shape, normalised = nn.shape_of(value), nn.shape_of(x)[axis:]
    trimmed = shape[len(shape) - len(normalised):] if len(shape) > len(normalised) else shape
    if any(d != 1 for d in shape[:len(shape) - len(trimmed)]):
        return False
    try:
        return np.broadcast_shapes(trimmed, normalised) == tuple(normalised)
    except ValueError:
        return False


class RmsNormWeightPattern(RewritePattern):
    """`rms_norm(x) * weight` -> `nn.rms_norm(x, weight)` for a constant weight."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MulOp, rewriter: PatternRewriter) -> None:
        for normed, weight in operand_pairs(op):
            norm = normed.owner
            if (isinstance(norm, nn.RmsNormOp) and norm.weight is None and normed.has_one_use()
                    and is_constant(weight.owner) and op.output.type == normed.type
                    and fits_normalised(weight, norm.input, norm.axis.value.data)):
                replace_chain(rewriter, op, nn.RmsNormOp(norm.input, weight, axis=norm.axis.value.data,
                                                         epsilon=norm.epsilon.value.data), (norm,))
                return


class LayerNormBiasPattern(RewritePattern):
    """`layer_norm(x, scale) + bias` -> `nn.layer_norm(x, scale, bias)` for a constant bias."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.AddOp, rewriter: PatternRewriter) -> None:
        for normed, bias in operand_pairs(op):
            norm = normed.owner
            if (isinstance(norm, nn.LayerNormOp) and norm.bias is None and normed.has_one_use()
                    and is_constant(bias.owner) and op.output.type == normed.type
                    and fits_normalised(bias, norm.input, norm.axis.value.data)):
                replace_chain(rewriter, op, nn.LayerNormOp(norm.input, norm.scale, bias, axis=norm.axis.value.data,
                                                           epsilon=norm.epsilon.value.data), (norm,))
                return


def recognise_norms(module: ModuleOp) -> None:
    """Apply the patterns everywhere in `module`, to a fixed point."""
    patterns = [RmsNormPattern(), LayerNormPattern(), RmsNormWeightPattern(), LayerNormBiasPattern()]
    PatternRewriteWalker(GreedyRewritePatternApplier(patterns)).rewrite_module(module)


@dataclass(frozen=True)
class RecogniseNormsPass(ModulePass):
    """Name RMS and layer norms written out op by op (see the module docstring)."""

    name = "recognise-norms"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        recognise_norms(op)
