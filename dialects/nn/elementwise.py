"""Element-wise ops: activations, softmax along an axis, and binary arithmetic
with numpy/ONNX broadcasting.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import I64, FloatAttr, IntegerAttr, IntegerType, TensorType
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import NoMemoryEffect
from xdsl.utils.exceptions import VerifyException

from dialects.nn.common import OPERANDS_FORMAT, check_result_shape, check_same_element_type, shape_of


class UnaryOp(IRDLOperation):
    """One operand, one result of the same type (the base of every element-wise activation)."""

    T: ClassVar = VarConstraint("T", AnyAttr())
    input = operand_def(T)
    output = result_def(T)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, **properties: Attribute):
        super().__init__(operands=[x], properties=properties, result_types=[x.type])


@irdl_op_definition
class ReluOp(UnaryOp):
    name = "nn.relu"


@irdl_op_definition
class SigmoidOp(UnaryOp):
    name = "nn.sigmoid"


@irdl_op_definition
class TanhOp(UnaryOp):
    name = "nn.tanh"


@irdl_op_definition
class LeakyReluOp(UnaryOp):
    """`x if x >= 0 else alpha * x`."""

    name = "nn.leaky_relu"
    alpha = prop_def(FloatAttr)


@irdl_op_definition
class ClipOp(UnaryOp):
    """`min(max(x, min), max)`; a missing bound is unbounded."""

    name = "nn.clip"
    min = opt_prop_def(FloatAttr)
    max = opt_prop_def(FloatAttr)

    def verify_(self) -> None:
        if self.min is not None and self.max is not None:
            if self.min.value.data > self.max.value.data:
                raise VerifyException("nn.clip: min is greater than max")


class _AxisOp(UnaryOp):
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


@irdl_op_definition
class MaskedSoftmaxOp(IRDLOperation):
    """Softmax along `axis` over the entries where the boolean `mask` (i1,
    broadcast against `input`) is true; the others are exactly 0. Every row must
    keep at least one entry. It is `softmax(x + m)` with `m` = 0 where the mask is
    true and -inf elsewhere, the form exporters write attention masks in
    (`mask-softmax` names it)."""

    name = "nn.masked_softmax"
    input = operand_def(TensorType)
    mask = operand_def(TensorType)
    output = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, mask: SSAValue, axis: int, result_type: TensorType | None = None):
        super().__init__(operands=[x, mask], properties={"axis": IntegerAttr(axis, 64)},
                         result_types=[result_type or x.type])

    def verify_(self) -> None:
        rank = len(shape_of(self.input))
        if not 0 <= self.axis.value.data < rank:
            raise VerifyException(f"{self.name}: axis {self.axis.value.data} out of range for rank {rank}")
        element = self.mask.type.get_element_type()
        if not (isinstance(element, IntegerType) and element.width.data == 1):
            raise VerifyException(f"{self.name}: the mask must be an i1 tensor")
        try:
            shape = np.broadcast_shapes(shape_of(self.input), shape_of(self.mask))
        except ValueError:
            raise VerifyException(f"{self.name}: the mask does not broadcast against the input") from None
        if tuple(shape) != tuple(shape_of(self.input)):
            raise VerifyException(f"{self.name}: the mask must broadcast to the input's shape")
        check_result_shape(self, shape_of(self.input))


class BinaryOp(IRDLOperation):
    """Two operands with numpy/ONNX broadcasting, one result of the broadcast shape."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = OPERANDS_FORMAT

    def __init__(self, lhs: SSAValue, rhs: SSAValue, result_type: TensorType):
        super().__init__(operands=[lhs, rhs], result_types=[result_type])

    def verify_(self) -> None:
        try:
            expected = np.broadcast_shapes(shape_of(self.lhs), shape_of(self.rhs))
        except ValueError:
            raise VerifyException(
                f"{self.name}: shapes {list(shape_of(self.lhs))} and "
                f"{list(shape_of(self.rhs))} do not broadcast"
            ) from None
        check_result_shape(self, expected)
        check_same_element_type(self, self.lhs, self.rhs)


@irdl_op_definition
class AddOp(BinaryOp):
    name = "nn.add"


@irdl_op_definition
class SubOp(BinaryOp):
    name = "nn.sub"


@irdl_op_definition
class MulOp(BinaryOp):
    name = "nn.mul"


@irdl_op_definition
class DivOp(BinaryOp):
    name = "nn.div"
