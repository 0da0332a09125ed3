"""Reading what a kernel factory gets: an op's integer-list attributes and its
constant operands (the `constants` of the kernel protocol, `kernel_table.py`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import Operation

from compiler.errors import HwcError


def required_constant(op: Operation, constants, index: int, what: str) -> np.ndarray:
    """Operand `index` of `op`, which must be a constant (HwcError naming `what` otherwise)."""
    value = constants[index]
    if value is None:
        raise HwcError(f"{op.name}: the {what} must be a constant for the executor")
    return np.asarray(value)


def int_values(attr, default: Sequence[int] = ()) -> tuple[int, ...]:
    """The integers of an array attribute, or `default` when the attribute is absent."""
    return tuple(int(v) for v in attr.get_values()) if attr is not None else tuple(default)
