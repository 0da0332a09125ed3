"""Transposed convolution (ONNX `ConvTranspose`), a float-level op.

The importer resolves `auto_pad` and `output_shape` into explicit pads, so the
dialect has one form: the full transposed convolution (every input pixel
scatters `x · W` into a window of the output, `strides` apart, taps
`dilations` apart) of length `stride * (in - 1) + output_padding + dilation *
(kernel - 1) + 1` per spatial axis, cropped by `pads` (`[begin..., end...]`).
The weight is `[C_in, C_out / group, kernel...]` as in ONNX.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import I64, DenseArrayBase, IntegerAttr, TensorType, i64
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

from dialects.nn.common import OPERANDS_FORMAT, check_result_shape, check_window_attrs, i64_array, shape_of


def transposed_output_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                           dilation: int = 1, output_padding: int = 0) -> int:
    """Output length of a transposed convolution along one spatial axis (ONNX rules)."""
    return stride * (size - 1) + output_padding + dilation * (kernel - 1) + 1 - pad_begin - pad_end


@irdl_op_definition
class ConvTransposeOp(IRDLOperation):
    """N-D transposed convolution (1-D and 2-D used), explicit pads."""

    name = "nn.conv_transpose"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    output_padding = prop_def(DenseArrayBase)
    group = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(
        self, x: SSAValue, w: SSAValue, b: SSAValue | None, *,
        strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int],
        output_padding: Sequence[int], group: int, result_type: TensorType,
    ):
        super().__init__(
            operands=[x, w, b],
            properties={
                "strides": i64_array(strides), "pads": i64_array(pads),
                "dilations": i64_array(dilations), "output_padding": i64_array(output_padding),
                "group": IntegerAttr(group, i64),
            },
            result_types=[result_type],
        )

    def verify_(self) -> None:
        x, w = shape_of(self.input), shape_of(self.weight)
        rank = len(x) - 2
        if rank < 1 or len(w) != len(x):
            raise VerifyException("nn.conv_transpose: input and weight must both be [N, C, spatial...]")
        pads = self.pads.get_values()
        check_window_attrs(self, rank, ("strides", "dilations"), pads)
        output_padding = self.output_padding.get_values()
        if len(output_padding) != rank or any(p < 0 for p in output_padding):
            raise VerifyException(f"nn.conv_transpose: output_padding needs {rank} non-negative values")
        group = self.group.value.data
        if group < 1 or x[1] % group:
            raise VerifyException(f"nn.conv_transpose: group {group} must divide input channels {x[1]}")
        if w[0] != x[1]:
            raise VerifyException(f"nn.conv_transpose: weight expects {w[0]} input channels, input has {x[1]}")
        channels = w[1] * group
        if self.bias is not None and shape_of(self.bias) != (channels,):
            raise VerifyException(f"nn.conv_transpose: bias must have shape [{channels}]")
        strides, dilations = self.strides.get_values(), self.dilations.get_values()
        spatial = [
            transposed_output_size(x[2 + i], w[2 + i], strides[i], pads[i], pads[rank + i],
                                   dilations[i], output_padding[i])
            for i in range(rank)
        ]
        if any(s < 1 for s in spatial):
            raise VerifyException("nn.conv_transpose: pads leave no output")
        check_result_shape(self, (x[0], channels, *spatial))
