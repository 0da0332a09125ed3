"""`fold-batchnorm`: fold inference batch normalisation into the layer before it.

An inference `nn.batch_norm` is an affine map per channel c:

    y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + beta[c]
      = x * f[c] + (beta[c] - mean[c] * f[c]),   f = scale / sqrt(var + eps)

When x is the output of a linear layer with weight W and bias b (0 when
absent), output channel c of the layer scales by f[c] and shifts, so

    W'[c, ...] = W[c, ...] * f[c]        b'[c] = (b[c] - mean[c]) * f[c] + beta[c]

and the layer with W', b' computes y directly.

Rewrites: `nn.batch_norm(L(...))`, where L is
* an `nn.conv` (its output channel axis is 1, BN's axis), or
* an `nn.dense` with a 2-D [N, C] output (its output channel axis is the last
  one, which is BN's axis 1 only at rank 2),
into L' (same op and attributes, weight W', bias b' added when L had none),
provided L's result has no other user, L's weight and bias and the four BN
parameters are constants (`nn.constant` / `nn.weight`), and all are floats.
The arithmetic is done in float64 and rounded once to the weight's type. New
tensors go through `compiler.ir.make_constant` (inline when small, else new
keys in the module's weight store). Constants left unused are erased. Any
other `nn.batch_norm` stays as it is.

Requires: a verified module whose `nn.weight` keys exist in its weight store.
Guarantees: every foldable batch norm is gone; the function's values are
unchanged up to float rounding; the module still verifies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import AnyFloat, ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from compiler.ir import constant_value, make_constant
from compiler.numerics import batch_norm_factor
from compiler.weights import WeightStore, forget_unused_memory_store, store_for
from dialects.nn import BatchNormOp, ConvOp, DenseOp, WeightOp, shape_of
from passes.fold_constants import is_constant


def foldable_producer(bn: BatchNormOp) -> ConvOp | DenseOp | None:
    """The conv/dense layer `bn` can fold into, or None.

    The layer must produce BN's input for BN alone, have its output channels on
    BN's axis 1, and have constant float weight, bias (if any) and BN parameters.
    """
    layer = bn.input.owner
    if isinstance(layer, DenseOp) and len(shape_of(layer.output)) != 2:
        return None
    if not isinstance(layer, ConvOp | DenseOp):
        return None
    if not layer.output.has_one_use():
        return None
    values = [layer.weight, layer.bias, bn.scale, bn.bias, bn.mean, bn.var]
    present = [v for v in values if v is not None]
    if not all(is_constant(v.owner) and _is_float(v) for v in present):
        return None
    return layer


def folded_parameters(
    weight: np.ndarray, bias: np.ndarray | None, scale: np.ndarray, beta: np.ndarray,
    mean: np.ndarray, var: np.ndarray, epsilon: float,
) -> tuple[np.ndarray, np.ndarray]:
    """W' and b' of the layer that includes the batch norm (output channels on axis 0).

    Guarantees: both keep `weight`'s dtype; b' has shape [weight.shape[0]].
    """
    factor = batch_norm_factor(scale, var, epsilon)
    channel_shape = (-1,) + (1,) * (weight.ndim - 1)
    new_weight = weight.astype(np.float64) * factor.reshape(channel_shape)
    old_bias = np.zeros(weight.shape[0]) if bias is None else bias.astype(np.float64)
    new_bias = (old_bias - mean) * factor + beta
    return new_weight.astype(weight.dtype), new_bias.astype(weight.dtype)


@dataclass
class FoldBatchNormIntoLayer(RewritePattern):
    """Replace `batch_norm(conv|dense)` by the conv/dense with folded weight and bias."""

    store: WeightStore

    @op_type_rewrite_pattern
    def match_and_rewrite(self, bn: BatchNormOp, rewriter: PatternRewriter, /):
        layer = foldable_producer(bn)
        if layer is None:
            return
        array = lambda value: constant_value(value, self.store)  # noqa: E731
        bias = None if layer.bias is None else array(layer.bias)
        new_weight, new_bias = folded_parameters(
            array(layer.weight), bias, array(bn.scale), array(bn.bias),
            array(bn.mean), array(bn.var), bn.epsilon.value.data,
        )
        stem = _key_stem(layer)
        weight_type = layer.weight.type
        assert isinstance(weight_type, TensorType)
        element_type = weight_type.get_element_type()
        weight_op = make_constant(new_weight, self.store, f"{stem}.bn_folded", element_type)
        bias_op = make_constant(new_bias, self.store, f"{stem}.bn_folded_bias", element_type)
        new_layer = type(layer).create(
            operands=[layer.input, weight_op.results[0], bias_op.results[0]],
            properties=dict(layer.properties),
            attributes=dict(layer.attributes),
            result_types=[layer.output.type],
        )
        old_constants = [v.owner for v in (layer.weight, layer.bias, bn.scale, bn.bias,
                                           bn.mean, bn.var) if v is not None]
        rewriter.insert([weight_op, bias_op], InsertPoint.before(layer))
        rewriter.replace(bn, new_layer)
        rewriter.erase(layer)
        for constant in dict.fromkeys(old_constants):
            if isinstance(constant, Operation) and not constant.results[0].uses:
                rewriter.erase(constant)


def _is_float(value: SSAValue) -> bool:
    return isinstance(value.type, TensorType) and isinstance(
        value.type.get_element_type(), AnyFloat
    )


def _key_stem(layer: ConvOp | DenseOp) -> str:
    """A weight-store key stem for the layer's new tensors: its weight's key if it has one."""
    weight = layer.weight.owner
    if isinstance(weight, WeightOp):
        return weight.key.data
    return layer.name.removeprefix("nn.")


@dataclass(frozen=True)
class FoldBatchNormPass(ModulePass):
    """Fold batch norms into the conv/dense layer before them (see module docstring)."""

    name = "fold-batchnorm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = store_for(op)
        PatternRewriteWalker(FoldBatchNormIntoLayer(store)).rewrite_module(op)
        forget_unused_memory_store(op)
