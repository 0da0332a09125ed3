"""Indexing and broadcasting on activations: Gather (an embedding lookup, or
constant indices), Slice, Split, Expand, Tile and Where (a constant condition or
a boolean activation).

Normal forms (see `dialects/nn/indexing.py`): a `Slice`, every output of a
`Split`, and a `Gather` of an evenly spaced run of indices are all one
`nn.slice` with non-negative starts and in-range indices (a scalar index is a
slice and a reshape dropping the axis); a `Gather` of any other constant
indices is `nn.gather` of the flattened indices and a reshape to their shape;
a `Gather` of a constant table by integer ids is `nn.embedding`. An op that
changes nothing (a full slice, an expand to the same shape, a tile by ones)
vanishes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import IntegerType
from xdsl.ir import SSAValue

from compiler.frontend.loader import Constant
from compiler.frontend.node import NodeImport, Unsupported, shape
from compiler.frontend.ops.registry import handles
from compiler.frontend.ops.shared import typed
from compiler.ir import element_type_for, tensor_type
from dialects import nn


def int_list(n: NodeImport, index: int, role: str) -> list[int]:
    """Constant input `index` as a flat list of Python ints."""
    return np.asarray(n.constant(index, role)).astype(np.int64).reshape(-1).tolist()


def emit_reshape(n: NodeImport, x: SSAValue, target: Sequence[int]) -> SSAValue:
    if tuple(target) == shape(x):
        return x
    return n.emit(nn.ReshapeOp(x, typed(target, x)))


def emit_slice(n: NodeImport, x: SSAValue, starts: Sequence[int], steps: Sequence[int],
               counts: Sequence[int]) -> SSAValue:
    """`nn.slice` of `x` (normal form), or `x` itself when the slice keeps everything."""
    dims = shape(x)
    if any(c < 1 for c in counts):
        raise Unsupported(f"the result would be empty (shape {list(counts)})")
    if all(s == 0 and t == 1 and c == d for s, t, c, d in zip(starts, steps, counts, dims)):
        return x
    return n.emit(nn.SliceOp(x, starts, steps, typed(counts, x)))


def emit_axis_slice(n: NodeImport, x: SSAValue, axis: int, start: int, step: int, count: int) -> SSAValue:
    """`emit_slice` along one axis, the other axes kept whole."""
    dims = shape(x)
    starts, steps, counts = [0] * len(dims), [1] * len(dims), list(dims)
    starts[axis], steps[axis], counts[axis] = start, step, count
    return emit_slice(n, x, starts, steps, counts)


# --------------------------------------------------------------------------- Gather


@handles("Gather", note="a constant table by integer ids (axis 0: an embedding lookup, ids in "
                        "[-rows, rows)); an activation by constant indices on any axis")
def _gather(n: NodeImport):
    if n.is_constant(0):
        return [_embedding(n)]
    if not n.is_constant(1):
        raise Unsupported("the indices must be constants, or the data a constant table")
    x = n.activation(0)
    dims = shape(x)
    axis = n.axis(n.attr("axis", 0), len(dims))
    indices = np.asarray(n.constant(1, "indices")).astype(np.int64)
    if indices.size == 0:
        raise Unsupported("no indices (an empty result)")
    if np.any(indices < -dims[axis]) or np.any(indices >= dims[axis]):
        raise Unsupported(f"indices outside [-{dims[axis]}, {dims[axis]}) on axis {axis}")
    flat = (indices.reshape(-1) % dims[axis]).tolist()
    result = [*dims[:axis], *indices.shape, *dims[axis + 1:]]
    steps = {b - a for a, b in zip(flat, flat[1:])}
    if len(steps) <= 1 and 0 not in steps:
        picked = emit_axis_slice(n, x, axis, flat[0], steps.pop() if steps else 1, len(flat))
    else:
        gathered = list(dims)
        gathered[axis] = len(flat)
        picked = n.emit(nn.GatherOp(x, flat, axis, typed(gathered, x)))
    return [emit_reshape(n, picked, result)]


def _embedding(n: NodeImport) -> SSAValue:
    """`table[ids]` for a constant table and integer ids: `nn.embedding` on axis 0."""
    table = n.constant_input(0, "the table")
    if n.axis(n.attr("axis", 0), len(table.shape)) != 0:
        raise Unsupported("a constant table is only looked up along axis 0")
    ids = n.activation(1)
    if not isinstance(nn.element_type_of(ids), IntegerType):
        raise Unsupported("the ids must be integers")
    rows, features = table.shape[0], math.prod(table.shape[1:])
    matrix = table if len(table.shape) == 2 else _as_matrix(table, rows, features)
    lookup = n.emit(nn.EmbeddingOp(ids, n.graph.materialise(matrix),
                                   typed((*shape(ids), features), table)))
    return emit_reshape(n, lookup, (*shape(ids), *table.shape[1:]))


def _as_matrix(table: Constant, rows: int, features: int) -> Constant:
    return Constant(f"{table.name}_rows", (rows, features), table.dtype,
                    lambda: np.asarray(table.value()).reshape(rows, features))


# --------------------------------------------------------------------------- Slice, Split


def slice_range(start: int, end: int, step: int, size: int) -> tuple[int, int]:
    """ONNX Slice's (first index, count) along an axis of `size` (negative values count
    from the end, out-of-range values are clamped)."""
    if step == 0:
        raise Unsupported("a step of 0")
    start = start + size if start < 0 else start
    end = end + size if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), size), min(max(end, 0), size)
    else:
        start, end = min(max(start, 0), size - 1), min(max(end, -1), size - 1)
    return start, max(0, -(-(end - start) // step))


@handles("Slice", note="constant starts/ends/axes/steps (attributes before opset 10); negative "
                       "and out-of-range values clamped as ONNX does")
def _slice(n: NodeImport):
    x = n.activation(0)
    dims = shape(x)
    if n.opset < 10:
        begins, ends = list(n.attr("starts")), list(n.attr("ends"))
        axes, steps = n.attr("axes"), None
    else:
        begins, ends = int_list(n, 1, "starts"), int_list(n, 2, "ends")
        axes = int_list(n, 3, "axes") if n.has_input(3) else None
        steps = int_list(n, 4, "steps") if n.has_input(4) else None
    axes = list(range(len(begins))) if axes is None else axes
    steps = [1] * len(begins) if steps is None else steps
    if not len(begins) == len(ends) == len(axes) == len(steps):
        raise Unsupported("starts, ends, axes and steps differ in length")
    normal = [n.axis(a, len(dims)) for a in axes]
    if len(set(normal)) != len(normal):
        raise Unsupported(f"axes {axes} repeat an axis")
    starts, strides, counts = [0] * len(dims), [1] * len(dims), list(dims)
    for axis, begin, end, step in zip(normal, begins, ends, steps):
        starts[axis], counts[axis] = slice_range(begin, end, step, dims[axis])
        strides[axis] = step
    return [emit_slice(n, x, starts, strides, counts)]


def split_sizes(n: NodeImport, size: int, outputs: int) -> list[int]:
    """The lengths of Split's parts: `split` (an attribute before opset 13, an input
    from 13), `num_outputs` (opset 18, the last part smaller), or equal parts."""
    if n.opset < 13 and n.has_attr("split"):
        sizes = list(n.attr("split"))
    elif n.opset >= 13 and n.has_input(1):
        sizes = int_list(n, 1, "split")
    else:
        parts = n.attr("num_outputs", outputs)
        if parts != outputs:
            raise Unsupported(f"num_outputs {parts} but {outputs} outputs")
        if n.has_attr("num_outputs"):
            chunk = -(-size // parts)
            sizes = [min(chunk, size - i * chunk) for i in range(parts)]
        elif size % parts:
            raise Unsupported(f"{size} does not split into {parts} equal parts")
        else:
            sizes = [size // parts] * parts
    if len(sizes) != outputs or sum(sizes) != size or any(s < 1 for s in sizes):
        raise Unsupported(f"split {sizes} does not cut {size} into {outputs} non-empty parts")
    return sizes


@handles("Split", note="along any axis: `split` sizes (attribute or input), `num_outputs` "
                       "(opset 18) or equal parts; each output a slice")
def _split(n: NodeImport):
    x = n.activation(0)
    dims = shape(x)
    axis = n.axis(n.attr("axis", 0), len(dims))
    sizes = split_sizes(n, dims[axis], len(n.node.output))
    parts, offset = [], 0
    for index, size in enumerate(sizes):
        used = n.output_used(index)
        parts.append(emit_axis_slice(n, x, axis, offset, 1, size) if used else None)
        offset += size
    return parts


# --------------------------------------------------------------------------- Expand, Tile, Where


@handles("Expand", note="constant shape (bidirectional numpy broadcasting)")
def _expand(n: NodeImport):
    x = n.activation(0)
    requested = int_list(n, 1, "the shape")
    try:
        result = np.broadcast_shapes(shape(x), tuple(requested))
    except ValueError:
        raise Unsupported(f"{list(shape(x))} does not broadcast with {requested}") from None
    if result == shape(x):
        return [x]
    return [n.emit(nn.ExpandOp(x, typed(result, x)))]


@handles("Tile", note="constant repeats (each at least 1)")
def _tile(n: NodeImport):
    x = n.activation(0)
    repeats = int_list(n, 1, "repeats")
    if len(repeats) != len(shape(x)):
        raise Unsupported(f"{len(repeats)} repeats for rank {len(shape(x))}")
    if any(r < 1 for r in repeats):
        raise Unsupported(f"repeats {repeats} must each be at least 1")
    if all(r == 1 for r in repeats):
        return [x]
    return [n.emit(nn.TileOp(x, repeats, typed([d * r for d, r in zip(shape(x), repeats)], x)))]


@handles("Where", note="a constant condition, or a boolean activation (from `IsNaN`); the two branches "
                       "constants or activations")
def _where(n: NodeImport):
    condition = _where_condition(n)
    x, y = n.activation(1), n.activation(2)
    branch = next((v for v in n.inputs[1:3] if isinstance(v, SSAValue)), x)
    try:
        result = np.broadcast_shapes(shape(condition), shape(x), shape(y))
    except ValueError:
        raise Unsupported("the condition and branches do not broadcast") from None
    return [n.emit(nn.WhereOp(condition, x, y, typed(result, branch)))]


def _where_condition(n: NodeImport) -> SSAValue:
    """The condition as an i1 value: a constant (any dtype, made boolean) or an i1 activation."""
    if isinstance(n.inputs[0], SSAValue):
        element = n.inputs[0].type.get_element_type()
        if not (isinstance(element, IntegerType) and element.width.data == 1):
            raise Unsupported("the condition must be a constant or a boolean activation")
        return n.inputs[0]
    condition = n.constant_input(0, "the condition")
    boolean = Constant(condition.name, condition.shape, np.dtype(np.bool_),
                       lambda: np.asarray(condition.value(), dtype=np.bool_))
    return n.graph.materialise(boolean)


CAST_TARGETS = {1: np.dtype(np.float32), 6: np.dtype(np.int32), 7: np.dtype(np.int64)}
"""ONNX element types an activation may be cast to (float32, int32, int64)."""


@handles("Cast", note="on activations: to their own element type (removed), or between float32 "
                      "and int32/int64")
def _cast(n: NodeImport):
    """Cast: to the activation's own element type it vanishes; between float32 and
    int32/int64 it is `nn.cast`."""
    target = CAST_TARGETS.get(n.attr("to"))
    if target is None:
        raise Unsupported("an activation can only be cast to float32, int32 or int64")
    x = n.activation(0)
    result = tensor_type(shape(x), element_type_for(target))
    if result == x.type:
        return [x]
    return [n.emit(nn.CastOp(x, result))]
