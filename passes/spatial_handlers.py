"""How each integer `nn` op becomes processing elements: one handler per op
kind (`HANDLERS`), each appending its PEs to the graph `GraphMapper` builds and
binding the op's result to the stream that carries it.

A handler maps its op alone: `nn.requant` becomes a `spatial.requant` even
after a conv, `nn.pad` a padding-only SWU, an `nn.add` of two activations an
eltwise that requantizes by exactly 1, an `nn.mul` by a constant a diagonal MVU.
The PE fusions (`passes/spatial_fusions.py`) then merge them into the PEs the
hardware wants. Every handler's graph is bit-exact on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, StringAttr, SymbolRefAttr, i64
from xdsl.ir import Operation, SSAValue

from compiler.numerics import signed_bits, width_for
from compiler.weight_formats import expand_groups
from dialects import nn, spatial
from dialects.rom import signed_range
from dialects.stream_layout import Layout
from passes.spatial_mapper import GraphMapper, NamedLater, Stream, element_width, per_sample, stream_type

# --------------------------------------------------------------------------- window layers


def swu(m: GraphMapper, op: Operation, name: str | NamedLater, source: Stream, kernel: Sequence[int],
        strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int], pad_value: int,
        out_spatial: Sequence[int]) -> SSAValue:
    """An SWU over `source` whose windows cover `out_spatial` positions (ceil-mode
    windows extend the end padding so that floor division agrees)."""
    channels = source.layout.frame[-1]
    rank = len(kernel)
    pads = list(pads)
    for i in range(rank):
        size = source.layout.frame[i]
        span = (kernel[i] - 1) * dilations[i] + 1
        pads[rank + i] = max(pads[rank + i], (out_spatial[i] - 1) * strides[i] + span - size - pads[i])
    frame = (*out_spatial, int(np.prod(kernel)) * channels)
    properties = {
        "kernel": nn.i64_array(kernel), "strides": nn.i64_array(strides), "pads": nn.i64_array(pads),
        "dilations": nn.i64_array(dilations), "pad_value": IntegerAttr(pad_value, i64),
    }
    return m.emit(spatial.SWUOp, name, [source.value], frame, op.input, properties)


def dense_conv_weight(weight: np.ndarray, group: int) -> np.ndarray:
    """A grouped conv weight [N, C/g, *K] as the equivalent dense [N, C, *K] (zeros across groups)."""
    if group == 1:
        return weight
    n, per_group = weight.shape[:2]
    out_per_group = n // group
    full = np.zeros((n, per_group * group, *weight.shape[2:]), weight.dtype)
    for g in range(group):
        rows = slice(g * out_per_group, (g + 1) * out_per_group)
        full[rows, g * per_group:(g + 1) * per_group] = weight[rows]
    return full


def map_conv(m: GraphMapper, op: nn.ConvOp) -> None:
    """swu + mvu, the weights as a new [N, KH·KW·C] ROM in the SWU's (kh, kw, c) order;
    a 1x1, stride-1, unpadded conv is an MVU on the pixel stream (unless an `nn.pad`
    feeds it: its SWU then takes the padding)."""
    stem = m.layer_of(op)
    source = m.natural_input(op, op.input)
    pads = op.pads.get_values()
    weight = dense_conv_weight(m.rom_array(op.weight, op, native=True), op.group.value.data)
    out_shape = per_sample(op.output)
    kernel, strides = weight.shape[2:], op.strides.get_values()
    pointwise = all(k == 1 for k in kernel) and all(s == 1 for s in strides) and not any(pads) \
        and not isinstance(op.input.owner, nn.PadOp)
    if pointwise:
        windows = source.value
        matrix = weight.reshape(weight.shape[0], -1)
    else:
        windows = swu(m, op, f"{stem}_swu", source, kernel, strides, pads, op.dilations.get_values(), 0,
                      out_shape[1:])
        matrix = np.moveaxis(weight, 1, -1).reshape(weight.shape[0], -1)  # (kh, kw, c) order
    weights = m.new_rom(f"{stem}_weight_hwc", matrix, element_width(op.weight))
    bias = m.rom_symbol(op.bias, op) if op.bias is not None else None
    layout = Layout.natural(out_shape)
    m.mvu(op, stem, windows, weights, bias, matrix.shape[0], layout.frame[:-1], layout)


def map_dense(m: GraphMapper, op: nn.DenseOp) -> None:
    """An MVU; when the input is streamed in another order than nn's (a flattened
    NCHW tensor), the weight columns are permuted to the stream order in a new ROM."""
    stem = m.layer_of(op)
    if len(nn.shape_of(op.input)) != 2:
        raise m.fail(op, f"a dense layer on a rank-{len(nn.shape_of(op.input))} input is not supported "
                         "(only [batch, features])")
    source = m.input_stream(op, op.input)
    order = source.layout.order()
    if np.array_equal(order, np.arange(order.size)):
        weights = m.rom_symbol(op.weight, op)
    else:
        weight = m.rom_array(op.weight, op, native=True)
        weights = m.new_rom(f"{stem}_weight_stream_order", weight[:, order], element_width(op.weight))
    bias = m.rom_symbol(op.bias, op) if op.bias is not None else None
    features = nn.shape_of(op.output)[-1]
    m.mvu(op, stem, source.value, weights, bias, features, (), Layout.natural((features,)))


def grouped_weights(m: GraphMapper, op: nn.GroupDenseOp) -> tuple[np.ndarray, int]:
    """A group dense's constant weights as the exact products `W[c, i] · G[c, i // group_size]`
    (the same accumulator as `nn.group_dense`) and the signed bits they need."""
    weight = m.rom_array(op.weight, op)
    effective = weight * expand_groups(m.rom_array(op.group_scale, op), op.group_size.value.data, weight.shape[1])
    return effective, signed_bits(int(effective.min(initial=0)), int(effective.max(initial=0)))


def map_group_dense(m: GraphMapper, op: nn.GroupDenseOp) -> None:
    """An MVU whose constant weights are the exact products `W[c, i] · G[c, i // group_size]`
    (the same accumulator as `nn.group_dense`), in a new ROM in stream order."""
    stem = m.layer_of(op)
    if len(nn.shape_of(op.input)) != 2:
        raise m.fail(op, f"a dense layer on a rank-{len(nn.shape_of(op.input))} input is not supported "
                         "(only [batch, features])")
    source = m.input_stream(op, op.input)
    effective, width = grouped_weights(m, op)
    weights = m.new_rom(f"{stem}_weight_grouped", effective[:, source.layout.order()], width)
    bias = m.rom_symbol(op.bias, op) if op.bias is not None else None
    features = nn.shape_of(op.output)[-1]
    m.mvu(op, stem, source.value, weights, bias, features, (), Layout.natural((features,)))


def map_pool(m: GraphMapper, op: nn.MaxPoolOp | nn.SumPoolOp) -> None:
    """swu (a max pool pads with the smallest value of the type) + pool{max|sum}."""
    stem = m.layer_of(op)
    is_max = isinstance(op, nn.MaxPoolOp)
    pad_value = signed_range(element_width(op.input))[0] if is_max else 0
    source = m.natural_input(op, op.input)
    kernel = op.kernel_shape.get_values()
    dilations = op.dilations.get_values() if op.dilations is not None else (1,) * len(kernel)
    out_shape = per_sample(op.output)
    windows = swu(m, op, f"{stem}_swu", source, kernel, op.strides.get_values(), op.pads.get_values(),
                  dilations, pad_value, out_shape[1:])
    layout = Layout.natural(out_shape)
    properties = {"kind": StringAttr("max" if is_max else "sum"),
                  "window": IntegerAttr(int(np.prod(kernel)), i64)}
    factors = None if is_max else op.window_factors()
    if factors is not None:
        rom = m.new_rom(f"{stem}_factors", factors.reshape(-1), width_for(int(factors.max())))
        properties["factors"] = SymbolRefAttr(rom)
    m.bind(op.output, m.emit(spatial.PoolOp, stem, [windows], layout.frame, op.output, properties), layout)


def map_pad(m: GraphMapper, op: nn.PadOp) -> None:
    """A padding-only SWU (1x1 windows, stride 1) of constant integer padding
    around the spatial axes; `PadIntoSWU` folds it into the SWU after it."""
    shape = nn.shape_of(op.input)
    pads = op.pads.get_values()
    rank = len(shape)
    value = op.value.value.data
    if op.mode.data != "constant" or value != int(value):
        raise m.fail(op, "an nn.pad is supported only as constant integer padding")
    if pads[0] or pads[1] or pads[rank] or pads[rank + 1]:
        raise m.fail(op, "padding the batch or channel axis has no spatial form")
    source = m.natural_input(op, op.input)
    spatial_rank = rank - 2
    ones = (1,) * spatial_rank
    out_shape = per_sample(op.output)
    windows = swu(m, op, NamedLater(op), source, ones, ones, (*pads[2:rank], *pads[rank + 2:]), ones,
                  int(value), out_shape[1:])
    m.bind(op.output, windows, Layout.natural(out_shape))


def map_global_pool(m: GraphMapper, op: nn.GlobalSumPoolOp) -> None:
    source = m.natural_input(op, op.input)
    layout = Layout.natural(per_sample(op.output))
    m.bind(op.output, m.emit(spatial.GlobalPoolOp, m.layer_of(op), [source.value], layout.frame,
                             op.output, {}), layout)


# --------------------------------------------------------------------------- element-wise layers


def map_requant(m: GraphMapper, op: nn.RequantOp) -> None:
    """A `spatial.requant` (named only if no fusion takes it)."""
    source = m.input_stream(op, op.input)
    per_channel_ok = op.axis.value.data == 1 and source.layout.is_natural_for(per_sample(op.input))
    if nn.shape_of(op.multiplier) != (1,) and not per_channel_ok:
        raise m.fail(op, "a per-channel multiplier must run along the channel axis of a "
                         "channel-innermost stream")
    m.bind(op.output, m.emit(spatial.RequantOp, NamedLater(op), [source.value], source.layout.frame,
                             op.output, m.requant_properties(op)), source.layout)


def map_relu(m: GraphMapper, op: nn.ReluOp) -> None:
    """A relu alone: requant by exactly 1 (M = 1, shift 0) with lo = 0."""
    source = m.input_stream(op, op.input)
    one = m.new_rom(f"{m.layer_of(op)}_multiplier", np.array([1]), 2)
    properties = {"multiplier": SymbolRefAttr(one), "shift": IntegerAttr(0, i64), "lo": IntegerAttr(0, i64),
                  "hi": IntegerAttr(signed_range(element_width(op.output))[1], i64)}
    m.bind(op.output, m.emit(spatial.RequantOp, m.layer_of(op), [source.value], source.layout.frame,
                             op.output, properties), source.layout)


def map_lookup(m: GraphMapper, op: nn.LookupOp) -> None:
    source = m.input_stream(op, op.input)
    properties = {"table": SymbolRefAttr(m.rom_symbol(op.table, op))}
    m.bind(op.output, m.emit(spatial.LookupOp, m.layer_of(op), [source.value], source.layout.frame,
                             op.output, properties), source.layout)


def map_concat(m: GraphMapper, op: nn.ConcatOp) -> None:
    if op.axis.value.data != 1:
        raise m.fail(op, f"concat along axis {op.axis.value.data}: only the channel axis 1 is supported")
    sources = []
    for value in op.inputs:
        if not m.is_activation(value):
            raise m.fail(op, "a constant input to a concat is not supported")
        stream = m.input_stream(op, value)
        if not stream.layout.is_natural_for(per_sample(value)):
            raise m.fail(op, "an input is not streamed channel-innermost")
        sources.append(stream.value)
    layout = Layout.natural(per_sample(op.output))
    concat = spatial.ConcatOp(operands=[sources], result_types=[stream_type(op.output, layout.frame)],
                              properties={"layer": StringAttr(m.layer_of(op))})
    m.block.add_op(concat)
    m.bind(op.output, concat.output, layout)


def map_reshape(m: GraphMapper, op: nn.ReshapeOp) -> None:
    """A `spatial.reshape`, or nothing when the frame does not change (the layer
    stem is taken either way)."""
    stem = m.layer_of(op)
    source = m.input_stream(op, op.input)
    if nn.element_type_of(op.input) != nn.element_type_of(op.output):
        raise m.fail(op, f"a reshape from {nn.element_type_of(op.input)} to {nn.element_type_of(op.output)} "
                         "changes the element width")
    shape = per_sample(op.output)
    natural = Layout.natural(shape)
    if source.layout.same_order(natural):
        layout = natural
    else:
        layout = Layout(source.layout.source, source.layout.perm, (int(np.prod(shape)),))
    if layout.frame == source.layout.frame:
        m.bind(op.output, source.value, layout)
        return
    m.bind(op.output, m.emit(spatial.ReshapeOp, stem, [source.value], layout.frame,
                             op.output, {}), layout)


def map_transpose(m: GraphMapper, op: nn.TransposeOp) -> None:
    """A transpose whose only use reshapes it to an image [C, *spatial] whose pixels
    the stream already holds together, channels in another order (ShuffleNet's
    channel shuffle: reshape, transpose, reshape): an MVU whose weights are that
    permutation of the channels (0/1: exact), its output streamed channel-innermost."""
    source = m.input_stream(op, op.input)
    uses = list(op.output.uses)
    image = per_sample(uses[0].operation.results[0]) if len(uses) == 1 and \
        isinstance(uses[0].operation, nn.ReshapeOp) else ()
    permutation = _channel_permutation(source.layout, per_sample(op.input), op, image) if len(image) >= 2 else None
    if permutation is None:
        raise m.fail(op, "a transpose of an activation has no spatial form yet (only a channel shuffle "
                         "reshaped back to an image)")
    channels, pixels = image[0], tuple(image[1:])
    stream = source.value
    if source.layout.frame != (*pixels, channels):
        stream = m.emit(spatial.ReshapeOp, NamedLater(op, "_pixels"), [stream], (*pixels, channels), op.input, {})
    weights = np.zeros((channels, channels), np.int64)
    weights[np.arange(channels), permutation] = 1
    rom = m.new_rom(NamedLater(op, "_permutation"), weights, 2)
    m.mvu(op, NamedLater(op), stream, rom, None, channels, pixels, Layout.of(image, (*range(1, len(image)), 0)))


def _channel_permutation(layout: Layout, shape: Sequence[int], op: nn.TransposeOp,
                         image: Sequence[int]) -> np.ndarray | None:
    """π with natural channel c of `image` (the transpose's result reshaped) at stream
    position π[c] of every pixel, when the stream holds each pixel's channels together
    in one order for all pixels; else None."""
    if op.perm.get_values()[0] != 0:
        return None
    perm = [p - 1 for p in op.perm.get_values()[1:]]
    x_of_t = np.arange(int(np.prod(shape))).reshape(shape).transpose(perm).reshape(-1)
    t_of_x = np.argsort(x_of_t)
    stream = t_of_x[layout.order()]  # per stream element: its index in the result (= in `image`)
    natural = Layout.natural(image).order()
    channels = image[0]
    if stream.size != natural.size or stream.size % channels:
        return None
    position = np.argsort(stream)[natural].reshape(-1, channels)  # stream position of each natural element
    pixel_start = (np.arange(position.shape[0]) * channels)[:, None]
    within = position - pixel_start
    if np.any(within < 0) or np.any(within >= channels) or np.any(within != within[:1]):
        return None
    return within[0]


# --------------------------------------------------------------------------- add, sub, mul


def per_channel(m: GraphMapper, op: Operation, constant: np.ndarray, shape: Sequence[int],
                layout: Layout) -> np.ndarray:
    """A constant broadcast against an activation of nn `shape` (batch included), as one
    value per stream channel; HwcError unless it is constant along the other axes."""
    full = np.broadcast_to(constant, shape)[0]
    if full.ndim == 0 or np.all(full == full.reshape(-1)[0]):
        channels = layout.frame[-1]
        return np.full(channels, int(full.reshape(-1)[0]) if full.size else 0, np.int64)
    if not layout.is_natural_for(shape[1:]):
        raise m.fail(op, "a per-channel constant on a stream that is not channel-innermost")
    rows = full.reshape(full.shape[0], -1)
    if not np.all(rows == rows[:, :1]):
        raise m.fail(op, "the constant varies along more than the channel axis")
    return rows[:, 0].astype(np.int64)


def constant_operand(m: GraphMapper, op: Operation) -> tuple[SSAValue, SSAValue, bool]:
    """(activation, constant, constant_is_lhs) of a binary op with one constant operand."""
    if m.is_activation(op.lhs):
        return op.lhs, op.rhs, False
    return op.rhs, op.lhs, True


def map_mul(m: GraphMapper, op: nn.MulOp) -> None:
    """Two activations: an eltwise mul; an activation times a constant: a diagonal MVU
    (which a fusion may take: a mul is named only if its PE stays)."""
    if m.is_activation(op.lhs) and m.is_activation(op.rhs):
        map_eltwise(m, op, "mul", NamedLater(op))
        return
    activation, constant, _ = constant_operand(m, op)
    source = m.input_stream(op, activation)
    factor = per_channel(m, op, m.rom_array(constant, op), nn.shape_of(op.output), source.layout)
    map_affine(m, op, NamedLater(op), source, factor, None)


def map_add_sub(m: GraphMapper, op: nn.AddOp | nn.SubOp) -> None:
    """Two activations: an eltwise add/sub; an activation plus/minus a constant: a
    diagonal MVU (weights ±1) with the constant as its bias."""
    kind = "add" if isinstance(op, nn.AddOp) else "sub"
    if m.is_activation(op.lhs) and m.is_activation(op.rhs):
        map_eltwise(m, op, kind, m.layer_of(op))
        return
    activation, constant, constant_is_lhs = constant_operand(m, op)
    source = m.input_stream(op, activation)
    shape = nn.shape_of(op.output)
    scale = per_channel(m, op, np.array([1]), shape, source.layout)
    offset = per_channel(m, op, m.rom_array(constant, op), shape, source.layout)
    if kind == "sub":
        scale, offset = (-scale, offset) if constant_is_lhs else (scale, -offset)
    map_affine(m, op, m.layer_of(op), source, scale, offset)


def map_eltwise(m: GraphMapper, op: Operation, kind: str, name: str | NamedLater) -> None:
    """`spatial.eltwise` of two activations, each scaled by 1, requantized by exactly 1
    (`RequantIntoEltwise` then takes the nn.requant after it)."""
    streams = [m.input_stream(op, v) for v in (op.lhs, op.rhs)]
    if not streams[0].layout.same_order(streams[1].layout) or streams[0].layout.frame != streams[1].layout.frame:
        raise m.fail(op, "its operands are streamed in different orders (broadcasting is not supported)")
    if nn.shape_of(op.lhs) != nn.shape_of(op.rhs):
        raise m.fail(op, "broadcasting between two activations is not supported")
    lo, hi = signed_range(element_width(op.results[0]))
    one = IntegerAttr(1, i64)
    properties = {
        "kind": StringAttr(kind), "lhs_scale": one, "rhs_scale": one, "multiplier": one,
        "shift": IntegerAttr(0, i64), "lo": IntegerAttr(lo, i64), "hi": IntegerAttr(hi, i64),
    }
    layout = streams[0].layout
    result = op.results[0]
    m.bind(result, m.emit(spatial.EltwiseOp, name, [s.value for s in streams],
                          layout.frame, result, properties), layout)


def map_affine(m: GraphMapper, op: Operation, name: str | NamedLater, source: Stream, scale: np.ndarray,
               offset: np.ndarray | None) -> None:
    """`x * scale[c] (+ offset[c])` per channel as an MVU named `name` with a diagonal
    weight ROM (`{name}_diagonal`) and the offset as its bias (`{name}_offset`)."""
    weights = m.new_rom(suffixed(name, "_diagonal"), np.diag(scale), width_for(int(np.abs(scale).max(initial=1))))
    bias = None
    if offset is not None:
        bias = m.new_rom(suffixed(name, "_offset"), offset, width_for(int(np.abs(offset).max(initial=1))))
    frame = source.layout.frame
    m.mvu(op, name, source.value, weights, bias, frame[-1], frame[:-1], source.layout)


def suffixed(name: str | NamedLater, suffix: str) -> str | NamedLater:
    if isinstance(name, NamedLater):
        return NamedLater(name.op, name.suffix + suffix)
    return name + suffix


HANDLERS: dict[type[Operation], Callable[[GraphMapper, Operation], None]] = {
    nn.ConvOp: map_conv, nn.DenseOp: map_dense, nn.GroupDenseOp: map_group_dense,
    nn.MaxPoolOp: map_pool, nn.SumPoolOp: map_pool, nn.GlobalSumPoolOp: map_global_pool,
    nn.PadOp: map_pad, nn.RequantOp: map_requant, nn.ReluOp: map_relu, nn.LookupOp: map_lookup,
    nn.ConcatOp: map_concat, nn.ReshapeOp: map_reshape, nn.TransposeOp: map_transpose,
    nn.MulOp: map_mul, nn.AddOp: map_add_sub, nn.SubOp: map_add_sub,
}
"""How each integer nn op becomes PEs (a handler appends to the graph body)."""
