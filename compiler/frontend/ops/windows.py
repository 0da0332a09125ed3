"""Sliding windows: pads with auto_pad resolved, the window attributes of conv and
pool nodes, and the pooling handlers.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import IntegerAttr, i64
from xdsl.ir import SSAValue

from compiler.frontend.node import NodeImport, Unsupported, shape
from compiler.frontend.ops.registry import handles
from dialects import nn
from dialects.nn import window_output_size


def resolve_pads(n: NodeImport, sizes: Sequence[int], kernel: Sequence[int],
                 strides: Sequence[int], dilations: Sequence[int]) -> list[int]:
    """Explicit `[begin..., end...]` pads, with `auto_pad` resolved (ONNX rules)."""
    rank = len(kernel)
    auto_pad = n.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad == "NOTSET":
        pads = list(n.attr("pads", [0] * 2 * rank))
        if len(pads) != 2 * rank:
            raise Unsupported(f"pads {pads} should have {2 * rank} values")
        return pads
    if auto_pad == "VALID":
        return [0] * 2 * rank
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise Unsupported(f"auto_pad '{auto_pad}'")
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def window_attributes(n: NodeImport, kernel: Sequence[int]):
    """strides, pads, dilations and ceil_mode of a conv/pool node, auto_pad resolved."""
    rank = len(kernel)
    strides = list(n.attr("strides", [1] * rank))
    dilations = list(n.attr("dilations", [1] * rank))
    if len(strides) != rank or len(dilations) != rank:
        raise Unsupported(f"strides/dilations must have {rank} values")
    pads = resolve_pads(n, n.shape(0)[2:], kernel, strides, dilations)
    if any(p < 0 for p in pads):
        raise Unsupported(f"negative pads {pads}")
    ceil_mode = bool(n.attr("ceil_mode", 0)) and (n.attr("auto_pad", "NOTSET") or "NOTSET") == "NOTSET"
    return strides, pads, dilations, ceil_mode


def output_spatial(n: NodeImport, kernel, strides, pads, dilations, ceil_mode) -> list[int]:
    sizes = n.shape(0)[2:]
    rank = len(kernel)
    spatial = [window_output_size(sizes[i], kernel[i], strides[i], pads[i], pads[rank + i],
                                  dilations[i], ceil_mode) for i in range(rank)]
    if any(s < 1 for s in spatial):
        raise Unsupported("the window is larger than the padded input")
    return spatial


def check_spatial_rank(n: NodeImport, what: str) -> int:
    rank = n.rank(0) - 2
    if rank not in (1, 2):
        raise Unsupported(f"{rank}-D {what}; only 1-D and 2-D are supported")
    return rank


def _pool(op_class, n: NodeImport, **extra) -> SSAValue:
    check_spatial_rank(n, "pooling")
    kernel = list(n.attr("kernel_shape", []))
    if len(kernel) != n.rank(0) - 2:
        raise Unsupported("kernel_shape must give one size per spatial axis")
    strides, pads, dilations, ceil_mode = window_attributes(n, kernel)
    spatial = output_spatial(n, kernel, strides, pads, dilations, ceil_mode)
    x = n.activation(0)
    return n.emit(op_class.make(
        x, kernel_shape=kernel, strides=strides, pads=pads, ceil_mode=ceil_mode,
        dilations=dilations, result_type=n.type((*shape(x)[:2], *spatial)), **extra,
    ))


@handles("MaxPool", note="1-D and 2-D; ceil_mode, dilations, auto_pad; not the Indices output")
def _max_pool(n: NodeImport):
    if n.output_used(1):
        raise Unsupported("the Indices output is used")
    return [_pool(nn.MaxPoolOp, n), None]


@handles("AveragePool", note="1-D and 2-D; ceil_mode, count_include_pad, dilations, auto_pad")
def _average_pool(n: NodeImport):
    count_include_pad = IntegerAttr(int(n.attr("count_include_pad", 0)), i64)
    return [_pool(nn.AveragePoolOp, n, count_include_pad=count_include_pad)]


@handles("GlobalAveragePool", note="")
def _global_average_pool(n: NodeImport):
    x = n.activation(0)
    if n.rank(0) < 3:
        raise Unsupported("the input must be [N, C, spatial...]")
    result = n.type((*shape(x)[:2], *[1] * (n.rank(0) - 2)))
    return [n.emit(nn.GlobalAveragePoolOp(x, result))]
