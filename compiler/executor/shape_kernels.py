"""Data-movement kernels (reshape, transpose, concat, pad), dtype-agnostic: the
float and integer tables share them."""

from __future__ import annotations

import numpy as np

from compiler.executor.kernel_table import Binding, Instantiate
from compiler.executor.op_inputs import int_values
from dialects import nn


def reshape(op: nn.ReshapeOp, constants) -> Instantiate:
    """Row-major reshape: a view when the input is contiguous."""

    def instantiate(binding: Binding):
        shape = binding.result_shape
        return lambda x: x.reshape(shape)

    return instantiate


def transpose(op: nn.TransposeOp, constants) -> Instantiate:
    """Axis permutation, copied into a contiguous buffer."""
    perm = int_values(op.perm, ())

    def instantiate(binding: Binding):
        result = np.empty(binding.result_shape, binding.dtype)

        def kernel(x):
            np.copyto(result, x.transpose(perm))
            return result

        return kernel

    return instantiate


def concat(op: nn.ConcatOp, constants) -> Instantiate:
    """Copy each input into its slice of the result (inputs with one row broadcast over rows)."""
    axis = op.axis.value.data

    def instantiate(binding: Binding):
        result = np.empty(binding.result_shape, binding.dtype)
        slices, offset = [], 0
        for shape in binding.operand_shapes:
            index = [slice(None)] * len(shape)
            index[axis] = slice(offset, offset + shape[axis])
            slices.append(tuple(index))
            offset += shape[axis]

        def kernel(*inputs):
            for part, where in zip(inputs, slices):
                result[where] = part
            return result

        return kernel

    return instantiate


def pad(op: nn.PadOp, constants) -> Instantiate:
    """Constant padding into a pre-filled buffer; reflect and edge via numpy (same rules as ONNX)."""
    pads = int_values(op.pads, ())
    mode = op.mode.data
    value = op.value.value.data

    def instantiate(binding: Binding):
        rank = len(binding.result_shape)
        widths = [(pads[i], pads[rank + i]) for i in range(rank)]
        if mode != "constant":
            return lambda x: np.pad(x, widths, mode=mode)
        result = np.full(binding.result_shape, value, binding.dtype)
        interior = tuple(slice(b, b + n) for (b, _), n in zip(widths, binding.operand_shapes[0]))

        def kernel(x):
            result[interior] = x
            return result

        return kernel

    return instantiate
