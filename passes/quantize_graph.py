"""The graph quantizer behind `quantize`: builds the integer body of `main` from
the float one, op by op, keeping for every float activation the integer value
that stands for it (`QTensor`: value, scale, bound).

The handlers of `passes/quantize_ops.py` (one per op family) turn each float
op into integer ops with the helpers here: scales from the recorded ranges,
constants, accumulator widths, and `requant`, the one place an accumulator
becomes an activation. The requant of a value whose only user is a relu or a
clip gets the scale and width of the value after that relu or clip, so that the
`absorb-clamps` patterns can fold the relu or clip into it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    FunctionType,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    f64,
    i64,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Operation, SSAValue

from compiler.errors import HwcError
from compiler.ir import constant_value, is_constant, make_constant, numpy_dtype, numpy_to_dense, tensor_type
from compiler.numerics import (
    FINE_SCALE_BITS, GIVEN_MULTIPLIER_LIMIT, MAX_ACC_BITS, MULTIPLIER_BITS, MULTIPLIER_LIMIT, OUTPUT_BITS, narrow_limit, quantize_input, requant_parameters, requant_rounding, scale_from_absmax, signed_bits,
    few_digit_ratios, width_for,
)
from compiler.weight_formats import LayerNames, WeightFormat, check_overrides_match, format_for
from compiler.weights import INLINE_LIMIT, WeightStore
from dialects import nn
from dialects.nn import ABSMAX_ATTR, ACC_BITS_ATTR, AXIS_ATTR, HOST_OP_ATTR, INPUT_RANGE_ATTR, SCALE_ATTR, SCALE_KEY_ATTR

Handler = Callable[["GraphQuantizer", Operation], None]
"""Appends the integer ops standing for one float op to the quantizer's new body."""


def is_index_input(arg: SSAValue) -> bool:
    """A graph input of integers (token ids): kept as it is, read only by lookups."""
    return isinstance(arg.type, TensorType) and isinstance(arg.type.get_element_type(), IntegerType)


@dataclass
class QTensor:
    """The integer value standing for a float activation: `float ≈ value * scale`, |value| <= bound."""

    value: SSAValue
    scale: float
    bound: int


@dataclass(frozen=True)
class GivenScale:
    """An activation's quantization as the model states it (`nn.fake_quant`):
    `float = value * scale`, value in [lo, hi]."""

    scale: float
    lo: int
    hi: int
    rounding: str = "ROUND"
    """How the model rounds into it: ROUND (half to even), FLOOR or CEIL."""

    @property
    def bits(self) -> int:
        return max(2, signed_bits(self.lo, self.hi))

    @property
    def bound(self) -> int:
        return max(abs(self.lo), abs(self.hi))


@dataclass
class GraphQuantizer:
    """Builds the integer body of `main` from the float one, op by op (see the module docstring)."""

    function: FuncOp
    store: WeightStore
    absmax: dict[SSAValue, float]
    wbits: int
    abits: int
    handlers: Mapping[type[Operation], Handler]
    group_size: int = 0
    overrides: list[tuple[str, WeightFormat]] = field(default_factory=list)
    given: dict[SSAValue, GivenScale] = field(default_factory=dict)
    """Activations whose scale the model gives (`passes/quantize_given.py`); the others get
    scales from their calibrated ranges, and are counted in `chosen`."""
    chosen: list[SSAValue] = field(default_factory=list)
    weight_scales: str = "channel"
    """"tensor": every output channel of a weight layer takes the largest channel scale."""
    requant_digits: int = 0
    """When nonzero, weight layers choose their per-channel scales so that each
    requant multiplier has at most this many signed digits (`few_digit_ratios`)."""
    block: Block = field(init=False)
    layer_names: dict[Operation, LayerNames] = field(default_factory=dict)
    shared: dict[tuple, tuple] = field(default_factory=dict)
    quantized: dict[SSAValue, QTensor] = field(default_factory=dict)
    indices: dict[SSAValue, SSAValue] = field(default_factory=dict)
    constants: dict[SSAValue, np.ndarray] = field(default_factory=dict)

    @property
    def limit(self) -> int:
        return narrow_limit(self.abits)

    @property
    def activation_type(self) -> IntegerType:
        return IntegerType(self.abits)

    # ------------------------------------------------------------------ driving

    def weight_format(self, op: Operation) -> WeightFormat:
        """The format of `op`'s weights: `wbits` / `group_size`, or an override naming the layer."""
        return format_for(self.layer_names[op], WeightFormat(self.wbits, self.group_size), self.overrides)

    def _name_layers(self, block: Block) -> None:
        layers = [op for op in block.ops if isinstance(op, (nn.DenseOp, nn.ConvOp))]
        for ordinal, op in enumerate(layers):
            others = [op.weight.owner.key.data] if isinstance(op.weight.owner, nn.WeightOp) else []
            others += [a.data for key in (nn.ONNX_NODE_ATTR, nn.ONNX_TENSOR_ATTR)
                       if isinstance(a := op.attributes.get(key), StringAttr)]
            self.layer_names[op] = LayerNames(ordinal, len(layers), tuple(others))
        check_overrides_match(self.overrides, list(self.layer_names.values()))

    def run(self) -> None:
        old = self.function.body.block
        self._name_layers(old)
        self.block = Block(arg_types=[arg.type if is_index_input(arg) else self.int_tensor(arg, self.input_bits(arg))
                                      for arg in old.args])
        for arg, new in zip(old.args, self.block.args):
            if is_index_input(arg):
                self.indices[arg] = new
            else:
                bound = self.given[arg].bound if arg in self.given else narrow_limit(self.input_bits(arg))
                self.quantized[arg] = QTensor(new, self.scale_of(arg), bound)
        for op in list(old.ops):
            if isinstance(op, ReturnOp):
                self._finish(op)
            elif not is_constant(op):
                self._rewrite(op)
        self.function.body.detach_block(old)
        self.function.body.add_block(self.block)
        old.drop_all_references()

    def _rewrite(self, op: Operation) -> None:
        if not any(v in self.quantized or v in self.indices for v in op.operands):
            from compiler.executor import evaluate_op

            self.constants[op.results[0]] = evaluate_op(op, [self.const(v) for v in op.operands])
            return
        self.handlers[type(op)](self, op)

    def _finish(self, ret: ReturnOp) -> None:
        values, attrs = [], []
        old_attrs = self.function.res_attrs.data if self.function.res_attrs else None
        for index, value in enumerate(ret.arguments):
            if value not in self.quantized:
                raise HwcError("quantize: a graph output does not depend on the graph inputs")
            q = self.quantized[value]
            values.append(q.value)
            old = old_attrs[index].data if old_attrs else {}
            entries = {k: v for k, v in old.items() if k != HOST_OP_ATTR}
            entries[SCALE_ATTR] = FloatAttr(q.scale, f64)
            if HOST_OP_ATTR in old:
                entries[HOST_OP_ATTR] = old[HOST_OP_ATTR]
            attrs.append(DictionaryAttr(entries))
        self.block.add_op(ReturnOp(*values))
        old_args = self.function.arg_attrs.data if self.function.arg_attrs else None
        arg_attrs = []
        for index, arg in enumerate(self.block.args):
            entries = {k: v for k, v in old_args[index].data.items() if k != ABSMAX_ATTR} if old_args else {}
            old_arg = self.function.body.block.args[index]
            if old_arg in self.quantized:
                entries[SCALE_ATTR] = FloatAttr(self.quantized[old_arg].scale, f64)
            if old_arg in self.given:
                given = self.given[old_arg]
                entries[INPUT_RANGE_ATTR] = numpy_to_dense(np.array([given.lo, given.hi]), i64)
            arg_attrs.append(DictionaryAttr(entries))
        self.function.function_type = FunctionType.from_lists(
            [a.type for a in self.block.args], [v.type for v in values])
        self.function.arg_attrs = ArrayAttr(arg_attrs)
        self.function.res_attrs = ArrayAttr(attrs)

    # ------------------------------------------------------------------ values

    def scale_of(self, value: SSAValue) -> float:
        return self.scale_of_bits(value, self.abits)

    def scale_of_bits(self, value: SSAValue, bits: int) -> float:
        if value in self.given:
            return self.given[value].scale
        if value not in self.chosen:
            self.chosen.append(value)
        return scale_from_absmax(self.absmax[value], bits)

    def input_bits(self, arg: SSAValue) -> int:
        """Width of a float graph input's integers: its given range's, else `abits`."""
        return self.given[arg].bits if arg in self.given else self.abits

    def act(self, value: SSAValue, op: Operation) -> QTensor:
        if value in self.indices:
            raise HwcError(f"quantize: {op.name}: integer graph inputs (token ids) can only be "
                           "looked up in an embedding table")
        if value not in self.quantized:
            raise HwcError(f"quantize: {op.name}: operand must be an activation, not a constant")
        return self.quantized[value]

    def const(self, value: SSAValue) -> np.ndarray:
        """The contents of a constant, kept for the pass unless memory-mapped (a weight
        file's pages then leave memory once its layer is quantized)."""
        if value in self.constants:
            return self.constants[value]
        array = constant_value(value, self.store)
        if array is None:
            raise HwcError(f"quantize: {value.owner.name if isinstance(value.owner, Operation) else 'value'} "
                           "is neither a constant nor an activation")
        if not isinstance(array, np.memmap):
            self.constants[value] = array
        return array

    def is_const(self, value: SSAValue) -> bool:
        return value not in self.quantized

    @staticmethod
    def int_tensor(value: SSAValue, bits: int) -> TensorType:
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
        contents = np.asarray(array).astype(numpy_dtype(element), copy=False)
        return self.emit(make_constant(contents, self.store, stem, element))

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

    def shared_constant(self, key: tuple, make: Callable[[], tuple]) -> tuple:
        """What `make()` gives (an integer constant emitted once, and its scale), made
        once per `key` (e.g. the constant's contents): equal float constants read by
        several ops (RoPE's tables, read by every layer's Q and K) become one integer
        constant, one ROM."""
        if key not in self.shared:
            self.shared[key] = make()
        return self.shared[key]

    def emit_int_scalar(self, value: int) -> SSAValue:
        return self.emit_constant(np.array([value]), width_for(abs(value)), "multiplier")

    # ------------------------------------------------------------------ requantization

    def requant(self, acc: SSAValue, acc_scale, axis: int, result: SSAValue, op: Operation) -> None:
        """Requantize `acc` (float value `acc * acc_scale`) into the activation for `result`.

        `acc_scale` is a number or a per-channel vector along `axis`. The scale
        and width are those of `requant_target(result)`: a graph output is
        requantized to `output_bits`, every other activation to `abits`.
        """
        final, bits, lo, hi, out_scale = self.requant_output(result)
        ratio = np.atleast_1d(np.asarray(acc_scale, np.float64) / out_scale)
        multiplier, shift = self.requant_multiplier(ratio, final, op)
        rank = len(nn.shape_of(acc))
        axis = axis if nn.shape_of(multiplier) != (1,) else rank - 1
        rounding = requant_rounding(self.given[final].rounding) if final in self.given else "half_up"
        value = self.emit(nn.RequantOp(
            acc, multiplier, shift=shift, lo=lo, hi=hi, axis=axis,
            result_type=self.int_tensor(acc, bits), rounding=rounding,
        ), scale=out_scale)
        self.quantized[result] = QTensor(value, out_scale, max(-lo, hi))

    def requant_output(self, result: SSAValue) -> tuple[SSAValue, int, int, int, float]:
        """(target, bits, lo, hi, scale) of the activation a requant into `result` makes."""
        final = self.requant_target(result)
        bits = self.output_bits if self.is_graph_output(final) else self.abits
        lo, hi = -narrow_limit(bits), narrow_limit(bits)
        if final in self.given:
            lo, hi, bits = self.given[final].lo, self.given[final].hi, self.given[final].bits
        return final, bits, lo, hi, self.scale_of_bits(final, bits)

    def weight_scales_for_requant(self, weight_scales: np.ndarray, input_scale: float, result: SSAValue,
                                  op: Operation) -> np.ndarray:
        """`weight_scales` (per output channel, from each channel's absmax) made
        coarser as the options ask: one scale for the layer (`weight_scales`
        "tensor"), and requant multipliers of at most `requant_digits` signed
        digits into `result` (not when the model gives that scale); the same
        array when nothing changes."""
        final, _, _, _, out_scale = self.requant_output(result)
        if self.weight_scales == "tensor" and len(set(weight_scales.tolist())) > 1:
            weight_scales = np.full_like(weight_scales, weight_scales.max())
        if not self.requant_digits or final in self.given:
            return weight_scales
        ratio = input_scale * weight_scales / out_scale
        return weight_scales * (few_digit_ratios(ratio, self.requant_digits, op.name) / ratio)

    def requant_multiplier(self, ratio: np.ndarray, target: SSAValue, op: Operation) -> tuple[SSAValue, int]:
        """The multiplier constant and shift of a requant by `ratio` into `target`:
        float32's precision into a scale the model gives, else hwc's 15 bits."""
        given = target in self.given
        limit = GIVEN_MULTIPLIER_LIMIT if given else MULTIPLIER_LIMIT
        multipliers, shift = requant_parameters(ratio, op.name, limit)
        bits = max(MULTIPLIER_BITS, width_for(int(multipliers.max())))
        return self.emit_constant(multipliers, bits, "requant.multiplier"), shift

    def common_scale_bits(self, result: SSAValue) -> int:
        """The `bits` of `common_scale` for a sum producing `result`: `abits`, or as
        fine as float32's significand when the model gives the sum's scale."""
        if self.requant_target(result) in self.given:
            return GIVEN_MULTIPLIER_LIMIT.bit_length() - 1 - FINE_SCALE_BITS
        return self.abits

    @staticmethod
    def requant_target(result: SSAValue) -> SSAValue:
        """The value a requant producing `result` stands for: the result of
        `result`'s only user when that is a relu or clip (which `absorb-clamps`
        folds into the requant) or the model's own quantization (`nn.fake_quant`,
        which then keeps the value), or the fake quant right after such a relu or
        clip; else `result` itself."""
        users = [use.operation for use in result.uses]
        if len(users) == 1 and isinstance(users[0], (nn.ReluOp, nn.ClipOp)):
            clamped = users[0].results[0]
            after = [use.operation for use in clamped.uses]
            return after[0].results[0] if len(after) == 1 and isinstance(after[0], nn.FakeQuantOp) else clamped
        if len(users) == 1 and isinstance(users[0], nn.FakeQuantOp):
            return users[0].results[0]
        return result

    @property
    def output_bits(self) -> int:
        """Width of the graph's outputs: at least 16 bits, so that a classifier's
        logits keep their order (8-bit logits tie and flip the top-1 class)."""
        return max(self.abits, OUTPUT_BITS)

    @staticmethod
    def is_graph_output(value: SSAValue) -> bool:
        """True when `value` is only returned (a value the graph also computes on
        stays `abits` wide)."""
        users = [use.operation for use in value.uses]
        return bool(users) and all(isinstance(user, ReturnOp) for user in users)

    @staticmethod
    def clip_bounds(op: nn.ClipOp, scale: float, bits: int) -> tuple[int, int]:
        """lo/hi of `op` on `bits`-bit integers at `scale`."""
        limit = narrow_limit(bits)
        lo, hi = -limit, limit
        if op.min is not None:
            lo = int(quantize_input(op.min.value.data, scale, bits))
        if op.max is not None:
            hi = int(quantize_input(op.max.value.data, scale, bits))
        return lo, max(lo, hi)

    def same_scale(self, op: Operation, new: Operation, q: QTensor) -> None:
        """Record `new` (already built on integers) as `op`'s result at the input's scale."""
        self.quantized[op.results[0]] = QTensor(self.emit(new, scale=q.scale), q.scale, q.bound)
