"""Indexing and broadcasting: embedding lookup, gather and slice along an axis,
expand, tile, select by a condition, and element-type casts.

The importer normalises ONNX's spellings into these forms:

* `nn.embedding` looks rows of a table up by integer ids (ONNX `Gather` of a
  constant table by an activation);
* `nn.slice` keeps, per axis, `size` elements from `start` every `step`
  (`Slice`, `Split`, and a `Gather` of a contiguous range all become this;
  starts are non-negative and every index lies inside the input);
* `nn.gather` picks constant, non-negative indices along one axis (the
  indices' own shape is a reshape after it);
* `nn.expand` and `nn.tile` broadcast and repeat to the result type's shape;
* `nn.where` selects between two operands by a boolean condition;
* `nn.cast` changes the element type (float to int truncates toward zero).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import I64, DenseArrayBase, IntegerAttr, IntegerType, TensorType, i64
from xdsl.ir import Attribute, SSAValue
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
    element_type_of,
    i64_array,
    shape_of,
)


def broadcast_shape(op: IRDLOperation, *shapes: Sequence[int]) -> tuple[int, ...]:
    """The numpy broadcast of `shapes` (VerifyException naming `op` when they do not broadcast)."""
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError:
        raise VerifyException(f"{op.name}: shapes {[list(s) for s in shapes]} do not broadcast") from None


class _OneInputOp(IRDLOperation):
    """An op of one tensor whose result type (and properties) the importer computes."""

    input = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, result_type: TensorType, **properties: Attribute):
        super().__init__(operands=[x], properties=properties, result_types=[result_type])


@irdl_op_definition
class EmbeddingOp(IRDLOperation):
    """`table[ids]`: ids is an integer tensor, table is [rows, features], the result
    [*ids, features]. An id in [-rows, 0) counts from the end (ONNX Gather); any
    other id outside the table is an error when the graph runs."""

    name = "nn.embedding"
    ids = operand_def(TensorType)
    table = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = OPERANDS_FORMAT

    def __init__(self, ids: SSAValue, table: SSAValue, result_type: TensorType):
        super().__init__(operands=[ids, table], result_types=[result_type])

    def verify_(self) -> None:
        if not isinstance(element_type_of(self.ids), IntegerType):
            raise VerifyException("nn.embedding: ids must be integers")
        table = shape_of(self.table)
        if len(table) != 2:
            raise VerifyException(f"nn.embedding: the table must be [rows, features], it is {list(table)}")
        check_result_shape(self, (*shape_of(self.ids), table[1]))
        check_same_element_type(self, self.table)


@irdl_op_definition
class SliceOp(_OneInputOp):
    """Per axis `i`, the elements `start[i] + k * step[i]` for k < the result's size along
    `i`; every index lies inside the input (checked), a step is never 0."""

    name = "nn.slice"
    starts = prop_def(DenseArrayBase)
    steps = prop_def(DenseArrayBase)

    def __init__(self, x: SSAValue, starts: Sequence[int], steps: Sequence[int], result_type: TensorType):
        super().__init__(x, result_type, starts=i64_array(starts), steps=i64_array(steps))

    def verify_(self) -> None:
        x, y = shape_of(self.input), shape_of(self.output)
        starts, steps = self.starts.get_values(), self.steps.get_values()
        if not len(starts) == len(steps) == len(x) == len(y):
            raise VerifyException(f"nn.slice: needs {len(x)} starts, steps and result dimensions")
        for axis, (size, start, step, count) in enumerate(zip(x, starts, steps, y)):
            last = start + (count - 1) * step
            if step == 0 or count < 1 or not (0 <= start < size and 0 <= last < size):
                raise VerifyException(f"nn.slice: axis {axis}: {count} elements from {start} every "
                                      f"{step} do not lie inside its {size}")
        check_same_element_type(self, self.input)


@irdl_op_definition
class GatherOp(_OneInputOp):
    """`take(x, indices, axis)` with constant non-negative `indices` (1-D)."""

    name = "nn.gather"
    indices = prop_def(DenseArrayBase)
    axis = prop_def(IntegerAttr[I64])

    def __init__(self, x: SSAValue, indices: Sequence[int], axis: int, result_type: TensorType):
        super().__init__(x, result_type, indices=i64_array(indices), axis=IntegerAttr(axis, i64))

    def verify_(self) -> None:
        x = shape_of(self.input)
        axis, indices = self.axis.value.data, self.indices.get_values()
        if not 0 <= axis < len(x):
            raise VerifyException(f"nn.gather: axis {axis} out of range for rank {len(x)}")
        if not indices or any(not 0 <= i < x[axis] for i in indices):
            raise VerifyException(f"nn.gather: indices must lie in [0, {x[axis]})")
        expected = list(x)
        expected[axis] = len(indices)
        check_result_shape(self, expected)
        check_same_element_type(self, self.input)


@irdl_op_definition
class ExpandOp(_OneInputOp):
    """Broadcast the input to the result type's shape (numpy rules; the result may add
    leading axes)."""

    name = "nn.expand"

    def verify_(self) -> None:
        x, y = shape_of(self.input), shape_of(self.output)
        if len(y) < len(x) or broadcast_shape(self, x, y) != y:
            raise VerifyException(f"nn.expand: {list(x)} does not broadcast to {list(y)}")
        check_same_element_type(self, self.input)


@irdl_op_definition
class TileOp(_OneInputOp):
    """Repeat the input `repeats[i]` times along each axis `i` (every repeat >= 1)."""

    name = "nn.tile"
    repeats = prop_def(DenseArrayBase)

    def __init__(self, x: SSAValue, repeats: Sequence[int], result_type: TensorType):
        super().__init__(x, result_type, repeats=i64_array(repeats))

    def verify_(self) -> None:
        x, repeats = shape_of(self.input), self.repeats.get_values()
        if len(repeats) != len(x) or any(r < 1 for r in repeats):
            raise VerifyException(f"nn.tile: needs {len(x)} repeats, each at least 1")
        check_result_shape(self, [d * r for d, r in zip(x, repeats)])
        check_same_element_type(self, self.input)


@irdl_op_definition
class WhereOp(IRDLOperation):
    """`condition ? x : y` element-wise, the three operands broadcast (numpy rules);
    the condition is i1."""

    name = "nn.where"
    condition = operand_def(TensorType)
    x = operand_def(TensorType)
    y = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = OPERANDS_FORMAT

    def __init__(self, condition: SSAValue, x: SSAValue, y: SSAValue, result_type: TensorType):
        super().__init__(operands=[condition, x, y], result_types=[result_type])

    def verify_(self) -> None:
        condition = element_type_of(self.condition)
        if not (isinstance(condition, IntegerType) and condition.width.data == 1):
            raise VerifyException("nn.where: the condition must be i1")
        shapes = [shape_of(v) for v in (self.condition, self.x, self.y)]
        check_result_shape(self, broadcast_shape(self, *shapes))
        check_same_element_type(self, self.x, self.y)


@irdl_op_definition
class CastOp(_OneInputOp):
    """The input converted to the result's element type (float to int truncates toward zero)."""

    name = "nn.cast"

    def verify_(self) -> None:
        check_result_shape(self, shape_of(self.input))
