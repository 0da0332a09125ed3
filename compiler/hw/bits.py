"""Integer helpers of the hardware generators: widths and two's-complement bit patterns."""

from __future__ import annotations

from xdsl.dialects.builtin import IntegerType
from xdsl.ir import SSAValue


def width_of(value: SSAValue) -> int:
    """Bits of an integer-typed value."""
    value_type = value.type
    if not isinstance(value_type, IntegerType):
        raise TypeError(f"expected an integer value, got {value_type}")
    return value_type.width.data



def unsigned_bits(count: int) -> int:
    """Bits of a counter that holds 0 .. count-1 (at least 1)."""
    return max(1, (count - 1).bit_length())


def to_unsigned(value: int, width: int) -> int:
    """`value` modulo 2**width (the bit pattern of a two's-complement value)."""
    return int(value) % (1 << width)


def as_signed(value: int, width: int) -> int:
    value = to_unsigned(value, width)
    return value - (1 << width) if width > 1 and value >= 1 << (width - 1) else value
