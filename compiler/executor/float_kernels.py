"""Numpy kernels for every nn op, with ONNX semantics (see `dialects/nn.py`).

Each factory follows the three-stage protocol of `compiler.executor.plan`:
`factory(op, constants)` reads attributes and packs constant operands once,
`instantiate(binding)` allocates buffers for concrete shapes, and the returned
kernel computes one result per run. Activations are NCHW, as in the IR.

The kernels are dtype-agnostic where the computation is (data movement, max
pooling, element-wise arithmetic): they compute in `binding.dtype`. Arithmetic
on weights is done in the weights' own dtype cast to the result dtype.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation

from compiler.errors import HwcError
from compiler.executor.plan import Binding, Instantiate, KernelTable
from compiler.ir import numpy_dtype
from compiler.numerics import batch_norm_affine
from dialects import nn

FLOAT_KERNELS = KernelTable("float executor")

IM2COL_CHUNK_ELEMENTS = 1 << 17
"""Conv processes samples in chunks whose im2col matrix has at most this many
elements (512 KiB of float32), so that the matrix stays in the L2 cache between
being written and being multiplied."""


# --------------------------------------------------------------------------- helpers


def _result_dtype(op: Operation) -> np.dtype:
    result_type = op.results[0].type
    assert isinstance(result_type, TensorType)
    return numpy_dtype(result_type.get_element_type())


def _required_constant(op: Operation, constants, index: int, what: str) -> np.ndarray:
    value = constants[index]
    if value is None:
        raise HwcError(f"{op.name}: the {what} must be a constant for the executor")
    return np.asarray(value)


def _int_values(attr, default: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in attr.get_values()) if attr is not None else tuple(default)


def _elementwise_target(binding: Binding, candidates: Sequence[int] = (0,)):
    """Where an element-wise kernel writes: the index of a dead operand it may
    overwrite (same shape and dtype as the result), or a fresh buffer."""
    for i in candidates:
        if (binding.overwritable[i] and binding.operand_shapes[i] == binding.result_shape
                and binding.operand_dtypes[i] == binding.dtype):
            return i
    return np.empty(binding.result_shape, binding.dtype)


def _channel_shape(rank: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector over axis 1 of a rank-`rank` tensor."""
    return (-1,) + (1,) * (rank - 2)


class _Window:
    """Geometry of a sliding window over the spatial axes of an [N, C, *spatial] tensor.

    The input is padded by `pads` (ONNX `[begin..., end...]`) and, when ceil_mode
    windows run past the end, by enough extra so that every window is in range.
    """

    def __init__(self, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 pads: Sequence[int], dilations: Sequence[int], out: Sequence[int]):
        rank = len(spatial)
        self.spatial, self.kernel, self.strides = tuple(spatial), tuple(kernel), tuple(strides)
        self.dilations, self.out = tuple(dilations), tuple(out)
        self.begin = tuple(pads[:rank])
        self.end = tuple(pads[rank:])
        self.padded = tuple(
            max(b + s + e, (o - 1) * st + (k - 1) * d + 1)
            for s, k, st, b, e, d, o in zip(spatial, kernel, strides, self.begin, self.end, dilations, out)
        )

    @property
    def needs_padding(self) -> bool:
        return self.padded != self.spatial or any(self.begin)

    def padded_buffer(self, rows: int, channels: int, fill: float, dtype) -> tuple[np.ndarray, tuple]:
        """A buffer pre-filled with `fill`, and the slice of it the input goes to."""
        buffer = np.full((rows, channels, *self.padded), fill, dtype)
        interior = (slice(None), slice(None)) + tuple(
            slice(b, b + s) for b, s in zip(self.begin, self.spatial)
        )
        return buffer, interior

    def tap_slices(self) -> list[tuple]:
        """For each kernel tap, the slice of the padded input its outputs read."""
        slices = []
        for tap in itertools.product(*(range(k) for k in self.kernel)):
            slices.append((slice(None), slice(None)) + tuple(
                slice(t * d, t * d + (o - 1) * st + 1, st)
                for t, d, o, st in zip(tap, self.dilations, self.out, self.strides)
            ))
        return slices

    def windows(self, padded: np.ndarray) -> np.ndarray:
        """Read-only view [N, C, *kernel, *out] of every window of `padded`."""
        spatial_strides = padded.strides[2:]
        return as_strided(
            padded,
            shape=padded.shape[:2] + self.kernel + self.out,
            strides=padded.strides[:2]
            + tuple(d * s for d, s in zip(self.dilations, spatial_strides))
            + tuple(st * s for st, s in zip(self.strides, spatial_strides)),
            writeable=False,
        )


def _padder(window: _Window, binding: Binding, fill: float):
    """A function returning the input padded as `window` wants (the input itself if no padding)."""
    if not window.needs_padding:
        return lambda x: x
    rows, channels = binding.operand_shapes[0][:2]
    buffer, interior = window.padded_buffer(rows, channels, fill, binding.dtype)

    def pad(x: np.ndarray) -> np.ndarray:
        buffer[interior] = x
        return buffer

    return pad


# --------------------------------------------------------------------------- linear layers


class Affine:
    """Epilogue `x * scale + shift` per channel (axis 1); heads fold it into their weights."""

    def __init__(self, scale: np.ndarray, shift: np.ndarray, rank: int, dtype: np.dtype):
        self.scale, self.shift = scale, shift
        self._a = scale.astype(dtype).reshape(_channel_shape(rank))
        self._b = shift.astype(dtype).reshape(_channel_shape(rank))

    def __call__(self, piece: np.ndarray) -> None:
        np.multiply(piece, self._a, out=piece)
        np.add(piece, self._b, out=piece)


def _absorb_affines(weight: np.ndarray, bias: np.ndarray | None, epilogue):
    """Fold the leading `Affine` epilogues into `weight` ([out, ...]) and `bias`.

    Returns (weight, bias or None, the rest of the epilogue), computed in float64
    when there is something to fold, else `weight` itself (never copied: a large
    model's weights stay memory-mapped).
    """
    epilogue = list(epilogue)
    if not (epilogue and isinstance(epilogue[0], Affine)):
        return weight, bias, tuple(epilogue)
    weight = weight.astype(np.float64)
    bias = None if bias is None else bias.astype(np.float64)
    while epilogue and isinstance(epilogue[0], Affine):
        affine = epilogue.pop(0)
        weight = weight * affine.scale.reshape((-1,) + (1,) * (weight.ndim - 1))
        bias = (0.0 if bias is None else bias) * affine.scale + affine.shift
    return weight, bias, tuple(epilogue)


COPY_WEIGHT_LIMIT = 1 << 24
"""Weights up to this many bytes are copied into a contiguous GEMM operand; larger
ones are used as they are (a transposed view BLAS reads directly), so that a large
model's memory-mapped weights are never duplicated."""


def _keeps_weight_as_is(weight: np.ndarray, dtype: np.dtype) -> bool:
    return weight.dtype == dtype and weight.nbytes > COPY_WEIGHT_LIMIT and weight.flags.c_contiguous


@FLOAT_KERNELS.register(nn.DenseOp, head=True)
def dense(op: nn.DenseOp, constants) -> Instantiate:
    """`Y = X · Wᵀ + b` as one GEMM over all leading axes of X."""
    weight = _required_constant(op, constants, 1, "weight")
    bias = _required_constant(op, constants, 2, "bias") if op.bias is not None else None

    def instantiate(binding: Binding):
        # Folding an affine epilogue needs the channel axis to be the output features.
        fold = len(binding.result_shape) == 2
        w, b, epilogue = _absorb_affines(weight, bias, binding.epilogue if fold else ())
        if not fold:
            epilogue = binding.epilogue
        shift = None if b is None else b.astype(binding.dtype)
        outputs, features = w.shape
        buffer = np.empty((int(np.prod(binding.result_shape[:-1])), outputs), binding.dtype)
        result = buffer.reshape(binding.result_shape)
        if _keeps_weight_as_is(w, binding.dtype):
            # Y^T = W · X^T reads the (memory-mapped) weight in its own layout.
            def product(x):
                np.copyto(buffer, np.matmul(w, x.reshape(-1, features).T).T)
        else:
            weight_t = np.ascontiguousarray(w.T, dtype=binding.dtype)

            def product(x):
                np.matmul(x.reshape(-1, features), weight_t, out=buffer)

        def kernel(x, *_):
            product(x)
            if shift is not None:
                np.add(buffer, shift, out=buffer)
            for function in epilogue:
                function(result)
            return result

        return kernel

    return instantiate


GEMM_COLUMNS = 300
"""Output positions per GEMM of a convolution: OpenBLAS's sgemm measured fastest on
these narrow matrices when a block of output rows of about this many positions is
multiplied at a time (its operands stay in L1/L2)."""


@FLOAT_KERNELS.register(nn.ConvOp, head=True)
def conv(op: nn.ConvOp, constants) -> Instantiate:
    """Grouped N-D convolution as im2col + GEMM, a few samples at a time.

    For each chunk of samples (sized so that its column matrix stays in cache),
    one copy gathers the windows into a column buffer whose last row per group
    is ones, and one batched matmul multiplies them by the packed weights (bias
    as their last column, an affine epilogue folded in), block of output rows by
    block of output rows; the rest of the epilogue then runs on the chunk.
    Stride-1 convolutions that keep every spatial extent but the first gather
    from the flattened input (`_flat_conv`), other stride-1 ones gather whole
    padded rows (`_shifted_conv`), the rest gather window by window
    (`_im2col_conv`); 1x1 ones multiply the input as is.
    """
    weight = _required_constant(op, constants, 1, "weight")
    bias = _required_constant(op, constants, 2, "bias") if op.bias is not None else None
    groups = op.group.value.data
    strides, pads = _int_values(op.strides, ()), _int_values(op.pads, ())
    dilations = _int_values(op.dilations, ())
    kernel_shape = weight.shape[2:]
    pointwise = all(k == 1 for k in kernel_shape) and all(s == 1 for s in strides) and not any(pads)

    def instantiate(binding: Binding):
        w, b, epilogue = _absorb_affines(weight, bias, binding.epilogue)
        packed = w.reshape(groups, w.shape[0] // groups, -1)
        result = np.empty(binding.result_shape, binding.dtype)
        if pointwise:
            finish = _finisher(b, epilogue, result.ndim, binding.dtype)
            return _pointwise_conv(np.ascontiguousarray(packed, dtype=binding.dtype), result, finish)
        if b is not None:
            packed = np.concatenate([packed, b.reshape(groups, -1, 1)], axis=2)
        packed = np.ascontiguousarray(packed, dtype=binding.dtype)
        window = _Window(binding.operand_shapes[0][2:], kernel_shape, strides, pads, dilations,
                         binding.result_shape[2:])
        if all(s == 1 for s in strides):
            if window.out[1:] == window.spatial[1:]:
                finish = _finisher(None, epilogue, result.ndim, binding.dtype)
                return _flat_conv(packed, b is not None, result, binding, finish, window)
            return _shifted_conv(packed, b is not None, result, binding, epilogue, window)
        finish = _finisher(None, epilogue, result.ndim, binding.dtype)
        return _im2col_conv(packed, b is not None, result, binding, finish, window)

    return instantiate


def _row_block(first_axis: int, per_row: int) -> int:
    """Output rows per GEMM: the largest divisor of `first_axis` whose rows of
    `per_row` positions fit in GEMM_COLUMNS (at least 1)."""
    fitting = [d for d in range(1, first_axis + 1) if first_axis % d == 0 and d * per_row <= GEMM_COLUMNS]
    return max(fitting) if fitting else 1


def _sample_chunks(rows: int, elements_per_sample: int) -> list[tuple[int, int]]:
    """[begin, end) sample ranges whose column matrices have at most IM2COL_CHUNK_ELEMENTS."""
    per_chunk = max(1, IM2COL_CHUNK_ELEMENTS // max(1, elements_per_sample))
    return [(n, min(rows, n + per_chunk)) for n in range(0, rows, per_chunk)]


def _im2col_conv(packed, with_bias: bool, result, binding: Binding, finish, window: _Window):
    """The kernel of a convolution that gathers windows into a column matrix."""
    groups, group_out, depth = packed.shape
    rows, channels = binding.operand_shapes[0][:2]
    out_first, *out_rest = window.out
    block = _row_block(out_first, int(np.prod(out_rest, dtype=np.int64)))
    blocks = out_first // block
    positions = block * int(np.prod(out_rest, dtype=np.int64))
    split = (groups, channels // groups)  # the channel axis as (group, channel in group)
    rank = len(window.out)
    kernel_axes = tuple(range(3, 3 + rank))
    # windows [n, g, c, *kernel, blocks, block, *rest] -> [n, blocks, g, c, *kernel, block, *rest]
    window_shape = (rows, *split, *window.kernel, blocks, block, *out_rest)
    block_axis = 3 + rank
    order = (0, block_axis, 1, 2, *kernel_axes, *range(block_axis + 1, len(window_shape)))
    plan = []
    buffers: dict[int, np.ndarray] = {}
    for n0, n1 in _sample_chunks(rows, blocks * groups * depth * positions):
        count = n1 - n0
        if count not in buffers:
            buffers[count] = np.empty((count, blocks, groups, depth, positions), binding.dtype)
            if with_bias:
                buffers[count][..., -1, :] = 1
        columns = buffers[count]
        gathered = columns[..., : depth - with_bias, :].reshape(
            count, blocks, *split, *window.kernel, block, *out_rest)
        out = result[n0:n1].reshape(count, groups, group_out, blocks, positions).transpose(0, 3, 1, 2, 4)
        plan.append((slice(n0, n1), gathered, columns, out, result[n0:n1]))
    pad = _padder(window, binding, 0)

    def kernel(x, *_):
        windows = window.windows(pad(x)).reshape(window_shape).transpose(order)
        for samples, gathered, columns, out, chunk_result in plan:
            np.copyto(gathered, windows[samples])
            np.matmul(packed, columns, out=out)
            finish(chunk_result)
        return result

    return kernel


def _flat_conv(packed, with_bias: bool, result, binding: Binding, finish, window: _Window):
    """The kernel of a stride-1 convolution whose output keeps every spatial extent
    but the first one (e.g. a 3x3 convolution padded by 1), gathering from the
    flattened input.

    Requires `window.out[1:] == window.spatial[1:]`. Output position p (row-major
    over the output) of kernel tap t reads flat input element p + offset(t), so
    each tap's columns are one contiguous range of the flattened input: a chunk of
    samples is copied, channel by channel, into a flat buffer with zeros before
    and after (the padding of the first axis), every tap's range is copied with
    long runs, and the GEMM writes the result directly, with no cropping. Reads
    that run off the end of a row along another axis land on the neighbouring
    row; those columns (a few per tap, see `_wrapped_columns`) are zeroed after
    the gather, which is exactly what the padding holds.
    """
    groups, group_out, depth = packed.shape
    rows, channels = binding.operand_shapes[0][:2]
    spatial, kernel_shape, dilations = window.spatial, window.kernel, window.dilations
    axis_steps = [int(np.prod(spatial[i + 1:], dtype=np.int64)) for i in range(len(spatial))]
    size = int(np.prod(spatial, dtype=np.int64))
    lead = sum(b * step for b, step in zip(window.begin, axis_steps))  # zeros before the input
    out_first, *out_rest = window.out
    per_row = int(np.prod(out_rest, dtype=np.int64))
    last_read = lead + out_first * per_row - 1 + sum(
        ((k - 1) * d - b) * step for k, d, b, step in zip(kernel_shape, dilations, window.begin, axis_steps))
    length = max(lead + size, last_read + 1)
    block = _row_block(out_first, per_row)
    blocks, positions = out_first // block, block * per_row
    split = (groups, channels // groups)
    plan = []
    shared: dict[int, tuple] = {}
    for n0, n1 in _sample_chunks(rows, blocks * groups * depth * positions):
        count = n1 - n0
        if count not in shared:
            source = np.zeros((count, channels, length), binding.dtype)
            interior = source[:, :, lead:lead + size].reshape(count, channels, *spatial)
            columns = np.empty((count, blocks, groups, depth, positions), binding.dtype)
            if with_bias:
                columns[..., -1, :] = 1
            item = source.itemsize
            taps = as_strided(
                source,
                shape=(count, blocks, *split, *kernel_shape, positions),
                strides=(source.strides[0], positions * item, split[1] * source.strides[1], source.strides[1],
                         *(d * step * item for d, step in zip(dilations, axis_steps)), item),
                writeable=False,
            )
            gathered = columns[..., : depth - with_bias, :].reshape(taps.shape)
            shared[count] = (interior, taps, gathered, _wrapped_columns(gathered, window, block), columns)
        interior, taps, gathered, wrapped, columns = shared[count]
        chunk_result = result[n0:n1]
        out = chunk_result.reshape(count, groups, group_out, blocks, positions).transpose(0, 3, 1, 2, 4)
        plan.append((slice(n0, n1), interior, taps, gathered, wrapped, columns, out, chunk_result))

    def kernel(x, *_):
        for samples, interior, taps, gathered, wrapped, columns, out, chunk_result in plan:
            interior[...] = x[samples]
            np.copyto(gathered, taps)
            for columns_to_zero in wrapped:
                columns_to_zero.fill(0)
            np.matmul(packed, columns, out=out)
            finish(chunk_result)
        return result

    return kernel


def _wrapped_columns(gathered: np.ndarray, window: _Window, block: int) -> list[np.ndarray]:
    """Views of the entries of `_flat_conv`'s gathered columns that read past a row end.

    `gathered` is [n, blocks, groups, channels, *kernel, positions] with `positions`
    covering `block` output rows. For every axis but the first and every tap along
    it, the output coordinates whose input coordinate falls outside the axis are
    the ones whose flat read wrapped onto a neighbouring row; they must be zero.
    """
    rank = len(window.spatial)
    out_rest = window.out[1:]
    by_position = gathered.reshape(*gathered.shape[:-1], block, *out_rest)
    kernel_axis, out_axis = 4, 4 + rank  # where the kernel taps and the output axes start
    views = []
    for axis in range(1, rank):
        extent, begin, dilation = window.spatial[axis], window.begin[axis], window.dilations[axis]
        for tap in range(window.kernel[axis]):
            offset = tap * dilation - begin
            for low, high in ((0, min(-offset, extent)), (max(extent - offset, 0), extent)):
                if low < high:
                    index = [slice(None)] * by_position.ndim
                    index[kernel_axis + axis] = tap
                    index[out_axis + axis] = slice(low, high)
                    views.append(by_position[tuple(index)])
    return views


def _shifted_conv(packed, with_bias: bool, result, binding: Binding, epilogue, window: _Window):
    """The kernel of a stride-1 convolution, gathering whole rows at a time.

    With stride 1, the windows of a block of output rows, computed over the full
    padded width, read one contiguous range of the flattened padded input per
    kernel tap. So each chunk of samples is padded into a small flat buffer, every
    tap's range is copied with long contiguous runs, the GEMM produces "wide"
    rows, and the columns past the output width are dropped when the result is
    written (with the first element-wise epilogue applied on the way).
    """
    groups, group_out, depth = packed.shape
    rows, channels = binding.operand_shapes[0][:2]
    padded = window.padded
    rank = len(padded)
    axis_steps = [int(np.prod(padded[i + 1:], dtype=np.int64)) for i in range(rank)]
    row_length, flat = axis_steps[0], int(np.prod(padded, dtype=np.int64))
    slack = sum((k - 1) * d * step for k, d, step in zip(window.kernel[1:], window.dilations[1:], axis_steps[1:]))
    out_first, *out_rest = window.out
    block = _row_block(out_first, row_length)
    blocks, positions = out_first // block, block * row_length
    split = (groups, channels // groups)
    first_epilogue, rest = (epilogue[0], epilogue[1:]) if epilogue else (None, ())
    write = getattr(first_epilogue, "from_source", None)
    if write is None:
        rest = epilogue

        def write(source: np.ndarray, out: np.ndarray) -> None:
            np.copyto(out, source)
    finish = _finisher(None, rest, result.ndim, binding.dtype)
    crop = (Ellipsis, *(slice(0, o) for o in out_rest))
    plan = []
    shared: dict[int, tuple] = {}
    for n0, n1 in _sample_chunks(rows, blocks * groups * depth * positions):
        count = n1 - n0
        if count not in shared:
            source_flat = np.zeros((count, channels, flat + slack), binding.dtype)
            interior = source_flat[:, :, :flat].reshape(count, channels, *padded)[
                (slice(None), slice(None), *(slice(b, b + n) for b, n in zip(window.begin, window.spatial)))]
            columns = np.empty((count, blocks, groups, depth, positions), binding.dtype)
            if with_bias:
                columns[..., -1, :] = 1
            item = source_flat.itemsize
            taps = as_strided(
                source_flat,
                shape=(count, blocks, *split, *window.kernel, positions),
                strides=(source_flat.strides[0], positions * item, split[1] * source_flat.strides[1],
                         source_flat.strides[1], *(d * step * item for d, step in zip(window.dilations, axis_steps)),
                         item),
                writeable=False,
            )
            gathered = columns[..., : depth - with_bias, :].reshape(taps.shape)
            # The GEMM writes [count, blocks, groups, group_out, positions] into a buffer laid
            # out like the result ([count, channels, rows, padded width...]), so that dropping
            # the columns past the output width is a copy with matching strides.
            wide_rows = np.empty((count, groups * group_out, out_first, *padded[1:]), binding.dtype)
            wide = wide_rows.reshape(count, groups, group_out, blocks, positions).transpose(0, 3, 1, 2, 4)
            valid = wide_rows[crop]
            shared[count] = (interior, taps, gathered, columns, wide, valid)
        interior, taps, gathered, columns, wide, valid = shared[count]
        chunk_result = result[n0:n1]
        target = chunk_result
        plan.append((slice(n0, n1), interior, taps, gathered, columns, wide, valid, target, chunk_result))

    def kernel(x, *_):
        for samples, interior, taps, gathered, columns, wide, valid, target, chunk_result in plan:
            interior[...] = x[samples]
            np.copyto(gathered, taps)
            np.matmul(packed, columns, out=wide)
            write(valid, target)
            finish(chunk_result)
        return result

    return kernel


def _grouped(array: np.ndarray, groups: int) -> np.ndarray:
    """View [n, C, *spatial] as [n, groups, C / groups, positions] (no copy when possible)."""
    n, c = array.shape[:2]
    return array.reshape(n, groups, c // groups, -1)


def _pointwise_conv(packed, result, finish):
    """A 1x1, stride-1, unpadded convolution: the input already is the column matrix."""
    groups = packed.shape[0]
    rows, channels = result.shape[0], packed.shape[2] * groups
    chunks = _sample_chunks(rows, channels * int(np.prod(result.shape[2:], dtype=np.int64)))

    def kernel(x, *_):
        for n0, n1 in chunks:
            chunk_result = result[n0:n1]
            np.matmul(packed, _grouped(x[n0:n1], groups), out=_grouped(chunk_result, groups))
            finish(chunk_result)
        return result

    return kernel


def _finisher(bias: np.ndarray | None, epilogue, rank: int, dtype):
    """In-place bias (per channel, axis 1) then epilogue, on one piece of a result."""
    shaped_bias = None if bias is None else bias.astype(dtype).reshape(_channel_shape(rank))
    if shaped_bias is None and len(epilogue) == 1:
        return epilogue[0]

    def finish(piece: np.ndarray) -> None:
        if shaped_bias is not None:
            np.add(piece, shaped_bias, out=piece)
        for function in epilogue:
            function(piece)

    return finish


def _batch_norm_affine(op: nn.BatchNormOp, constants) -> tuple[np.ndarray, np.ndarray]:
    """`(a, b)` per channel with batch_norm(x) = x * a + b (computed in float64)."""
    scale, bias, mean, var = (
        _required_constant(op, constants, i, name).astype(np.float64)
        for i, name in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "var"))
    )
    return batch_norm_affine(scale, bias, mean, var, op.epsilon.value.data)


@FLOAT_KERNELS.register(nn.BatchNormOp)
def batch_norm(op: nn.BatchNormOp, constants) -> Instantiate:
    """`x * a + b` with `a = scale / sqrt(var + eps)` and `b = bias - mean * a`, per channel."""
    in_place = batch_norm_epilogue(op, constants)

    def instantiate(binding: Binding):
        target = _elementwise_target(binding)
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


@FLOAT_KERNELS.register_epilogue(nn.BatchNormOp)
def batch_norm_epilogue(op: nn.BatchNormOp, constants):
    multiplier, offset = _batch_norm_affine(op, constants)
    return lambda binding: Affine(multiplier, offset, len(binding.result_shape), binding.dtype)


# --------------------------------------------------------------------------- element-wise


def _unary(compute):
    """A factory for `compute(x, out)`, which writes into `out` (possibly `x` itself)."""

    def factory(op: Operation, constants) -> Instantiate:
        def instantiate(binding: Binding):
            target = _elementwise_target(binding)
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


def _unary_epilogue(compute):
    """The in-place form of a `_unary` kernel, for fusion into a head."""

    def factory(op: Operation, constants):
        configured = compute(op)

        def instantiate(binding: Binding):
            def in_place(piece: np.ndarray) -> None:
                configured(piece, piece)

            in_place.from_source = configured  # (source, out): the op from another buffer
            return in_place

        return instantiate

    return factory


for _op_type, _compute in ((nn.ReluOp, _relu), (nn.LeakyReluOp, _leaky_relu), (nn.ClipOp, _clip),
                           (nn.SigmoidOp, _sigmoid), (nn.TanhOp, _tanh)):
    FLOAT_KERNELS.register(_op_type)(_unary(_compute))
    FLOAT_KERNELS.register_epilogue(_op_type)(_unary_epilogue(_compute))


def _softmax_factory(log: bool):
    """Numerically stable (log-)softmax along the op's axis."""

    def factory(op: Operation, constants) -> Instantiate:
        axis = op.axis.value.data

        def instantiate(binding: Binding):
            target = _elementwise_target(binding)

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


FLOAT_KERNELS.register(nn.SoftmaxOp)(_softmax_factory(log=False))
FLOAT_KERNELS.register(nn.LogSoftmaxOp)(_softmax_factory(log=True))


def _binary_factory(ufunc):
    """Broadcasting `ufunc(lhs, rhs)`, in place into a dead operand when one fits."""

    def factory(op: Operation, constants) -> Instantiate:
        def instantiate(binding: Binding):
            target = _elementwise_target(binding, candidates=(0, 1))

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


for _op_type, _ufunc in ((nn.AddOp, np.add), (nn.SubOp, np.subtract),
                         (nn.MulOp, np.multiply), (nn.DivOp, np.divide)):
    FLOAT_KERNELS.register(_op_type)(_binary_factory(_ufunc))


# --------------------------------------------------------------------------- data movement


@FLOAT_KERNELS.register(nn.ReshapeOp)
def reshape(op: nn.ReshapeOp, constants) -> Instantiate:
    """Row-major reshape: a view when the input is contiguous."""

    def instantiate(binding: Binding):
        shape = binding.result_shape
        return lambda x: x.reshape(shape)

    return instantiate


@FLOAT_KERNELS.register(nn.TransposeOp)
def transpose(op: nn.TransposeOp, constants) -> Instantiate:
    """Axis permutation, copied into a contiguous buffer."""
    perm = _int_values(op.perm, ())

    def instantiate(binding: Binding):
        result = np.empty(binding.result_shape, binding.dtype)

        def kernel(x):
            np.copyto(result, x.transpose(perm))
            return result

        return kernel

    return instantiate


@FLOAT_KERNELS.register(nn.ConcatOp)
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


@FLOAT_KERNELS.register(nn.PadOp)
def pad(op: nn.PadOp, constants) -> Instantiate:
    """Constant padding into a pre-filled buffer; reflect and edge via numpy (same rules as ONNX)."""
    pads = _int_values(op.pads, ())
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


# The pooling kernels live in their own file; importing it registers them.
from compiler.executor.pool_kernels import average_pool, global_average_pool, max_pool  # noqa: E402, F401
