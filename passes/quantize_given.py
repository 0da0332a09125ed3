"""The model's own quantization, honoured by `quantize` (docs/prequantized.md).

* Activations: every `nn.fake_quant` result, and a graph input read only by
  `nn.fake_quant`s that agree, has its scale and integer range given
  (`given_activations`); the graph quantizer requantizes straight into them
  (the requant before a fake quant is its requant target) instead of choosing a
  scale from the calibrated range. `quantize_fake_quant` is the handler: the
  value is already there, or one requant (by the ratio of the scales, clamped to
  the given range) brings it there.
* Weights: a dense or conv weight carrying `nn.given_scale` (the importer puts it
  on weights the model gave as integers) is split back into its integers and
  those scales exactly (`given_weights`); `--wbits` does not apply to it. One
  carrying `nn.given_block_scale` (MatMulNBits) keeps its integers under integer
  group scales (`given_block_weights`, an `nn.group_dense`): exactly when the
  block scales are powers of two (MXFP4), else within half a channel step.
* Biases: a float bias beside given weights that is not on the accumulator's grid
  is added at the requant's own precision, as its offset (`off_grid_bias`,
  `offset_requant_plan`, `emit_offset_requant`).

When some activations have given scales and others not (a graph mixing
quantized and float parts), `report_chosen` says in one warning how many
values hwc chose scales for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, IntegerType
from xdsl.dialects.func import FuncOp
from xdsl.ir import BlockArgument, Operation, SSAValue

from compiler.diagnostics import warn
from compiler.numerics import (
    MULTIPLIER_BITS, requant_parameters, requant_rounding, requantize, round_half_up, signed_bits, width_for,
)
from compiler.weight_formats import GIVEN_GROUP_SCALE_BITS, expand_groups, groups_for_scales
from dialects import nn
from passes.quantize_graph import GivenScale, GraphQuantizer, QTensor

SAME_SCALE_OPS = (nn.MaxPoolOp, nn.ReshapeOp, nn.TransposeOp)
"""Ops whose integer result is at their input's scale and within its range."""


def _given_scale(op: nn.FakeQuantOp) -> GivenScale:
    lo, hi = op.levels
    return GivenScale(op.scale.value.data, lo, hi, op.rounding_mode)


def given_activations(function: FuncOp) -> dict[SSAValue, GivenScale]:
    """The activations of `function` whose quantization the model states."""
    given: dict[SSAValue, GivenScale] = {}
    for op in function.body.block.ops:
        if isinstance(op, nn.FakeQuantOp):
            given[op.output] = _given_scale(op)
        if isinstance(op, nn.TruncQuantOp):
            given[op.output] = GivenScale(op.scale.value.data, *op.levels, op.rounding.data)
            given.setdefault(op.input, GivenScale(op.in_scale.value.data, *op.in_levels))
    for arg in function.body.block.args:
        users = [use.operation for use in arg.uses]
        scales = {_given_scale(user) for user in users if isinstance(user, nn.FakeQuantOp)}
        if users and len(scales) == 1 and all(isinstance(user, nn.FakeQuantOp) for user in users):
            given[arg] = scales.pop()
    return given


def states_its_quantization(function: FuncOp) -> bool:
    """True when the model quantizes each of its float inputs and outputs itself (a
    QuantizeLinear / QONNX Quant on each): then its scales need no calibration, and the
    values between them are, as a rule, quantized by the model too (`report_chosen` says
    when some are not)."""
    given = given_activations(function)
    inputs = [arg for arg in function.body.block.args if not isinstance(arg.type.get_element_type(), IntegerType)]
    returned = function.body.block.last_op.operands
    return bool(inputs) and all(arg in given for arg in inputs) and all(value in given for value in returned)


def _range_of(g: GraphQuantizer, value: SSAValue, q: QTensor) -> tuple[int, int] | None:
    """[lo, hi] of the integer activation `q` standing for `value` at `q.scale`: a graph
    input's (the model's range when it gives one), or a requant's at that scale (through
    max pools, reshapes, transposes and relus), else None."""
    if isinstance(q.value, BlockArgument):
        return (g.given[value].lo, g.given[value].hi) if value in g.given else (-q.bound, q.bound)
    owner, relu = q.value.owner, False
    while isinstance(owner, SAME_SCALE_OPS + (nn.ReluOp,)):
        relu |= isinstance(owner, nn.ReluOp)
        owner = owner.operands[0].owner
    if isinstance(owner, nn.RequantOp) and owner.attributes.get(nn.SCALE_ATTR) is not None \
            and owner.attributes[nn.SCALE_ATTR].value.data == q.scale:
        lo, hi = owner.lo.value.data, owner.hi.value.data
        return (max(lo, 0), max(hi, 0)) if relu else (lo, hi)
    return None


def quantize_fake_quant(g: GraphQuantizer, op: nn.FakeQuantOp) -> None:
    """The integers standing for the fake quant's result: its input's when they are
    at its scale and within its range already, else one requant into them."""
    g.quantized[op.output] = _at_given_scale(g, op.input, _given_scale(op), op)


def _at_given_scale(g: GraphQuantizer, value: SSAValue, target: GivenScale, op: Operation) -> QTensor:
    """The integers standing for `value` at `target`'s scale and within its range: the
    value's own when they are so already, else one requant into them."""
    q = g.act(value, op)
    known = _range_of(g, value, q) if q.scale == target.scale else None
    if known is not None and target.lo <= known[0] and known[1] <= target.hi:
        return q
    if q.scale == target.scale:  # a clamp only
        multiplier, shift = g.emit_constant(np.array([1]), MULTIPLIER_BITS, "requant.multiplier"), 0
    else:
        multiplier, shift = g.requant_multiplier(np.array([q.scale / target.scale]), op.results[0], op)
    requant = g.emit(nn.RequantOp(
        q.value, multiplier, shift=shift, lo=target.lo, hi=target.hi, axis=len(nn.shape_of(value)) - 1,
        result_type=g.int_tensor(value, target.bits), rounding=requant_rounding(target.rounding),
    ), scale=target.scale)
    return QTensor(requant, target.scale, target.bound)


def _without_unit_requant(g: GraphQuantizer, op: nn.TruncQuantOp, value: SSAValue) -> SSAValue:
    """`value`, or the input of the requant by exactly 1 that produced it when nothing
    else reads it (a sum pool's sum, already at the Trunc's input scale, clamped to the
    model's input bit width): qonnx's Trunc does not clamp its input, and the
    requant would be one PE for nothing."""
    owner = value.owner
    if not isinstance(owner, nn.RequantOp) or value.uses or not op.input.has_one_use() \
            or owner.offset is not None:
        return value
    multiplier = np.asarray(g.const(owner.multiplier))
    if not np.all(multiplier == 1 << owner.shift.value.data):
        return value
    source, constant = owner.input, owner.multiplier.owner
    owner.detach()
    owner.erase()
    if isinstance(constant, Operation) and not constant.results[0].uses:
        constant.detach()
        constant.erase()
    return source


def quantize_trunc_quant(g: GraphQuantizer, op: nn.TruncQuantOp) -> None:
    """QONNX's Trunc in integers, exactly: its input's integers `t` at `in_scale` (the
    layer before requantizes into them; a sum pool's sum as it is), requantized by
    `2^-k` rounding as the model says (FLOOR, CEIL, ROUND half to even: the requant's
    `rounding`) and the model's clamp."""
    lo, hi = op.in_levels
    t = _at_given_scale(g, op.input, GivenScale(op.in_scale.value.data, lo, hi), op)
    shift = op.shift.value.data
    target = GivenScale(op.scale.value.data, *op.levels, op.rounding.data)
    multiplier = g.emit_constant(np.array([1]), MULTIPLIER_BITS, "requant.multiplier")
    result = g.emit(nn.RequantOp(
        _without_unit_requant(g, op, t.value), multiplier, shift=shift, lo=target.lo, hi=target.hi,
        axis=len(nn.shape_of(op.input)) - 1, result_type=g.int_tensor(op.input, target.bits),
        rounding=requant_rounding(target.rounding),
    ), scale=target.scale)
    g.quantized[op.output] = QTensor(result, target.scale, target.bound)


def given_weights(g: GraphQuantizer, op: nn.DenseOp | nn.ConvOp) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(integers, per-output-channel scales, bits) of a weight the model gave as
    integers, or None. When the float weight is no longer exactly those integers
    times those scales (a float pass changed it), warns and returns None."""
    owner = op.weight.owner
    scales_attr = owner.attributes.get(nn.GIVEN_SCALE_ATTR) if isinstance(owner, Operation) else None
    if not isinstance(scales_attr, DenseIntOrFPElementsAttr):
        return None
    scales = np.asarray(scales_attr.get_values(), np.float64)
    weight = np.asarray(g.const(op.weight))
    shape = (-1,) + (1,) * (weight.ndim - 1)
    codes = np.rint(weight.astype(np.float64) / scales.reshape(shape))
    rebuilt = (codes * scales.reshape(shape)).astype(weight.dtype)
    if not np.array_equal(rebuilt, weight) or np.abs(codes).max(initial=0) >= 2 ** 31:
        warn(f"quantize: {op.name} {_layer_name(op)}: its weights are no longer the model's integers times "
             "its scales; hwc chose their scales")
        return None
    codes = codes.astype(np.int64)
    bits = signed_bits(int(codes.min(initial=0)), int(codes.max(initial=0)))
    return codes, scales, max(2, bits)


def given_block_weights(g: GraphQuantizer, op: nn.DenseOp | nn.ConvOp) \
        -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None:
    """(integers, integer group scales, channel scales, bits, block size) of a dense
    weight the model gave as integers times block scales (MatMulNBits), or None. The
    float block scales become integer group scales under a channel scale
    (`compiler.weight_formats.groups_for_scales`: within half a channel step)."""
    owner = op.weight.owner
    attrs = owner.attributes if isinstance(owner, Operation) else {}
    scales_attr, size_attr = attrs.get(nn.GIVEN_BLOCK_SCALE_ATTR), attrs.get(nn.GIVEN_BLOCK_SIZE_ATTR)
    if not isinstance(op, nn.DenseOp) or not isinstance(scales_attr, DenseIntOrFPElementsAttr) or size_attr is None:
        return None
    size = size_attr.value.data
    weight = np.asarray(g.const(op.weight))
    scales = np.asarray(scales_attr.get_values(), np.float64).reshape(weight.shape[0], -1)
    steps = expand_groups(scales, size, weight.shape[1])
    codes = np.rint(weight.astype(np.float64) / steps)
    if not np.array_equal((codes * steps).astype(weight.dtype), weight):
        warn(f"quantize: {op.name} {_layer_name(op)}: its weights are no longer the model's integers times "
             "its block scales; hwc chose their scales")
        return None
    codes = codes.astype(np.int64)
    groups, channel = power_of_two_groups(scales) or groups_for_scales(scales)
    bits = max(2, signed_bits(int(codes.min(initial=0)), int(codes.max(initial=0))))
    return codes, groups, channel, bits, size


def power_of_two_groups(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Block scales that are all powers of two (MXFP4's E8M0) as exact integer group scales
    `g = 2^(e - e_min)` under the channel scale `2^e_min` (e_min the row's smallest
    exponent), when every row spans at most GIVEN_GROUP_SCALE_BITS - 1 octaves; else None."""
    if not np.all(scales > 0):
        return None
    exponents = np.log2(scales)
    if not np.array_equal(exponents, np.rint(exponents)):
        return None
    lowest = exponents.min(axis=1, keepdims=True)
    if (exponents - lowest).max(initial=0) > GIVEN_GROUP_SCALE_BITS - 1:
        return None
    return (2.0 ** (exponents - lowest)).astype(np.int64), 2.0 ** lowest[:, 0]


OFFSET_MULTIPLIER_BITS = range(24, 32)
"""Multiplier limits (2^24 .. 2^31) `offset_requant_plan` tries, coarsest first: float32's
significand, up to a signed 32-bit constant."""
EXHAUSTIVE_CHECK_LIMIT = 1 << 23
"""`offset_requant_plan` proves its choice on every accumulator value when there are at
most this many (channels x values); beyond, it takes the finest multiplier."""


def off_grid_bias(g: GraphQuantizer, op: nn.DenseOp | nn.ConvOp, acc_scales: np.ndarray) -> np.ndarray | None:
    """The float bias of a layer with given weights when it is not a multiple of the
    accumulator's scale (a bias the model left in float) and the layer's result has a
    scale the model gives, else None: a bias the model quantized at `s_x · s_w` (as
    Brevitas' Int32Bias and onnxruntime do) is exact there, and into a scale hwc chooses
    (MatMulNBits, MXFP4: float activations) hwc rounds a bias as for a float model."""
    if op.bias is None or g.requant_target(op.output) not in g.given:
        return None
    bias = np.asarray(g.const(op.bias), np.float64)
    units = bias / acc_scales
    return None if np.all(np.abs(units - np.rint(units)) < 1e-3) else bias


@dataclass(frozen=True)
class OffsetRequant:
    """A requant into a given scale with the layer's float bias in it: the bias's whole
    accumulator steps `bias_q` (the layer's own bias) and the rest as the requant's
    offset, `acc · M + bias_q · M + offset = acc · M + round(b / s_out · 2^shift)`,
    rounded as the model rounds (`rounding`, `compiler.numerics.requant_rounding`)."""

    bias_q: np.ndarray
    multiplier: np.ndarray
    shift: int
    offset: np.ndarray
    rounding: str


EXACT_ROUNDINGS = {"ROUND": np.rint, "FLOOR": np.floor, "CEIL": np.ceil}


def _offset_requant(acc_scales: np.ndarray, bias: np.ndarray, given: GivenScale, limit: int,
                    what: str) -> OffsetRequant:
    multiplier, shift = requant_parameters(acc_scales / given.scale, what, limit)
    multiplier = np.broadcast_to(multiplier, bias.shape).astype(np.int64)
    total = [int(v) for v in round_half_up(bias / given.scale * 2.0 ** shift)]  # at 2^-shift of a step
    bias_q = np.array([t // int(m) for t, m in zip(total, multiplier)], np.int64)
    offset = np.array([t - int(b) * int(m) for t, b, m in zip(total, bias_q, multiplier)], np.int64)
    return OffsetRequant(bias_q, multiplier, shift, offset, requant_rounding(given.rounding))


def _exact_on_every_accumulator(plan: OffsetRequant, acc_scales: np.ndarray, bias: np.ndarray, given: GivenScale,
                                bound: int) -> bool:
    """True when `requant(acc + bias_q)` with the plan's offset equals the model's exact
    `R((acc · s_acc + b) / s_out)` (R its rounding: half to even, floor or ceil) for every
    accumulator value |acc| <= bound of every channel (both clamped to the output's range)."""
    accs = np.arange(-bound, bound + 1, dtype=np.int64)
    for scale, b, b_q, m, c in zip(acc_scales, bias, plan.bias_q, plan.multiplier, plan.offset):
        ours = requantize(accs + b_q, np.int64(m), plan.shift, given.lo, given.hi, np.int64(c), plan.rounding)
        exact = EXACT_ROUNDINGS[given.rounding]((accs * scale + b) / given.scale)
        if not np.array_equal(ours, np.clip(exact, given.lo, given.hi)):
            return False
    return True


def offset_requant_plan(g: GraphQuantizer, op: nn.DenseOp | nn.ConvOp, acc_scales: np.ndarray,
                        bias: np.ndarray, bound: int) -> OffsetRequant:
    """The requant into the given scale of `op`'s result with its float bias `bias` added
    at the requant's own precision (2^-shift of an output step), the multiplier the
    coarsest of `OFFSET_MULTIPLIER_BITS` at which every accumulator value |acc| <= bound
    of every channel rounds exactly as the model's exact arithmetic does (checked by
    exhaustion); the finest when none does or there are too many values to check.

    Rounding the bias at the accumulator's (often coarse) scale would shift a channel's
    every value by the same fraction of a step and flip every sample whose accumulator
    lands next to a rounding boundary; here it costs no PE: the integer part stays the
    layer's bias, the fraction is the requant's offset."""
    given = g.given[g.requant_target(op.output)]
    acc_scales = np.broadcast_to(np.asarray(acc_scales, np.float64), bias.shape)
    plans = [_offset_requant(acc_scales, bias, given, 1 << bits, op.name) for bits in OFFSET_MULTIPLIER_BITS]
    if acc_scales.size * (2 * bound + 1) > EXHAUSTIVE_CHECK_LIMIT:
        return plans[-1]
    exact = (plan for plan in plans if _exact_on_every_accumulator(plan, acc_scales, bias, given, bound))
    return next(exact, plans[-1])


def emit_offset_requant(g: GraphQuantizer, op: nn.DenseOp | nn.ConvOp, acc: SSAValue, plan: OffsetRequant,
                        axis: int) -> None:
    """The requant of `plan` on the layer's accumulator `acc` (its bias already in), into
    the given scale and range of `op`'s result."""
    given = g.given[g.requant_target(op.output)]
    multiplier = g.emit_constant(plan.multiplier, max(MULTIPLIER_BITS, width_for(int(plan.multiplier.max()))),
                                 "requant.multiplier")
    offset = g.emit_constant(plan.offset, width_for(int(np.abs(plan.offset).max(initial=0))), "requant.offset")
    value = g.emit(nn.RequantOp(acc, multiplier, shift=plan.shift, lo=given.lo, hi=given.hi, axis=axis,
                                result_type=g.int_tensor(acc, given.bits), offset=offset, rounding=plan.rounding),
                   scale=given.scale)
    g.quantized[op.output] = QTensor(value, given.scale, max(-given.lo, given.hi))


def _layer_name(op: Operation) -> str:
    name = op.attributes.get(nn.ONNX_NODE_ATTR)
    return f"'{name.data}'" if name is not None else ""


def report_chosen(g: GraphQuantizer) -> None:
    """One warning when the model gives some scales and hwc chose others."""
    if not g.given or not g.chosen:
        return
    names = [_value_name(v) for v in g.chosen]
    shown = ", ".join(names[:3])
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    warn(f"quantize: the model quantizes only part of the graph; hwc chose the scales of "
         f"{len(names)} float value{'s' if len(names) > 1 else ''} from calibration ({shown}{more})")


def _value_name(value: SSAValue) -> str:
    owner = value.owner
    if isinstance(owner, Operation):
        name = owner.attributes.get(nn.ONNX_TENSOR_ATTR)
        return name.data if name is not None else owner.name
    return "a graph input"
