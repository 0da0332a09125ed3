"""Float kernels of element-wise math (`dialects/nn/math.py`) and of the
reductions (`dialects/nn/reductions.py`), with ONNX semantics.

The unary functions plug into `elementwise_kernels.unary` (so they may also be
fused into a GEMM head as epilogues) and the binary ones into
`elementwise_kernels.binary`; the reductions are one factory over a table of
numpy reductions. Each follows the three-stage protocol of `kernel_table.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from xdsl.ir import Operation

from compiler.executor.kernel_table import Binding, Instantiate
from dialects import nn

# --------------------------------------------------------------------------- erf

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_ERFC_COEFFICIENTS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
                      0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)
"""Chebyshev fit of erfc (Numerical Recipes' `erfcc`): relative error < 1.2e-7 for x >= 0."""


def erf(x: np.ndarray) -> np.ndarray:
    """The error function in float64 (numpy has none): its Taylor series below
    |x| = 0.5 (exact to float64), `1 - erfc(|x|)` above (absolute error < 1.2e-7)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    polynomial = np.zeros_like(z)
    for coefficient in reversed(_ERFC_COEFFICIENTS[1:]):
        polynomial = t * (coefficient + polynomial)
    erfc = t * np.exp(-z * z + _ERFC_COEFFICIENTS[0] + polynomial)
    large = np.copysign(1.0 - erfc, x)
    square, term, small = x * x, x.copy(), x.copy()
    for n in range(1, 12):
        term = term * -square / n
        small = small + term / (2 * n + 1)
    return np.where(z < 0.5, _TWO_OVER_SQRT_PI * small, large)


# --------------------------------------------------------------------------- unary functions


def _float(op: Operation, name: str) -> float:
    return getattr(op, name).value.data


def _fixed(function):
    """`compute(op)` for a function without attributes: `function(x)`, written into `out`."""
    return lambda op: lambda x, out: np.copyto(out, function(x), casting="unsafe")


def _ufunc(ufunc):
    """`compute(op)` for a numpy ufunc, computed straight into `out` (no temporary)."""
    return lambda op: lambda x, out: ufunc(x, out=out)


def _elu(op):
    alpha = _float(op, "alpha")
    return lambda x, out: np.copyto(out, np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0))),
                                    casting="unsafe")


def _selu(op):
    alpha, gamma = _float(op, "alpha"), _float(op, "gamma")
    return lambda x, out: np.copyto(
        out, gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), casting="unsafe")


def _hard_sigmoid(op):
    alpha, beta = _float(op, "alpha"), _float(op, "beta")
    return lambda x, out: np.copyto(out, np.clip(alpha * x + beta, 0, 1), casting="unsafe")


def _shrink(op):
    bias, lambd = _float(op, "bias"), _float(op, "lambd")
    return lambda x, out: np.copyto(
        out, np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0)), casting="unsafe")


def _gelu(op):
    if op.approximate.data == "tanh":
        def function(x):
            return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    else:
        def function(x):
            return 0.5 * x * (1 + erf(x / math.sqrt(2)))
    return lambda x, out: np.copyto(out, function(x), casting="unsafe")


def _silu(x):
    # x * sigmoid(x), the sigmoid computed as the sigmoid kernel does (exp(-|x|) never overflows).
    e = np.exp(-np.abs(x))
    return x * (np.where(x >= 0, np.ones_like(e), e) / (1 + e))


def _softplus(x):
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|), which never overflows.
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


MATH_FUNCTIONS = {
    nn.NegOp: _ufunc(np.negative), nn.AbsOp: _ufunc(np.abs), nn.SignOp: _ufunc(np.sign),
    nn.ExpOp: _ufunc(np.exp), nn.LogOp: _ufunc(np.log), nn.SqrtOp: _ufunc(np.sqrt),
    nn.ReciprocalOp: _ufunc(np.reciprocal), nn.ErfOp: _fixed(erf),
    nn.SinOp: _ufunc(np.sin), nn.CosOp: _ufunc(np.cos),
    nn.SoftplusOp: _fixed(_softplus), nn.SoftsignOp: _fixed(lambda x: x / (1 + np.abs(x))),
    nn.HardSwishOp: _fixed(lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
    nn.EluOp: _elu, nn.SeluOp: _selu, nn.HardSigmoidOp: _hard_sigmoid, nn.ShrinkOp: _shrink,
    nn.GeluOp: _gelu, nn.SiluOp: _fixed(_silu),
}
"""The unary math functions by op: `compute(op) -> fn(x, out)`, for `unary` and `unary_epilogue`."""


def is_nan(op: nn.IsNanOp):
    """`compute(op)` of `nn.is_nan` for `unary` (a bool result: never an epilogue)."""
    return lambda x, out: np.isnan(x, out=out)


# --------------------------------------------------------------------------- binary functions


def prelu(x: np.ndarray, slope: np.ndarray, out: np.ndarray) -> np.ndarray:
    """`x if x >= 0 else slope * x`; `out` may be `x` or `slope` (both read first)."""
    scaled = np.multiply(x, slope)
    negative = x < 0
    np.copyto(out, np.broadcast_to(x, out.shape))
    np.copyto(out, scaled, where=negative)
    return out


MATH_BINARY = {nn.PowOp: np.power, nn.MaxOp: np.maximum, nn.MinOp: np.minimum, nn.PReluOp: prelu}
"""The broadcasting binary math ops by op, for `elementwise_kernels.binary`."""


# --------------------------------------------------------------------------- reductions


def _log_sum_exp(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    total = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return total if keepdims else np.squeeze(total, axis=axis)


REDUCTIONS = {
    nn.ReduceSumOp: lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    nn.ReduceMeanOp: lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    nn.ReduceMaxOp: lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
    nn.ReduceMinOp: lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
    nn.ReduceProdOp: lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
    nn.ReduceL1Op: lambda x, axis, keepdims: np.sum(np.abs(x), axis=axis, keepdims=keepdims),
    nn.ReduceL2Op: lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)),
    nn.ReduceSumSquareOp: lambda x, axis, keepdims: np.sum(x * x, axis=axis, keepdims=keepdims),
    nn.ReduceLogSumOp: lambda x, axis, keepdims: np.log(np.sum(x, axis=axis, keepdims=keepdims)),
    nn.ReduceLogSumExpOp: _log_sum_exp,
}
"""numpy's form of each reduction: `fn(x, axis, keepdims)`."""


def reduction(op: nn.ReduceOp, constants) -> Instantiate:
    """The op's numpy reduction over its axes, in the result dtype."""
    compute = REDUCTIONS[type(op)]
    axes = op.axis_list()
    keepdims = bool(op.keepdims.value.data)

    def instantiate(binding: Binding):
        shape, dtype = binding.result_shape, binding.dtype
        return lambda x: np.asarray(compute(x, axes, keepdims), dtype=dtype).reshape(shape)

    return instantiate


def reduction_rule(op: nn.ReduceOp, batched: Sequence[bool]) -> bool:
    """A reduction keeps samples apart unless it reduces the batch axis."""
    return 0 not in op.axis_list()
