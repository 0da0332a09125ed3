"""Data movement: concatenation, reshape, transpose and padding."""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import I64, DenseArrayBase, FloatAttr, IntegerAttr, StringAttr, TensorType, i64
from xdsl.ir import SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import NoMemoryEffect
from xdsl.utils.exceptions import VerifyException

from dialects.nn.common import (
    OPERANDS_FORMAT,
    check_result_shape,
    check_same_element_type,
    float_attr,
    i64_array,
    shape_of,
)


@irdl_op_definition
class ConcatOp(IRDLOperation):
    name = "nn.concat"
    inputs = var_operand_def(TensorType)
    output = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

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
        check_result_shape(self, expected)
        check_same_element_type(self, *self.inputs)


@irdl_op_definition
class ReshapeOp(IRDLOperation):
    """Row-major reshape to the result type's shape (Flatten and Reshape import as this)."""

    name = "nn.reshape"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, result_type: TensorType):
        super().__init__(operands=[x], result_types=[result_type])

    def verify_(self) -> None:
        count_in = math.prod(shape_of(self.input))
        count_out = math.prod(shape_of(self.output))
        if count_in != count_out:
            raise VerifyException(
                f"nn.reshape: {count_in} elements cannot become {count_out}"
            )
        check_same_element_type(self, self.input)


@irdl_op_definition
class TransposeOp(IRDLOperation):
    name = "nn.transpose"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    perm = prop_def(DenseArrayBase)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, perm: Sequence[int], result_type: TensorType):
        super().__init__(
            operands=[x], properties={"perm": i64_array(perm)}, result_types=[result_type]
        )

    def verify_(self) -> None:
        x = shape_of(self.input)
        perm = self.perm.get_values()
        if sorted(perm) != list(range(len(x))):
            raise VerifyException(f"nn.transpose: {list(perm)} is not a permutation of {len(x)} axes")
        check_result_shape(self, [x[p] for p in perm])
        check_same_element_type(self, self.input)


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
    assembly_format = OPERANDS_FORMAT

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
        check_result_shape(self, [d + pads[i] + pads[i + len(x)] for i, d in enumerate(x)])
