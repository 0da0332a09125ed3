"""Reductions over a set of axes (ONNX `Reduce*`), in one normalised form.

Every reduction carries `axes` (sorted, distinct, non-negative, at least one)
and `keepdims` (0 or 1): the importer resolves ONNX's attribute-or-input axes,
negative axes, an empty axes list (all axes) and `noop_with_empty_axes` (the
identity, which never reaches the dialect). Float-level ops.
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
    i64_array,
    shape_of,
)


def reduced_shape(shape: Sequence[int], axes: Sequence[int], keepdims: bool) -> tuple[int, ...]:
    """The shape of a reduction of `shape` over `axes`."""
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


class ReduceOp(IRDLOperation):
    """The base of every reduction: one input, `axes`, `keepdims`."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    axes = prop_def(DenseArrayBase)
    keepdims = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, axes: Sequence[int], keepdims: bool, result_type: TensorType):
        super().__init__(
            operands=[x],
            properties={"axes": i64_array(axes), "keepdims": IntegerAttr(int(keepdims), i64)},
            result_types=[result_type],
        )

    def axis_list(self) -> tuple[int, ...]:
        return tuple(int(a) for a in self.axes.get_values())

    def verify_(self) -> None:
        shape = shape_of(self.input)
        axes = self.axis_list()
        if not axes or list(axes) != sorted(set(axes)) or not all(0 <= a < len(shape) for a in axes):
            raise VerifyException(
                f"{self.name}: axes {list(axes)} must be sorted, distinct and in 0..{len(shape) - 1}"
            )
        keepdims = self.keepdims.value.data
        if keepdims not in (0, 1):
            raise VerifyException(f"{self.name}: keepdims must be 0 or 1, got {keepdims}")
        check_result_shape(self, reduced_shape(shape, axes, bool(keepdims)))
        check_same_element_type(self, self.input)


@irdl_op_definition
class ReduceSumOp(ReduceOp):
    name = "nn.reduce_sum"


@irdl_op_definition
class ReduceMeanOp(ReduceOp):
    name = "nn.reduce_mean"


@irdl_op_definition
class ReduceMaxOp(ReduceOp):
    name = "nn.reduce_max"


@irdl_op_definition
class ReduceMinOp(ReduceOp):
    name = "nn.reduce_min"


@irdl_op_definition
class ReduceProdOp(ReduceOp):
    name = "nn.reduce_prod"


@irdl_op_definition
class ReduceL1Op(ReduceOp):
    """Sum of |x|."""

    name = "nn.reduce_l1"


@irdl_op_definition
class ReduceL2Op(ReduceOp):
    """Square root of the sum of x²."""

    name = "nn.reduce_l2"


@irdl_op_definition
class ReduceSumSquareOp(ReduceOp):
    """Sum of x²."""

    name = "nn.reduce_sum_square"


@irdl_op_definition
class ReduceLogSumOp(ReduceOp):
    """log of the sum."""

    name = "nn.reduce_log_sum"


@irdl_op_definition
class ReduceLogSumExpOp(ReduceOp):
    """log of the sum of exp(x) (computed stably)."""

    name = "nn.reduce_log_sum_exp"
