"""Numpy kernels for quantized nn ops: exact integer arithmetic (DESIGN.md, "Numerics").

Every kernel follows the protocol of `compiler.executor.kernel_table` and returns its
result in the numpy dtype of the op's integer result type (`binding.dtype`).
Arithmetic is done in int64 and the result is then wrapped to the declared
width (two's complement), which is what hardware of that width computes; the
`quantize` pass chooses widths so that the wrap never changes a value.

* `nn.dense` / `nn.conv`: the exact accumulator `X·Wᵀ + b`. When every partial
  sum is bounded by 2**52 (known at plan time from the weights and the input
  width), the GEMM runs in float64 BLAS, which is then exact; otherwise in int64.
* `nn.requant`: `clamp((acc * M + (1 << S >> 1)) >> S, lo, hi)`, arithmetic shift;
  in Python integers when `acc * M` could leave int64.
* `nn.sum_pool` / `nn.global_sum_pool`: exact window sums (padding adds zero), times
  `window_factors()` per output position when a sum pool has `average_times`.
* `nn.lookup`: `table[x - min(x's type)]`.
* `nn.add` / `nn.sub` / `nn.mul`, `nn.neg`, `nn.relu`, and the data-movement ops
  (`nn.max_pool`, `nn.reshape`, `nn.transpose`, `nn.concat`, `nn.pad`, `nn.slice`,
  `nn.expand`, `nn.embedding`, `nn.cache_write`).
* transformers: `nn.matmul` of two activations and `nn.reduce_sum` (exact, int64),
  `nn.int_softmax` and `nn.inv_sqrt` (their definitions in `dialects/nn/quantized.py`).

Ops with float semantics (`nn.div`, `nn.sigmoid`, ...) are deliberately absent:
on integer tensors they have no hardware meaning.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from xdsl.dialects.builtin import IntegerType, TensorType
from xdsl.ir import Operation, SSAValue

from compiler.errors import HwcError
from compiler.executor import indexing_kernels, linear_kernels, math_kernels, pool_kernels, shape_kernels
from compiler.executor.kernel_table import Binding, Instantiate, KernelTable, broadcast_rule
from compiler.executor.op_inputs import int_values
from compiler.numerics import FLOAT64_EXACT_BOUND, as_int64, requantize, signed_bounds, wrap
from dialects import nn

INT_KERNELS = KernelTable("integer executor")



# --------------------------------------------------------------------------- helpers


def integer_width(value: SSAValue) -> int:
    """The bit width of an integer tensor value; HwcError for anything else."""
    value_type = value.type
    element = value_type.get_element_type() if isinstance(value_type, TensorType) else None
    if not isinstance(element, IntegerType):
        raise HwcError(f"the integer executor needs integer tensors, got {value_type}")
    return element.width.data





def _constant(op: Operation, constants, index: int, what: str) -> np.ndarray:
    value = constants[index]
    if value is None:
        raise HwcError(f"{op.name}: the {what} must be a constant for the integer executor")
    return as_int64(value)


# --------------------------------------------------------------------------- linear layers


def accumulator_bound(weight: np.ndarray, bias: np.ndarray | None, input_width: int) -> int:
    """An upper bound of |acc| and of every partial sum of a dense/conv output channel."""
    input_max = 1 << (input_width - 1)
    rows = np.abs(weight.reshape(weight.shape[0], -1)).sum(axis=1, dtype=np.float64)
    bound = float(rows.max(initial=0.0)) * input_max
    if bias is not None and bias.size:
        bound += float(np.abs(bias).max())
    return int(bound) + 1


def _linear(float_factory):
    """A dense/conv kernel running the float kernel's GEMM in float64 (exact) or int64."""

    def factory(op: Operation, constants) -> Instantiate:
        weight = _constant(op, constants, 1, "weight")
        bias = _constant(op, constants, 2, "bias") if op.bias is not None else None
        width = integer_width(op.results[0])
        exact_in_float = accumulator_bound(weight, bias, integer_width(op.operands[0])) < FLOAT64_EXACT_BOUND
        compute = np.dtype(np.float64 if exact_in_float else np.int64)
        packed = [None, weight.astype(compute), None if bias is None else bias.astype(compute)]
        inner = float_factory(op, packed)

        def instantiate(binding: Binding):
            count = len(binding.operand_shapes)
            kernel = inner(dataclasses.replace(
                binding, dtype=compute, operand_dtypes=(compute,) * count,
                overwritable=(False,) * count, epilogue=(),
            ))
            result = np.empty(binding.result_shape, binding.dtype)

            def run(x, *_):
                acc = kernel(x.astype(compute))
                exact = acc.astype(np.int64) if exact_in_float else np.array(acc, np.int64)
                result[...] = wrap(exact, width)
                return result

            return run

        return instantiate

    return factory


INT_KERNELS.register(nn.DenseOp)(_linear(linear_kernels.dense))
INT_KERNELS.register(nn.ConvOp)(_linear(linear_kernels.conv))


# --------------------------------------------------------------------------- requantization



def multiplier_shape(rank: int, axis: int, channels: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector along `axis` of a rank-`rank` tensor."""
    return (channels,) + (1,) * (rank - 1 - axis)


@INT_KERNELS.register(nn.RequantOp, batch_rule=lambda op, batched: not any(batched[1:])
                      and (op.axis.value.data != 0 or nn.shape_of(op.multiplier) == (1,)))
def requant(op: nn.RequantOp, constants) -> Instantiate:
    multiplier = _constant(op, constants, 1, "multiplier")
    shift, lo, hi = (op.shift.value.data, op.lo.value.data, op.hi.value.data)
    rounding = op.rounding.data if op.rounding is not None else "half_up"
    axis = op.axis.value.data
    rank = len(nn.shape_of(op.input))
    shaped = multiplier.reshape(multiplier_shape(rank, axis, multiplier.size))
    offset = None
    if op.offset is not None:
        offset = _constant(op, constants, 2, "offset")
        offset = offset.reshape(multiplier_shape(rank, axis, offset.size))
    width = integer_width(op.output)

    def instantiate(binding: Binding):
        def kernel(acc, *_):
            return wrap(requantize(acc, shaped, shift, lo, hi, offset, rounding), width).astype(binding.dtype)

        return kernel

    return instantiate


# --------------------------------------------------------------------------- pooling


def window_sums(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int], pads: Sequence[int],
                dilations: Sequence[int], out: Sequence[int]) -> np.ndarray:
    """Sum of every window of an [N, C, *spatial] tensor, zero padding, int64.

    `out` is the output spatial shape (it decides how much ceil-mode padding is needed).
    """
    rank = len(kernel)
    spatial = x.shape[2:]
    widths = [(0, 0), (0, 0)]
    for i in range(rank):
        span = (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
        end = max(pads[rank + i], span - spatial[i] - pads[i])
        widths.append((pads[i], end))
    padded = np.pad(as_int64(x), widths)
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    views = sliding_window_view(padded, spans, axis=tuple(range(2, 2 + rank)))
    index = (slice(None), slice(None))
    index += tuple(slice(0, o * s, s) for o, s in zip(out, strides))
    index += tuple(slice(None, None, d) for d in dilations)
    windows = views[index]
    return windows.sum(axis=tuple(range(2 + rank, 2 + 2 * rank)), dtype=np.int64)


@INT_KERNELS.register(nn.SumPoolOp)
def sum_pool(op: nn.SumPoolOp, constants) -> Instantiate:
    kernel_shape = int_values(op.kernel_shape)
    strides, pads = int_values(op.strides), int_values(op.pads)
    dilations = int_values(op.dilations, (1,) * len(kernel_shape))
    width = integer_width(op.output)
    factors = op.window_factors()  # per output position (average_times), or None

    def instantiate(binding: Binding):
        out = binding.result_shape[2:]

        def kernel(x):
            sums = window_sums(x, kernel_shape, strides, pads, dilations, out)
            if factors is not None:
                sums = sums * factors
            return wrap(sums, width).astype(binding.dtype)

        return kernel

    return instantiate


@INT_KERNELS.register(nn.GlobalSumPoolOp)
def global_sum_pool(op: nn.GlobalSumPoolOp, constants) -> Instantiate:
    width = integer_width(op.output)

    def instantiate(binding: Binding):
        rows, channels = binding.operand_shapes[0][:2]
        shape = binding.result_shape

        def kernel(x):
            sums = x.reshape(rows, channels, -1).sum(axis=2, dtype=np.int64)
            return wrap(sums, width).astype(binding.dtype).reshape(shape)

        return kernel

    return instantiate


INT_KERNELS.register(nn.MaxPoolOp)(pool_kernels.max_pool)


# --------------------------------------------------------------------------- element-wise


@INT_KERNELS.register(nn.LookupOp)
def lookup(op: nn.LookupOp, constants) -> Instantiate:
    table = _constant(op, constants, 1, "table")
    offset = -signed_bounds(integer_width(op.input))[0]

    def instantiate(binding: Binding):
        values = table.astype(binding.dtype)

        def kernel(x, *_):
            return values[as_int64(x) + offset]

        return kernel

    return instantiate


@INT_KERNELS.register(nn.ReluOp)
def relu(op: nn.ReluOp, constants) -> Instantiate:
    def instantiate(binding: Binding):
        return lambda x: np.maximum(x, 0).astype(binding.dtype, copy=False)

    return instantiate


def _binary(ufunc):
    """Exact broadcasting `ufunc` in int64, wrapped to the result width."""

    def factory(op: Operation, constants) -> Instantiate:
        width = integer_width(op.results[0])

        def instantiate(binding: Binding):
            def kernel(lhs, rhs):
                return wrap(ufunc(as_int64(lhs), as_int64(rhs)), width).astype(binding.dtype)

            return kernel

        return instantiate

    return factory


INT_KERNELS.register(nn.AddOp)(_binary(np.add))
INT_KERNELS.register(nn.SubOp)(_binary(np.subtract))
INT_KERNELS.register(nn.MulOp)(_binary(np.multiply))


# --------------------------------------------------------------------------- data movement

INT_KERNELS.register(nn.ReshapeOp)(shape_kernels.reshape)
INT_KERNELS.register(nn.TransposeOp)(shape_kernels.transpose)
INT_KERNELS.register(nn.ConcatOp)(shape_kernels.concat)


@INT_KERNELS.register(nn.PadOp)
def pad(op: nn.PadOp, constants) -> Instantiate:
    """Like the float pad; a constant pad value must be an integer."""
    value = op.value.value.data
    if op.mode.data == "constant" and value != int(value):
        raise HwcError(f"nn.pad: the pad value {value} of an integer tensor is not an integer")
    return shape_kernels.pad(op, constants)


# --------------------------------------------------------------------------- transformers

INT_KERNELS.register(nn.EmbeddingOp)(indexing_kernels.embedding)
INT_KERNELS.register(nn.SliceOp, batch_rule=indexing_kernels.slice_rule)(indexing_kernels.slice_)
INT_KERNELS.register(nn.ExpandOp, batch_rule=indexing_kernels.expand_rule)(indexing_kernels.expand)
INT_KERNELS.register(nn.CacheWriteOp, batch_rule=indexing_kernels.cache_write_rule)(indexing_kernels.cache_write)


@INT_KERNELS.register(nn.NegOp)
def negate(op: nn.NegOp, constants) -> Instantiate:
    width = integer_width(op.output)

    def instantiate(binding: Binding):
        return lambda x: wrap(-as_int64(x), width).astype(binding.dtype)

    return instantiate


@INT_KERNELS.register(nn.MatMulOp, batch_rule=indexing_kernels.matmul_rule)
def matmul(op: nn.MatMulOp, constants) -> Instantiate:
    """The exact product of two integer tensors (int64, numpy's batch broadcasting)."""
    width = integer_width(op.output)

    def instantiate(binding: Binding):
        return lambda a, b: wrap(np.matmul(as_int64(a), as_int64(b)), width).astype(binding.dtype)

    return instantiate


@INT_KERNELS.register(nn.ReduceSumOp, batch_rule=math_kernels.reduction_rule)
def reduce_sum(op: nn.ReduceSumOp, constants) -> Instantiate:
    axes, keepdims = op.axis_list(), bool(op.keepdims.value.data)
    width = integer_width(op.output)

    def instantiate(binding: Binding):
        return lambda x: wrap(as_int64(x).sum(axis=axes, keepdims=keepdims), width).astype(binding.dtype)

    return instantiate


def int_softmax_values(x: np.ndarray, keep: np.ndarray, table: np.ndarray, axis: int, shift: int,
                       out_max: int) -> np.ndarray:
    """`nn.int_softmax` (see its definition in dialects/nn/quantized.py), int64."""
    x = as_int64(x)
    keep = np.broadcast_to(np.asarray(keep) != 0, x.shape)
    low = np.iinfo(np.int64).min
    peak = np.where(keep, x, low).max(axis=axis, keepdims=True)
    distance = np.minimum(np.where(keep, peak - x, 0), table.size - 1)
    e = np.where(keep, table[distance], 0)
    total = e.sum(axis=axis, keepdims=True)
    reciprocal = (out_max << shift) // np.maximum(total, 1)
    return (e * reciprocal + ((1 << shift) >> 1)) >> shift


@INT_KERNELS.register(nn.IntSoftmaxOp, batch_rule=broadcast_rule)
def int_softmax(op: nn.IntSoftmaxOp, constants) -> Instantiate:
    table = _constant(op, constants, 2, "exp table")
    axis, shift, out_max = op.axis.value.data, op.shift.value.data, op.out_max.value.data
    width = integer_width(op.output)

    def instantiate(binding: Binding):
        def kernel(x, keep, *_):
            return wrap(int_softmax_values(x, keep, table, axis, shift, out_max), width).astype(binding.dtype)

        return kernel

    return instantiate


def inv_sqrt_values(v: np.ndarray, shift: int) -> np.ndarray:
    """`floor(2^shift / sqrt(max(v, 1)))` exactly: isqrt(4^shift // v) in Python integers."""
    numerator = 1 << (2 * shift)
    flat = [math.isqrt(numerator // max(int(value), 1)) for value in np.asarray(v).reshape(-1)]
    return np.array(flat, dtype=np.int64).reshape(np.shape(v))


@INT_KERNELS.register(nn.InvSqrtOp)
def inv_sqrt(op: nn.InvSqrtOp, constants) -> Instantiate:
    shift = op.shift.value.data
    width = integer_width(op.output)

    def instantiate(binding: Binding):
        return lambda v: wrap(inv_sqrt_values(v, shift), width).astype(binding.dtype)

    return instantiate


@INT_KERNELS.register(nn.GroupDenseOp)
def group_dense(op: nn.GroupDenseOp, constants) -> Instantiate:
    """The grouped accumulator as a dense layer of the exact effective integers W·G."""
    weight = _constant(op, constants, 1, "weight")
    groups = _constant(op, constants, 2, "group scales")
    bias = _constant(op, constants, 3, "bias") if op.bias is not None else None
    effective = weight * np.repeat(groups, op.group_size.value.data, axis=1)[:, :weight.shape[1]]
    width = integer_width(op.output)
    compute = np.float64 if accumulator_bound(effective, bias, integer_width(op.input)) < FLOAT64_EXACT_BOUND \
        else np.int64

    def instantiate(binding: Binding):
        matrix = effective.T.astype(compute)
        offset = None if bias is None else bias.astype(compute)

        def kernel(x, *_):
            acc = x.astype(compute) @ matrix
            if offset is not None:
                acc += offset
            return wrap(acc.astype(np.int64), width).astype(binding.dtype)

        return kernel

    return instantiate
