"""`mask-softmax`: turn an additive attention mask in front of a softmax into a
boolean mask the softmax itself applies.

Exporters mask attention by adding a constant that is 0 where a key is visible
and -inf (or the float type's lowest value) where it is not, and SDPA exports
then replace a fully masked row's NaN by 0:

    %s = nn.add %scores, %m          // m in {0} ∪ (-inf, MASKED_BELOW]
    %p = nn.softmax %s {axis}
    [%n = nn.is_nan %p ; %q = nn.where %n, 0, %p]

becomes `%p = nn.masked_softmax %scores, %keep {axis}` with `%keep = (m == 0)`
an i1 constant of m's shape (and the NaN guard gone: every row keeps at least
one entry, so there is no NaN to guard). The float value is the same: the
masked entries' weights were exactly 0 in float32 and the kept entries see the
same maximum and sum. The point is the integer level: a score and a mask
added together have no useful common scale, a softmax that skips masked
entries does.

Applies only when the added constant is 0 or <= `MASKED_BELOW` everywhere and
every softmax row keeps at least one entry; any other add or softmax is left
as it is.

Requires: a float nn module.
Guarantees: the same function; the scores no longer pass through the mask add.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerType, ModuleOp, TensorType
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from compiler.ir import constant_value, is_constant, make_constant
from compiler.weights import WeightStore, store_for
from dialects import nn
from passes.recognise_norms import operand_pairs
from passes.sequence_axes import MASKED_BELOW


def keep_mask(values: np.ndarray) -> np.ndarray | None:
    """True where an additive mask keeps an entry (0), False where it masks it
    (<= MASKED_BELOW); None when it holds anything else."""
    values = np.asarray(values, np.float64)
    keep = values == 0
    if not np.all(keep | (values <= MASKED_BELOW)):
        return None
    return keep


def keeps_every_row(keep: np.ndarray, shape: tuple[int, ...], axis: int) -> bool:
    rank = len(shape)
    full = np.broadcast_to(keep.reshape((1,) * (rank - keep.ndim) + keep.shape), shape)
    return bool(np.all(full.any(axis=axis)))


@dataclass
class MaskedSoftmaxPattern(RewritePattern):
    """`softmax(scores + additive_mask)` [+ NaN guard] -> `masked_softmax(scores, keep)`."""

    store: WeightStore

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.SoftmaxOp, rewriter: PatternRewriter) -> None:
        add = op.input.owner
        if not isinstance(add, nn.AddOp) or not op.input.has_one_use():
            return
        for scores, mask in operand_pairs(add):
            if is_constant(scores.owner) or not is_constant(mask.owner) or scores.type != op.input.type:
                continue
            keep = keep_mask(constant_value(mask, self.store))
            axis = op.axis.value.data
            if keep is None or not keeps_every_row(keep, nn.shape_of(scores), axis):
                continue
            constant = make_constant(keep.astype(np.int8), self.store, "attention.keep", IntegerType(1))
            softmax = nn.MaskedSoftmaxOp(scores, constant.results[0], axis, op.output.type)
            softmax.attributes.update(op.attributes)
            rewriter.insert(constant, InsertPoint.before(add))
            rewriter.replace(op, softmax)
            rewriter.erase(add)
            if mask.owner.parent is not None and not mask.uses:
                rewriter.erase(mask.owner)
            drop_nan_guard(softmax.output, rewriter, self.store)
            return


def drop_nan_guard(probabilities: SSAValue, rewriter: PatternRewriter, store: WeightStore) -> None:
    """Erase `where(isnan(p), 0, p)` after `p`: a masked softmax has no NaN."""
    for use in list(probabilities.uses):
        is_nan = use.operation
        if not isinstance(is_nan, nn.IsNanOp) or not is_nan.output.has_one_use():
            continue
        where = next(iter(is_nan.output.uses)).operation
        if not isinstance(where, nn.WhereOp) or where.condition is not is_nan.output or where.y is not probabilities:
            continue
        zero = constant_value(where.x, store) if is_constant(where.x.owner) else None
        if zero is None or np.any(np.asarray(zero) != 0) or where.output.type != probabilities.type:
            continue
        rewriter.replace(where, [], [probabilities])
        rewriter.erase(is_nan)


def mask_softmax(module: ModuleOp) -> None:
    """Apply the pattern everywhere in `module`."""
    PatternRewriteWalker(MaskedSoftmaxPattern(store_for(module))).rewrite_module(module)


@dataclass(frozen=True)
class MaskSoftmaxPass(ModulePass):
    """Additive attention masks -> masked softmaxes (see the module docstring)."""

    name = "mask-softmax"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        mask_softmax(op)
