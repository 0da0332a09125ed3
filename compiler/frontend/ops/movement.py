"""Data movement: Concat, the reshapes (Reshape, Flatten, Squeeze, Unsqueeze),
Transpose and Pad.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontend.node import NodeImport, Unsupported, shape
from compiler.frontend.ops.registry import handles
from compiler.frontend.ops.shared import typed
from dialects import nn


@handles("Concat", note="any axis; constant inputs become constants")
def _concat(n: NodeImport):
    present = [i for i in range(len(n.inputs)) if n.has_input(i)]
    rank = n.rank(present[0])
    axis = n.axis(n.attr("axis"), rank)
    values = [n.activation(i) for i in present]
    result = list(shape(values[0]))
    result[axis] = sum(shape(v)[axis] for v in values)
    return [n.emit(nn.ConcatOp(values, axis, typed(result, values[0])))]


def _reshape_to(n: NodeImport, target: Sequence[int]) -> SSAValue:
    x = n.activation(0)
    if tuple(target) == shape(x):
        return x
    return n.emit(nn.ReshapeOp(x, typed(target, x)))


def reshape_target(source: Sequence[int], requested: Sequence[int], allowzero: bool) -> list[int]:
    """ONNX Reshape's output shape: 0 copies the input dimension (unless allowzero), -1 is inferred."""
    target = [source[i] if d == 0 and not allowzero else int(d) for i, d in enumerate(requested)]
    if target.count(-1) > 1 or any(d < -1 for d in target):
        raise Unsupported(f"invalid target shape {list(requested)}")
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        if known == 0 or math.prod(source) % known:
            raise Unsupported(f"cannot reshape {list(source)} to {list(requested)}")
        target[target.index(-1)] = math.prod(source) // known
    if math.prod(target) != math.prod(source):
        raise Unsupported(f"cannot reshape {list(source)} to {list(requested)}")
    return target


@handles("Reshape", note="constant shape (0, -1 and allowzero)")
def _reshape(n: NodeImport):
    requested = np.asarray(n.constant(1, "the target shape")).astype(np.int64).reshape(-1).tolist()
    return [_reshape_to(n, reshape_target(n.shape(0), requested, bool(n.attr("allowzero", 0))))]


@handles("Flatten", note="any axis")
def _flatten(n: NodeImport):
    dims = n.shape(0)
    axis = n.attr("axis", 1)
    if not -len(dims) <= axis <= len(dims):
        raise Unsupported(f"axis {axis} is out of range for rank {len(dims)}")
    if axis < 0:
        axis += len(dims)
    return [_reshape_to(n, (math.prod(dims[:axis]), math.prod(dims[axis:])))]


def _axes(n: NodeImport) -> list[int] | None:
    """The axes of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13."""
    if n.opset < 13:
        return n.attr("axes")
    if not n.has_input(1):
        return None
    return np.asarray(n.constant(1, "axes")).astype(np.int64).reshape(-1).tolist()


@handles("Squeeze", note="constant axes (a reshape)")
def _squeeze(n: NodeImport):
    dims = n.shape(0)
    axes = _axes(n)
    if axes is None:
        axes = [i for i, d in enumerate(dims) if d == 1]
    axes = {n.axis(a, len(dims)) for a in axes}
    if any(dims[a] != 1 for a in axes):
        raise Unsupported(f"cannot squeeze axes {sorted(axes)} of shape {list(dims)}")
    return [_reshape_to(n, [d for i, d in enumerate(dims) if i not in axes])]


@handles("Unsqueeze", note="constant axes (a reshape)")
def _unsqueeze(n: NodeImport):
    dims = list(n.shape(0))
    axes = _axes(n)
    if axes is None:
        raise Unsupported("axes are missing")
    rank = len(dims) + len(axes)
    for axis in sorted(n.axis(a, rank) for a in axes):
        dims.insert(axis, 1)
    return [_reshape_to(n, dims)]


@handles("Transpose", note="any permutation")
def _transpose(n: NodeImport):
    x, rank = n.activation(0), n.rank(0)
    perm = [n.axis(p, rank) for p in n.attr("perm", list(range(rank))[::-1])]
    if sorted(perm) != list(range(rank)):
        raise Unsupported(f"perm {perm} is not a permutation")
    if perm == list(range(rank)):
        return [x]
    return [n.emit(nn.TransposeOp(x, perm, typed([shape(x)[p] for p in perm], x)))]


@handles("Pad", note="constant, reflect and edge modes; non-negative constant pads "
                     "(an input from opset 11, with optional axes from 18)")
def _pad(n: NodeImport):
    mode = n.attr("mode", "constant")
    if mode not in nn.PAD_MODES:
        raise Unsupported(f"mode '{mode}'")
    rank = n.rank(0)
    if n.opset < 11:
        pads = list(n.attr("pads", n.attr("paddings", [0] * 2 * rank)))
        value = float(n.attr("value", 0.0))
    else:
        pads = np.asarray(n.constant(1, "pads")).astype(np.int64).reshape(-1).tolist()
        fill = n.optional_constant(2, "constant_value")
        value = float(np.asarray(fill).reshape(-1)[0]) if fill is not None and np.size(fill) else 0.0
        if n.has_input(3):
            pads = _pads_for_axes(n, pads, rank)
    if len(pads) != 2 * rank:
        raise Unsupported(f"pads {pads} should have {2 * rank} values")
    if any(p < 0 for p in pads):
        raise Unsupported(f"negative pads {pads} (cropping)")
    x = n.activation(0)
    if not any(pads):
        return [x]
    result = [d + pads[i] + pads[i + rank] for i, d in enumerate(shape(x))]
    return [n.emit(nn.PadOp(x, pads, mode, value, n.type(result)))]


def _pads_for_axes(n: NodeImport, pads: list[int], rank: int) -> list[int]:
    axes = [n.axis(a, rank) for a in
            np.asarray(n.constant(3, "axes")).astype(np.int64).reshape(-1).tolist()]
    if len(pads) != 2 * len(axes):
        raise Unsupported(f"pads {pads} should have {2 * len(axes)} values")
    full = [0] * 2 * rank
    for i, axis in enumerate(axes):
        full[axis], full[axis + rank] = pads[i], pads[i + len(axes)]
    return full
