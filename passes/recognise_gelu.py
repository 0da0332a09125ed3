"""`recognise-gelu`: name the GELUs a graph spells out op by op.

Exporters write GELU element by element (GPT-2's "new GELU", BERT's exact one):

* `0.5 * x * (1 + tanh(sqrt(2/π) * (x + 0.044715 * x³)))` -> `nn.gelu{approximate="tanh"}`
* `0.5 * x * (1 + erf(x / sqrt(2)))` -> `nn.gelu{approximate="none"}`

The three factors of the outer product may come in any order and grouping
(nested `nn.mul`s whose inner results have no other user); `x³` is `pow(x, 3)`
or `x * x * x`; the constant factors are inline scalars equal to the ones
above within a relative 1e-4 (exporters round them to f32); `x / sqrt(2)` may
also be `x * (1 / sqrt(2))`; `1 + t` may be `t + 1`. The new op takes the
root's attributes; ops of the chain left without users are erased.

Requires: a float nn module (as the importer writes it).
Guarantees: the same function (`nn.gelu` is that formula, see
`dialects/nn/math.py`); a graph without such chains is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from dialects import nn
from passes.recognise_norms import operand_pairs, replace_chain, scalar_constant


def is_scalar(value: SSAValue, expected: float) -> bool:
    constant = scalar_constant(value)
    return constant is not None and math.isclose(constant, expected, rel_tol=1e-4)


def factors(value: SSAValue, chain: list[Operation], root: bool = True) -> list[SSAValue]:
    """The leaves of the product tree of `nn.mul`s giving `value` (inner products
    with one use only), collecting the muls into `chain`."""
    owner = value.owner
    if isinstance(owner, nn.MulOp) and (root or value.has_one_use()):
        chain.append(owner)
        return [*factors(owner.lhs, chain, False), *factors(owner.rhs, chain, False)]
    return [value]


def split_constant(leaves: list[SSAValue], expected: float) -> list[SSAValue] | None:
    """The leaves but the one constant equal to `expected`, or None when it is not there."""
    for index, leaf in enumerate(leaves):
        if is_scalar(leaf, expected):
            return leaves[:index] + leaves[index + 1:]
    return None


def one_plus(value: SSAValue, chain: list[Operation]) -> SSAValue | None:
    """t when `value` is `1 + t` or `t + 1`."""
    owner = value.owner
    if isinstance(owner, nn.AddOp) and value.has_one_use():
        for t, one in operand_pairs(owner):
            if is_scalar(one, 1.0):
                chain.append(owner)
                return t
    return None


def is_cube_of(value: SSAValue, x: SSAValue, chain: list[Operation]) -> bool:
    """Whether `value` is `pow(x, 3)` (with no other user)."""
    owner = value.owner
    if isinstance(owner, nn.PowOp) and owner.lhs is x and is_scalar(owner.rhs, 3.0) and value.has_one_use():
        chain.append(owner)
        return True
    return False


def is_cubic_term(value: SSAValue, x: SSAValue, chain: list[Operation]) -> bool:
    """Whether `value` is `0.044715 * x³`, x³ as `pow(x, 3)` or a product of three x."""
    products: list[Operation] = []
    leaves = split_constant(factors(value, products), 0.044715)
    if not value.has_one_use() or leaves is None:
        return False
    if len(leaves) == 3 and all(leaf is x for leaf in leaves):
        chain.extend(products)
        return True
    if len(leaves) == 1 and is_cube_of(leaves[0], x, chain):
        chain.extend(products)
        return True
    return False


def tanh_argument_of(x: SSAValue, argument: SSAValue, chain: list[Operation]) -> bool:
    """Whether `argument` is `sqrt(2/π) * (x + 0.044715 * x³)`."""
    products: list[Operation] = []
    leaves = split_constant(factors(argument, products), math.sqrt(2 / math.pi))
    if leaves is None or len(leaves) != 1 or not isinstance(leaves[0].owner, nn.AddOp):
        return False
    add = leaves[0].owner
    if not leaves[0].has_one_use():
        return False
    for term_x, cubic in operand_pairs(add):
        if term_x is x and is_cubic_term(cubic, x, chain):
            chain.extend([*products, add])
            return True
    return False


def erf_argument_of(x: SSAValue, argument: SSAValue) -> bool:
    """Whether `argument` is `x / sqrt(2)` or `x * (1 / sqrt(2))`."""
    owner = argument.owner
    if isinstance(owner, nn.DivOp):
        return owner.lhs is x and is_scalar(owner.rhs, math.sqrt(2))
    if isinstance(owner, nn.MulOp):
        return any(a is x and is_scalar(b, 1 / math.sqrt(2)) for a, b in operand_pairs(owner))
    return False


def match_gelu(root: nn.MulOp) -> tuple[SSAValue, str, list[Operation]] | None:
    """`(x, approximate, chain)` when `root` is the outer product of a written-out GELU."""
    products: list[Operation] = []
    leaves = split_constant(factors(root.output, products), 0.5)
    if leaves is None or len(leaves) != 2:
        return None
    for x, bracket in (leaves, leaves[::-1]):
        chain = list(products)
        inner = one_plus(bracket, chain)
        function = inner.owner if inner is not None and inner.has_one_use() else None
        if not isinstance(function, (nn.TanhOp, nn.ErfOp)) or not function.input.has_one_use():
            continue
        if isinstance(function, nn.TanhOp) and tanh_argument_of(x, function.input, chain):
            return x, "tanh", [*chain, function]
        if isinstance(function, nn.ErfOp) and erf_argument_of(x, function.input):
            return x, "none", [*chain, function, function.input.owner]
    return None


class GeluPattern(RewritePattern):
    """A written-out GELU (either approximation) -> `nn.gelu`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MulOp, rewriter: PatternRewriter) -> None:
        found = match_gelu(op)
        if found is None:
            return
        x, approximate, chain = found
        if op.output.type != x.type:
            return
        chain = [c for c in dict.fromkeys(chain) if c is not op]
        ordered = sorted(chain, key=lambda c: -c.parent.get_operation_index(c))  # users first
        replace_chain(rewriter, op, nn.GeluOp(x, approximate=StringAttr(approximate)), tuple(ordered))


def recognise_gelu(module: ModuleOp) -> None:
    """Apply the pattern everywhere in `module`."""
    PatternRewriteWalker(GeluPattern()).rewrite_module(module)


@dataclass(frozen=True)
class RecogniseGeluPass(ModulePass):
    """Name GELUs written out op by op (see the module docstring)."""

    name = "recognise-gelu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        recognise_gelu(op)
