"""Which axes of each value of a whole-sequence graph run along the sequence, and
the proof that the graph may run one token at a time (for `sequence-to-stream`).

The token input `[1, T]` has the sequence along axis 1. Every value computed from
it carries the sequence on some axes, each with a role:

* a **query** axis holds one entry per position, and the entry at position p
  depends on the tokens at positions <= p only: a step graph computes exactly
  that entry when it runs token p;
* a **key** axis (attention scores, their softmax) holds one entry per earlier
  position: the step graph computes all of them from the K/V caches.

Rules (`infer`; anything else is refused with the op named, see `NotCausal`):

* position-wise ops keep each axis and its role: element-wise math, casts,
  `nn.dense` on a non-sequence last axis, reshapes that keep the axis whole,
  transposes, slices/gathers/concats/pads/tiles/reductions/norms/softmaxes
  along other axes, embedding lookups (the ids' axes);
* a constant operand that is `T` long on a query axis is indexed by position
  (RoPE's cos/sin tables, learned positions); on a key axis it is kept whole;
* `nn.matmul(q, kᵀ)` with q's query axis as its rows and the right operand's
  query axis as its columns gives scores with a query and a key axis, whose
  entries past the diagonal are not those the step graph computes ("future");
  adding a constant causal mask (every entry past the diagonal <= `MASKED_BELOW`)
  or `nn.where` selecting such a constant there makes them "masked"; a softmax
  over the key axis of masked scores makes them exactly zero ("zero"), and so
  does `nn.where` between two values zero there (SDPA's NaN guard
  `where(isnan(p), 0, p)`);
* `nn.matmul(p, v)` with a zero key axis as the contraction and the right
  operand's query axis as its rows sums over earlier positions: a query axis.

The right operands of those two matmuls are where the step graph reads its
caches (`cached_operands`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.func import FuncOp
from xdsl.ir import Operation, SSAValue


from compiler.ir import constant_value, is_constant
from compiler.weights import WeightStore
from dialects import nn
from dialects.nn.elementwise import BinaryOp, UnaryOp

QUERY, KEY = "query", "key"
FUTURE, MASKED, ZERO = "future", "masked", "zero"
MASKED_BELOW = -1e30
"""A score this low (or -inf) is masked: it survives any finite score added to it
and its softmax weight is exactly 0 in float32."""


class NotCausal(Exception):
    """The graph mixes sequence positions in a way a step graph cannot reproduce;
    `op` is the first op found doing it."""

    def __init__(self, op: Operation, reason: str):
        origin = op.attributes.get(nn.ONNX_NODE_ATTR)
        where = f"'{origin.data}' ({op.name})" if origin is not None else op.name
        super().__init__(f"{where} {reason}")
        self.op = op


@dataclass(frozen=True)
class SequenceAxes:
    """The sequence axes of one value (axis -> QUERY or KEY) and, for values with a
    key axis, what their entries past the diagonal are (FUTURE, MASKED or ZERO)."""

    roles: dict[int, str]
    state: str | None = None

    def axes(self, role: str) -> list[int]:
        return [axis for axis, r in self.roles.items() if r == role]


@dataclass
class Analysis:
    """`axes[v]` for every value that depends on the tokens; `cached_operands`: the
    (matmul, operand index) pairs whose operand the step graph reads from a cache."""

    length: int
    store: WeightStore
    axes: dict[SSAValue, SequenceAxes] = field(default_factory=dict)
    cached_operands: list[tuple[Operation, int]] = field(default_factory=list)


ELEMENTWISE = (UnaryOp, BinaryOp, nn.CastOp, nn.WhereOp, nn.IsNanOp)
"""Ops whose every result entry reads the same entry of each (broadcast) operand
(those of them that name an axis, the softmaxes, are axis ops)."""
def reads_by_position(op: Operation, index: int) -> bool:
    """Whether constant operand `index` of `op` broadcasts against the result, so
    that one T long on a query axis is read at the token's position (RoPE tables,
    masks): every operand of an element-wise op, a softmax's mask."""
    if isinstance(op, (nn.MaskedSoftmaxOp, nn.IntSoftmaxOp)):
        return index == 1
    return isinstance(op, ELEMENTWISE)
MOVEMENT = (nn.ReshapeOp, nn.TransposeOp, nn.ExpandOp, nn.TileOp, nn.CastOp, nn.SliceOp, nn.GatherOp)
"""Single-input ops that only move entries: a cached operand's chain back to its cache."""


def analyse(function: FuncOp, token: SSAValue, store: WeightStore) -> Analysis:
    """The sequence axes of every value of `function` that depends on `token`
    (`[1, T]`: the sequence on axis 1); raises NotCausal naming the first op that
    mixes positions. `store` holds the module's weights."""
    length = nn.shape_of(token)[1]
    analysis = Analysis(length, store)
    analysis.axes[token] = SequenceAxes({1: QUERY})
    for op in function.body.block.ops:
        if op.name == "func.return" or not any(v in analysis.axes for v in op.operands):
            continue
        for result, axes in zip(op.results, infer(op, analysis)):
            analysis.axes[result] = axes
    return analysis


def infer(op: Operation, analysis: Analysis) -> list[SequenceAxes]:
    """The sequence axes of `op`'s results (see module doc)."""
    rule = RULES.get(type(op))
    if rule is None:
        rule = _axis_preserving if _is_axis_op(op) else _elementwise if isinstance(op, ELEMENTWISE) else None
    if rule is None:
        raise NotCausal(op, "is not known to act position by position, so the graph cannot run token by token")
    result = rule(op, analysis)
    return result if isinstance(result, list) else [result]


# --------------------------------------------------------------------------- rules


def _aligned(value: SSAValue, rank: int, analysis: Analysis) -> dict[int, str]:
    """`value`'s roles at the axes of a broadcast result of `rank` (right-aligned)."""
    axes = analysis.axes.get(value)
    shift = rank - len(nn.shape_of(value))
    return {axis + shift: role for axis, role in axes.roles.items()} if axes else {}


def _elementwise(op: Operation, analysis: Analysis) -> SequenceAxes:
    rank = len(nn.shape_of(op.results[0]))
    roles: dict[int, str] = {}
    for value in op.operands:
        for axis, role in _aligned(value, rank, analysis).items():
            if roles.setdefault(axis, role) != role:
                raise NotCausal(op, "combines a query axis with a key axis")
    if KEY not in roles.values():
        return SequenceAxes(roles)
    return SequenceAxes(roles, _state_after(op, roles, analysis))


def _state_after(op: Operation, roles: dict[int, str], analysis: Analysis) -> str:
    """FUTURE, MASKED or ZERO for an element-wise op on values with a key axis."""
    states = [analysis.axes[v].state for v in op.operands if v in analysis.axes and analysis.axes[v].state]
    constants = [v for v in op.operands if v not in analysis.axes]
    if isinstance(op, nn.AddOp) and states == [FUTURE] and any(_is_causal_mask(c, roles, op, analysis.store) for c in constants):
        return MASKED
    if isinstance(op, nn.WhereOp) and _where_masks(op, roles, analysis):
        return MASKED
    if isinstance(op, nn.WhereOp) and all(_zero_past_diagonal(v, roles, op, analysis) for v in (op.x, op.y)):
        return ZERO
    if isinstance(op, nn.CastOp) or (isinstance(op, (nn.MulOp, nn.DivOp)) and _positive_scalar(constants, analysis.store)):
        return states[0]
    return FUTURE  # conservative: past-diagonal entries no longer known


def _past_diagonal(shape: tuple[int, ...], roles: dict[int, str], rank: int) -> np.ndarray | None:
    """A boolean mask of `shape` (right-aligned in `rank`) true where key > query,
    or None when the shape does not span both axes."""
    shift = rank - len(shape)
    query = next((a for a, r in roles.items() if r == QUERY), None)
    key = next((a for a, r in roles.items() if r == KEY), None)
    if query is None or key is None or query - shift < 0 or key - shift < 0:
        return None
    if shape[query - shift] == 1 or shape[key - shift] == 1:
        return None
    positions = np.indices(shape)
    return positions[key - shift] > positions[query - shift]


def _is_causal_mask(value: SSAValue, roles: dict[int, str], op: Operation, store: WeightStore) -> bool:
    if not is_constant(value.owner):
        return False
    data = np.asarray(constant_value(value, store), dtype=np.float64)
    past = _past_diagonal(data.shape, roles, len(nn.shape_of(op.results[0])))
    return past is not None and bool(np.all(data[past] <= MASKED_BELOW))


def _where_masks(op: nn.WhereOp, roles: dict[int, str], analysis: Analysis) -> bool:
    """`where(condition, scores, low)` with a constant condition false past the
    diagonal and a constant low there (or the mirror image)."""
    if not is_constant(op.condition.owner):
        return False
    condition = np.asarray(constant_value(op.condition, analysis.store), dtype=bool)
    rank = len(nn.shape_of(op.results[0]))
    past = _past_diagonal(condition.shape, roles, rank)
    if past is None:
        return False
    for kept, other, taken_past in ((op.x, op.y, False), (op.y, op.x, True)):
        if other in analysis.axes or analysis.axes.get(kept) is None or not is_constant(other.owner):
            continue
        if analysis.axes[kept].state != FUTURE or not np.all(condition[past] == taken_past):
            continue
        low = np.asarray(constant_value(other, analysis.store), dtype=np.float64)
        if np.all(np.broadcast_to(low, np.broadcast_shapes(low.shape, condition.shape))[past] <= MASKED_BELOW):
            return True
    return False


def _zero_past_diagonal(value: SSAValue, roles: dict[int, str], op: Operation, analysis: Analysis) -> bool:
    """`value` is exactly 0 past the diagonal: a ZERO value, or a constant that is 0
    there (SDPA's `where(isnan(p), 0, p)` after the softmax keeps p ZERO)."""
    if value in analysis.axes:
        return analysis.axes[value].state == ZERO
    if not is_constant(value.owner):
        return False
    data = np.asarray(constant_value(value, analysis.store), dtype=np.float64)
    if data.size == 1:
        return float(data.reshape(-1)[0]) == 0.0
    past = _past_diagonal(data.shape, roles, len(nn.shape_of(op.results[0])))
    return past is not None and bool(np.all(data[past] == 0))


def _positive_scalar(constants: list[SSAValue], store: WeightStore) -> bool:
    if len(constants) != 1 or not is_constant(constants[0].owner):
        return False
    data = np.asarray(constant_value(constants[0], store), dtype=np.float64)
    return data.size == 1 and float(data.reshape(-1)[0]) > 0


def _single(op: Operation, analysis: Analysis) -> SequenceAxes:
    (value,) = [v for v in op.operands if v in analysis.axes]
    return analysis.axes[value]


def _axis_preserving(op: Operation, analysis: Analysis) -> SequenceAxes:
    """An op acting along the axes it names (softmax, reductions, norms, concat...):
    position-wise unless one of them is a sequence axis."""
    axes = _single_or_common(op, analysis)
    named = _named_axes(op)
    touched = [a for a in named if a in axes.roles]
    if isinstance(op, nn.SoftmaxOp) and touched and axes.roles[touched[0]] == KEY:
        if axes.state != MASKED:
            raise NotCausal(op, "takes a softmax over keys that are not causally masked")
        return SequenceAxes(axes.roles, ZERO)
    if touched:
        raise NotCausal(op, f"acts along the sequence axis {touched[0]}")
    kept = _kept_axes(op, axes)
    return SequenceAxes(kept, FUTURE if KEY in kept.values() else None)


def _masked_softmax(op: nn.MaskedSoftmaxOp | nn.IntSoftmaxOp, analysis: Analysis) -> SequenceAxes:
    """A softmax that applies its own (constant) mask: along the key axis of scores
    it gives ZERO past the diagonal when the mask drops every entry there."""
    axes = analysis.axes[op.input]
    axis = op.axis.value.data
    if op.mask in analysis.axes:
        raise NotCausal(op, "takes its mask from the tokens")
    if axis not in axes.roles:
        return SequenceAxes(dict(axes.roles), FUTURE if KEY in axes.roles.values() else None)
    if axes.roles[axis] != KEY:
        raise NotCausal(op, f"acts along the sequence axis {axis}")
    keep = np.asarray(constant_value(op.mask, analysis.store), dtype=bool)
    past = _past_diagonal(keep.shape, axes.roles, len(nn.shape_of(op.output)))
    if axes.state == ZERO or (past is not None and not np.any(keep[past])):
        return SequenceAxes(axes.roles, ZERO)
    raise NotCausal(op, "takes a softmax over keys that are not causally masked")


def _single_or_common(op: Operation, analysis: Analysis) -> SequenceAxes:
    found = [analysis.axes[v] for v in op.operands if v in analysis.axes]
    if any(f.roles != found[0].roles for f in found):
        raise NotCausal(op, "joins values whose sequence axes differ")
    return found[0]


def _is_axis_op(op: Operation) -> bool:
    return any(name in op.properties for name in ("axis", "axes"))


def _named_axes(op: Operation) -> list[int]:
    """The axes `op` acts along (a layer or RMS norm: its axis and every later one)."""
    rank = len(nn.shape_of(op.operands[0]))
    if isinstance(op, (nn.LayerNormOp, nn.RmsNormOp)):
        return list(range(op.axis.value.data, rank))
    if "axes" in op.properties:
        values = list(op.properties["axes"].get_values())
    else:
        values = [op.properties["axis"].value.data]
    return [a % rank for a in values]


def _kept_axes(op: Operation, axes: SequenceAxes) -> dict[int, str]:
    """The roles at the result's axes when the op may drop the axes it reduces."""
    in_rank, out_rank = len(nn.shape_of(op.operands[0])), len(nn.shape_of(op.results[0]))
    if in_rank == out_rank:
        return dict(axes.roles)
    dropped = sorted(set(_named_axes(op)))
    return {axis - sum(d < axis for d in dropped): role for axis, role in axes.roles.items()}


def _dense(op: nn.DenseOp, analysis: Analysis) -> SequenceAxes:
    axes = analysis.axes[op.operands[0]]
    last = len(nn.shape_of(op.operands[0])) - 1
    if last in axes.roles:
        raise NotCausal(op, "multiplies along the sequence axis")
    return SequenceAxes(axes.roles, FUTURE if KEY in axes.roles.values() else None)


def _embedding(op: nn.EmbeddingOp, analysis: Analysis) -> SequenceAxes:
    if op.table in analysis.axes:
        raise NotCausal(op, "looks up rows of a table computed from the tokens")
    return analysis.axes[op.ids]


def _reshape(op: nn.ReshapeOp, analysis: Analysis) -> SequenceAxes:
    axes = analysis.axes[op.input]
    source, target = nn.shape_of(op.input), nn.shape_of(op.output)
    roles = {}
    for axis, role in axes.roles.items():
        mapped = _reshaped_axis(source, target, axis)
        if mapped is None:
            raise NotCausal(op, f"merges the sequence axis {axis} with another axis")
        roles[mapped] = role
    return SequenceAxes(roles, axes.state)


def _reshaped_axis(source: tuple[int, ...], target: tuple[int, ...], axis: int) -> int | None:
    """The target axis holding source axis `axis` whole (same size, same elements
    before and after it), or None."""
    before = int(np.prod(source[:axis]))
    for candidate in range(len(target)):
        if target[candidate] == source[axis] and int(np.prod(target[:candidate])) == before:
            return candidate
    return None


def _transpose(op: nn.TransposeOp, analysis: Analysis) -> SequenceAxes:
    axes = analysis.axes[op.input]
    perm = list(op.perm.get_values())
    return SequenceAxes({perm.index(axis): role for axis, role in axes.roles.items()}, axes.state)


def _slice(op: nn.SliceOp, analysis: Analysis) -> SequenceAxes:
    axes = analysis.axes[op.input]
    source, target = nn.shape_of(op.input), nn.shape_of(op.output)
    for axis in axes.roles:
        if source[axis] != target[axis]:
            raise NotCausal(op, f"slices the sequence axis {axis}")
    return axes


def _gather(op: nn.GatherOp, analysis: Analysis) -> SequenceAxes:
    axes = analysis.axes[op.input]
    if op.axis.value.data in axes.roles:
        raise NotCausal(op, f"gathers along the sequence axis {op.axis.value.data}")
    return axes


def _expand(op: nn.ExpandOp, analysis: Analysis) -> SequenceAxes:
    axes = analysis.axes[op.input]
    shift = len(nn.shape_of(op.output)) - len(nn.shape_of(op.input))
    return SequenceAxes({axis + shift: role for axis, role in axes.roles.items()}, axes.state)


def _tile(op: nn.TileOp, analysis: Analysis) -> SequenceAxes:
    axes = analysis.axes[op.input]
    repeats = list(op.repeats.get_values())
    if any(repeats[axis] != 1 for axis in axes.roles):
        raise NotCausal(op, "repeats the sequence")
    return axes


def _pad(op: nn.PadOp, analysis: Analysis) -> SequenceAxes:
    axes = analysis.axes[op.input]
    pads = list(op.pads.get_values())
    rank = len(pads) // 2
    if any(pads[axis] or pads[rank + axis] for axis in axes.roles):
        raise NotCausal(op, "pads the sequence")
    return axes


def _concat(op: nn.ConcatOp, analysis: Analysis) -> SequenceAxes:
    axes = _single_or_common(op, analysis)
    if op.axis.value.data in axes.roles:
        raise NotCausal(op, "concatenates along the sequence axis")
    return axes


def _matmul(op: nn.MatMulOp, analysis: Analysis) -> SequenceAxes:
    """Position-wise products, attention scores (q·kᵀ) and weighted sums (p·v)."""
    rank = len(nn.shape_of(op.output))
    lhs_rank, rhs_rank = len(nn.shape_of(op.lhs)), len(nn.shape_of(op.rhs))
    lhs = analysis.axes.get(op.lhs) or SequenceAxes({})
    rhs = analysis.axes.get(op.rhs) or SequenceAxes({})
    lhs_batch = {a + rank - lhs_rank: r for a, r in lhs.roles.items() if a < lhs_rank - 2}
    rhs_batch = {a + rank - rhs_rank: r for a, r in rhs.roles.items() if a < rhs_rank - 2}
    if lhs_batch or rhs_batch:
        raise NotCausal(op, "multiplies matrices batched over the sequence")
    rows, inner = lhs.roles.get(lhs_rank - 2), lhs.roles.get(lhs_rank - 1)
    rhs_inner, columns = rhs.roles.get(rhs_rank - 2), rhs.roles.get(rhs_rank - 1)
    if rows == QUERY and inner is None and rhs_inner is None and columns == QUERY:
        analysis.cached_operands.append((op, 1))
        return SequenceAxes({rank - 2: QUERY, rank - 1: KEY}, FUTURE)
    if rows == QUERY and inner == KEY and lhs.state == ZERO and rhs_inner == QUERY and columns is None:
        analysis.cached_operands.append((op, 1))
        return SequenceAxes({rank - 2: QUERY})
    if rows == QUERY and inner is None and not rhs.roles:
        return SequenceAxes({rank - 2: QUERY})
    raise NotCausal(op, "multiplies across sequence positions in a way that is not causal attention")


def _first_operand(op: Operation, analysis: Analysis) -> SequenceAxes:
    """Requant, table lookup, inverse square root: element-wise in their first
    operand, the others constant parameters."""
    if any(v in analysis.axes for v in op.operands[1:]):
        raise NotCausal(op, "takes a parameter computed from the tokens")
    axes = analysis.axes[op.operands[0]]
    return SequenceAxes(dict(axes.roles), FUTURE if KEY in axes.roles.values() else None)


RULES = {
    nn.MaskedSoftmaxOp: _masked_softmax,
    nn.IntSoftmaxOp: _masked_softmax,
    nn.RequantOp: _first_operand,
    nn.LookupOp: _first_operand,
    nn.InvSqrtOp: _first_operand,
    nn.DenseOp: _dense,
    nn.GroupDenseOp: _dense,
    nn.EmbeddingOp: _embedding,
    nn.ReshapeOp: _reshape,
    nn.TransposeOp: _transpose,
    nn.SliceOp: _slice,
    nn.GatherOp: _gather,
    nn.ExpandOp: _expand,
    nn.TileOp: _tile,
    nn.PadOp: _pad,
    nn.ConcatOp: _concat,
    nn.MatMulOp: _matmul,
}
