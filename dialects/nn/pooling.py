"""Pooling: sliding-window max/average (float) and sum (integer) pools, and their
global forms over all spatial axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xdsl.dialects.builtin import I64, DenseArrayBase, IntegerAttr, TensorType, i64
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import NoMemoryEffect
from xdsl.utils.exceptions import VerifyException

from dialects.nn.common import (
    OPERANDS_FORMAT,
    check_result_shape,
    check_same_element_type,
    check_window_attrs,
    i64_array,
    shape_of,
    values_or,
    window_output_size,
)


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
    assembly_format = OPERANDS_FORMAT

    def verify_(self) -> None:
        x = shape_of(self.input)
        rank = len(x) - 2
        kernel = self.kernel_shape.get_values()
        if rank < 1 or len(kernel) != rank:
            raise VerifyException(f"{self.name}: kernel rank must match input spatial rank")
        pads = self.pads.get_values()
        check_window_attrs(self, rank, ("kernel_shape", "strides", "dilations"), pads)
        strides = self.strides.get_values()
        dilations = values_or(self.dilations, [1] * rank)
        ceil = bool(self.ceil_mode.value.data)
        spatial = [
            window_output_size(x[2 + i], kernel[i], strides[i], pads[i], pads[rank + i],
                               dilations[i], ceil)
            for i in range(rank)
        ]
        if any(s < 1 for s in spatial):
            raise VerifyException(f"{self.name}: window larger than padded input")
        check_result_shape(self, (x[0], x[1], *spatial))
        check_same_element_type(self, self.input)

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
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, result_type: TensorType):
        super().__init__(operands=[x], result_types=[result_type])

    def verify_(self) -> None:
        x = shape_of(self.input)
        if len(x) < 3:
            raise VerifyException(f"{self.name}: input must be [N, C, spatial...]")
        check_result_shape(self, (x[0], x[1], *[1] * (len(x) - 2)))


@irdl_op_definition
class GlobalAveragePoolOp(_GlobalPoolOp):
    """Mean over all spatial axes: [N, C, ...] -> [N, C, 1, ...]."""

    name = "nn.global_average_pool"


@irdl_op_definition
class SumPoolOp(_WindowPoolOp):
    """Sum over each window (exact; padded positions add zero). Quantized average
    pooling is a sum pool followed by `nn.requant` by 1/window.

    With `average_times` = L (an average pool whose windows divide by different
    counts: padding with ONNX's count_include_pad = 0), each window's sum is
    multiplied by L / n, n the window's taps inside the input (`window_factors`);
    L is a multiple of every n, so the result is exactly L times the window's average."""

    name = "nn.sum_pool"
    average_times = opt_prop_def(IntegerAttr[I64])

    def window_factors(self) -> np.ndarray | None:
        """Per output position ([*out]), L / (taps inside the input); None without `average_times`."""
        if self.average_times is None:
            return None
        counts = inside_counts(self)
        return self.average_times.value.data // counts

    def verify_(self) -> None:
        super().verify_()
        if self.average_times is not None and np.any(self.average_times.value.data % inside_counts(self)):
            raise VerifyException(f"{self.name}: average_times must be a multiple of every window's tap count")


def inside_counts(op: _WindowPoolOp) -> np.ndarray:
    """Per output position of the window op `op` ([*out]): its taps inside the input
    (not in the padding, nor past the end with ceil_mode)."""
    shape, out = shape_of(op.input)[2:], shape_of(op.output)[2:]
    kernel, strides, pads = op.kernel_shape.get_values(), op.strides.get_values(), op.pads.get_values()
    dilations = values_or(op.dilations, [1] * len(kernel))
    counts = np.ones((), np.int64)
    for i, size in enumerate(shape):
        taps = np.arange(out[i])[:, None] * strides[i] - pads[i] + np.arange(kernel[i])[None, :] * dilations[i]
        counts = np.multiply.outer(counts, ((taps >= 0) & (taps < size)).sum(axis=1))
    return counts


@irdl_op_definition
class GlobalSumPoolOp(_GlobalPoolOp):
    """Sum over all spatial axes: [N, C, ...] -> [N, C, 1, ...]."""

    name = "nn.global_sum_pool"
