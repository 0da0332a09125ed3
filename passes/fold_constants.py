"""`fold-constants`: evaluate at compile time every nn op whose inputs are all constants.

Rewrites: an `nn` op (other than `nn.constant` / `nn.weight`) with no memory
effects, one result, and only constant operands (`nn.constant` or `nn.weight`)
is replaced by a constant holding its result, computed by the reference
executor (`compiler.executor.evaluate_op`), so that the folded value is the one
the float executor would have computed at run time; an op the executor
cannot evaluate is left as it is. Chains fold completely
(the rewrite runs to a fixed point). Small results become inline
`nn.constant`s, large ones new `nn.weight`s in the module's weight store
(`compiler.ir.make_constant`). Constants left without users are then erased.

Requires: a verified module whose `nn.weight` keys exist in its weight store
(resolved, e.g. by `hwc-opt`, relative to the IR file).
Guarantees: no nn op other than a constant has only constant operands (except
ops the executor cannot evaluate, which stay); no constant is unused; the
values computed by the function are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.traits import NoMemoryEffect

from compiler.errors import HwcError
from compiler.ir import constant_value, make_constant, numpy_dtype
from compiler.ir import is_constant as is_constant_like
from compiler.weights import WeightStore, forget_unused_memory_store, store_for
from dialects.nn import NAME_ATTR
from dialects.rom import ReadOp


def is_constant(op: Operation | None) -> bool:
    """An nn constant (`ConstantLike`, but not `rom.read`: ROM contents stay ROMs)."""
    return is_constant_like(op) and not isinstance(op, ReadOp)


def is_foldable(op: Operation) -> bool:
    """An nn computation without side effects whose operands are all constants."""
    return (
        op.dialect_name() == "nn"
        and not is_constant(op)
        and op.has_trait(NoMemoryEffect)
        and len(op.results) == 1
        and len(op.operands) > 0
        and all(is_constant(operand.owner) for operand in op.operands)
    )


def constant_stem(op: Operation) -> str:
    """The weight-store key stem for the folded result of `op`."""
    name = op.attributes.get(NAME_ATTR)
    base = name.data if isinstance(name, StringAttr) else op.name.removeprefix("nn.")
    return f"{base}.folded"


@dataclass
class FoldConstantOp(RewritePattern):
    """Replace a foldable op by a constant holding its value."""

    store: WeightStore

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if not is_foldable(op):
            return
        from compiler.executor import evaluate_op

        arrays = [constant_value(operand, self.store) for operand in op.operands]
        try:
            value = evaluate_op(op, arrays)
        except (HwcError, NotImplementedError):
            return  # the executor cannot evaluate this op: leave it to run time
        result_type = op.results[0].type
        assert isinstance(result_type, TensorType)
        value = _as_result(np.asarray(value), result_type, op)
        element_type = result_type.get_element_type()
        rewriter.replace(op, make_constant(value, self.store, constant_stem(op), element_type))


class EraseUnusedConstant(RewritePattern):
    """Erase an `nn.constant` / `nn.weight` nothing uses."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if is_constant(op) and not op.results[0].uses:
            rewriter.erase(op)


def _as_result(value: np.ndarray, result_type: TensorType, op: Operation) -> np.ndarray:
    """`value` in the result's dtype; its shape must already be the result's."""
    shape = tuple(result_type.get_shape())
    if value.shape != shape:
        raise AssertionError(
            f"{op.name}: evaluated shape {list(value.shape)} differs from the IR's {list(shape)}"
        )
    return np.ascontiguousarray(value, dtype=numpy_dtype(result_type.get_element_type()))


@dataclass(frozen=True)
class FoldConstantsPass(ModulePass):
    """Evaluate nn ops with constant operands at compile time (see module docstring)."""

    name = "fold-constants"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = store_for(op)
        PatternRewriteWalker(
            GreedyRewritePatternApplier([FoldConstantOp(store), EraseUnusedConstant()])
        ).rewrite_module(op)
        forget_unused_memory_store(op)
