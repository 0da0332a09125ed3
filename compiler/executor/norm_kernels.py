"""Float kernels of the normalisations (`dialects/nn/norms.py`): layer norm and
RMS norm over the trailing axes, LRN across channels; and the transposed
convolution (`dialects/nn/deconv.py`). ONNX semantics, three-stage protocol of
`kernel_table.py`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from compiler.executor.kernel_table import Binding, Instantiate
from compiler.executor.op_inputs import int_values
from dialects import nn


def _trailing_axes(op, rank: int) -> tuple[int, ...]:
    return tuple(range(op.axis.value.data, rank))


def layer_norm(op: nn.LayerNormOp, constants) -> Instantiate:
    """`(x - mean) / sqrt(var + eps) * scale + bias` over the trailing axes."""
    epsilon = op.epsilon.value.data
    has_bias = op.bias is not None

    def instantiate(binding: Binding):
        axes = _trailing_axes(op, len(binding.result_shape))
        dtype = binding.dtype

        def kernel(x, scale, bias=None):
            centred = x - x.mean(axis=axes, keepdims=True)
            variance = np.mean(centred * centred, axis=axes, keepdims=True)
            y = centred / np.sqrt(variance + dtype.type(epsilon)) * scale
            if has_bias:
                y += bias
            return y.astype(dtype, copy=False)

        return kernel

    return instantiate


def rms_norm(op: nn.RmsNormOp, constants) -> Instantiate:
    """`x / sqrt(mean(x²) + eps) * weight` over the trailing axes."""
    epsilon = op.epsilon.value.data
    has_weight = op.weight is not None

    def instantiate(binding: Binding):
        axes = _trailing_axes(op, len(binding.result_shape))
        dtype = binding.dtype

        def kernel(x, weight=None):
            mean_square = np.mean(x * x, axis=axes, keepdims=True)
            y = x * np.reciprocal(np.sqrt(mean_square + dtype.type(epsilon)))
            if has_weight:
                y *= weight
            return y.astype(dtype, copy=False)

        return kernel

    return instantiate


def trailing_norm_rule(op, batched: Sequence[bool]) -> bool:
    """Layer/RMS norm keep samples apart unless they normalise over the batch axis;
    their scale, weight and bias must be constants."""
    return op.axis.value.data != 0 and not any(batched[1:])


def lrn(op: nn.LrnOp, constants) -> Instantiate:
    """`x / (bias + alpha / size * Σ x²)^beta`, the sum over a window of channels."""
    size = op.size.value.data
    alpha, beta, bias = (getattr(op, name).value.data for name in ("alpha", "beta", "bias"))
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2

    def instantiate(binding: Binding):
        shape, dtype = binding.result_shape, binding.dtype
        channels = shape[1]
        widths = [(0, 0), (before, after)] + [(0, 0)] * (len(shape) - 2)

        def kernel(x):
            padded = np.pad(x * x, widths)
            window = sum(padded[:, j:j + channels] for j in range(size))
            return (x / (bias + alpha / size * window) ** beta).astype(dtype, copy=False)

        return kernel

    return instantiate


def conv_transpose(op: nn.ConvTransposeOp, constants) -> Instantiate:
    """Every input pixel scatters `x · W[tap]` to `tap * dilation + pixel * stride`
    of the full output, which is then cropped by the pads; plus the bias."""
    strides, dilations = int_values(op.strides), int_values(op.dilations)
    pads = int_values(op.pads)
    group = op.group.value.data
    weight = constants[1]
    bias = constants[2] if len(constants) > 2 else None

    def instantiate(binding: Binding):
        x_shape, w_shape = binding.operand_shapes[0], binding.operand_shapes[1]
        result_shape, dtype = binding.result_shape, binding.dtype
        rank = len(x_shape) - 2
        batch, in_channels, spatial = x_shape[0], x_shape[1], x_shape[2:]
        out_per_group = w_shape[1]
        kernel_size = w_shape[2:]
        full = tuple(result_shape[2 + i] + pads[i] + pads[rank + i] for i in range(rank))
        grouped_w = (None if weight is None else
                     np.asarray(weight, dtype).reshape(group, in_channels // group, out_per_group, *kernel_size))

        def kernel(x, w, b=None):
            w_groups = grouped_w if grouped_w is not None else \
                np.asarray(w, dtype).reshape(group, in_channels // group, out_per_group, *kernel_size)
            x_groups = x.reshape(batch, group, in_channels // group, -1)
            out = np.zeros((batch, group * out_per_group, *full), dtype)
            for tap in itertools.product(*(range(k) for k in kernel_size)):
                w_tap = w_groups[(slice(None), slice(None), slice(None), *tap)]
                contribution = np.einsum("ngcp,gco->ngop", x_groups, w_tap)
                contribution = contribution.reshape(batch, group * out_per_group, *spatial)
                where = tuple(slice(t * d, t * d + s * (n - 1) + 1, s)
                              for t, d, s, n in zip(tap, dilations, strides, spatial))
                out[(slice(None), slice(None), *where)] += contribution
            crop = tuple(slice(pads[i], pads[i] + result_shape[2 + i]) for i in range(rank))
            result = out[(slice(None), slice(None), *crop)]
            bias_value = bias if bias is not None else b
            if bias_value is not None:
                result = result + np.asarray(bias_value, dtype).reshape((-1,) + (1,) * rank)
            return np.ascontiguousarray(result)

        return kernel

    return instantiate
