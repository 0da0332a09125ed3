"""Element-wise float kernels with ONNX semantics: the per-channel affine of batch
norm, the activations (each also as an in-place epilogue a GEMM head applies),
(log-)softmax and the broadcasting binary ops.

Each factory follows the three-stage protocol of `kernel_table.py`; an element-wise
kernel writes into a dead operand when the plan allows it (`elementwise_target`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import Operation

from compiler.executor.kernel_table import Binding, Instantiate
from compiler.executor.op_inputs import required_constant
from compiler.numerics import batch_norm_affine
from dialects import nn


def elementwise_target(binding: Binding, candidates: Sequence[int] = (0,)):
    """Where an element-wise kernel writes: the index of a dead operand it may
    overwrite (same shape and dtype as the result), or a fresh buffer."""
    for i in candidates:
        if (binding.overwritable[i] and binding.operand_shapes[i] == binding.result_shape
                and binding.operand_dtypes[i] == binding.dtype):
            return i
    return np.empty(binding.result_shape, binding.dtype)


def channel_shape(rank: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector over axis 1 of a rank-`rank` tensor."""
    return (-1,) + (1,) * (rank - 2)


# --------------------------------------------------------------------------- per-channel affine (batch norm)


class Affine:
    """Epilogue `x * scale + shift` per channel (axis 1); heads fold it into their weights."""

    def __init__(self, scale: np.ndarray, shift: np.ndarray, rank: int, dtype: np.dtype):
        self.scale, self.shift = scale, shift
        self._a = scale.astype(dtype).reshape(channel_shape(rank))
        self._b = shift.astype(dtype).reshape(channel_shape(rank))

    def __call__(self, piece: np.ndarray) -> None:
        np.multiply(piece, self._a, out=piece)
        np.add(piece, self._b, out=piece)


def batch_norm_coefficients(op: nn.BatchNormOp, constants) -> tuple[np.ndarray, np.ndarray]:
    """`(a, b)` per channel with batch_norm(x) = x * a + b (computed in float64)."""
    scale, bias, mean, var = (
        required_constant(op, constants, i, name).astype(np.float64)
        for i, name in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "var"))
    )
    return batch_norm_affine(scale, bias, mean, var, op.epsilon.value.data)


def batch_norm(op: nn.BatchNormOp, constants) -> Instantiate:
    """`x * a + b` with `a = scale / sqrt(var + eps)` and `b = bias - mean * a`, per channel."""
    in_place = batch_norm_epilogue(op, constants)

    def instantiate(binding: Binding):
        target = elementwise_target(binding)
        finish = in_place(binding)

        def kernel(x, *_):
            if isinstance(target, int):
                out = x
            else:
                out = target
                np.copyto(out, x)
            finish(out)
            return out

        return kernel

    return instantiate


def batch_norm_epilogue(op: nn.BatchNormOp, constants):
    multiplier, offset = batch_norm_coefficients(op, constants)
    return lambda binding: Affine(multiplier, offset, len(binding.result_shape), binding.dtype)


# --------------------------------------------------------------------------- activations, softmax, binary


def unary(compute):
    """A factory for `compute(x, out)`, which writes into `out` (possibly `x` itself)."""

    def factory(op: Operation, constants) -> Instantiate:
        def instantiate(binding: Binding):
            target = elementwise_target(binding)
            configured = compute(op)

            def kernel(x):
                out = x if isinstance(target, int) else target
                configured(x, out)
                return out

            return kernel

        return instantiate

    return factory


def _relu(op):
    zeros = _SampleZeros()
    return lambda x, out: np.maximum(x, zeros.like(x), out=out)


class _SampleZeros:
    """Read-only zeros shaped like one sample (all axes but the first) of an array.

    `np.maximum(x, 0)` broadcasts the scalar with stride 0, which numpy runs without
    SIMD (about 4x slower than two arrays); zeros of one sample's shape keep the
    inner loop contiguous and cost only one sample of memory.
    """

    def __init__(self):
        self._by_key: dict[tuple, np.ndarray] = {}

    def like(self, x: np.ndarray) -> np.ndarray:
        key = (x.shape[1:], x.dtype)
        zeros = self._by_key.get(key)
        if zeros is None:
            zeros = np.zeros(key[0], key[1])
            zeros.flags.writeable = False
            self._by_key[key] = zeros
        return zeros


def _leaky_relu(op):
    alpha = op.alpha.value.data
    # x >= 0 ? x : alpha x  ==  max(x, alpha x) for alpha <= 1, min(...) for alpha > 1.
    pick = np.maximum if alpha <= 1 else np.minimum

    def compute(x, out):
        scaled = np.multiply(x, np.float32(alpha).astype(out.dtype))
        pick(x, scaled, out=out)

    return compute


def _clip(op):
    low = op.min.value.data if op.min is not None else None
    high = op.max.value.data if op.max is not None else None

    def compute(x, out):
        if low is None and high is None:
            np.copyto(out, x)
        elif high is None:
            np.maximum(x, low, out=out)
        elif low is None:
            np.minimum(x, high, out=out)
        else:
            np.clip(x, low, high, out=out)

    return compute


def _sigmoid(op):
    def compute(x, out):
        # exp(-|x|) never overflows: sigmoid = 1/(1+e) for x >= 0, e/(1+e) below.
        e = np.exp(-np.abs(x))
        numerator = np.where(x >= 0, np.ones_like(e), e)
        np.divide(numerator, 1 + e, out=out)

    return compute


def _tanh(op):
    return lambda x, out: np.tanh(x, out=out)


def unary_epilogue(compute):
    """The in-place form of a `unary` kernel, for fusion into a head."""

    def factory(op: Operation, constants):
        configured = compute(op)

        def instantiate(binding: Binding):
            def in_place(piece: np.ndarray) -> None:
                configured(piece, piece)

            in_place.from_source = configured  # (source, out): the op from another buffer
            return in_place

        return instantiate

    return factory


ACTIVATIONS = {nn.ReluOp: _relu, nn.LeakyReluOp: _leaky_relu, nn.ClipOp: _clip,
               nn.SigmoidOp: _sigmoid, nn.TanhOp: _tanh}
"""The unary activations by op: `compute(op) -> fn(x, out)`, for `unary` and `unary_epilogue`."""


def _softmax_factory(log: bool):
    """Numerically stable (log-)softmax along the op's axis."""

    def factory(op: Operation, constants) -> Instantiate:
        axis = op.axis.value.data

        def instantiate(binding: Binding):
            target = elementwise_target(binding)

            def kernel(x):
                out = x if isinstance(target, int) else target
                np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
                if log:
                    out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))
                else:
                    np.exp(out, out=out)
                    out /= out.sum(axis=axis, keepdims=True)
                return out

            return kernel

        return instantiate

    return factory


softmax = _softmax_factory(log=False)
log_softmax = _softmax_factory(log=True)


def masked_softmax(op: nn.MaskedSoftmaxOp, constants) -> Instantiate:
    """Softmax along the axis over the entries the mask keeps; the others are 0."""
    axis = op.axis.value.data

    def instantiate(binding: Binding):
        def kernel(x, mask):
            keep = np.broadcast_to(np.asarray(mask, bool), x.shape)
            lowest = np.where(keep, x, -np.inf).max(axis=axis, keepdims=True)
            weights = np.where(keep, np.exp(np.where(keep, x, lowest) - lowest), 0)
            return (weights / weights.sum(axis=axis, keepdims=True)).astype(binding.dtype, copy=False)

        return kernel

    return instantiate


def binary(ufunc):
    """Broadcasting `ufunc(lhs, rhs)`, in place into a dead operand when one fits."""

    def factory(op: Operation, constants) -> Instantiate:
        def instantiate(binding: Binding):
            target = elementwise_target(binding, candidates=(0, 1))

            if isinstance(target, int):
                index = target

                def kernel(lhs, rhs):
                    return ufunc(lhs, rhs, out=(lhs, rhs)[index])
            else:

                def kernel(lhs, rhs):
                    return ufunc(lhs, rhs, out=target)

            return kernel

        return instantiate

    return factory


BINARY_UFUNCS = {nn.AddOp: np.add, nn.SubOp: np.subtract, nn.MulOp: np.multiply, nn.DivOp: np.divide}
"""The broadcasting binary ops by op, for `binary`."""
