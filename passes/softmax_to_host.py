"""`softmax-to-host`: a classifier's final softmax leaves the graph for the host.

A `nn.softmax` / `nn.log_softmax` over the last axis whose result is only
returned is removed (the last axis in substance: trailing axes of size 1 aside,
so that a Caffe-era classifier's softmax over axis 1 of `[1, 1000, 1, 1]` counts,
`compiler.numerics.host_softmax_axis`): `main` returns its input instead, and the result's
attributes record `nn.host_op = "softmax"` (or `"log_softmax"`), which the
host applies in float after dequantizing (`compiler.numerics.dequantize_output`).
Integer hardware then never computes an exponential, and the argmax is unchanged.

`quantize` runs this pattern on the float graph before quantizing it; any
other softmax is left for `quantize` to refuse.

Requires: a float nn module whose `main` ends in `func.return`.
Guarantees: no softmax/log_softmax over its last axis in substance that is only
returned remains; host ops are recorded on the results that carried them.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, StringAttr
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from compiler.numerics import host_softmax_axis
from dialects import nn
from dialects.nn import HOST_OP_ATTR

HOST_OP_NAMES = {nn.SoftmaxOp: "softmax", nn.LogSoftmaxOp: "log_softmax"}


def record_host_op(function: FuncOp, index: int, host_op: str) -> None:
    """Set `nn.host_op` in the attributes of `function`'s result `index`."""
    count = len(function.function_type.outputs.data)
    old = function.res_attrs.data if function.res_attrs else [DictionaryAttr({})] * count
    entries = [dict(attrs.data) for attrs in old]
    entries[index][HOST_OP_ATTR] = StringAttr(host_op)
    function.res_attrs = ArrayAttr([DictionaryAttr(e) for e in entries])


class SoftmaxToHost(RewritePattern):
    """`return softmax(x)` over the last axis in substance -> `return x` with `nn.host_op`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.SoftmaxOp | nn.LogSoftmaxOp, rewriter: PatternRewriter) -> None:
        users = [use.operation for use in op.output.uses]
        if (op.axis.value.data != host_softmax_axis(nn.shape_of(op.input)) or not users
                or not all(isinstance(user, ReturnOp) for user in users)):
            return
        for ret in set(users):
            function = ret.parent_op()
            assert isinstance(function, FuncOp)
            for index, value in enumerate(ret.arguments):
                if value is op.output:
                    record_host_op(function, index, HOST_OP_NAMES[type(op)])
        rewriter.replace(op, [], [op.input])


def softmax_to_host(module: ModuleOp) -> None:
    """Apply the pattern everywhere in `module`."""
    PatternRewriteWalker(SoftmaxToHost()).rewrite_module(module)


@dataclass(frozen=True)
class SoftmaxToHostPass(ModulePass):
    """Move final softmaxes to the host (see the module docstring)."""

    name = "softmax-to-host"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        softmax_to_host(op)
