"""The layers with weights: dense, convolution, and inference batch normalisation."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import I64, DenseArrayBase, FloatAttr, IntegerAttr, TensorType, i64
from xdsl.ir import SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import NoMemoryEffect
from xdsl.utils.exceptions import VerifyException

from dialects.nn.common import (
    OPERANDS_FORMAT,
    check_result_shape,
    check_window_attrs,
    float_attr,
    i64_array,
    shape_of,
    window_output_size,
)


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
    assembly_format = OPERANDS_FORMAT

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
        check_result_shape(self, (*x[:-1], w[0]))


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
    assembly_format = OPERANDS_FORMAT

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
        check_window_attrs(self, rank, ("strides", "dilations"), pads)
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
        check_result_shape(self, (x[0], w[0], *spatial))


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
    assembly_format = OPERANDS_FORMAT

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
        check_result_shape(self, x)
