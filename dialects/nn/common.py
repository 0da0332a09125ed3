"""What the `nn` ops share: shapes and element types of values, attribute
builders, the sliding-window arithmetic (ONNX rules) and verifier checks.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import DenseArrayBase, FloatAttr, IntegerType, TensorType, f32, i64
from xdsl.ir import Attribute, SSAValue
from xdsl.irdl import IRDLOperation
from xdsl.utils.exceptions import VerifyException


OPERANDS_FORMAT = "operands attr-dict `:` functional-type(operands, results)"
"""The assembly format of most nn ops: operands, attributes, functional type."""


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


def check_window_attrs(
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


def values_or(attr: DenseArrayBase | None, default: Sequence[int]) -> tuple[int, ...]:
    return tuple(attr.get_values()) if attr is not None else tuple(default)


def check_result_shape(op: IRDLOperation, expected: Sequence[int]) -> None:
    actual = shape_of(op.results[0])
    if tuple(actual) != tuple(expected):
        raise VerifyException(
            f"{op.name}: result shape {list(actual)} should be {list(expected)}"
        )


def check_same_element_type(op: IRDLOperation, *values: SSAValue | None) -> None:
    """Float ops keep one element type; integer ops may mix widths (exact arithmetic)."""
    types = {element_type_of(v) for v in values if v is not None}
    types.add(element_type_of(op.results[0]))
    if len(types) != 1 and not all(isinstance(t, IntegerType) for t in types):
        raise VerifyException(f"{op.name}: element types differ: {sorted(map(str, types))}")
