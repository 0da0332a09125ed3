"""Pooling kernels (max, average, global average) with ONNX semantics; the
float table registers all three, the integer table the max pool
(`float_kernels.py`, `int_kernels.py`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from compiler.executor.kernel_table import Binding, Instantiate
from compiler.executor.op_inputs import int_values
from compiler.executor.windows import Window, padder
from dialects import nn


def _pool_window(op, binding: Binding) -> Window:
    rank = len(binding.operand_shapes[0]) - 2
    return Window(
        binding.operand_shapes[0][2:], int_values(op.kernel_shape, ()), int_values(op.strides, ()),
        int_values(op.pads, ()), int_values(op.dilations, (1,) * rank), binding.result_shape[2:],
    )


def max_pool(op: nn.MaxPoolOp, constants) -> Instantiate:
    """Running maximum over the kernel taps; padding is the dtype's lowest value.

    Unpadded pools for which it pays (`_flat_pool_pays`, e.g. the usual 2x2
    stride 2) take separable maxima over the flattened input (`_flat_max_pool`);
    others take the maximum tap by tap over strided views of the (padded) input.
    """

    def instantiate(binding: Binding):
        window = _pool_window(op, binding)
        dtype = binding.dtype
        if _flat_pool_pays(window):
            return _flat_max_pool(window, binding)
        lowest = -np.inf if dtype.kind == "f" else np.iinfo(dtype).min
        pad = padder(window, binding, lowest)
        first, *rest = window.tap_slices()
        result = np.empty(binding.result_shape, dtype)

        def kernel(x):
            padded = pad(x)
            np.copyto(result, padded[first])
            for taps in rest:
                np.maximum(result, padded[taps], out=result)
            return result

        return kernel

    return instantiate


POOL_CHUNK_ELEMENTS = 1 << 16
"""`_flat_max_pool` works on chunks of samples of at most this many input elements, so
that its scratch buffers stay in the L1/L2 cache."""


def _flat_pool_pays(window: Window) -> bool:
    """Whether `_flat_max_pool` applies to `window` and should beat strided taps.

    It needs an unpadded window. It makes sum(k - 1) contiguous passes over the
    whole input where the tap loop makes prod(k) strided passes over the output,
    each element of which costs several contiguous ones.
    """
    if window.needs_padding:
        return False
    passes = sum(k - 1 for k in window.kernel)
    output_share = math.prod(window.out) / math.prod(window.spatial)
    return passes <= 4 * math.prod(window.kernel) * output_share


def _flat_max_pool(window: Window, binding: Binding):
    """The kernel of an unpadded max pool computed as separable maxima over the flat input.

    Axis by axis (last first), `m[i] = max(m[i + t * dilation * step])` over the
    taps t runs over the whole flattened input as one contiguous operation (windows
    straddling a row end are computed but never read); the result then gathers
    every window's maximum, at its start position, with one strided copy.
    Requires `not window.needs_padding`, so that every window read is in range.
    """
    dtype = binding.dtype
    rows, channels = binding.operand_shapes[0][:2]
    spatial = window.spatial
    size = math.prod(spatial)
    per_chunk = max(1, POOL_CHUNK_ELEMENTS // (channels * size))
    chunks = [(n, min(rows, n + per_chunk)) for n in range(0, rows, per_chunk)]
    total = min(rows, per_chunk) * channels * size
    axis_steps = [math.prod(spatial[i + 1:]) for i in range(len(spatial))]
    shifts = [
        [t * d * step for t in range(1, k)]
        for k, d, step in reversed(list(zip(window.kernel, window.dilations, axis_steps)))
    ]
    shifts = [axis for axis in shifts if axis]
    scratch = [np.empty(total, dtype) for _ in range(min(len(shifts), 2))]
    result = np.empty(binding.result_shape, dtype)

    def starts(flat: np.ndarray, count: int) -> np.ndarray:
        """The window maxima in `flat` (the first `count` samples) as an [n, C, *out] view."""
        item = flat.itemsize
        return as_strided(
            flat, shape=(count, *binding.result_shape[1:]),
            strides=(channels * size * item, size * item,
                     *(st * step * item for st, step in zip(window.strides, axis_steps))),
            writeable=False,
        )

    final = scratch[(len(shifts) - 1) % 2] if shifts else None
    plan = [(n0, n1, result[n0:n1], None if final is None else starts(final, n1 - n0)) for n0, n1 in chunks]

    def kernel(x):
        x = np.ascontiguousarray(x)
        for n0, n1, out, maxima in plan:
            current = x[n0:n1].reshape(-1)
            valid = current.size
            for index, axis_shifts in enumerate(shifts):
                target = scratch[index % 2]
                valid -= axis_shifts[-1]
                np.maximum(current[:valid], current[axis_shifts[0]:axis_shifts[0] + valid], out=target[:valid])
                for shift in axis_shifts[1:]:
                    np.maximum(target[:valid], current[shift:shift + valid], out=target[:valid])
                current = target
            np.copyto(out, starts(current, n1 - n0) if maxima is None else maxima)
        return result

    return kernel


def average_divisors(window: Window, count_include_pad: bool) -> np.ndarray:
    """How many input positions each output of an average pool divides by.

    A tap counts when it lies inside the input, or, with `count_include_pad`,
    inside the explicitly padded input (ceil_mode's extra positions past the end
    pad never count), as ONNX Runtime and PyTorch do.
    """
    per_axis = []
    for size, k, st, b, e, d, o in zip(window.spatial, window.kernel, window.strides,
                                       window.begin, window.end, window.dilations, window.out):
        low, high = (-b, size + e) if count_include_pad else (0, size)
        starts = np.arange(o)[:, None] * st - b + np.arange(k)[None, :] * d
        per_axis.append(((starts >= low) & (starts < high)).sum(axis=1))
    counts = per_axis[0]
    for axis_counts in per_axis[1:]:
        counts = np.multiply.outer(counts, axis_counts)
    return counts


def average_pool(op: nn.AveragePoolOp, constants) -> Instantiate:
    """Sum over the kernel taps (zero padding), divided by the per-position divisor."""
    include_pad = bool(op.count_include_pad.value.data)

    def instantiate(binding: Binding):
        window = _pool_window(op, binding)
        pad = padder(window, binding, 0)
        first, *rest = window.tap_slices()
        divisors = average_divisors(window, include_pad).astype(binding.dtype)
        result = np.empty(binding.result_shape, binding.dtype)

        def kernel(x):
            padded = pad(x)
            np.copyto(result, padded[first])
            for taps in rest:
                np.add(result, padded[taps], out=result)
            np.divide(result, divisors, out=result)
            return result

        return kernel

    return instantiate


def global_average_pool(op: nn.GlobalAveragePoolOp, constants) -> Instantiate:
    def instantiate(binding: Binding):
        rows, channels = binding.operand_shapes[0][:2]
        result = np.empty(binding.result_shape, binding.dtype)
        flat = result.reshape(rows, channels)

        def kernel(x):
            np.mean(x.reshape(rows, channels, -1), axis=2, out=flat)
            return result

        return kernel

    return instantiate
