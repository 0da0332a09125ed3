"""`absorb-clamps`: fold an integer relu or clip into the requant before it.

A requant ends in a clamp, `clamp((acc * M + round) >> S, lo, hi)`, and a
clamp after a clamp is one clamp, so both rewrites are exact:

* `nn.relu(r)`              -> `r` with lo/hi raised to at least 0
  (`relu(clamp(v, lo, hi)) = clamp(v, max(lo, 0), max(hi, 0))`);
* `nn.requant(r, [1]) >> 0` (a clip: multiplier 1, shift 0, what `quantize`
  makes of `nn.clip`) -> `r` with lo/hi clamped into the clip's
  (`clamp(clamp(v, lo1, hi1), lo2, hi2) = clamp(v, clamp(lo1, lo2, hi2), clamp(hi1, lo2, hi2))`).

`r` is an `nn.requant` whose only user is the relu or clip. The merged requant
takes `r`'s operands, shift and axis, and the relu's or clip's result type and
`nn.scale`; the clip's multiplier constant goes when nothing else uses it.
`quantize` runs these patterns on the integer graph it builds (it gives such a
requant the scale of the value after the relu or clip).

Requires: an integer nn graph (as `quantize` writes it).
Guarantees: the same integer function; no relu or clip-requant whose input is a
single-use requant remains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Attribute, Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier, PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern,
)

from compiler.ir import dense_to_numpy
from dialects import nn
from dialects.nn import SCALE_ATTR


def single_use_requant(value) -> nn.RequantOp | None:
    """The requant producing `value` when `value` has no other user."""
    owner = value.owner
    if isinstance(owner, nn.RequantOp) and value.has_one_use():
        return owner
    return None


def clamped(rewriter: PatternRewriter, op: Operation, inner: nn.RequantOp, lo: int, hi: int,
            scale: Attribute | None) -> None:
    """Replace `op` by `inner` with bounds [lo, hi], `op`'s result type and
    `scale`; `inner` itself goes."""
    merged = nn.RequantOp(inner.input, inner.multiplier, shift=inner.shift.value.data, lo=lo, hi=hi,
                          axis=inner.axis.value.data, result_type=op.results[0].type, offset=inner.offset,
                          rounding=inner.rounding.data if inner.rounding is not None else "half_up")
    if scale is not None:
        merged.attributes[SCALE_ATTR] = scale
    rewriter.replace(op, merged)
    rewriter.erase(inner)


class AbsorbRelu(RewritePattern):
    """`relu(requant(...))` -> `requant(...)` with lo, hi >= 0."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.ReluOp, rewriter: PatternRewriter) -> None:
        inner = single_use_requant(op.input)
        if inner is None:
            return
        lo, hi = inner.lo.value.data, inner.hi.value.data
        clamped(rewriter, op, inner, max(lo, 0), max(hi, 0), inner.attributes.get(SCALE_ATTR))


def is_clip(op: nn.RequantOp) -> bool:
    """A requant that only clamps: shift 0, a constant multiplier of 1 and no offset."""
    multiplier = op.multiplier.owner
    return (op.shift.value.data == 0 and op.offset is None and isinstance(multiplier, nn.ConstantOp)
            and bool(np.all(dense_to_numpy(multiplier.value) == 1)))


class AbsorbClip(RewritePattern):
    """`clip(requant(...))` (a requant by 1) -> `requant(...)` with the clamps composed."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.RequantOp, rewriter: PatternRewriter) -> None:
        inner = single_use_requant(op.input)
        if inner is None or not is_clip(op):
            return
        lo, hi = op.lo.value.data, op.hi.value.data
        multiplier = op.multiplier.owner
        inner_lo, inner_hi = inner.lo.value.data, inner.hi.value.data
        clamped(rewriter, op, inner, min(max(inner_lo, lo), hi), min(max(inner_hi, lo), hi),
                op.attributes.get(SCALE_ATTR))
        if multiplier.results[0].first_use is None:
            rewriter.erase(multiplier)


def absorb_clamps(module: ModuleOp) -> None:
    """Apply both patterns to `module` until none matches."""
    PatternRewriteWalker(GreedyRewritePatternApplier([AbsorbRelu(), AbsorbClip()])).rewrite_module(module)


@dataclass(frozen=True)
class AbsorbClampsPass(ModulePass):
    """Fold relus and clips into the requant before them (see the module docstring)."""

    name = "absorb-clamps"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        absorb_clamps(op)
