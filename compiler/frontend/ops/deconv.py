"""`ConvTranspose` on activations (1-D and 2-D), as `nn.conv_transpose` with
explicit pads: `auto_pad` and `output_shape` are resolved here (ONNX rules).
"""

from __future__ import annotations

from collections.abc import Sequence

from compiler.frontend.node import NodeImport, Unsupported, shape
from compiler.frontend.ops.registry import handles
from compiler.frontend.ops.windows import check_spatial_rank
from dialects import nn
from dialects.nn import transposed_output_size


def _split_total(totals: Sequence[int], upper: bool) -> list[int]:
    """`[begin..., end...]` pads from total paddings: SAME_UPPER puts the odd one at the end."""
    begins = [t // 2 if upper else t - t // 2 for t in totals]
    return begins + [t - b for t, b in zip(totals, begins)]


def transposed_pads(n: NodeImport, sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int], output_padding: Sequence[int]) -> list[int]:
    """Explicit pads of a ConvTranspose node, from `pads`, `auto_pad` or `output_shape`."""
    rank = len(kernel)
    auto_pad = n.attr("auto_pad", "NOTSET") or "NOTSET"
    full = [transposed_output_size(sizes[i], kernel[i], strides[i], 0, 0, dilations[i], output_padding[i])
            for i in range(rank)]
    if n.has_attr("output_shape"):
        wanted = list(n.attr("output_shape"))[-rank:]
        if len(wanted) != rank:
            raise Unsupported(f"output_shape needs {rank} spatial sizes")
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = [sizes[i] * strides[i] for i in range(rank)]
    elif auto_pad == "VALID":
        return [0] * 2 * rank
    elif auto_pad == "NOTSET":
        pads = list(n.attr("pads", [0] * 2 * rank))
        if len(pads) != 2 * rank or any(p < 0 for p in pads):
            raise Unsupported(f"pads {pads} should be {2 * rank} non-negative values")
        return pads
    else:
        raise Unsupported(f"auto_pad '{auto_pad}'")
    totals = [f - w for f, w in zip(full, wanted)]
    if any(t < 0 for t in totals):
        raise Unsupported(f"output_shape {wanted} is larger than the full output {full}")
    return _split_total(totals, upper=auto_pad == "SAME_UPPER")


@handles("ConvTranspose", note="float level; 1-D and 2-D; constant weight and bias; strides, pads, "
                               "output_padding, output_shape, dilations, group, auto_pad")
def _conv_transpose(n: NodeImport):
    rank = check_spatial_rank(n, "transposed convolution")
    w = n.constant_input(1, "the weight")
    b = n.constant_input(2, "the bias") if n.has_input(2) else None
    kernel = list(w.shape[2:])
    if n.has_attr("kernel_shape") and list(n.attr("kernel_shape")) != kernel:
        raise Unsupported(f"kernel_shape {n.attr('kernel_shape')} differs from the weight's {kernel}")
    strides = list(n.attr("strides", [1] * rank))
    dilations = list(n.attr("dilations", [1] * rank))
    output_padding = list(n.attr("output_padding", [0] * rank))
    if not len(strides) == len(dilations) == len(output_padding) == rank:
        raise Unsupported(f"strides, dilations and output_padding need {rank} values")
    sizes = n.shape(0)[2:]
    pads = transposed_pads(n, sizes, kernel, strides, dilations, output_padding)
    spatial = [transposed_output_size(sizes[i], kernel[i], strides[i], pads[i], pads[rank + i],
                                      dilations[i], output_padding[i]) for i in range(rank)]
    if any(s < 1 for s in spatial):
        raise Unsupported("the pads leave no output")
    group = n.attr("group", 1)
    x = n.activation(0)
    result = n.type((shape(x)[0], w.shape[1] * group, *spatial))
    return [n.emit(nn.ConvTransposeOp(
        x, n.graph.materialise(w), n.graph.materialise(b) if b is not None else None,
        strides=strides, pads=pads, dilations=dilations, output_padding=output_padding,
        group=group, result_type=result,
    ))]
