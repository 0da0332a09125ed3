"""Attention (ONNX opset 23), written out as the `nn` ops an exporter writes for
scaled dot-product attention op by op, so that every later pass (the sequence
analysis of `sequence-to-stream` included) sees the familiar form:

    y = where(isnan(p), 0, p) @ v,  p = softmax(q·√s @ (kᵀ·√s) + bias)

with s the scale (default 1/√head_size), K and V repeated over the query heads
they serve (grouped-query attention: query head i reads KV head i // (q_heads /
kv_heads)), the optional softcap `c·tanh(x / c)` before the bias, and the bias the
sum of `attn_mask` (boolean: 0 where set, -inf elsewhere; or added as it is) and,
with `is_causal`, -inf above the diagonal. The NaN guard makes a fully masked row
0, as ONNX specifies. 3-D inputs ([B, S, heads·size], `q_num_heads` and
`kv_num_heads` given) are split into heads first and joined after.
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.dialects.builtin import AnyFloat, IntegerAttr, i64
from xdsl.ir import SSAValue

from compiler.frontend.loader import Constant
from compiler.frontend.node import NodeImport, Unsupported, shape
from compiler.frontend.ops.indexing import emit_reshape
from compiler.frontend.ops.matmul import emit_matmul
from compiler.frontend.ops.registry import handles
from compiler.frontend.ops.shared import derived, emit_binary, typed
from dialects import nn


@handles("Attention", note="float level (opset 23); 3-D or 4-D Q, K, V; grouped KV heads; scale, "
                           "is_causal, softcap; attn_mask boolean or additive, constant or activation; "
                           "present_key/present_value without a past; no past_key/past_value, "
                           "nonpad_kv_seqlen or qk_matmul_output")
def _attention(n: NodeImport):
    if any(n.has_input(i) for i in (4, 5, 6)):
        raise Unsupported("past_key/past_value and nonpad_kv_seqlen inputs (a cache fed from outside)")
    if n.output_used(3):
        raise Unsupported("the qk_matmul_output output")
    q, k, v = _heads(n, 0, "q_num_heads"), _heads(n, 1, "kv_num_heads"), _heads(n, 2, "kv_num_heads")
    (batch, q_heads, length, size), kv_heads = shape(q), shape(k)[1]
    if q_heads % kv_heads or shape(v)[1] != kv_heads or shape(k)[2] != shape(v)[2]:
        raise Unsupported(f"query heads {q_heads} are not a multiple of KV heads {kv_heads} (or K and V differ)")
    root = n.graph.materialise(Constant.of(f"{n.name}_root_scale", np.float32(
        math.sqrt(float(n.attr("scale", 1.0 / math.sqrt(size)))))))
    keys = _repeated(n, k, q_heads // kv_heads)
    keys_t = n.emit(nn.TransposeOp(keys, [0, 1, 3, 2], typed(np.array(shape(keys))[[0, 1, 3, 2]], keys)))
    scores = emit_matmul(n, emit_binary(n, nn.MulOp, q, root), emit_binary(n, nn.MulOp, keys_t, root))
    scores = _softcapped(n, scores, float(n.attr("softcap", 0.0)))
    bias = _bias(n, shape(scores))
    if bias is not None:
        scores = emit_binary(n, nn.AddOp, scores, bias)
    weights = n.emit(nn.SoftmaxOp(scores, axis=IntegerAttr(3, i64)))
    if bias is not None:
        zero = n.graph.materialise(Constant.of(f"{n.name}_zero", np.float32(0.0)))
        weights = n.emit(nn.WhereOp(n.emit(nn.IsNanOp(weights)), zero, weights, weights.type))
    y = emit_matmul(n, weights, _repeated(n, v, q_heads // kv_heads))
    if len(n.shape(0)) == 3:
        y = n.emit(nn.TransposeOp(y, [0, 2, 1, 3], typed((batch, length, q_heads, shape(y)[3]), y)))
        y = emit_reshape(n, y, (batch, length, q_heads * shape(y)[3]))
    return [y, k, v, None]


def _heads(n: NodeImport, index: int, heads_attr: str) -> SSAValue:
    """Input `index` as [B, heads, S, size]: 4-D as it is, 3-D split by the heads attribute."""
    x = n.activation(index)
    if len(shape(x)) == 4:
        return x
    heads = int(n.attr(heads_attr, 0))
    if len(shape(x)) != 3 or heads < 1 or shape(x)[2] % heads:
        raise Unsupported(f"Q, K and V must be 4-D, or 3-D with {heads_attr} dividing their last axis")
    batch, length, hidden = shape(x)
    split = emit_reshape(n, x, (batch, length, heads, hidden // heads))
    return n.emit(nn.TransposeOp(split, [0, 2, 1, 3], typed((batch, heads, length, hidden // heads), x)))


def _repeated(n: NodeImport, x: SSAValue, times: int) -> SSAValue:
    """[B, h, L, d] -> [B, h·times, L, d], each head `times` times in a row."""
    if times == 1:
        return x
    batch, heads, length, size = shape(x)
    grouped = emit_reshape(n, x, (batch, heads, 1, length, size))
    expanded = n.emit(nn.ExpandOp(grouped, typed((batch, heads, times, length, size), x)))
    return emit_reshape(n, expanded, (batch, heads * times, length, size))


def _softcapped(n: NodeImport, scores: SSAValue, cap: float) -> SSAValue:
    if cap <= 0:
        return scores
    cap_value = n.graph.materialise(Constant.of(f"{n.name}_softcap", np.float32(cap)))
    squashed = n.emit(nn.TanhOp(emit_binary(n, nn.DivOp, scores, cap_value)))
    return emit_binary(n, nn.MulOp, squashed, cap_value)


def _bias(n: NodeImport, scores: tuple[int, ...]) -> SSAValue | None:
    """The additive mask: attn_mask (a boolean one as 0 / -inf) plus the causal mask."""
    queries, keys = scores[2], scores[3]
    causal = (np.where(np.tril(np.ones((queries, keys), bool)), 0, -np.inf).astype(np.float32)
              if n.attr("is_causal", 0) else None)
    if not n.has_input(3):
        return None if causal is None else n.graph.materialise(derived(f"{n.name}_causal", causal.shape,
                                                                       lambda: causal))
    mask = n.inputs[3]
    if not np.broadcast_shapes(shape(mask), scores) == scores:
        raise Unsupported(f"attn_mask {list(shape(mask))} does not broadcast to the scores {list(scores)}")
    if isinstance(mask, Constant):
        additive = _additive(np.asarray(mask.value()))
        total = additive if causal is None else additive + causal
        return n.graph.materialise(derived(f"{n.name}_mask", total.shape, lambda: total))
    bias = _additive_activation(n, mask)
    if causal is None:
        return bias
    return emit_binary(n, nn.AddOp, bias, n.graph.materialise(derived(f"{n.name}_causal", causal.shape,
                                                                      lambda: causal)))


def _additive(mask: np.ndarray) -> np.ndarray:
    if mask.dtype == np.bool_:
        return np.where(mask, 0, -np.inf).astype(np.float32)
    return mask.astype(np.float32)


def _additive_activation(n: NodeImport, mask: SSAValue) -> SSAValue:
    if not isinstance(mask.type.get_element_type(), AnyFloat):
        raise Unsupported("an attn_mask computed in the graph must be float (added to the scores)")
    return mask
