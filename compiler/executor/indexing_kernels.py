"""Kernels of the indexing ops (`dialects/nn/indexing.py`) and of `nn.matmul`, with
their batch rules. Dtype-agnostic: they compute in the operands' own dtype.

Every kernel writes a fresh buffer of its own (never a view of an operand), so
that a later kernel may overwrite its result in place. `nn.embedding` checks
its ids when the graph runs: an id outside the table is one HwcError line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import Operation

from compiler.errors import HwcError
from compiler.executor.kernel_table import Binding, Instantiate, broadcast_rule
from compiler.executor.op_inputs import int_values, required_constant
from dialects import nn

# --------------------------------------------------------------------------- batch rules


def slice_rule(op: nn.SliceOp, batched: Sequence[bool]) -> bool:
    """Axis 0 (the batch) must be kept whole."""
    return op.starts.get_values()[0] == 0 and op.steps.get_values()[0] == 1 and \
        nn.shape_of(op.input)[0] == nn.shape_of(op.output)[0]


def gather_rule(op: nn.GatherOp, batched: Sequence[bool]) -> bool:
    return op.axis.value.data != 0


def expand_rule(op: nn.ExpandOp, batched: Sequence[bool]) -> bool:
    """The batch axis must stay where it is, unbroadcast."""
    x, y = nn.shape_of(op.input), nn.shape_of(op.output)
    return len(x) == len(y) and x[0] == y[0]


def tile_rule(op: nn.TileOp, batched: Sequence[bool]) -> bool:
    return op.repeats.get_values()[0] == 1


def matmul_rule(op: nn.MatMulOp, batched: Sequence[bool]) -> bool:
    """Batched operands carry the batch axis of the result: rank >= 3 (broadcast rule),
    or a 2-D product whose right operand is a constant (rows are independent)."""
    if len(nn.shape_of(op.output)) >= 3:
        return broadcast_rule(op, batched)
    return not batched[1]


# --------------------------------------------------------------------------- kernels


def _fresh(binding: Binding) -> np.ndarray:
    return np.empty(binding.result_shape, binding.dtype)


def embedding(op: nn.EmbeddingOp, constants) -> Instantiate:
    """`table[ids]` (a negative id counts from the end, as ONNX Gather); HwcError
    naming the op when an id lies outside [-rows, rows)."""
    table = required_constant(op, constants, 1, "table")
    rows = table.shape[0]
    origin = op.attributes.get(nn.ONNX_NODE_ATTR)
    where = f"{op.name} ('{origin.data}')" if origin is not None else op.name

    def instantiate(binding: Binding):
        result = _fresh(binding)

        def kernel(ids, _table=None):
            low, high = int(ids.min()), int(ids.max())
            if low < -rows or high >= rows:
                bad = high if high >= rows else low
                raise HwcError(f"{where}: id {bad} is outside the embedding table of {rows} rows "
                               f"(ids must lie in 0..{rows - 1})")
            np.take(table, ids, axis=0, out=result)
            return result

        return kernel

    return instantiate


def slice_(op: nn.SliceOp, constants) -> Instantiate:
    """Copy of the strided window (the batch axis taken whole when it is)."""
    dims = nn.shape_of(op.input)
    counts = nn.shape_of(op.output)
    index = []
    for size, start, step, count in zip(dims, int_values(op.starts), int_values(op.steps), counts):
        if start == 0 and step == 1 and count == size:
            index.append(slice(None))
        else:
            end = start + step * count
            index.append(slice(start, end if end >= 0 else None, step))
    where = tuple(index)

    def instantiate(binding: Binding):
        result = _fresh(binding)

        def kernel(x):
            np.copyto(result, x[where])
            return result

        return kernel

    return instantiate


def gather(op: nn.GatherOp, constants) -> Instantiate:
    indices = np.asarray(int_values(op.indices), dtype=np.int64)
    axis = op.axis.value.data

    def instantiate(binding: Binding):
        result = _fresh(binding)
        return lambda x: np.take(x, indices, axis=axis, out=result)

    return instantiate


def expand(op: nn.ExpandOp, constants) -> Instantiate:
    def instantiate(binding: Binding):
        result = _fresh(binding)

        def kernel(x):
            np.copyto(result, np.broadcast_to(x, result.shape))
            return result

        return kernel

    return instantiate


def tile(op: nn.TileOp, constants) -> Instantiate:
    repeats = int_values(op.repeats)

    def instantiate(binding: Binding):
        return lambda x: np.tile(x, repeats)

    return instantiate


def where(op: nn.WhereOp, constants) -> Instantiate:
    """`condition ? x : y`: y broadcast into the result, then x copied where the condition holds."""

    def instantiate(binding: Binding):
        result = _fresh(binding)

        def kernel(condition, x, y):
            np.copyto(result, y)
            np.copyto(result, x, where=np.broadcast_to(condition, result.shape))
            return result

        return kernel

    return instantiate


def cast(op: nn.CastOp, constants) -> Instantiate:
    """Conversion to the result dtype (float to int truncates toward zero)."""

    def instantiate(binding: Binding):
        result = _fresh(binding)

        def kernel(x):
            np.copyto(result, x, casting="unsafe")
            return result

        return kernel

    return instantiate


def matmul(op: Operation, constants) -> Instantiate:
    """`a @ b` with numpy's broadcasting of the batch axes, into one buffer."""

    def instantiate(binding: Binding):
        result = _fresh(binding)
        return lambda a, b: np.matmul(a, b, out=result)

    return instantiate


def cache_write_rule(op: nn.CacheWriteOp, batched: Sequence[bool]) -> bool:
    """The cache's batch axis is not the one written."""
    return op.axis.value.data != 0


def cache_write(op: nn.CacheWriteOp, constants) -> Instantiate:
    """A copy of the cache with the value at `position` along the axis; HwcError
    when the position lies outside the cache."""
    axis = op.axis.value.data
    capacity = nn.shape_of(op.cache)[axis]

    def instantiate(binding: Binding):
        result = _fresh(binding)

        def kernel(cache, value, position):
            index = int(position.reshape(-1)[0])
            if not 0 <= index < capacity:
                raise HwcError(f"{op.name}: position {index} is outside the cache of {capacity} positions")
            np.copyto(result, cache)
            where = [slice(None)] * result.ndim
            where[axis] = slice(index, index + 1)
            result[tuple(where)] = value
            return result

        return kernel

    return instantiate

