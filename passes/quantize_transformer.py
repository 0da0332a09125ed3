"""How the transformer's float ops become integer ops: the `quantize` handlers
for embeddings, norms, products of two activations, masked softmaxes and the
ops that only move or negate values. Each states the integer computation it
writes; `docs/integer-transformers.md` gives the widths.

* `nn.embedding` of token ids (a graph input kept as the integers it is): the
  table quantized per tensor to `abits` at `max|table| / (2^(abits-1)-1)`, the
  lookup unchanged (a ROM with its own scale);
* `nn.matmul` of two activations (Q·Kᵀ, P·V): the exact product (accumulator as
  wide as `inner * bound_a * bound_b` needs) and one requant;
* `nn.masked_softmax` -> `nn.int_softmax` with an exp table of the input scale
  (`EXP_FRACTION_BITS` fraction bits), probabilities at scale 1/(2^(abits-1)-1);
  an `nn.softmax` inside the graph (not the final one, which the host applies)
  the same with every entry kept;
* `nn.rms_norm` / `nn.layer_norm` -> exact sums of squares, `nn.inv_sqrt`, one
  product, the weight's sign, the bias at the accumulator's scale, and one
  per-channel requant (`norm_ops` below);
* `nn.neg`, `nn.slice`, `nn.expand`: the same op on integers, same scale.
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.dialects.builtin import IntegerType, TensorType
from xdsl.ir import Operation, SSAValue

from compiler.errors import HwcError
from compiler.ir import numpy_dtype, tensor_type
from compiler.numerics import (
    MAX_ACC_BITS, WEIGHT_BLOCK_ELEMENTS, narrow_limit, quantize_input, requant_parameters, width_for,
)
from dialects import nn
from passes.quantize_graph import GraphQuantizer, QTensor

EXP_FRACTION_BITS = 15
"""F: the softmax's exp table holds round(2^F * exp(-d * s)), so its first entry is 2^F."""
SOFTMAX_GUARD_BITS = 10
"""The softmax's reciprocal has F + this many fraction bits: p is within 2^-10 of exact before rounding."""
INV_SQRT_BITS = 18
"""The norms' 1/sqrt has at least this many significant bits at the largest sum of squares."""


def quantize_embedding(g: GraphQuantizer, op: nn.EmbeddingOp) -> None:
    if op.ids not in g.indices:
        raise HwcError("quantize: nn.embedding: only tables looked up by the graph's integer inputs are supported")
    table = g.const(op.table)
    absmax = max((float(np.abs(np.asarray(rows, np.float64)).max(initial=0.0)) for rows in row_blocks(table)),
                 default=0.0)
    scale = absmax / g.limit if absmax > 0 else 1.0
    table_q = np.empty(table.shape, numpy_dtype(IntegerType(g.abits)))
    for begin, rows in enumerate_row_blocks(table):
        table_q[begin:begin + len(rows)] = quantize_input(rows, scale, g.abits)
    table_value = g.emit_constant(table_q, g.abits, "embedding.q")
    value = g.emit(nn.EmbeddingOp(g.indices[op.ids], table_value, g.int_tensor(op.output, g.abits)), scale=scale)
    g.quantized[op.output] = QTensor(value, scale, g.limit)


def enumerate_row_blocks(array: np.ndarray):
    """(first row, block) over `array`'s rows, blocks of about WEIGHT_BLOCK_ELEMENTS: a large
    (memory-mapped) table is quantized without float64 copies of all of it."""
    rows = array.shape[0] if array.ndim else 1
    step = max(1, WEIGHT_BLOCK_ELEMENTS // max(1, array.size // max(1, rows)))
    for begin in range(0, rows, step):
        yield begin, array[begin:begin + step]


def row_blocks(array: np.ndarray):
    return (rows for _, rows in enumerate_row_blocks(array))


def quantize_matmul(g: GraphQuantizer, op: nn.MatMulOp) -> None:
    a, b = g.act(op.lhs, op), g.act(op.rhs, op)
    inner = nn.shape_of(op.lhs)[-1]
    bits = g.accumulator_bits(inner * a.bound * b.bound, op)
    product = g.emit(nn.MatMulOp(a.value, b.value, g.int_tensor(op.output, bits)), acc_bits=bits)
    g.requant(product, a.scale * b.scale, len(nn.shape_of(op.output)) - 1, op.output, op)


def exp_table(scale: float, largest_distance: int) -> np.ndarray:
    """round(2^F * exp(-d * scale)) for d = 0.. until it reaches 0 (or `largest_distance`)."""
    distances = np.arange(largest_distance + 1, dtype=np.float64)
    table = np.floor((1 << EXP_FRACTION_BITS) * np.exp(-distances * scale) + 0.5).astype(np.int64)
    zeros = np.flatnonzero(table == 0)
    return table[: zeros[0] + 1] if zeros.size else table


def quantize_masked_softmax(g: GraphQuantizer, op: nn.MaskedSoftmaxOp) -> None:
    _int_softmax(g, op, np.asarray(g.const(op.mask)) != 0)


def quantize_softmax(g: GraphQuantizer, op: nn.SoftmaxOp) -> None:
    """A softmax inside the graph (a final one went to the host): every entry kept."""
    _int_softmax(g, op, np.ones((1,) * len(nn.shape_of(op.input)), bool))


def _int_softmax(g: GraphQuantizer, op: nn.SoftmaxOp | nn.MaskedSoftmaxOp, keep: np.ndarray) -> None:
    x = g.act(op.input, op)
    table = exp_table(x.scale, 2 * x.bound)
    out_max = g.limit
    mask = g.emit_constant(keep.astype(np.int64), 2, "softmax.keep")  # 0 or 1 (signed i1 holds 0, -1)
    table_value = g.emit_constant(table, width_for(int(table.max())), "softmax.exp")
    softmax = nn.IntSoftmaxOp(
        x.value, mask, table_value, axis=op.axis.value.data, shift=EXP_FRACTION_BITS + SOFTMAX_GUARD_BITS,
        out_max=out_max, result_type=g.int_tensor(op.output, g.abits),
    )
    scale = 1.0 / out_max
    g.quantized[op.output] = QTensor(g.emit(softmax, scale=scale), scale, out_max)


def quantize_same_scale_op(g: GraphQuantizer, op: Operation) -> None:
    """Negation, slices, broadcasts: the same op on the integers, same scale (a
    narrow-range value negates without overflow)."""
    q = g.act(op.operands[0], op)
    new = type(op).create(operands=[q.value], properties=dict(op.properties),
                          result_types=[g.int_tensor(op.results[0], q.value.type.get_element_type().width.data)])
    g.same_scale(op, new, q)


# --------------------------------------------------------------------------- norms


def quantize_rms_norm(g: GraphQuantizer, op: nn.RmsNormOp) -> None:
    """y = x·γ/sqrt(mean(x²) + eps) as x·r·sign(γ) requantized by |γ|·sqrt(n)/2^K per channel,
    r = inv_sqrt(Σx² + e), e = max(1, round(eps·n/s²))."""
    x = g.act(op.input, op)
    n = _normalised_size(op)
    squares = _sum_of_squares(g, x.value, x.bound, n, op)
    _normalise(g, op, x.value, x.bound, squares, n * x.bound ** 2, op.epsilon.value.data * n / x.scale ** 2, n)


def quantize_layer_norm(g: GraphQuantizer, op: nn.LayerNormOp) -> None:
    """y = (x - mean)·γ/sqrt(var + eps) + β with c = n·x - Σx (exact), r = inv_sqrt(Σc² + e),
    e = max(1, round(eps·n³/s²)), then as the RMS norm with c for x and β added at the accumulator's scale."""
    x = g.act(op.input, op)
    n = _normalised_size(op)
    rank = len(nn.shape_of(op.input))
    axes = list(range(op.axis.value.data, rank))
    total_bits = g.accumulator_bits(n * x.bound, op)
    total = g.emit(nn.ReduceSumOp(x.value, axes, True, _shaped(g, op.input, axes, total_bits)), acc_bits=total_bits)
    centred_bound = 2 * n * x.bound
    bits = g.accumulator_bits(centred_bound, op)
    scaled = g.emit(nn.MulOp(x.value, g.emit_int_scalar(n), g.int_tensor(op.input, bits)), acc_bits=bits)
    centred = g.emit(nn.SubOp(scaled, total, g.int_tensor(op.input, bits)), acc_bits=bits)
    squares = _sum_of_squares(g, centred, centred_bound, n, op)
    _normalise(g, op, centred, centred_bound, squares, n * centred_bound ** 2,
               op.epsilon.value.data * n ** 3 / x.scale ** 2, n)


def _normalised_size(op: nn.RmsNormOp | nn.LayerNormOp) -> int:
    return int(np.prod(nn.shape_of(op.input)[op.axis.value.data:]))


def _shaped(g: GraphQuantizer, value: SSAValue, axes: list[int], bits: int) -> TensorType:
    """`value`'s integer type with the reduced `axes` kept as 1."""
    shape = [1 if i in axes else d for i, d in enumerate(nn.shape_of(value))]
    return tensor_type(shape, IntegerType(bits))


def _sum_of_squares(g: GraphQuantizer, value: SSAValue, bound: int, n: int, op: Operation) -> SSAValue:
    """Σ value² over the normalised axes, kept (keepdims) for broadcasting."""
    rank = len(nn.shape_of(value))
    axes = list(range(op.axis.value.data, rank))
    bits = g.accumulator_bits(n * bound ** 2, op)
    square = g.emit(nn.MulOp(value, value, g.int_tensor(value, bits)), acc_bits=bits)
    return g.emit(nn.ReduceSumOp(square, axes, True, _shaped(g, value, axes, bits)), acc_bits=bits)


def inv_sqrt_shift(largest: int) -> int:
    """K for r = floor(2^K / sqrt(v)): INV_SQRT_BITS significant bits at the largest v
    (fewer when the product value · r, up to 2^K, would not fit MAX_ACC_BITS)."""
    return min(INV_SQRT_BITS + math.ceil(math.log2(math.sqrt(largest))), MAX_ACC_BITS - 2)


EPSILON_BITS = 8
"""The sum of squares is scaled by 4^P so that the epsilon term has this many integer bits."""
MAX_SQUARES_BITS = 60


def epsilon_scaling(epsilon: float, largest: int) -> tuple[int, int]:
    """(P, round(epsilon · 4^P)): the smallest P >= 0 giving the epsilon term EPSILON_BITS
    bits, as long as `largest · 4^P` fits MAX_SQUARES_BITS; the term is at least 1."""
    power = 0
    while epsilon * 4 ** power < (1 << EPSILON_BITS) and (largest << (2 * power + 2)).bit_length() <= MAX_SQUARES_BITS:
        power += 1
    return power, max(1, math.floor(epsilon * 4 ** power + 0.5))


NORM_BIAS_MARGIN_BITS = 12
"""A norm's output before its bias is added may exceed the output range by this many bits."""


def _normalise(g: GraphQuantizer, op: nn.RmsNormOp | nn.LayerNormOp, value: SSAValue, bound: int,
               squares: SSAValue, largest: int, epsilon: float, n: int) -> None:
    """value · inv_sqrt(squares·4^P + e) · sign(γ), e = round(epsilon·4^P), requantized by
    |γ|·sqrt(n)/2^K per channel (the 4^P cancels: r = 2^(K+P) / sqrt(...)); with a
    bias β, requantized wide, β added at the output scale, clamped.

    |value · r| <= 2^K: value² <= squares (Cauchy–Schwarz), so the product never
    needs more than K + 1 bits."""
    power, epsilon_q = epsilon_scaling(epsilon, largest)
    shift = inv_sqrt_shift(largest + epsilon_q / 4 ** power)
    if power:
        scaled_bits = width_for(largest << (2 * power))
        factor = g.emit_int_scalar(1 << (2 * power))
        squares = g.emit(nn.MulOp(squares, factor, g.int_tensor(squares, scaled_bits)), acc_bits=scaled_bits)
    total = (largest << (2 * power)) + epsilon_q
    sum_bits = width_for(total)
    eps_value = g.emit_constant(np.array([epsilon_q]), width_for(epsilon_q), "norm.epsilon")
    shifted = g.emit(nn.AddOp(squares, eps_value, g.int_tensor(squares, sum_bits)), acc_bits=sum_bits)
    root = g.emit(nn.InvSqrtOp(shifted, shift=shift + power, result_type=g.int_tensor(shifted, shift + 2)))
    bits = g.accumulator_bits(1 << shift, op)
    acc = g.emit(nn.MulOp(value, root, g.int_tensor(op.input, bits)), acc_bits=bits)
    channels = nn.shape_of(op.input)[-1]
    weight = _channel_vector(g, op.operands[1] if len(op.operands) > 1 else None, channels, 1.0, op)
    acc_scales = np.where(weight == 0, 1.0, np.abs(weight)) * math.sqrt(n) / (1 << shift)
    if np.any(weight <= 0):
        sign = g.emit_constant(np.sign(weight).astype(np.int64), 2, "norm.sign")
        acc = g.emit(nn.MulOp(acc, sign, g.int_tensor(op.input, bits)), acc_bits=bits)
    axis = len(nn.shape_of(op.output)) - 1
    bias = getattr(op, "bias", None)
    if bias is None:
        g.requant(acc, acc_scales, axis, op.output, op)
        return
    _requant_plus_bias(g, op, acc, acc_scales, _channel_vector(g, bias, channels, 0.0, op), axis)


def _requant_plus_bias(g: GraphQuantizer, op: Operation, acc: SSAValue, acc_scales: np.ndarray,
                       bias: np.ndarray, axis: int) -> None:
    """requant(acc) to the output scale, `NORM_BIAS_MARGIN_BITS` wider than the output,
    + round(β / s_out), then clamped to the output range (two roundings: within 1 LSB)."""
    final = g.requant_target(op.output)
    bits = g.output_bits if g.is_graph_output(final) else g.abits
    out_scale = g.scale_of_bits(final, bits)
    limit = narrow_limit(bits)
    wide = limit << NORM_BIAS_MARGIN_BITS
    multipliers, shift = requant_parameters(acc_scales / out_scale, op.name)
    multiplier = g.emit_constant(multipliers, 16, "requant.multiplier")
    wide_bits = width_for(wide)
    scaled = g.emit(nn.RequantOp(acc, multiplier, shift=shift, lo=-wide, hi=wide, axis=axis,
                                 result_type=g.int_tensor(op.output, wide_bits)), scale=out_scale)
    offset = np.clip(np.floor(bias / out_scale + 0.5), -wide, wide).astype(np.int64)
    total_bits = width_for(2 * wide)
    total = g.emit(nn.AddOp(scaled, g.emit_constant(offset, wide_bits, "norm.bias"),
                            g.int_tensor(op.output, total_bits)), acc_bits=total_bits)
    one = g.emit_constant(np.array([1]), 16, "requant.multiplier")
    value = g.emit(nn.RequantOp(total, one, shift=0, lo=-limit, hi=limit, axis=axis,
                                result_type=g.int_tensor(op.output, bits)), scale=out_scale)
    g.quantized[final] = QTensor(value, out_scale, limit)


def _channel_vector(g: GraphQuantizer, value: SSAValue | None, channels: int, default: float,
                    op: Operation) -> np.ndarray:
    """A norm's weight or bias as a vector over the last axis (`default` when absent)."""
    if value is None:
        return np.full(channels, default)
    if not g.is_const(value):
        raise HwcError(f"quantize: {op.name}: its weight and bias must be constants")
    data = np.asarray(g.const(value), np.float64)
    if data.size == 1:
        return np.full(channels, float(data.reshape(-1)[0]))
    if data.size != channels:
        raise HwcError(f"quantize: {op.name} over more than the last axis with a weight is not supported")
    return data.reshape(-1)


HANDLERS = {
    nn.EmbeddingOp: quantize_embedding,
    nn.MatMulOp: quantize_matmul,
    nn.MaskedSoftmaxOp: quantize_masked_softmax,
    nn.SoftmaxOp: quantize_softmax,
    nn.RmsNormOp: quantize_rms_norm,
    nn.LayerNormOp: quantize_layer_norm,
    nn.NegOp: quantize_same_scale_op,
    nn.SliceOp: quantize_same_scale_op,
    nn.ExpandOp: quantize_same_scale_op,
}
"""The transformer ops' handlers (merged into `passes.quantize_ops.HANDLERS`)."""
