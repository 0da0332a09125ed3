"""What handlers of several families use: float constants derived lazily from
others, and binary ops with numpy broadcasting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects.builtin import IntegerType, TensorType
from xdsl.ir import Attribute, SSAValue

from compiler.frontend.loader import Constant
from compiler.frontend.node import NodeImport, Unsupported, Value, shape
from compiler.ir import element_type_for, tensor_type
from dialects import nn


def derived(name: str, shape_: Sequence[int], load: Callable[[], np.ndarray]) -> Constant:
    """A float32 constant computed lazily from others (a transposed weight, a scaled bias)."""
    return Constant(name, tuple(int(d) for d in shape_), np.dtype(np.float32), load)


def emit_binary(n: NodeImport, op_class, a: SSAValue, b: SSAValue) -> SSAValue:
    """`op_class(a, b)` with the numpy-broadcast result shape and `a`'s element type
    (integer activations add, subtract and multiply; they do not divide)."""
    try:
        result = np.broadcast_shapes(shape(a), shape(b))
    except ValueError:
        raise Unsupported(f"shapes {list(shape(a))} and {list(shape(b))} do not broadcast") from None
    element = a.type.get_element_type()
    if isinstance(element, IntegerType) and op_class is nn.DivOp:
        raise Unsupported("integer division")
    return n.emit(op_class(a, b, tensor_type(result, element)))


def broadcasts_into(small: Sequence[int], target: Sequence[int]) -> bool:
    """Whether a tensor of shape `small` broadcasts to `target` without growing it."""
    try:
        return np.broadcast_shapes(tuple(small), tuple(target)) == tuple(target)
    except ValueError:
        return False


def element_type(value: Value) -> Attribute:
    """The IR element type `value` has (or gets when materialised: floats become f32)."""
    if isinstance(value, Constant):
        return element_type_for(np.float32 if value.dtype.kind == "f" else value.dtype)
    return value.type.get_element_type()


def typed(shape_: Sequence[int], like: Value) -> TensorType:
    """A tensor type of `shape_` with the element type of `like` (data movement keeps it)."""
    return tensor_type(shape_, element_type(like))
