"""How each float op family becomes integer ops: the handlers of `quantize`
(`HANDLERS`, one per op family), each appending to the `GraphQuantizer`'s new
body. The numbers all come from `compiler.numerics`; the module docstring of
`passes/quantize.py` states each rewrite.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, IntegerType, TensorType, f64, i64
from xdsl.ir import Block, Operation, SSAValue

from compiler.diagnostics import warn
from compiler.errors import HwcError
from compiler.ir import tensor_type
from compiler.numerics import (
    batch_norm_affine, common_scale, dot_bounds, narrow_limit, quantize_input, quantize_tensor, quantize_weight,
    requant_parameters, round_half_up, width_for,
)
from compiler.weight_formats import GROUP_SCALE_BITS, WeightFormat, expand_groups, grouped_magnitudes, quantize_groups
from dialects import nn
from passes.quantize_given import (
    emit_offset_requant, given_block_weights, given_weights, off_grid_bias, offset_requant_plan,
    quantize_fake_quant, quantize_trunc_quant,
)
from passes.quantize_graph import GraphQuantizer, Handler, QTensor
from passes.quantize_transformer import HANDLERS as TRANSFORMER_HANDLERS

def unary_values(op: Operation, inputs: np.ndarray) -> np.ndarray:
    """What the float kernel of the unary op `op` computes on the 1-D `inputs`, in float64
    (the kernel runs on an f64 copy of `op` with `op`'s properties)."""
    from compiler.executor import evaluate_op

    vector = TensorType(f64, [inputs.size])
    block = Block(arg_types=[vector])
    probe = type(op).create(operands=[block.args[0]], properties=dict(op.properties), result_types=[vector])
    values = evaluate_op(probe, [np.asarray(inputs, np.float64)])
    probe.drop_all_references()
    return values
def _weight_stem(op: Operation) -> str:
    weight = op.operands[1].owner
    if isinstance(weight, nn.WeightOp):
        return weight.key.data
    return op.name.removeprefix("nn.")


def quantize_linear(g: GraphQuantizer, op: nn.DenseOp | nn.ConvOp) -> None:
    x = g.act(op.input, op)
    if not g.is_const(op.weight) or (op.bias is not None and not g.is_const(op.bias)):
        raise HwcError(f"quantize: {op.name}: the weight and bias must be constants")
    weight_format = g.weight_format(op)
    stem = _weight_stem(op)
    given, blocks = given_weights(g, op), given_block_weights(g, op)
    if given is not None:
        weight_q, weight_scales, bits = given
        weight_format, groups, effective = WeightFormat(bits), None, weight_q
    elif blocks is not None:
        weight_q, groups, weight_scales, bits, size = blocks
        weight_format = WeightFormat(bits, size)
        effective = weight_q * expand_groups(groups, size, weight_q.shape[1])
    elif weight_format.group_size and isinstance(op, nn.DenseOp):
        weight_q, groups, weight_scales = quantize_groups(g.const(op.weight), weight_format.bits,
                                                          weight_format.group_size)
        effective = grouped_magnitudes(weight_q, groups, weight_format.group_size)  # same row sums
    else:
        weight_q, weight_scales = quantize_weight(g.const(op.weight), weight_format.bits)
        cheap_scales = g.weight_scales_for_requant(weight_scales, x.scale, op.output, op)
        if cheap_scales is not weight_scales:
            weight_q, weight_scales = quantize_weight(g.const(op.weight), weight_format.bits, cheap_scales)
        _warn_when_rounded_away(op, g.const(op.weight), weight_q, weight_format.bits)
        groups, effective = None, weight_q
    acc_scales = x.scale * weight_scales
    fine_bias = off_grid_bias(g, op, acc_scales) if given is not None or blocks is not None else None
    plan = None if fine_bias is None else \
        offset_requant_plan(g, op, acc_scales, fine_bias, int(dot_bounds(effective, x.bound).max(initial=0)))
    bias_q = _bias_at(g, op, acc_scales) if plan is None else plan.bias_q if np.any(plan.bias_q) else None
    bounds = dot_bounds(effective, x.bound, bias_q)
    acc_bits = g.accumulator_bits(int(bounds.max(initial=0)), op)
    weight = g.emit_constant(weight_q, weight_format.bits, f"{stem}.q")
    g.record_channel_scales(weight.owner, weight_scales, f"{stem}.scale")
    operands = [x.value, weight]
    if groups is not None:
        group_bits = max(GROUP_SCALE_BITS + 1, width_for(int(np.abs(groups).max())))
        operands.append(g.emit_constant(groups, group_bits, f"{stem}.group_scale"))
    if bias_q is not None:
        operands.append(g.emit_constant(bias_q, acc_bits, f"{stem}.bias_q"))
    result_type = g.int_tensor(op.output, acc_bits)
    if groups is not None:
        layer = nn.GroupDenseOp(*operands[:3], operands[3] if len(operands) > 3 else None,
                                group_size=weight_format.group_size, result_type=result_type)
    else:
        layer = type(op).create(operands=operands, properties=dict(op.properties), result_types=[result_type])
    acc = g.emit(layer, acc_bits=acc_bits)
    axis = 1 if isinstance(op, nn.ConvOp) else len(nn.shape_of(op.output)) - 1
    if plan is not None:
        emit_offset_requant(g, op, acc, plan, axis)
    else:
        g.requant(acc, acc_scales, axis, op.output, op)


ROUNDED_AWAY_WARNING = 0.9
"""The fraction of a layer's nonzero weights rounding to zero above which
`quantize` warns: the layer then passes on little of its input (measured on the
jet MLP at 2 bits: 71-80% per channel, a working model; 83-95% with one scale
per layer, a dead one)."""


def _warn_when_rounded_away(op: nn.DenseOp | nn.ConvOp, weights: np.ndarray, weight_q: np.ndarray, bits: int) -> None:
    """One warning when at least ROUNDED_AWAY_WARNING of the layer's nonzero
    float `weights` quantize to zero."""
    nonzero = np.asarray(weights) != 0
    lost = float(np.mean(weight_q[nonzero] == 0)) if nonzero.any() else 0.0
    if lost >= ROUNDED_AWAY_WARNING:
        node = op.attributes.get(nn.ONNX_NODE_ATTR)
        stored = op.weight.owner
        layer = " ".join([op.name, *([f"'{node.data}'"] if node is not None and node.data else []),
                          *([f"(weights '{stored.key.data}')"] if isinstance(stored, nn.WeightOp) else [])])
        warn(f"quantize: {layer}: {lost:.0%} of its weights round to zero at {bits} bits; the model may compute "
             "little (more bits, or one scale per output channel, keep more; 'hwc verify' measures it)")


def _bias_at(g: GraphQuantizer, op: nn.DenseOp | nn.ConvOp, acc_scales: np.ndarray) -> np.ndarray | None:
    """The bias as integers at the accumulator's per-channel scale (None without one)."""
    if op.bias is None:
        return None
    bias = np.asarray(g.const(op.bias), np.float64)
    bias_q = round_half_up(bias / acc_scales)
    if not np.all(np.abs(bias_q) < 2.0 ** 62):
        raise HwcError(f"quantize: {op.name}: bias is too large for its accumulator scale")
    return bias_q.astype(np.int64)


def _scaled(g: GraphQuantizer, q: QTensor, multiplier: int, op: Operation) -> tuple[SSAValue, int]:
    """`q.value * multiplier` (the value itself when the multiplier is 1) and its bound."""
    if multiplier == 1:
        return q.value, q.bound
    bound = q.bound * multiplier
    bits = g.accumulator_bits(bound, op)
    factor = g.emit_int_scalar(multiplier)
    product = g.emit(nn.MulOp(q.value, factor, g.int_tensor(q.value, bits)), acc_bits=bits)
    return product, bound


def quantize_add_sub(g: GraphQuantizer, op: nn.AddOp | nn.SubOp) -> None:
    lhs, rhs = op.lhs, op.rhs
    if g.is_const(lhs) or g.is_const(rhs):
        activation = g.act(rhs if g.is_const(lhs) else lhs, op)
        constant = np.asarray(g.const(lhs if g.is_const(lhs) else rhs), np.float64)
        fine, (multiplier,) = common_scale([activation.scale], g.common_scale_bits(op.output))
        constant_q = round_half_up(constant / fine)
        constant_bound = int(np.abs(constant_q).max(initial=0))
        scaled, bound = _scaled(g, activation, multiplier, op)
        constant_value_ = g.emit_constant(constant_q, g.accumulator_bits(constant_bound, op), "constant.q")
        operands = (constant_value_, scaled) if g.is_const(lhs) else (scaled, constant_value_)
        bound += constant_bound
    else:
        a, b = g.act(lhs, op), g.act(rhs, op)
        fine, (ma, mb) = common_scale([a.scale, b.scale], g.common_scale_bits(op.output))
        (va, ba), (vb, bb) = _scaled(g, a, ma, op), _scaled(g, b, mb, op)
        operands, bound = (va, vb), ba + bb
    bits = g.accumulator_bits(bound, op)
    total = g.emit(type(op)(*operands, g.int_tensor(op.output, bits)), acc_bits=bits)
    g.requant(total, fine, len(nn.shape_of(op.output)) - 1, op.output, op)


def quantize_mul_div(g: GraphQuantizer, op: nn.MulOp | nn.DivOp) -> None:
    lhs, rhs = op.lhs, op.rhs
    if isinstance(op, nn.DivOp):
        if not g.is_const(rhs) or g.is_const(lhs):
            raise HwcError("quantize: nn.div is supported only as an activation divided by a constant")
        divisor = np.asarray(g.const(rhs), np.float64)
        if np.any(divisor == 0):
            raise HwcError("quantize: nn.div by a constant that contains zero")
    if g.is_const(lhs) or g.is_const(rhs):
        activation = g.act(rhs if g.is_const(lhs) else lhs, op)
        constant = np.asarray(g.const(lhs if g.is_const(lhs) else rhs), np.float64)
        if isinstance(op, nn.DivOp):
            constant = 1.0 / constant
        if constant.size == 1 and float(constant.reshape(-1)[0]) > 0 and \
                nn.shape_of(op.output) == nn.shape_of(activation.value):
            # a positive scalar factor is a change of scale: one requant
            g.requant(activation.value, activation.scale * float(constant.reshape(-1)[0]),
                      len(nn.shape_of(op.output)) - 1, op.output, op)
            return
        bits = max(g.wbits, CONSTANT_FACTOR_BITS)
        key = ("factor", bits, constant.shape, hashlib.sha256(np.ascontiguousarray(constant).tobytes()).hexdigest())
        factor, constant_scale = g.shared_constant(key, lambda: _quantized_factor(g, constant, bits))
        operands, bound = (activation.value, factor), activation.bound * narrow_limit(bits)
        scale = activation.scale * constant_scale
    else:
        a, b = g.act(lhs, op), g.act(rhs, op)
        operands, bound, scale = (a.value, b.value), a.bound * b.bound, a.scale * b.scale
    bits = g.accumulator_bits(bound, op)
    product = g.emit(nn.MulOp(*operands, g.int_tensor(op.output, bits)), acc_bits=bits)
    g.requant(product, scale, len(nn.shape_of(op.output)) - 1, op.output, op)


def _quantized_factor(g: GraphQuantizer, constant: np.ndarray, bits: int) -> tuple[SSAValue, float]:
    constant_q, constant_scale = quantize_tensor(constant, bits)
    return g.emit_constant(constant_q, bits, "constant.q"), constant_scale


CONSTANT_FACTOR_BITS = 8
"""A constant factor of an element-wise product (RoPE's cos/sin tables) is quantized
per tensor to at least this many bits, whatever `wbits` is."""


def _rebuilt(op: Operation, operands: list[SSAValue], bits: int, drop: tuple[str, ...] = (),
             as_type: type[Operation] | None = None) -> Operation:
    """`op`'s kind (or `as_type`) and properties on integer operands, its result `bits` wide."""
    properties = {k: v for k, v in op.properties.items() if k not in drop}
    return (as_type or type(op)).create(
        operands=operands, properties=properties,
        result_types=[tensor_type(nn.shape_of(op.results[0]), IntegerType(bits))],
    )


def _bits_of(value: SSAValue) -> int:
    element = value.type.get_element_type()
    assert isinstance(element, IntegerType)
    return element.width.data


def quantize_same_scale(g: GraphQuantizer, op: Operation) -> None:
    """Max pool, relu, reshape, transpose: the same op on integers, same scale."""
    q = g.act(op.operands[0], op)
    g.same_scale(op, _rebuilt(op, [q.value], _bits_of(q.value)), q)


def quantize_pad(g: GraphQuantizer, op: nn.PadOp) -> None:
    q = g.act(op.input, op)
    value = float(quantize_input(op.value.value.data, q.scale, g.abits))
    new = _rebuilt(op, [q.value], _bits_of(q.value))
    new.properties["value"] = nn.float_attr(value)
    g.same_scale(op, new, q)


def quantize_clip(g: GraphQuantizer, op: nn.ClipOp) -> None:
    """A clip: requant by exactly 1 (M = 1, shift 0) with the clip's bounds, as
    wide as its input (`absorb-clamps` folds it into a requant before it)."""
    q = g.act(op.input, op)
    bits = _bits_of(q.value)
    lo, hi = g.clip_bounds(op, q.scale, bits)
    multiplier = g.emit_constant(np.array([1]), 16, "requant.multiplier")
    value = g.emit(nn.RequantOp(
        q.value, multiplier, shift=0, lo=lo, hi=hi, axis=len(nn.shape_of(op.input)) - 1,
        result_type=g.int_tensor(op.input, bits),
    ), scale=q.scale)
    g.quantized[op.output] = QTensor(value, q.scale, max(abs(lo), abs(hi)))


def window_divisors(op: nn.AveragePoolOp) -> set[int]:
    """The distinct divisors an average pool uses (ONNX count_include_pad rules)."""
    shape = nn.shape_of(op.input)
    kernel, strides = op.kernel_shape.get_values(), op.strides.get_values()
    pads = op.pads.get_values()
    rank = len(kernel)
    dilations = op.dilations.get_values() if op.dilations is not None else (1,) * rank
    include_pad = bool(op.count_include_pad.value.data)
    counts = np.ones((), np.int64)
    for i, out in enumerate(nn.shape_of(op.output)[2:]):
        low, high = (-pads[i], shape[2 + i] + pads[rank + i]) if include_pad else (0, shape[2 + i])
        taps = np.arange(out)[:, None] * strides[i] - pads[i] + np.arange(kernel[i])[None, :] * dilations[i]
        counts = np.multiply.outer(counts, ((taps >= low) & (taps < high)).sum(axis=1))
    return {int(c) for c in np.unique(counts)}


def quantize_average_pool(g: GraphQuantizer, op: nn.AveragePoolOp) -> None:
    """A sum pool, requantized by 1/window; when the windows divide by different
    counts n (count_include_pad = 0 at a padded border), the sum pool multiplies each
    window's sum by L/n (`nn.sum_pool`'s `average_times`, L the counts' least common
    multiple) and the requant divides by L."""
    q = g.act(op.input, op)
    divisors = window_divisors(op)
    varying = len(divisors) > 1
    if varying and op.count_include_pad.value.data:
        raise HwcError("quantize: nn.average_pool whose padded windows average over different counts "
                       "(count_include_pad=1 with ceil_mode) is not supported")
    divisor = math.lcm(*divisors)
    bound = q.bound * (divisor if varying else int(np.prod(op.kernel_shape.get_values())))
    bits = g.accumulator_bits(bound, op)
    sum_pool = _rebuilt(op, [q.value], bits, drop=("count_include_pad",), as_type=nn.SumPoolOp)
    if varying:
        sum_pool.properties["average_times"] = IntegerAttr(divisor, i64)
    total = g.emit(sum_pool, acc_bits=bits)
    g.requant(total, q.scale / divisor, 1, op.output, op)


def quantize_global_average_pool(g: GraphQuantizer, op: nn.GlobalAveragePoolOp) -> None:
    q = g.act(op.input, op)
    count = int(np.prod(nn.shape_of(op.input)[2:]))
    bits = g.accumulator_bits(q.bound * count, op)
    total = g.emit(nn.GlobalSumPoolOp(q.value, g.int_tensor(op.output, bits)), acc_bits=bits)
    g.requant(total, q.scale / count, 1, op.output, op)


def quantize_lookup(g: GraphQuantizer, op: Operation) -> None:
    """A unary non-linear function as a table over every `abits`-bit input value."""
    q = g.act(op.operands[0], op)
    inputs = np.arange(-(1 << (g.abits - 1)), 1 << (g.abits - 1), dtype=np.float64) * q.scale
    outputs = unary_values(op, inputs)
    scale = g.scale_of(op.results[0])
    table = quantize_input(outputs, scale, g.abits)
    table_value = g.emit_constant(table, g.abits, f"lookup.{op.name.removeprefix('nn.')}")
    value = g.emit(nn.LookupOp(q.value, table_value, g.int_tensor(op.results[0], g.abits)), scale=scale)
    g.quantized[op.results[0]] = QTensor(value, scale, g.limit)


def quantize_concat(g: GraphQuantizer, op: nn.ConcatOp) -> None:
    scale = g.scale_of(op.output)
    inputs = []
    for value in op.inputs:
        if g.is_const(value):
            constant = quantize_input(g.const(value), scale, g.abits)
            inputs.append(g.emit_constant(constant, g.abits, "concat.constant"))
            continue
        q = g.act(value, op)
        if q.scale == scale and q.bound <= g.limit:
            inputs.append(q.value)
            continue
        multipliers, shift = requant_parameters(np.array([q.scale / scale]), op.name)
        multiplier = g.emit_constant(multipliers, 16, "requant.multiplier")
        inputs.append(g.emit(nn.RequantOp(
            q.value, multiplier, shift=shift, lo=-g.limit, hi=g.limit, axis=op.axis.value.data,
            result_type=g.int_tensor(value, g.abits),
        ), scale=scale))
    result = nn.ConcatOp(inputs, op.axis.value.data, g.int_tensor(op.output, g.abits))
    g.quantized[op.output] = QTensor(g.emit(result, scale=scale), scale, g.limit)


def quantize_batch_norm(g: GraphQuantizer, op: nn.BatchNormOp) -> None:
    """`x * a + b` per channel: a as ±(2^(wbits-1)-1) at scale |a|/(2^(wbits-1)-1), b at the product's scale."""
    q = g.act(op.input, op)
    scale, bias, mean, var = (np.asarray(g.const(v), np.float64) for v in (op.scale, op.bias, op.mean, op.var))
    factor, offset = batch_norm_affine(scale, bias, mean, var, op.epsilon.value.data)
    limit = narrow_limit(g.wbits)
    factor_q, factor_scales = quantize_weight(factor.reshape(-1, 1), g.wbits)
    acc_scales = q.scale * factor_scales
    offset_q = round_half_up(offset / acc_scales)
    rank = len(nn.shape_of(op.input))
    shape = (-1,) + (1,) * (rank - 2)
    product_bits = g.accumulator_bits(q.bound * limit, op)
    factor_value = g.emit_constant(factor_q.reshape(shape), g.wbits, "batch_norm.factor")
    product = g.emit(nn.MulOp(q.value, factor_value, g.int_tensor(op.input, product_bits)), acc_bits=product_bits)
    bound = q.bound * limit + int(np.abs(offset_q).max(initial=0))
    bits = g.accumulator_bits(bound, op)
    offset_value = g.emit_constant(offset_q.reshape(shape), bits, "batch_norm.offset")
    total = g.emit(nn.AddOp(product, offset_value, g.int_tensor(op.input, bits)), acc_bits=bits)
    g.requant(total, acc_scales, 1, op.output, op)


def refuse_softmax(g: GraphQuantizer, op: nn.LogSoftmaxOp) -> None:
    """A log-softmax that `softmax-to-host` left in the graph: not supported on integers."""
    raise HwcError(
        f"quantize: {op.name} is supported only as the graph's last op over the last axis "
        "(trailing axes of size 1 aside; it then runs on the host)"
    )


def quantize_relu(g: GraphQuantizer, op: nn.ReluOp) -> None:
    q = g.act(op.input, op)
    g.same_scale(op, nn.ReluOp(q.value), q)


HANDLERS: dict[type[Operation], Handler] = {
    nn.DenseOp: quantize_linear, nn.ConvOp: quantize_linear,
    nn.AddOp: quantize_add_sub, nn.SubOp: quantize_add_sub,
    nn.MulOp: quantize_mul_div, nn.DivOp: quantize_mul_div,
    nn.MaxPoolOp: quantize_same_scale, nn.ReshapeOp: quantize_same_scale,
    nn.TransposeOp: quantize_same_scale, nn.ReluOp: quantize_relu, nn.PadOp: quantize_pad,
    nn.ClipOp: quantize_clip, nn.AveragePoolOp: quantize_average_pool,
    nn.GlobalAveragePoolOp: quantize_global_average_pool,
    nn.SigmoidOp: quantize_lookup, nn.TanhOp: quantize_lookup, nn.LeakyReluOp: quantize_lookup,
    nn.ConcatOp: quantize_concat, nn.BatchNormOp: quantize_batch_norm,
    nn.LogSoftmaxOp: refuse_softmax,
    nn.SiluOp: quantize_lookup, nn.GeluOp: quantize_lookup,
    nn.FakeQuantOp: quantize_fake_quant,
    nn.TruncQuantOp: quantize_trunc_quant,
    **TRANSFORMER_HANDLERS,
}
"""How each float op becomes integer ops (a handler appends to the new body)."""


def lrn_window(channels: int, size: int) -> np.ndarray:
    """The 0/1 band `[C, C, 1, 1]` whose row c sums channels c - (size-1)//2 ..
    c + size - 1 - (size-1)//2 (those that exist), ONNX LRN's window as a 1×1 conv."""
    before = (size - 1) // 2
    rows, cols = np.arange(channels)[:, None], np.arange(channels)[None, :]
    band = (cols >= rows - before) & (cols <= rows + size - 1 - before)
    return band.astype(np.int64).reshape(channels, channels, 1, 1)


def quantize_lrn(g: GraphQuantizer, op: nn.LrnOp) -> None:
    """LRN on integers (docs/operators.md, "LRN on integers"): with `x ≈ q·s`, L the
    activation limit and B = |q|'s bound, `S = Σ_window q²` (an nn.mul and a 1×1
    nn.conv with a 0/1 band, S <= size·B²), `t = requant(S)` at scale
    `size·B·s²` (so t <= B without clipping), `f = table[t]`, the table holding
    `(bias + alpha/size · t·size·B·s²)^(-beta)` at scale `max f / L`, and
    `y = requant(q · f)` at the output's calibrated scale."""
    shape = nn.shape_of(op.input)
    if len(shape) != 4:
        raise HwcError(f"quantize: nn.lrn over a rank-{len(shape)} tensor (the integer LRN takes [N, C, H, W])")
    q = g.act(op.input, op)
    size = op.size.value.data
    alpha, beta, bias = (getattr(op, name).value.data for name in ("alpha", "beta", "bias"))
    square_bits = g.accumulator_bits(q.bound * q.bound, op)
    square = g.emit(nn.MulOp(q.value, q.value, g.int_tensor(op.input, square_bits)), acc_bits=square_bits)
    window = g.emit_constant(lrn_window(shape[1], size), 2, "lrn.window")
    sum_bits = g.accumulator_bits(size * q.bound * q.bound, op)
    total = g.emit(nn.ConvOp(square, window, None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
                             group=1, result_type=g.int_tensor(op.input, sum_bits)), acc_bits=sum_bits)
    t_scale = size * q.bound * q.scale * q.scale
    multipliers, shift = requant_parameters(np.array([q.scale * q.scale / t_scale]), op.name)
    t = g.emit(nn.RequantOp(total, g.emit_constant(multipliers, 16, "requant.multiplier"), shift=shift,
                            lo=-g.limit, hi=g.limit, axis=3, result_type=g.int_tensor(op.input, g.abits)),
               scale=t_scale)
    entries = np.arange(-(1 << (g.abits - 1)), 1 << (g.abits - 1), dtype=np.float64)
    factors = (bias + alpha / size * np.maximum(entries, 0) * t_scale) ** -beta
    f_scale = float(factors.max()) / g.limit
    table = g.emit_constant(quantize_input(factors, f_scale, g.abits), g.abits, "lookup.lrn")
    f = g.emit(nn.LookupOp(t, table, g.int_tensor(op.input, g.abits)), scale=f_scale)
    product_bits = g.accumulator_bits(q.bound * g.limit, op)
    product = g.emit(nn.MulOp(q.value, f, g.int_tensor(op.input, product_bits)), acc_bits=product_bits)
    g.requant(product, q.scale * f_scale, 3, op.output, op)


HANDLERS[nn.LrnOp] = quantize_lrn
