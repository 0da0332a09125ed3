"""`recognise-silu`: name the SiLUs (`x * sigmoid(x)`) a graph spells out in two ops.

Llama, Mistral and Qwen MLPs gate with SiLU, which exporters write as
`nn.mul(x, nn.sigmoid(x))` (either operand order). Named as one `nn.silu`, the
integer level computes it as one table of the input instead of a table and a
product of two rounded activations.

Requires: a float nn module (as the importer writes it).
Guarantees: the same function (`nn.silu` is `x * sigmoid(x)`, computed by the
float executor exactly as the two ops were); the sigmoid is erased when nothing
else reads it; a graph without the pattern is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from dialects import nn
from passes.recognise_norms import operand_pairs, replace_chain


class SiluPattern(RewritePattern):
    """`x * sigmoid(x)` -> `nn.silu(x)`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MulOp, rewriter: PatternRewriter) -> None:
        for x, gate in operand_pairs(op):
            sigmoid = gate.owner
            if isinstance(sigmoid, nn.SigmoidOp) and sigmoid.input is x and op.output.type == x.type:
                replace_chain(rewriter, op, nn.SiluOp(x), (sigmoid,))
                return


def recognise_silu(module: ModuleOp) -> None:
    """Apply the pattern everywhere in `module`."""
    PatternRewriteWalker(SiluPattern()).rewrite_module(module)


@dataclass(frozen=True)
class RecogniseSiluPass(ModulePass):
    """Name SiLUs written as `x * sigmoid(x)` (see the module docstring)."""

    name = "recognise-silu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        recognise_silu(op)
