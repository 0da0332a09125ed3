"""`quantize{wbits=8 abits=8 calib="data.npz"}`: turn a float nn graph into the
integer graph the hardware computes (DESIGN.md, "Numerics").

Scales (all chosen at compile time, rounding half up: `floor(x + 0.5)`):

* activations: symmetric per tensor, narrow range `[-(2^(abits-1)-1), 2^(abits-1)-1]`,
  `s = absmax / (2^(abits-1)-1)` with absmax over the calibration samples (0 -> s = 1);
* weights: symmetric per output channel with `wbits`, `s_w[c] = max|W[c]| / (2^(wbits-1)-1)`;
* accumulators and biases: exact integers at scale `s_x * s_w[c]`, their width
  computed from the value bounds so that overflow is impossible.

Rewrites, in program order:

* `nn.dense` / `nn.conv` -> the same op on integers (the exact accumulator,
  `nn.acc_bits`) + `nn.requant` (per-channel multiplier M < 2^15, one shift
  <= 62; a following `nn.relu` / `nn.clip` is absorbed into its lo/hi);
* `nn.add` / `nn.sub` of two activations -> both multiplied by integers to a
  common fine scale, exact add, requant; with a constant the constant is
  quantized at that fine scale. `nn.mul` -> exact product + requant (a constant
  factor is quantized per tensor with `wbits`); `nn.div` by a constant is a mul;
* `nn.max_pool`, `nn.relu`, `nn.reshape`, `nn.transpose`, `nn.pad` (its value
  quantized) -> unchanged on integers, same scale; `nn.clip` -> requant by 1;
* `nn.average_pool` -> `nn.sum_pool` + requant by 1/window (only when every
  window has the same divisor); `nn.global_average_pool` -> `nn.global_sum_pool`
  + requant;
* `nn.sigmoid`, `nn.tanh`, `nn.leaky_relu` -> `nn.lookup` with a 2^abits-entry table;
* `nn.concat` -> every input requantized to the output scale, then concat;
* `nn.batch_norm` (one fold-batchnorm could not fold) -> per-channel integer
  mul and add + requant;
* a final `nn.softmax` / `nn.log_softmax` over the last axis of a graph output
  is removed and recorded on the result as `nn.host_op` (the host applies it in float).

Graph inputs become `i{abits}` tensors with `nn.scale` on the argument (the host
quantizes `q = clamp(floor(x / s + 0.5), lo, hi)`); results carry `nn.scale`
(the host dequantizes `y = q * s`). A graph output produced by a requant is
`max(abits, 16)` bits wide: a classifier's 8-bit logits often tie at the top,
which alone costs ~2% top-1 agreement, while 16-bit outputs cost nothing inside. Every op producing a quantized activation
carries `nn.scale`; every accumulator-producing op carries `nn.acc_bits`.

Requires: a verified float nn module (`main` with float inputs), ideally after
`fold-batchnorm` and `fold-constants`; conv/dense weights constant. `calib` is
an `.npz` of inputs (keys = graph input names, samples on axis 0; relative
paths against the current directory); without it, 64 random normal samples are
used and a warning is printed. `wbits` in 2..8, `abits` in 2..16.
Guarantees: `main` is entirely integer; weights are `i{wbits}` constants
(inline when small, else new entries of the module's weight store, quantized
one layer at a time in row blocks); `compiler.executor.IntExecutor` runs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    AnyFloat,
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    FunctionType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
    f64,
    i64,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from compiler.calibration import activation_absmax, record_ranges, recorded_ranges
from compiler.numerics import (
    MAX_ACC_BITS, OUTPUT_BITS, batch_norm_affine, check_bits, narrow_limit, quantize_tensor, quantize_weight,
    requant_parameters, round_half_up, scale_from_absmax, width_for,
)
from compiler.errors import HwcError
from compiler.ir import (
    CONSTANT_OPS, constant_value, main_function, make_constant, numpy_dtype, numpy_to_dense, tensor_type,
)
from compiler.weights import INLINE_LIMIT, WeightStore, forget_unused_memory_store, store_for
from dialects import nn
from dialects.nn import ABSMAX_ATTR, ACC_BITS_ATTR, AXIS_ATTR, HOST_OP_ATTR, SCALE_ATTR, SCALE_KEY_ATTR


# --------------------------------------------------------------------------- the rewrite


@dataclass
class QTensor:
    """The integer value standing for a float activation: `float ≈ value * scale`, |value| <= bound."""

    value: SSAValue
    scale: float
    bound: int


LOOKUP_OPS = (nn.SigmoidOp, nn.TanhOp, nn.LeakyReluOp)
"""Unary non-linear ops computed by a lookup table."""


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


@dataclass
class GraphQuantizer:
    """Builds the integer body of `main` from the float one, op by op (see module docstring)."""

    function: FuncOp
    store: WeightStore
    absmax: dict[SSAValue, float]
    wbits: int
    abits: int
    block: Block = field(init=False)
    quantized: dict[SSAValue, QTensor] = field(default_factory=dict)
    constants: dict[SSAValue, np.ndarray] = field(default_factory=dict)
    absorbed: set[Operation] = field(default_factory=set)
    host_ops: dict[SSAValue, str] = field(default_factory=dict)

    @property
    def limit(self) -> int:
        return narrow_limit(self.abits)

    @property
    def activation_type(self) -> IntegerType:
        return IntegerType(self.abits)

    # ------------------------------------------------------------------ driving

    def run(self) -> None:
        old = self.function.body.block
        self.block = Block(arg_types=[self._int_tensor(arg, self.abits) for arg in old.args])
        for arg, new in zip(old.args, self.block.args):
            self.quantized[arg] = QTensor(new, self.scale_of(arg), self.limit)
        for op in list(old.ops):
            if isinstance(op, ReturnOp):
                self._finish(op)
            elif op not in self.absorbed and not isinstance(op, CONSTANT_OPS):
                self._rewrite(op)
        self.function.body.detach_block(old)
        self.function.body.add_block(self.block)
        old.drop_all_references()

    def _rewrite(self, op: Operation) -> None:
        if not any(v in self.quantized for v in op.operands):
            from compiler.executor import evaluate_op

            self.constants[op.results[0]] = evaluate_op(op, [self.const(v) for v in op.operands])
            return
        HANDLERS[type(op)](self, op)

    def _finish(self, ret: ReturnOp) -> None:
        values, attrs = [], []
        old_attrs = self.function.res_attrs.data if self.function.res_attrs else None
        for index, value in enumerate(ret.arguments):
            if value not in self.quantized:
                raise HwcError("quantize: a graph output does not depend on the graph inputs")
            q = self.quantized[value]
            values.append(q.value)
            entries = dict(old_attrs[index].data) if old_attrs else {}
            entries[SCALE_ATTR] = FloatAttr(q.scale, f64)
            if value in self.host_ops:
                entries[HOST_OP_ATTR] = StringAttr(self.host_ops[value])
            attrs.append(DictionaryAttr(entries))
        self.block.add_op(ReturnOp(*values))
        old_args = self.function.arg_attrs.data if self.function.arg_attrs else None
        arg_attrs = []
        for index, arg in enumerate(self.block.args):
            entries = {k: v for k, v in old_args[index].data.items() if k != ABSMAX_ATTR} if old_args else {}
            entries[SCALE_ATTR] = FloatAttr(self.quantized[self.function.body.block.args[index]].scale, f64)
            arg_attrs.append(DictionaryAttr(entries))
        self.function.function_type = FunctionType.from_lists(
            [a.type for a in self.block.args], [v.type for v in values])
        self.function.arg_attrs = ArrayAttr(arg_attrs)
        self.function.res_attrs = ArrayAttr(attrs)

    # ------------------------------------------------------------------ values

    def scale_of(self, value: SSAValue) -> float:
        return scale_from_absmax(self.absmax.get(value, 0.0), self.abits)

    def act(self, value: SSAValue, op: Operation) -> QTensor:
        if value not in self.quantized:
            raise HwcError(f"quantize: {op.name}: operand must be an activation, not a constant")
        return self.quantized[value]

    def const(self, value: SSAValue) -> np.ndarray:
        if value not in self.constants:
            array = constant_value(value, self.store)
            if array is None:
                raise HwcError(f"quantize: {value.owner.name if isinstance(value.owner, Operation) else 'value'} "
                               "is neither a constant nor an activation")
            self.constants[value] = array
        return self.constants[value]

    def is_const(self, value: SSAValue) -> bool:
        return value not in self.quantized

    @staticmethod
    def _int_tensor(value: SSAValue, bits: int) -> TensorType:
        return tensor_type(nn.shape_of(value), IntegerType(bits))

    def emit(self, op: Operation, scale: float | None = None, acc_bits: int | None = None) -> SSAValue:
        if scale is not None:
            op.attributes[SCALE_ATTR] = FloatAttr(scale, f64)
        if acc_bits is not None:
            op.attributes[ACC_BITS_ATTR] = IntegerAttr(acc_bits, i64)
        self.block.add_op(op)
        return op.results[0]

    def emit_constant(self, array: np.ndarray, bits: int, stem: str) -> SSAValue:
        element = IntegerType(bits)
        return self.emit(make_constant(np.asarray(array).astype(numpy_dtype(element)), self.store, stem, element))

    def record_channel_scales(self, constant: Operation, scales: np.ndarray, stem: str) -> None:
        """Note on a weight constant what its integers mean: per output channel
        (axis 0) `real = q * scale[c]`, inline when small, else in the store."""
        scales = np.asarray(scales, np.float64).reshape(-1)
        constant.attributes[AXIS_ATTR] = IntegerAttr(0, i64)
        if scales.size <= INLINE_LIMIT:
            constant.attributes[SCALE_ATTR] = numpy_to_dense(scales, f64)
        else:
            key = self.store.unique_key(stem)
            self.store.add(key, scales)
            constant.attributes[SCALE_KEY_ATTR] = StringAttr(key)

    def accumulator_bits(self, bound: int, op: Operation) -> int:
        bits = width_for(bound)
        if bits > MAX_ACC_BITS:
            raise HwcError(f"quantize: {op.name}: the accumulator would need {bits} bits (at most {MAX_ACC_BITS})")
        return bits

    def emit_int_scalar(self, value: int) -> SSAValue:
        return self.emit_constant(np.array([value]), width_for(abs(value)), "multiplier")

    # ------------------------------------------------------------------ requantization

    def requant(self, acc: SSAValue, acc_scale, axis: int, result: SSAValue, op: Operation) -> None:
        """Requantize `acc` (float value `acc * acc_scale`) into the activation for `result`.

        A following relu/clip that is `result`'s only user is absorbed into lo/hi.
        `acc_scale` is a number or a per-channel vector along `axis`. A graph
        output is requantized to `output_bits` (see `output_bits`), every other
        activation to `abits`.
        """
        final = result
        users = [use.operation for use in result.uses]
        if len(users) == 1 and isinstance(users[0], (nn.ReluOp, nn.ClipOp)):
            final = users[0].results[0]
            self.absorbed.add(users[0])
        bits = self.output_bits if self.is_graph_output(final) else self.abits
        limit = narrow_limit(bits)
        out_scale = scale_from_absmax(self.absmax.get(final, 0.0), bits)
        lo, hi = -limit, limit
        if final is not result:
            lo, hi = self.clamp_bounds(users[0], out_scale, limit)
        ratio = np.atleast_1d(np.asarray(acc_scale, np.float64) / out_scale)
        multipliers, shift = requant_parameters(ratio, op.name)
        rank = len(nn.shape_of(acc))
        axis = axis if multipliers.size > 1 else rank - 1
        multiplier = self.emit_constant(multipliers, 16, "requant.multiplier")
        value = self.emit(nn.RequantOp(
            acc, multiplier, shift=shift, lo=lo, hi=hi, axis=axis,
            result_type=self._int_tensor(acc, bits),
        ), scale=out_scale)
        self.quantized[final] = QTensor(value, out_scale, max(abs(lo), abs(hi)))

    @property
    def output_bits(self) -> int:
        """Width of the graph's outputs: at least 16 bits, so that a classifier's
        logits keep their order (8-bit logits tie and flip the top-1 class)."""
        return max(self.abits, OUTPUT_BITS)

    def is_graph_output(self, value: SSAValue) -> bool:
        """True when `value` is only returned, directly or through a host-side softmax
        (a value the graph also computes on stays `abits` wide)."""
        users = [use.operation for use in value.uses]
        if not users:
            return False
        for user in users:
            if isinstance(user, (nn.SoftmaxOp, nn.LogSoftmaxOp)):
                if not self.is_graph_output(user.results[0]):
                    return False
            elif not isinstance(user, ReturnOp):
                return False
        return True

    def clamp_bounds(self, op: Operation, scale: float, limit: int | None = None) -> tuple[int, int]:
        """lo/hi of an absorbed relu or clip at output `scale`, within ±`limit`."""
        limit = self.limit if limit is None else limit
        if isinstance(op, nn.ReluOp):
            return 0, limit
        assert isinstance(op, nn.ClipOp)
        lo, hi = -limit, limit
        if op.min is not None:
            lo = int(np.clip(round_half_up(op.min.value.data / scale), -limit, limit))
        if op.max is not None:
            hi = int(np.clip(round_half_up(op.max.value.data / scale), -limit, limit))
        return lo, max(lo, hi)

    def same_scale(self, op: Operation, new: Operation, q: QTensor) -> None:
        """Record `new` (already built on integers) as `op`'s result at the input's scale."""
        self.quantized[op.results[0]] = QTensor(self.emit(new, scale=q.scale), q.scale, q.bound)


# --------------------------------------------------------------------------- handlers


def _weight_stem(op: Operation) -> str:
    weight = op.operands[1].owner
    if isinstance(weight, nn.WeightOp):
        return weight.key.data
    return op.name.removeprefix("nn.")


def quantize_linear(g: GraphQuantizer, op: nn.DenseOp | nn.ConvOp) -> None:
    x = g.act(op.input, op)
    if not g.is_const(op.weight) or (op.bias is not None and not g.is_const(op.bias)):
        raise HwcError(f"quantize: {op.name}: the weight and bias must be constants")
    weight_q, weight_scales = quantize_weight(g.const(op.weight), g.wbits)
    acc_scales = x.scale * weight_scales
    row_sums = np.abs(weight_q.reshape(weight_q.shape[0], -1)).sum(axis=1, dtype=np.int64)
    bias_q = None
    if op.bias is not None:
        bias = np.asarray(g.const(op.bias), np.float64)
        bias_q = round_half_up(bias / acc_scales)
        if not np.all(np.abs(bias_q) < 2.0 ** 62):
            raise HwcError(f"quantize: {op.name}: bias is too large for its accumulator scale")
        bias_q = bias_q.astype(np.int64)
    bounds = row_sums * x.bound + (np.abs(bias_q) if bias_q is not None else 0)
    acc_bits = g.accumulator_bits(int(bounds.max(initial=0)), op)
    stem = _weight_stem(op)
    weight = g.emit_constant(weight_q, g.wbits, f"{stem}.q")
    g.record_channel_scales(weight.owner, weight_scales, f"{stem}.scale")
    operands = [x.value, weight]
    if bias_q is not None:
        operands.append(g.emit_constant(bias_q, acc_bits, f"{stem}.bias_q"))
    layer = type(op).create(
        operands=operands, properties=dict(op.properties),
        result_types=[g._int_tensor(op.output, acc_bits)],
    )
    acc = g.emit(layer, acc_bits=acc_bits)
    axis = 1 if isinstance(op, nn.ConvOp) else len(nn.shape_of(op.output)) - 1
    g.requant(acc, acc_scales, axis, op.output, op)


def _fine_scale(g: GraphQuantizer, scales: list[float]) -> tuple[float, list[int]]:
    """A common scale s_c and integers m_i with scales[i] ≈ m_i * s_c (m_i >= 1, no common factor)."""
    fine = max(scales) / 2.0 ** (g.abits + 6)
    multipliers = [max(1, int(round_half_up(s / fine))) for s in scales]
    common = math.gcd(*multipliers)
    return fine * common, [m // common for m in multipliers]


def _scaled(g: GraphQuantizer, q: QTensor, multiplier: int, op: Operation) -> tuple[SSAValue, int]:
    """`q.value * multiplier` (the value itself when the multiplier is 1) and its bound."""
    if multiplier == 1:
        return q.value, q.bound
    bound = q.bound * multiplier
    bits = g.accumulator_bits(bound, op)
    factor = g.emit_int_scalar(multiplier)
    product = g.emit(nn.MulOp(q.value, factor, g._int_tensor(q.value, bits)), acc_bits=bits)
    return product, bound


def quantize_add_sub(g: GraphQuantizer, op: nn.AddOp | nn.SubOp) -> None:
    lhs, rhs = op.lhs, op.rhs
    if g.is_const(lhs) or g.is_const(rhs):
        activation = g.act(rhs if g.is_const(lhs) else lhs, op)
        constant = np.asarray(g.const(lhs if g.is_const(lhs) else rhs), np.float64)
        fine, (multiplier,) = _fine_scale(g, [activation.scale])
        constant_q = round_half_up(constant / fine)
        constant_bound = int(np.abs(constant_q).max(initial=0))
        scaled, bound = _scaled(g, activation, multiplier, op)
        constant_value_ = g.emit_constant(constant_q, g.accumulator_bits(constant_bound, op), "constant.q")
        operands = (constant_value_, scaled) if g.is_const(lhs) else (scaled, constant_value_)
        bound += constant_bound
    else:
        a, b = g.act(lhs, op), g.act(rhs, op)
        fine, (ma, mb) = _fine_scale(g, [a.scale, b.scale])
        (va, ba), (vb, bb) = _scaled(g, a, ma, op), _scaled(g, b, mb, op)
        operands, bound = (va, vb), ba + bb
    bits = g.accumulator_bits(bound, op)
    total = g.emit(type(op)(*operands, g._int_tensor(op.output, bits)), acc_bits=bits)
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
        constant_q, constant_scale = quantize_tensor(constant, g.wbits)
        factor = g.emit_constant(constant_q, g.wbits, "constant.q")
        operands, bound = (activation.value, factor), activation.bound * narrow_limit(g.wbits)
        scale = activation.scale * constant_scale
    else:
        a, b = g.act(lhs, op), g.act(rhs, op)
        operands, bound, scale = (a.value, b.value), a.bound * b.bound, a.scale * b.scale
    bits = g.accumulator_bits(bound, op)
    product = g.emit(nn.MulOp(*operands, g._int_tensor(op.output, bits)), acc_bits=bits)
    g.requant(product, scale, len(nn.shape_of(op.output)) - 1, op.output, op)


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
    value = float(np.clip(round_half_up(op.value.value.data / q.scale), -g.limit, g.limit))
    new = _rebuilt(op, [q.value], _bits_of(q.value))
    new.properties["value"] = nn.float_attr(value)
    g.same_scale(op, new, q)


def quantize_clip(g: GraphQuantizer, op: nn.ClipOp) -> None:
    """A clip on its own: requant by exactly 1 (M = 1, shift 0) with the clip's bounds."""
    q = g.act(op.input, op)
    lo, hi = g.clamp_bounds(op, q.scale)
    multiplier = g.emit_constant(np.array([1]), 16, "requant.multiplier")
    value = g.emit(nn.RequantOp(
        q.value, multiplier, shift=0, lo=lo, hi=hi, axis=len(nn.shape_of(op.input)) - 1,
        result_type=g._int_tensor(op.input, g.abits),
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
    q = g.act(op.input, op)
    divisors = window_divisors(op)
    if len(divisors) != 1:
        raise HwcError(
            "quantize: nn.average_pool whose windows average over different counts "
            "(padding with count_include_pad=0, or ceil_mode) is not supported"
        )
    divisor = divisors.pop()
    bound = q.bound * int(np.prod(op.kernel_shape.get_values()))
    bits = g.accumulator_bits(bound, op)
    sum_pool = _rebuilt(op, [q.value], bits, drop=("count_include_pad",), as_type=nn.SumPoolOp)
    total = g.emit(sum_pool, acc_bits=bits)
    g.requant(total, q.scale / divisor, 1, op.output, op)


def quantize_global_average_pool(g: GraphQuantizer, op: nn.GlobalAveragePoolOp) -> None:
    q = g.act(op.input, op)
    count = int(np.prod(nn.shape_of(op.input)[2:]))
    bits = g.accumulator_bits(q.bound * count, op)
    total = g.emit(nn.GlobalSumPoolOp(q.value, g._int_tensor(op.output, bits)), acc_bits=bits)
    g.requant(total, q.scale / count, 1, op.output, op)


def quantize_lookup(g: GraphQuantizer, op: Operation) -> None:
    """A unary non-linear function as a table over every `abits`-bit input value."""
    q = g.act(op.operands[0], op)
    inputs = np.arange(-(1 << (g.abits - 1)), 1 << (g.abits - 1), dtype=np.float64) * q.scale
    outputs = unary_values(op, inputs)
    scale = g.scale_of(op.results[0])
    table = np.clip(round_half_up(outputs / scale), -g.limit, g.limit)
    table_value = g.emit_constant(table, g.abits, f"lookup.{op.name.removeprefix('nn.')}")
    value = g.emit(nn.LookupOp(q.value, table_value, g._int_tensor(op.results[0], g.abits)), scale=scale)
    g.quantized[op.results[0]] = QTensor(value, scale, g.limit)


def quantize_concat(g: GraphQuantizer, op: nn.ConcatOp) -> None:
    scale = g.scale_of(op.output)
    inputs = []
    for value in op.inputs:
        if g.is_const(value):
            constant = np.clip(round_half_up(np.asarray(g.const(value), np.float64) / scale), -g.limit, g.limit)
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
            result_type=g._int_tensor(value, g.abits),
        ), scale=scale))
    result = nn.ConcatOp(inputs, op.axis.value.data, g._int_tensor(op.output, g.abits))
    g.quantized[op.output] = QTensor(g.emit(result, scale=scale), scale, g.limit)


def quantize_batch_norm(g: GraphQuantizer, op: nn.BatchNormOp) -> None:
    """`x * a + b` per channel: a as ±(2^(wbits-1)-1) at scale |a|/(2^(wbits-1)-1), b at the product's scale."""
    q = g.act(op.input, op)
    scale, bias, mean, var = (np.asarray(g.const(v), np.float64) for v in (op.scale, op.bias, op.mean, op.var))
    factor, offset = batch_norm_affine(scale, bias, mean, var, op.epsilon.value.data)
    limit = narrow_limit(g.wbits)
    factor_scales = np.where(factor != 0, np.abs(factor) / limit, 1.0)
    factor_q = np.sign(factor) * limit
    acc_scales = q.scale * factor_scales
    offset_q = round_half_up(offset / acc_scales)
    rank = len(nn.shape_of(op.input))
    shape = (-1,) + (1,) * (rank - 2)
    product_bits = g.accumulator_bits(q.bound * limit, op)
    factor_value = g.emit_constant(factor_q.reshape(shape), g.wbits, "batch_norm.factor")
    product = g.emit(nn.MulOp(q.value, factor_value, g._int_tensor(op.input, product_bits)), acc_bits=product_bits)
    bound = q.bound * limit + int(np.abs(offset_q).max(initial=0))
    bits = g.accumulator_bits(bound, op)
    offset_value = g.emit_constant(offset_q.reshape(shape), bits, "batch_norm.offset")
    total = g.emit(nn.AddOp(product, offset_value, g._int_tensor(op.input, bits)), acc_bits=bits)
    g.requant(total, acc_scales, 1, op.output, op)


def quantize_softmax(g: GraphQuantizer, op: nn.SoftmaxOp | nn.LogSoftmaxOp) -> None:
    """A classifier's final softmax: removed, recorded for the host on the graph output."""
    q = g.act(op.input, op)
    rank = len(nn.shape_of(op.input))
    users = [use.operation for use in op.output.uses]
    if op.axis.value.data != rank - 1 or not users or not all(isinstance(u, ReturnOp) for u in users):
        raise HwcError(
            f"quantize: {op.name} is supported only as the graph's last op over the last axis "
            "(it then runs on the host)"
        )
    g.quantized[op.output] = q
    g.host_ops[op.output] = "softmax" if isinstance(op, nn.SoftmaxOp) else "log_softmax"


def quantize_relu(g: GraphQuantizer, op: nn.ReluOp) -> None:
    q = g.act(op.input, op)
    g.same_scale(op, nn.ReluOp(q.value), q)


HANDLERS: dict[type[Operation], Callable[[GraphQuantizer, Operation], None]] = {
    nn.DenseOp: quantize_linear, nn.ConvOp: quantize_linear,
    nn.AddOp: quantize_add_sub, nn.SubOp: quantize_add_sub,
    nn.MulOp: quantize_mul_div, nn.DivOp: quantize_mul_div,
    nn.MaxPoolOp: quantize_same_scale, nn.ReshapeOp: quantize_same_scale,
    nn.TransposeOp: quantize_same_scale, nn.ReluOp: quantize_relu, nn.PadOp: quantize_pad,
    nn.ClipOp: quantize_clip, nn.AveragePoolOp: quantize_average_pool,
    nn.GlobalAveragePoolOp: quantize_global_average_pool,
    nn.SigmoidOp: quantize_lookup, nn.TanhOp: quantize_lookup, nn.LeakyReluOp: quantize_lookup,
    nn.ConcatOp: quantize_concat, nn.BatchNormOp: quantize_batch_norm,
    nn.SoftmaxOp: quantize_softmax, nn.LogSoftmaxOp: quantize_softmax,
}
"""How each float op becomes integer ops (a handler appends to the new body)."""


# --------------------------------------------------------------------------- the pass


def check_quantizable(function: FuncOp) -> None:
    """HwcError (one line) unless every input of `function` is a float tensor and
    every op has a handler."""
    block = function.body.block
    unsupported = sorted({
        op.name for op in block.ops
        if not isinstance(op, (ReturnOp, *CONSTANT_OPS)) and type(op) not in HANDLERS
    })
    if unsupported:
        supported = ", ".join(sorted(t.name for t in HANDLERS))
        raise HwcError(f"quantize: unsupported ops {', '.join(unsupported)} (supported: {supported})")
    for arg in block.args:
        if not isinstance(arg.type, TensorType) or not isinstance(arg.type.get_element_type(), AnyFloat):
            raise HwcError(f"quantize: graph input {arg.type} is not a float tensor (already quantized?)")


@dataclass(frozen=True)
class QuantizePass(ModulePass):
    """Quantize `main` to integers with the calibrated scales (see the module docstring)."""

    name = "quantize"

    wbits: int = 8
    abits: int = 8

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        check_bits(self.wbits, self.abits, self.name)
        function = main_function(op)
        check_quantizable(function)
        GraphQuantizer(function, store_for(op), recorded_ranges(op), self.wbits, self.abits).run()
        forget_unused_memory_store(op)


def quantize_with_samples(module: ModuleOp, samples: Mapping[str, np.ndarray],
                          wbits: int = 8, abits: int = 8) -> ModuleOp:
    """`calibrate` on `samples` (keyed by graph input name, samples on axis 0, as
    `compiler.calibration.calibration_samples` gives) then `quantize`, in place;
    the plain Python form of the two passes. Returns `module`."""
    check_bits(wbits, abits, QuantizePass.name)
    record_ranges(module, activation_absmax(module, samples))
    QuantizePass(wbits, abits).apply(Context(), module)
    return module
