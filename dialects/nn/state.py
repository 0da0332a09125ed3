"""State a step graph carries from one token to the next (see the
`sequence-to-stream` pass): a key or value cache of fixed capacity, written one
position at a time.

* `nn.cache_write %cache, %value, %position {axis}` is `%cache` with the slice at
  index `position` along `axis` replaced by `%value` (the same shape as the cache
  but 1 along `axis`); `position` is a one-element integer tensor that must lie
  in `[0, capacity)` when the graph runs. The op is functional: the updated cache
  is its result, which the step graph returns as its next state.
"""

from __future__ import annotations

from xdsl.dialects.builtin import I64, IntegerAttr, IntegerType, TensorType, i64
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

from dialects.nn.common import OPERANDS_FORMAT, check_result_shape, check_same_element_type, element_type_of, shape_of

STEP_FUNCTION = "step"
"""The step graph's function, beside `main` (added by `sequence-to-stream`)."""
POSITION_INPUT = "position"
"""The step graph's input naming the token's position (`tensor<1xi64>`)."""
CACHE_PREFIX = "cache."
"""The step graph's caches are inputs and outputs named `cache.0`, `cache.1`, ..."""
CONTEXT_ATTR = "nn.context"
"""The step graph's attribute giving the caches' capacity in positions."""


@irdl_op_definition
class CacheWriteOp(IRDLOperation):
    """The cache with `value` written at index `position` along `axis` (see module doc)."""

    name = "nn.cache_write"
    cache = operand_def(TensorType)
    value = operand_def(TensorType)
    position = operand_def(TensorType)
    output = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, cache: SSAValue, value: SSAValue, position: SSAValue, axis: int):
        super().__init__(operands=[cache, value, position], result_types=[cache.type],
                         properties={"axis": IntegerAttr(axis, i64)})

    def verify_(self) -> None:
        cache, value = shape_of(self.cache), shape_of(self.value)
        axis = self.axis.value.data
        if not 0 <= axis < len(cache):
            raise VerifyException(f"nn.cache_write: axis {axis} is outside a cache of rank {len(cache)}")
        expected = tuple(1 if i == axis else size for i, size in enumerate(cache))
        if tuple(value) != expected:
            raise VerifyException(f"nn.cache_write: the value must be {list(expected)}, it is {list(value)}")
        if not isinstance(element_type_of(self.position), IntegerType) or len(shape_of(self.position)) != 1 \
                or shape_of(self.position)[0] != 1:
            raise VerifyException("nn.cache_write: the position must be a one-element integer tensor")
        check_same_element_type(self, self.cache)
        check_result_shape(self, cache)
        if element_type_of(self.value) != element_type_of(self.cache):
            raise VerifyException("nn.cache_write: the value and the cache must have one element type")
