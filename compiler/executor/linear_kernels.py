"""Dense and convolution float kernels: GEMM heads that fold a leading per-channel
affine epilogue (batch norm) into their weights and apply the rest of their
epilogue to each piece of the result while it is in cache.

A convolution picks its algorithm at instantiation: 1x1 ones multiply the input
as is (`_pointwise_conv`), stride-1 ones gather from the flattened input
(`_flat_conv`) or whole padded rows (`_shifted_conv`), the rest gather window by
window into a column matrix (`_im2col_conv`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from compiler.executor.elementwise_kernels import Affine, channel_shape
from compiler.executor.kernel_table import Binding, Instantiate
from compiler.executor.op_inputs import int_values, required_constant
from compiler.executor.windows import Window, padder
from dialects import nn

IM2COL_CHUNK_ELEMENTS = 1 << 17
"""Conv processes samples in chunks whose im2col matrix has at most this many
elements (512 KiB of float32), so that the matrix stays in the L2 cache between
being written and being multiplied."""


def absorb_affines(weight: np.ndarray, bias: np.ndarray | None, epilogue):
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


def dense(op: nn.DenseOp, constants) -> Instantiate:
    """`Y = X · Wᵀ + b` as one GEMM over all leading axes of X."""
    weight = required_constant(op, constants, 1, "weight")
    bias = required_constant(op, constants, 2, "bias") if op.bias is not None else None

    def instantiate(binding: Binding):
        # Folding an affine epilogue needs the channel axis to be the output features.
        fold = len(binding.result_shape) == 2
        w, b, epilogue = absorb_affines(weight, bias, binding.epilogue if fold else ())
        if not fold:
            epilogue = binding.epilogue
        shift = None if b is None else b.astype(binding.dtype)
        outputs, features = w.shape
        buffer = np.empty((math.prod(binding.result_shape[:-1]), outputs), binding.dtype)
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
    weight = required_constant(op, constants, 1, "weight")
    bias = required_constant(op, constants, 2, "bias") if op.bias is not None else None
    groups = op.group.value.data
    strides, pads = int_values(op.strides, ()), int_values(op.pads, ())
    dilations = int_values(op.dilations, ())
    kernel_shape = weight.shape[2:]
    pointwise = all(k == 1 for k in kernel_shape) and all(s == 1 for s in strides) and not any(pads)

    def instantiate(binding: Binding):
        w, b, epilogue = absorb_affines(weight, bias, binding.epilogue)
        packed = w.reshape(groups, w.shape[0] // groups, -1)
        result = np.empty(binding.result_shape, binding.dtype)
        if pointwise:
            finish = _finisher(b, epilogue, result.ndim, binding.dtype)
            return _pointwise_conv(np.ascontiguousarray(packed, dtype=binding.dtype), result, finish)
        if b is not None:
            packed = np.concatenate([packed, b.reshape(groups, -1, 1)], axis=2)
        packed = np.ascontiguousarray(packed, dtype=binding.dtype)
        window = Window(binding.operand_shapes[0][2:], kernel_shape, strides, pads, dilations,
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


def _im2col_conv(packed, with_bias: bool, result, binding: Binding, finish, window: Window):
    """The kernel of a convolution that gathers windows into a column matrix."""
    groups, group_out, depth = packed.shape
    rows, channels = binding.operand_shapes[0][:2]
    out_first, *out_rest = window.out
    block = _row_block(out_first, math.prod(out_rest))
    blocks = out_first // block
    positions = block * math.prod(out_rest)
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
    pad = padder(window, binding, 0)

    def kernel(x, *_):
        windows = window.windows(pad(x)).reshape(window_shape).transpose(order)
        for samples, gathered, columns, out, chunk_result in plan:
            np.copyto(gathered, windows[samples])
            np.matmul(packed, columns, out=out)
            finish(chunk_result)
        return result

    return kernel


def _flat_conv(packed, with_bias: bool, result, binding: Binding, finish, window: Window):
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
    axis_steps = [math.prod(spatial[i + 1:]) for i in range(len(spatial))]
    size = math.prod(spatial)
    lead = sum(b * step for b, step in zip(window.begin, axis_steps))  # zeros before the input
    out_first, *out_rest = window.out
    per_row = math.prod(out_rest)
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


def _wrapped_columns(gathered: np.ndarray, window: Window, block: int) -> list[np.ndarray]:
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


def _shifted_conv(packed, with_bias: bool, result, binding: Binding, epilogue, window: Window):
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
    axis_steps = [math.prod(padded[i + 1:]) for i in range(rank)]
    row_length, flat = axis_steps[0], math.prod(padded)
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
    chunks = _sample_chunks(rows, channels * math.prod(result.shape[2:]))

    def kernel(x, *_):
        for n0, n1 in chunks:
            chunk_result = result[n0:n1]
            np.matmul(packed, _grouped(x[n0:n1], groups), out=_grouped(chunk_result, groups))
            finish(chunk_result)
        return result

    return kernel


def _finisher(bias: np.ndarray | None, epilogue, rank: int, dtype):
    """In-place bias (per channel, axis 1) then epilogue, on one piece of a result."""
    shaped_bias = None if bias is None else bias.astype(dtype).reshape(channel_shape(rank))
    if shaped_bias is None and len(epilogue) == 1:
        return epilogue[0]

    def finish(piece: np.ndarray) -> None:
        if shaped_bias is not None:
            np.add(piece, shaped_bias, out=piece)
        for function in epilogue:
            function(piece)

    return finish
