"""
The `nn` dialect: tensor-level neural-network operations with ONNX semantics.

Every op works on builtin tensors. Before `quantize` the element type is a float
(f32); afterwards the same ops run on integer tensors. The importer normalises
ONNX's many spellings into one form per op:

* `nn.dense` is `Y = X · Wᵀ + b` with `W` laid out `[out, in]` (Gemm's transA,
  transB, alpha and beta, and MatMul+Add, are folded into this form);
* `nn.conv`, `nn.max_pool` and `nn.average_pool` carry explicit `pads`
  (`[begin..., end...]`, ONNX order); `auto_pad` never reaches the dialect;
* activation tensors are NCHW (ONNX order); batch is axis 0.

Constants are either inline (`nn.constant dense<...>`) or a reference into the
module's weight store (`nn.weight "key"`), so that the IR of a large model
stays small (see `compiler/weights.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    I64,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import NoMemoryEffect
from xdsl.utils.exceptions import VerifyException

WEIGHT_STORE_ATTR = "nn.weights"
"""Module attribute naming the safetensors file that `nn.weight` keys refer to."""

# Discardable attributes the passes put on nn ops, arguments and results (the
# contract between the importer, `quantize`, `weights-to-rom`, the executors and
# `map-to-spatial`; always spelled through these names).
NAME_ATTR = "nn.name"
"""On `main`'s arguments and results: the ONNX graph input or output name."""
ONNX_NODE_ATTR = "nn.onnx_node"
"""On an imported op: the name of the ONNX node it came from."""
ONNX_TENSOR_ATTR = "nn.onnx_tensor"
"""On an imported op: the name of the ONNX tensor its result stands for."""
SCALE_ATTR = "nn.scale"
"""After `quantize`: the real value of one unit of a quantized activation (an
argument, a result, an op producing an activation), or the per-channel scales
(inline dense) of a quantized weight constant."""
SCALE_KEY_ATTR = "nn.scale_key"
"""After `quantize`: the weight-store key of per-channel scales too large to inline."""
AXIS_ATTR = "nn.axis"
"""After `quantize`: the axis a weight constant's per-channel scales run along."""
ACC_BITS_ATTR = "nn.acc_bits"
"""After `quantize`: the width of an op's exact accumulator."""
HOST_OP_ATTR = "nn.host_op"
"""After `softmax-to-host` (which `quantize` runs), on a result: the final op the host
applies in float (softmax, log_softmax)."""
ABSMAX_ATTR = "nn.absmax"
"""After `calibrate`, on `main`'s arguments and on ops producing activations: the
largest |value| (f64) the float model gives it over the calibration samples;
`quantize` chooses scales from it and removes it."""

_FORMAT = "operands attr-dict `:` functional-type(operands, results)"


# --------------------------------------------------------------------------- helpers


def shape_of(value: SSAValue | Attribute) -> tuple[int, ...]:
    """The static shape of a tensor-typed value or type."""
    tensor_type = value.type if isinstance(value, SSAValue) else value
    if not isinstance(tensor_type, TensorType):
        raise VerifyException(f"expected a tensor, got {tensor_type}")
    return tuple(tensor_type.get_shape())


def element_type_of(value: SSAValue) -> Attribute:
    assert isinstance(value.type, TensorType)
    return value.type.get_element_type()


def i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def float_attr(value: float) -> FloatAttr:
    return FloatAttr(float(value), f32)


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...] | None:
    """Numpy/ONNX multidirectional broadcasting; None when incompatible."""
    rank = max(len(s) for s in shapes)
    result: list[int] = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            return None
        result.append(dims.pop() if dims else 1)
    return tuple(result)


def window_output_size(
    size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
    dilation: int = 1, ceil_mode: bool = False,
) -> int:
    """Output length of a sliding window along one spatial axis (ONNX rules)."""
    span = dilation * (kernel - 1) + 1
    numerator = size + pad_begin + pad_end - span
    if ceil_mode:
        out = -(-numerator // stride) + 1
        # ONNX/PyTorch: the last window must start inside the input or left pad.
        if (out - 1) * stride >= size + pad_begin:
            out -= 1
        return out
    return numerator // stride + 1


def _check_window_attrs(
    op: IRDLOperation, spatial_rank: int, names: Sequence[str], pads: Sequence[int]
) -> None:
    for name in names:
        values = getattr(op, name)
        if values is None:
            continue
        values = values.get_values()
        if len(values) != spatial_rank:
            raise VerifyException(
                f"{op.name}: '{name}' needs {spatial_rank} values, got {len(values)}"
            )
        if any(v < 1 for v in values):
            raise VerifyException(f"{op.name}: '{name}' values must be >= 1")
    if len(pads) != 2 * spatial_rank:
        raise VerifyException(
            f"{op.name}: 'pads' needs {2 * spatial_rank} values, got {len(pads)}"
        )
    if any(p < 0 for p in pads):
        raise VerifyException(f"{op.name}: 'pads' must be non-negative")


def _values_or(attr: DenseArrayBase | None, default: Sequence[int]) -> tuple[int, ...]:
    return tuple(attr.get_values()) if attr is not None else tuple(default)


def _check_result_shape(op: IRDLOperation, expected: Sequence[int]) -> None:
    actual = shape_of(op.results[0])
    if tuple(actual) != tuple(expected):
        raise VerifyException(
            f"{op.name}: result shape {list(actual)} should be {list(expected)}"
        )


def _check_same_element_type(op: IRDLOperation, *values: SSAValue | None) -> None:
    """Float ops keep one element type; integer ops may mix widths (exact arithmetic)."""
    types = {element_type_of(v) for v in values if v is not None}
    types.add(element_type_of(op.results[0]))
    if len(types) != 1 and not all(isinstance(t, IntegerType) for t in types):
        raise VerifyException(f"{op.name}: element types differ: {sorted(map(str, types))}")


# --------------------------------------------------------------------------- constants


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A constant tensor held inline in the IR."""

    name = "nn.constant"
    value = prop_def(DenseIntOrFPElementsAttr)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())

    def __init__(self, value: DenseIntOrFPElementsAttr):
        super().__init__(properties={"value": value}, result_types=[value.get_type()])

    def verify_(self) -> None:
        if self.value.get_type() != self.output.type:
            raise VerifyException("nn.constant: result type differs from the value's type")

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        value = parser.parse_attribute()
        if not isinstance(value, DenseIntOrFPElementsAttr):
            parser.raise_error("nn.constant expects a dense<...> tensor literal")
        extra = parser.parse_optional_attr_dict()
        op = cls(value)
        op.attributes.update(extra)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_attribute(self.value)
        printer.print_op_attributes(self.attributes)


@irdl_op_definition
class WeightOp(IRDLOperation):
    """A constant tensor whose contents live in the module's weight store under `key`."""

    name = "nn.weight"
    key = prop_def(StringAttr)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = "$key attr-dict `:` type($output)"

    def __init__(self, key: str, result_type: TensorType):
        super().__init__(properties={"key": StringAttr(key)}, result_types=[result_type])


# --------------------------------------------------------------------------- linear layers


@irdl_op_definition
class DenseOp(IRDLOperation):
    """`Y = X · Wᵀ + b`: X is [..., in], W is [out, in], b is [out], Y is [..., out]."""

    name = "nn.dense"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, x: SSAValue, w: SSAValue, b: SSAValue | None, result_type: TensorType):
        super().__init__(operands=[x, w, b], result_types=[result_type])

    def verify_(self) -> None:
        x, w = shape_of(self.input), shape_of(self.weight)
        if len(x) < 1 or len(w) != 2:
            raise VerifyException("nn.dense: weight must be [out, in] and input at least 1-D")
        if x[-1] != w[1]:
            raise VerifyException(
                f"nn.dense: input has {x[-1]} features but weight expects {w[1]}"
            )
        if self.bias is not None and shape_of(self.bias) != (w[0],):
            raise VerifyException(f"nn.dense: bias must have shape [{w[0]}]")
        _check_result_shape(self, (*x[:-1], w[0]))


@irdl_op_definition
class ConvOp(IRDLOperation):
    """N-D convolution (1-D and 2-D used), ONNX semantics with explicit pads."""

    name = "nn.conv"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    group = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(
        self, x: SSAValue, w: SSAValue, b: SSAValue | None, *,
        strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int],
        group: int, result_type: TensorType,
    ):
        super().__init__(
            operands=[x, w, b],
            properties={
                "strides": i64_array(strides), "pads": i64_array(pads),
                "dilations": i64_array(dilations), "group": IntegerAttr(group, i64),
            },
            result_types=[result_type],
        )

    def verify_(self) -> None:
        x, w = shape_of(self.input), shape_of(self.weight)
        rank = len(x) - 2
        if rank < 1 or len(w) != len(x):
            raise VerifyException("nn.conv: input and weight must both be [N, C, spatial...]")
        pads = self.pads.get_values()
        _check_window_attrs(self, rank, ("strides", "dilations"), pads)
        group = self.group.value.data
        if group < 1 or x[1] % group or w[0] % group:
            raise VerifyException(f"nn.conv: group {group} must divide channels {x[1]} and {w[0]}")
        if w[1] * group != x[1]:
            raise VerifyException(
                f"nn.conv: weight expects {w[1] * group} input channels, input has {x[1]}"
            )
        if self.bias is not None and shape_of(self.bias) != (w[0],):
            raise VerifyException(f"nn.conv: bias must have shape [{w[0]}]")
        strides, dilations = self.strides.get_values(), self.dilations.get_values()
        spatial = [
            window_output_size(x[2 + i], w[2 + i], strides[i], pads[i], pads[rank + i], dilations[i])
            for i in range(rank)
        ]
        if any(s < 1 for s in spatial):
            raise VerifyException("nn.conv: kernel larger than padded input")
        _check_result_shape(self, (x[0], w[0], *spatial))


# --------------------------------------------------------------------------- pooling


class _WindowPoolOp(IRDLOperation):
    input = operand_def(TensorType)
    output = result_def(TensorType)
    kernel_shape = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)
    ceil_mode = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def verify_(self) -> None:
        x = shape_of(self.input)
        rank = len(x) - 2
        kernel = self.kernel_shape.get_values()
        if rank < 1 or len(kernel) != rank:
            raise VerifyException(f"{self.name}: kernel rank must match input spatial rank")
        pads = self.pads.get_values()
        _check_window_attrs(self, rank, ("kernel_shape", "strides", "dilations"), pads)
        strides = self.strides.get_values()
        dilations = _values_or(self.dilations, [1] * rank)
        ceil = bool(self.ceil_mode.value.data)
        spatial = [
            window_output_size(x[2 + i], kernel[i], strides[i], pads[i], pads[rank + i],
                               dilations[i], ceil)
            for i in range(rank)
        ]
        if any(s < 1 for s in spatial):
            raise VerifyException(f"{self.name}: window larger than padded input")
        _check_result_shape(self, (x[0], x[1], *spatial))
        _check_same_element_type(self, self.input)

    @classmethod
    def make(
        cls, x: SSAValue, *, kernel_shape: Sequence[int], strides: Sequence[int],
        pads: Sequence[int], ceil_mode: bool, result_type: TensorType,
        dilations: Sequence[int] | None = None, **extra: Attribute,
    ):
        properties: dict[str, Attribute] = {
            "kernel_shape": i64_array(kernel_shape), "strides": i64_array(strides),
            "pads": i64_array(pads), "ceil_mode": IntegerAttr(int(ceil_mode), i64), **extra,
        }
        if dilations is not None and any(d != 1 for d in dilations):
            properties["dilations"] = i64_array(dilations)
        return cls.create(operands=[x], properties=properties, result_types=[result_type])


@irdl_op_definition
class MaxPoolOp(_WindowPoolOp):
    """Max pooling; padded positions never win (they count as -inf)."""

    name = "nn.max_pool"


@irdl_op_definition
class AveragePoolOp(_WindowPoolOp):
    """Average pooling; `count_include_pad` decides whether pads count in the divisor."""

    name = "nn.average_pool"
    count_include_pad = prop_def(IntegerAttr[I64])


class _GlobalPoolOp(IRDLOperation):
    """A reduction over all spatial axes: [N, C, ...] -> [N, C, 1, ...]."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = _FORMAT

    def __init__(self, x: SSAValue, result_type: TensorType):
        super().__init__(operands=[x], result_types=[result_type])

    def verify_(self) -> None:
        x = shape_of(self.input)
        if len(x) < 3:
            raise VerifyException(f"{self.name}: input must be [N, C, spatial...]")
        _check_result_shape(self, (x[0], x[1], *[1] * (len(x) - 2)))


@irdl_op_definition
class GlobalAveragePoolOp(_GlobalPoolOp):
    """Mean over all spatial axes: [N, C, ...] -> [N, C, 1, ...]."""

    name = "nn.global_average_pool"


# --------------------------------------------------------------------------- normalisation


@irdl_op_definition
class BatchNormOp(IRDLOperation):
    """Inference batch normalisation over axis 1: `(x - mean) / sqrt(var + eps) * scale + bias`."""

    name = "nn.batch_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = operand_def(TensorType)
    mean = operand_def(TensorType)
    var = operand_def(TensorType)
    output = result_def(TensorType)
    epsilon = prop_def(FloatAttr)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, x, scale, bias, mean, var, *, epsilon: float, result_type: TensorType):
        super().__init__(
            operands=[x, scale, bias, mean, var],
            properties={"epsilon": float_attr(epsilon)},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        x = shape_of(self.input)
        if len(x) < 2:
            raise VerifyException("nn.batch_norm: input must be at least [N, C]")
        for name in ("scale", "bias", "mean", "var"):
            if shape_of(getattr(self, name)) != (x[1],):
                raise VerifyException(f"nn.batch_norm: {name} must have shape [{x[1]}]")
        _check_result_shape(self, x)


# --------------------------------------------------------------------------- element-wise


class _UnaryOp(IRDLOperation):
    T: ClassVar = VarConstraint("T", AnyAttr())
    input = operand_def(T)
    output = result_def(T)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, x: SSAValue, **properties: Attribute):
        super().__init__(operands=[x], properties=properties, result_types=[x.type])


@irdl_op_definition
class ReluOp(_UnaryOp):
    name = "nn.relu"


@irdl_op_definition
class SigmoidOp(_UnaryOp):
    name = "nn.sigmoid"


@irdl_op_definition
class TanhOp(_UnaryOp):
    name = "nn.tanh"


@irdl_op_definition
class LeakyReluOp(_UnaryOp):
    """`x if x >= 0 else alpha * x`."""

    name = "nn.leaky_relu"
    alpha = prop_def(FloatAttr)


@irdl_op_definition
class ClipOp(_UnaryOp):
    """`min(max(x, min), max)`; a missing bound is unbounded."""

    name = "nn.clip"
    min = opt_prop_def(FloatAttr)
    max = opt_prop_def(FloatAttr)

    def verify_(self) -> None:
        if self.min is not None and self.max is not None:
            if self.min.value.data > self.max.value.data:
                raise VerifyException("nn.clip: min is greater than max")


class _AxisOp(_UnaryOp):
    axis = prop_def(IntegerAttr[I64])

    def verify_(self) -> None:
        rank = len(shape_of(self.input))
        axis = self.axis.value.data
        if not 0 <= axis < rank:
            raise VerifyException(f"{self.name}: axis {axis} out of range for rank {rank}")


@irdl_op_definition
class SoftmaxOp(_AxisOp):
    """Softmax along one axis (opset-13 semantics; the importer rewrites older ones)."""

    name = "nn.softmax"


@irdl_op_definition
class LogSoftmaxOp(_AxisOp):
    name = "nn.log_softmax"


class _BinaryOp(IRDLOperation):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = _FORMAT

    def __init__(self, lhs: SSAValue, rhs: SSAValue, result_type: TensorType):
        super().__init__(operands=[lhs, rhs], result_types=[result_type])

    def verify_(self) -> None:
        expected = broadcast_shapes(shape_of(self.lhs), shape_of(self.rhs))
        if expected is None:
            raise VerifyException(
                f"{self.name}: shapes {list(shape_of(self.lhs))} and "
                f"{list(shape_of(self.rhs))} do not broadcast"
            )
        _check_result_shape(self, expected)
        _check_same_element_type(self, self.lhs, self.rhs)


@irdl_op_definition
class AddOp(_BinaryOp):
    name = "nn.add"


@irdl_op_definition
class SubOp(_BinaryOp):
    name = "nn.sub"


@irdl_op_definition
class MulOp(_BinaryOp):
    name = "nn.mul"


@irdl_op_definition
class DivOp(_BinaryOp):
    name = "nn.div"


# --------------------------------------------------------------------------- data movement


@irdl_op_definition
class ConcatOp(IRDLOperation):
    name = "nn.concat"
    inputs = var_operand_def(TensorType)
    output = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, inputs: Sequence[SSAValue], axis: int, result_type: TensorType):
        super().__init__(
            operands=[list(inputs)], properties={"axis": IntegerAttr(axis, i64)},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException("nn.concat: needs at least one input")
        shapes = [shape_of(v) for v in self.inputs]
        rank, axis = len(shapes[0]), self.axis.value.data
        if not 0 <= axis < rank:
            raise VerifyException(f"nn.concat: axis {axis} out of range for rank {rank}")
        for s in shapes:
            if len(s) != rank or any(s[i] != shapes[0][i] for i in range(rank) if i != axis):
                raise VerifyException("nn.concat: inputs differ outside the concat axis")
        expected = list(shapes[0])
        expected[axis] = sum(s[axis] for s in shapes)
        _check_result_shape(self, expected)
        _check_same_element_type(self, *self.inputs)


@irdl_op_definition
class ReshapeOp(IRDLOperation):
    """Row-major reshape to the result type's shape (Flatten and Reshape import as this)."""

    name = "nn.reshape"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = _FORMAT

    def __init__(self, x: SSAValue, result_type: TensorType):
        super().__init__(operands=[x], result_types=[result_type])

    def verify_(self) -> None:
        count_in = _product(shape_of(self.input))
        count_out = _product(shape_of(self.output))
        if count_in != count_out:
            raise VerifyException(
                f"nn.reshape: {count_in} elements cannot become {count_out}"
            )
        _check_same_element_type(self, self.input)


@irdl_op_definition
class TransposeOp(IRDLOperation):
    name = "nn.transpose"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    perm = prop_def(DenseArrayBase)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, x: SSAValue, perm: Sequence[int], result_type: TensorType):
        super().__init__(
            operands=[x], properties={"perm": i64_array(perm)}, result_types=[result_type]
        )

    def verify_(self) -> None:
        x = shape_of(self.input)
        perm = self.perm.get_values()
        if sorted(perm) != list(range(len(x))):
            raise VerifyException(f"nn.transpose: {list(perm)} is not a permutation of {len(x)} axes")
        _check_result_shape(self, [x[p] for p in perm])
        _check_same_element_type(self, self.input)


PAD_MODES = ("constant", "reflect", "edge")


@irdl_op_definition
class PadOp(IRDLOperation):
    """Pad every axis by `pads` (`[begin..., end...]`) in `mode`."""

    name = "nn.pad"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    pads = prop_def(DenseArrayBase)
    mode = prop_def(StringAttr)
    value = prop_def(FloatAttr)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, x: SSAValue, pads: Sequence[int], mode: str, value: float,
                 result_type: TensorType):
        super().__init__(
            operands=[x],
            properties={"pads": i64_array(pads), "mode": StringAttr(mode),
                        "value": float_attr(value)},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        x = shape_of(self.input)
        pads = self.pads.get_values()
        if len(pads) != 2 * len(x) or any(p < 0 for p in pads):
            raise VerifyException(f"nn.pad: needs {2 * len(x)} non-negative pads")
        if self.mode.data not in PAD_MODES:
            raise VerifyException(f"nn.pad: mode must be one of {', '.join(PAD_MODES)}")
        _check_result_shape(self, [d + pads[i] + pads[i + len(x)] for i, d in enumerate(x)])


# --------------------------------------------------------------------------- quantized


@irdl_op_definition
class RequantOp(IRDLOperation):
    """Requantization (DESIGN.md numerics contract), exact in integers:

        y = clamp((acc * M + round) >> shift, lo, hi),   round = (1 << shift) >> 1

    `M` (`multiplier`) is per tensor (shape [1]) or per channel along `axis`;
    `>>` is an arithmetic shift (floor), so the rounding is half up.
    """

    name = "nn.requant"
    input = operand_def(TensorType)
    multiplier = operand_def(TensorType)
    output = result_def(TensorType)
    shift = prop_def(IntegerAttr[I64])
    lo = prop_def(IntegerAttr[I64])
    hi = prop_def(IntegerAttr[I64])
    axis = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def __init__(self, x: SSAValue, multiplier: SSAValue, *, shift: int, lo: int, hi: int,
                 axis: int, result_type: TensorType):
        super().__init__(
            operands=[x, multiplier],
            properties={"shift": IntegerAttr(shift, i64), "lo": IntegerAttr(lo, i64),
                        "hi": IntegerAttr(hi, i64), "axis": IntegerAttr(axis, i64)},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        x, m = shape_of(self.input), shape_of(self.multiplier)
        axis = self.axis.value.data
        if not 0 <= axis < len(x):
            raise VerifyException(f"nn.requant: axis {axis} out of range for rank {len(x)}")
        if m not in ((1,), (x[axis],)):
            raise VerifyException(f"nn.requant: multiplier must have shape [1] or [{x[axis]}]")
        if not 0 <= self.shift.value.data <= 62:
            raise VerifyException("nn.requant: shift must be in 0..62")
        if self.lo.value.data > self.hi.value.data:
            raise VerifyException("nn.requant: lo is greater than hi")
        for value in (self.input, self.multiplier, self.output):
            if not isinstance(element_type_of(value), IntegerType):
                raise VerifyException("nn.requant: operands and result must be integer tensors")
        _check_result_shape(self, x)


@irdl_op_definition
class SumPoolOp(_WindowPoolOp):
    """Sum over each window (exact; padded positions add zero). Quantized average
    pooling is a sum pool followed by `nn.requant` by 1/window."""

    name = "nn.sum_pool"


@irdl_op_definition
class GlobalSumPoolOp(_GlobalPoolOp):
    """Sum over all spatial axes: [N, C, ...] -> [N, C, 1, ...]."""

    name = "nn.global_sum_pool"


@irdl_op_definition
class LookupOp(IRDLOperation):
    """Element-wise table lookup: `y = table[x - min(x's type)]`.

    The input is a b-bit signed integer tensor; the table has 2**b entries,
    one per input value from -2**(b-1) up. Non-linear functions of a quantized
    input (sigmoid, tanh, ...) are such tables, computed at compile time.
    """

    name = "nn.lookup"
    input = operand_def(TensorType)
    table = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = _FORMAT

    def __init__(self, x: SSAValue, table: SSAValue, result_type: TensorType):
        super().__init__(operands=[x, table], result_types=[result_type])

    def verify_(self) -> None:
        element = element_type_of(self.input)
        if not isinstance(element, IntegerType):
            raise VerifyException("nn.lookup: input must be an integer tensor")
        entries = 1 << element.width.data
        if shape_of(self.table) != (entries,):
            raise VerifyException(f"nn.lookup: a {element.width.data}-bit input needs a table of {entries}")
        _check_result_shape(self, shape_of(self.input))


def _product(values: Sequence[int]) -> int:
    result = 1
    for v in values:
        result *= v
    return result


NN = Dialect(
    "nn",
    [
        ConstantOp, WeightOp, DenseOp, ConvOp, MaxPoolOp, AveragePoolOp, GlobalAveragePoolOp,
        BatchNormOp, ReluOp, LeakyReluOp, ClipOp, SigmoidOp, TanhOp, SoftmaxOp, LogSoftmaxOp,
        AddOp, SubOp, MulOp, DivOp, ConcatOp, ReshapeOp, TransposeOp, PadOp,
        RequantOp, SumPoolOp, GlobalSumPoolOp, LookupOp,
    ],
)
