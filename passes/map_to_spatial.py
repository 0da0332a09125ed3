"""`map-to-spatial`: the integer `nn` + `rom` graph becomes a `spatial.graph` of
processing elements joined by streams (see `dialects/spatial.py`).

Requires: `quantize` and `weights-to-rom` have run — `func.func @main` is an
integer graph whose constants are all `rom.read`s, with IR batch 1 — and its
ops follow the patterns `quantize` emits.

Rewrites `func.func @main` into `spatial.graph @main`, one PE per layer, at the
smallest folding (pe = simd = 1, one lane per stream), every PE with its `ii`
and `latency` (`nominal_ii()` / `nominal_latency()`):

* `nn.conv` (+ the `nn.requant` it feeds, relu already in its lo/hi) →
  `spatial.swu` + `spatial.mvu`; the weights become a new ROM [N, KH·KW·C] in
  the SWU's (kh, kw, c) order (a grouped conv is expanded with zeros outside
  each group); a 1x1, stride-1, unpadded conv is an MVU on the pixel stream;
* `nn.dense` (+ requant) → `spatial.mvu`; when its input is a flattened NCHW
  tensor (streamed in NHWC order) the weight columns are permuted to the
  stream order in a new ROM; `nn.reshape` → `spatial.reshape` (or nothing when
  the frame does not change);
* `nn.max_pool` → swu (pad_value = the smallest value of the type) + `pool{max}`;
  `nn.sum_pool` → swu + `pool{sum}`; `nn.global_sum_pool` → `spatial.global_pool`;
  `nn.requant` not fused into an MVU or eltwise → `spatial.requant`;
* residual `nn.add`/`nn.sub` of two activations (each optionally `nn.mul` by an
  integer constant) + requant, and `nn.mul` of two activations + requant →
  `spatial.eltwise`; an activation times / plus a per-channel constant (+ requant)
  → an MVU with a diagonal weight ROM and a bias ROM;
* `nn.lookup` → `spatial.lookup`; `nn.concat` over channels → `spatial.concat`;
  a lone `nn.relu` → `spatial.requant` by 1 with lo = 0; an `nn.pad` feeding
  convs/pools is folded into their SWUs' pads;
* a stream with several consumers goes through `spatial.dup`.

The graph records what the host needs in its attributes `spatial.inputs` and
`spatial.outputs`: per port `nn.name`, `nn.scale`, `nn.host_op` (when set),
`nn.shape` (the nn shape, batch included) and the layout `spatial.source` +
`spatial.perm`: the stream frame is the nn tensor (without batch) reshaped to
`source`, transposed by `perm`, flattened in frame order (NCHW → NHWC for
images: source [C, H, W], perm [1, 2, 0]).

ROMs: the `rom.rom` symbols stay; new ROMs hold re-ordered weights; ROMs
nothing reads any more are removed.

Guarantees: the module verifies; `compiler.executor.SpatialExecutor` on it
equals `IntExecutor` on the input module bit for bit. Anything else is a
one-line HwcError naming the layer and the reason.
"""

from __future__ import annotations

import re

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
    i64,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import VerifyException

from compiler.errors import HwcError
from compiler.numerics import width_for
from compiler.ir import CONSTANT_OPS, main_function, numpy_to_dense, rom_contents, tensor_type
from compiler.weights import INLINE_LIMIT, WeightStore, store_for
from dialects import nn, spatial
from dialects.rom import ReadOp, RomOp, signed_range
from dialects.spatial import INPUTS_ATTR, OUTPUTS_ATTR, PROBE_ATTR
from dialects.stream_layout import PERM_KEY, SHAPE_KEY, SOURCE_KEY, Layout
from passes.weights_to_rom import LayerNames, SymbolNamer, rom_dtype, sanitize

PORT_KEYS_FROM_NN = (nn.NAME_ATTR, nn.SCALE_ATTR, nn.HOST_OP_ATTR)


# --------------------------------------------------------------------------- layouts


def per_sample(value: SSAValue) -> tuple[int, ...]:
    return nn.shape_of(value)[1:]


def element_width(value: SSAValue) -> int:
    element = nn.element_type_of(value)
    assert isinstance(element, IntegerType)
    return element.width.data


# --------------------------------------------------------------------------- the mapper


@dataclass
class Stream:
    """The stream carrying an nn value, and how it lays the value out."""

    value: SSAValue
    layout: Layout


@dataclass
class Scaled:
    """An `nn.mul` of an activation by a constant, consumed by the add/sub after it."""

    source: SSAValue
    factor: np.ndarray


@dataclass
class Padded:
    """An `nn.pad` waiting to be folded into the SWUs of the convs/pools it feeds."""

    source: SSAValue
    pads: tuple[int, ...]
    """Spatial pads, [begin..., end...]."""
    value: int


@dataclass
class GraphMapper:
    """Builds the body of `spatial.graph @main` from `func.func @main` (module docstring)."""

    module: ModuleOp
    function: FuncOp
    store: WeightStore
    block: Block = field(init=False)
    streams: dict[SSAValue, Stream] = field(default_factory=dict)
    scaled: dict[SSAValue, Scaled] = field(default_factory=dict)
    padded: dict[SSAValue, Padded] = field(default_factory=dict)
    consumed: set[Operation] = field(default_factory=set)
    new_roms: list[RomOp] = field(default_factory=list)
    layer_names: LayerNames = field(default_factory=LayerNames)
    used_layers: set[str] = field(default_factory=set)
    namer: SymbolNamer = field(init=False)

    def __post_init__(self):
        self.namer = SymbolNamer(self.module, self.store)

    # ------------------------------------------------------------------ driving

    def run(self) -> spatial.GraphOp:
        old = self.function.body.block
        for arg in old.args:
            if nn.shape_of(arg)[0] != 1:
                raise HwcError(f"map-to-spatial: graph input {arg.type}: the IR batch must be 1")
        layouts = [Layout.natural(per_sample(arg)) for arg in old.args]
        self.block = Block(arg_types=[self.stream_type(a, lay.frame) for a, lay in zip(old.args, layouts)])
        for arg, new, layout in zip(old.args, self.block.args, layouts):
            self.streams[arg] = Stream(new, layout)
        outputs: list[SSAValue] = []
        for op in old.ops:
            if isinstance(op, ReturnOp):
                outputs = list(op.arguments)
            elif op in self.consumed or isinstance(op, CONSTANT_OPS) or not self.is_live(op):
                continue
            else:
                handler = HANDLERS.get(type(op))
                if handler is None:
                    raise HwcError(f"map-to-spatial: layer '{self.layer_of(op)}' ({op.name}) has no "
                                   f"spatial form (supported: {', '.join(sorted(t.name for t in HANDLERS))})")
                handler(self, op)
        self.record_probes()
        yielded = [self.stream(v, "graph output").value for v in outputs]
        self.block.add_op(spatial.YieldOp.create(operands=yielded))
        insert_dups(self.block)
        set_timing(self.block)
        attributes = {
            INPUTS_ATTR: ArrayAttr([self.port(i, v, self.function.arg_attrs, "input")
                                    for i, v in enumerate(old.args)]),
            OUTPUTS_ATTR: ArrayAttr([self.port(i, v, self.function.res_attrs, "output")
                                     for i, v in enumerate(outputs)]),
        }
        return spatial.GraphOp("main", Region(self.block), attributes)

    def record_probes(self) -> None:
        """Mark each PE with the nn value its stream carries (see PROBE_ATTR)."""
        from compiler.calibration import activations

        index = {value: i for i, value in enumerate(activations(self.module))}
        for value, stream in self.streams.items():
            owner = stream.value.owner
            if value in index and isinstance(owner, Operation) and len(owner.results) == 1:
                owner.attributes[PROBE_ATTR] = DictionaryAttr({
                    "index": IntegerAttr(index[value], i64),
                    "source": nn.i64_array(stream.layout.source),
                    "perm": nn.i64_array(stream.layout.perm),
                })

    @staticmethod
    def is_live(op: Operation) -> bool:
        return any(result.uses for result in op.results)

    def port(self, index: int, value: SSAValue, attrs: ArrayAttr | None, kind: str) -> DictionaryAttr:
        """What the host needs to know about graph input/output `index`."""
        entries: dict[str, Attribute] = {}
        if attrs is not None:
            given = attrs.data[index]
            assert isinstance(given, DictionaryAttr)
            entries.update({k: v for k, v in given.data.items() if k in PORT_KEYS_FROM_NN})
        entries.setdefault(nn.NAME_ATTR, StringAttr(f"{kind}{index}"))
        layout = self.stream(value, "graph port").layout
        entries[SHAPE_KEY] = nn.i64_array(nn.shape_of(value))
        entries[SOURCE_KEY] = nn.i64_array(layout.source)
        entries[PERM_KEY] = nn.i64_array(layout.perm)
        return DictionaryAttr(entries)

    # ------------------------------------------------------------------ values and names

    def stream(self, value: SSAValue, what: str) -> Stream:
        if value in self.streams:
            return self.streams[value]
        owner = value.owner
        name = owner.name if isinstance(owner, Operation) else "a block argument"
        raise HwcError(f"map-to-spatial: {what} comes from {name}, which is not a stream "
                       "(a constant, or an op that must be folded into its consumer)")

    def is_activation(self, value: SSAValue) -> bool:
        return value in self.streams or value in self.scaled or value in self.padded

    def rom_symbol(self, value: SSAValue, op: Operation) -> str:
        read = value.owner
        if not isinstance(read, ReadOp):
            raise HwcError(f"map-to-spatial: layer '{self.layer_of(op)}' ({op.name}): its constants must be "
                           "rom.read (run weights-to-rom first)")
        return read.rom.root_reference.data

    def rom_array(self, value: SSAValue, op: Operation) -> np.ndarray:
        self.rom_symbol(value, op)
        return np.asarray(rom_contents(value.owner, self.store)).astype(np.int64)

    def layer_of(self, op: Operation) -> str:
        if isinstance(op, nn.DenseOp | nn.ConvOp) and isinstance(op.weight.owner, ReadOp):
            symbol = op.weight.owner.rom.root_reference.data  # fc1_weight, fc1_weight_2 -> fc1, fc1_2
            return re.sub(r"_weight(_\d+)?$", r"\1", symbol)
        return self.layer_names.stem(op)

    def unique_layer(self, stem: str) -> str:
        name, n = stem, 0
        while name in self.used_layers:
            n += 1
            name = f"{stem}_{n}"
        self.used_layers.add(name)
        return name

    def fail(self, op: Operation, reason: str) -> HwcError:
        return HwcError(f"map-to-spatial: layer '{self.layer_of(op)}' ({op.name}): {reason}")

    @staticmethod
    def stream_type(value: SSAValue, frame: Sequence[int]) -> spatial.StreamType:
        return spatial.StreamType(frame, nn.element_type_of(value), 1)

    def new_rom(self, stem: str, array: np.ndarray, width: int) -> str:
        """A new ROM symbol holding `array` as `width`-bit integers (inline when small)."""
        symbol = self.namer.unique(sanitize(stem))
        element = IntegerType(max(width, 2))
        lo, hi = signed_range(element.width.data)
        assert array.size == 0 or (array.min() >= lo and array.max() <= hi), (stem, width)
        result_type = tensor_type(array.shape, element)
        if array.size <= INLINE_LIMIT:
            rom = RomOp(symbol, result_type, value=numpy_to_dense(array.astype(np.int64), element))
        else:
            self.store.add(symbol, np.ascontiguousarray(array.astype(rom_dtype(element.width.data))))
            rom = RomOp(symbol, result_type)
        self.new_roms.append(rom)
        return symbol

    # ------------------------------------------------------------------ emitting

    def emit(self, op_type: type[Operation], stem: str, operands: Sequence, frame: Sequence[int],
             like: SSAValue, properties: dict[str, Attribute]) -> SSAValue:
        """A PE of `op_type` named `stem` with one result stream of `frame` and `like`'s element type."""
        properties = {"layer": StringAttr(self.unique_layer(stem)), **properties}
        op = op_type.create(operands=list(operands), properties=properties,
                            result_types=[self.stream_type(like, frame)])
        self.block.add_op(op)
        return op.results[0]

    def bind(self, value: SSAValue, stream: SSAValue, layout: Layout) -> None:
        self.streams[value] = Stream(stream, layout)

    def natural_input(self, op: Operation, value: SSAValue, what: str = "input") -> Stream:
        source = self.stream(value, f"layer '{self.layer_of(op)}' {what}")
        if len(per_sample(value)) < 2 or not source.layout.is_natural_for(per_sample(value)):
            raise self.fail(op, f"its {what} is not an image/sequence streamed channel-innermost "
                                "(a reshape or transpose re-orders it)")
        return source

    def fusable_requant(self, value: SSAValue, layout: Layout) -> nn.RequantOp | None:
        """The requant that is `value`'s only user, if its multiplier fits the stream's innermost axis."""
        users = [use.operation for use in value.uses]
        if len(users) != 1 or not isinstance(users[0], nn.RequantOp):
            return None
        requant = users[0]
        if nn.shape_of(requant.multiplier) == (1,):
            return requant
        if requant.axis.value.data == 1 and layout.is_natural_for(per_sample(value)):
            return requant
        return None

    def requant_properties(self, requant: nn.RequantOp) -> dict[str, Attribute]:
        return {
            "multiplier": SymbolRefAttr(self.rom_symbol(requant.multiplier, requant)),
            "shift": requant.shift, "lo": requant.lo, "hi": requant.hi,
        }

    def mvu(self, op: Operation, stem: str, input_stream: SSAValue, weights: str, bias: str | None,
            acc: SSAValue, out_features: int, vector_frame: Sequence[int], layout: Layout) -> None:
        """An MVU on `input_stream` producing nn value `acc` (or the requant fused after it)."""
        properties: dict[str, Attribute] = {
            "weights": SymbolRefAttr(weights), "pe": IntegerAttr(1, i64), "simd": IntegerAttr(1, i64),
        }
        if bias is not None:
            properties["bias"] = SymbolRefAttr(bias)
        result = acc
        requant = self.fusable_requant(acc, layout)
        if requant is not None:
            properties.update(self.requant_properties(requant))
            self.consumed.add(requant)
            result = requant.output
        frame = (*vector_frame, out_features)
        self.bind(result, self.emit(spatial.MVUOp, stem, [input_stream], frame, result, properties), layout)


# --------------------------------------------------------------------------- window layers


def window_input(m: GraphMapper, op: Operation, own_pad_value: int) -> tuple[Stream, list[int], int]:
    """The stream a conv/pool windows over, its total pads and the pad value (an
    `nn.pad` in front is folded in)."""
    rank = len(per_sample(op.input)) - 1
    pads = list(op.pads.get_values())
    pad_value = own_pad_value
    source_value = op.input
    if op.input in m.padded:
        padded = m.padded[op.input]
        if any(pads) and padded.value != own_pad_value:
            raise m.fail(op, f"a pad of value {padded.value} in front of its own padding of {own_pad_value} "
                             "cannot be one sliding window")
        pads = [a + b for a, b in zip(pads, padded.pads)]
        pad_value = padded.value if any(padded.pads) else own_pad_value
        source_value = padded.source
    assert len(pads) == 2 * rank
    return m.natural_input(op, source_value), pads, pad_value


def swu(m: GraphMapper, op: Operation, stem: str, source: Stream, kernel: Sequence[int],
        strides: Sequence[int], pads: Sequence[int], dilations: Sequence[int], pad_value: int,
        out_spatial: Sequence[int]) -> SSAValue:
    channels = source.layout.frame[-1]
    rank = len(kernel)
    pads = list(pads)
    for i in range(rank):  # ceil-mode windows: extend the end padding so that floor division agrees
        size = source.layout.frame[i]
        span = (kernel[i] - 1) * dilations[i] + 1
        pads[rank + i] = max(pads[rank + i], (out_spatial[i] - 1) * strides[i] + span - size - pads[i])
    frame = (*out_spatial, int(np.prod(kernel)) * channels)
    properties = {
        "kernel": nn.i64_array(kernel), "strides": nn.i64_array(strides), "pads": nn.i64_array(pads),
        "dilations": nn.i64_array(dilations), "pad_value": IntegerAttr(pad_value, i64),
    }
    return m.emit(spatial.SWUOp, f"{stem}_swu", [source.value], frame, op.input, properties)


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
    stem = m.layer_of(op)
    source, pads, pad_value = window_input(m, op, 0)
    weight = dense_conv_weight(m.rom_array(op.weight, op), op.group.value.data)
    width = element_width(op.weight)
    out_shape = per_sample(op.output)
    kernel, strides = weight.shape[2:], op.strides.get_values()
    dilations = op.dilations.get_values()
    pointwise = all(k == 1 for k in kernel) and all(s == 1 for s in strides) and not any(pads)
    if pointwise:
        windows = source.value
        matrix = weight.reshape(weight.shape[0], -1)
    else:
        windows = swu(m, op, stem, source, kernel, strides, pads, dilations, pad_value, out_shape[1:])
        matrix = np.moveaxis(weight, 1, -1).reshape(weight.shape[0], -1)  # (kh, kw, c) order
    weights = m.new_rom(f"{stem}_weight_hwc", matrix, width)
    bias = m.rom_symbol(op.bias, op) if op.bias is not None else None
    layout = Layout.natural(out_shape)
    m.mvu(op, stem, windows, weights, bias, op.output, matrix.shape[0], layout.frame[:-1], layout)


def map_dense(m: GraphMapper, op: nn.DenseOp) -> None:
    stem = m.layer_of(op)
    if len(nn.shape_of(op.input)) != 2:
        raise m.fail(op, f"a dense layer on a rank-{len(nn.shape_of(op.input))} input is not supported "
                         "(only [batch, features])")
    source = m.stream(op.input, f"layer '{stem}' input")
    order = source.layout.order()
    if np.array_equal(order, np.arange(order.size)):
        weights = m.rom_symbol(op.weight, op)
    else:
        weight = m.rom_array(op.weight, op)
        weights = m.new_rom(f"{stem}_weight_stream_order", weight[:, order], element_width(op.weight))
    bias = m.rom_symbol(op.bias, op) if op.bias is not None else None
    features = nn.shape_of(op.output)[-1]
    m.mvu(op, stem, source.value, weights, bias, op.output, features, (), Layout.natural((features,)))


def map_pool(m: GraphMapper, op: nn.MaxPoolOp | nn.SumPoolOp) -> None:
    stem = m.layer_of(op)
    is_max = isinstance(op, nn.MaxPoolOp)
    lowest = signed_range(element_width(op.input))[0]
    source, pads, pad_value = window_input(m, op, lowest if is_max else 0)
    kernel = op.kernel_shape.get_values()
    dilations = op.dilations.get_values() if op.dilations is not None else (1,) * len(kernel)
    out_shape = per_sample(op.output)
    windows = swu(m, op, stem, source, kernel, op.strides.get_values(), pads, dilations, pad_value,
                  out_shape[1:])
    layout = Layout.natural(out_shape)
    properties = {"kind": StringAttr("max" if is_max else "sum"),
                  "window": IntegerAttr(int(np.prod(kernel)), i64)}
    m.bind(op.output, m.emit(spatial.PoolOp, stem, [windows], layout.frame, op.output, properties), layout)


def map_pad(m: GraphMapper, op: nn.PadOp) -> None:
    shape = nn.shape_of(op.input)
    pads = op.pads.get_values()
    rank = len(shape)
    users = [use.operation for use in op.output.uses]
    foldable = all(isinstance(u, nn.ConvOp | nn.MaxPoolOp | nn.SumPoolOp) and u.input is op.output for u in users)
    value = op.value.value.data
    if op.mode.data != "constant" or not foldable or value != int(value):
        raise m.fail(op, "an nn.pad is supported only as constant integer padding feeding convs or pools")
    if pads[0] or pads[1] or pads[rank] or pads[rank + 1]:
        raise m.fail(op, "padding the batch or channel axis has no spatial form")
    spatial_pads = (*pads[2:rank], *pads[rank + 2:])
    m.padded[op.output] = Padded(op.input, tuple(spatial_pads), int(value))


def map_global_pool(m: GraphMapper, op: nn.GlobalSumPoolOp) -> None:
    source = m.natural_input(op, op.input)
    layout = Layout.natural(per_sample(op.output))
    m.bind(op.output, m.emit(spatial.GlobalPoolOp, m.layer_of(op), [source.value], layout.frame,
                             op.output, {}), layout)


# --------------------------------------------------------------------------- element-wise layers


def map_requant(m: GraphMapper, op: nn.RequantOp) -> None:
    source = m.stream(op.input, f"layer '{m.layer_of(op)}' input")
    if m.fusable_requant(op.input, source.layout) is not op and nn.shape_of(op.multiplier) != (1,):
        raise m.fail(op, "a per-channel multiplier must run along the channel axis of a "
                         "channel-innermost stream")
    m.bind(op.output, m.emit(spatial.RequantOp, m.layer_of(op), [source.value], source.layout.frame,
                             op.output, m.requant_properties(op)), source.layout)


def map_relu(m: GraphMapper, op: nn.ReluOp) -> None:
    """A relu alone: requant by exactly 1 (M = 1, shift 0) with lo = 0."""
    source = m.stream(op.input, f"layer '{m.layer_of(op)}' input")
    one = m.new_rom(f"{m.layer_of(op)}_multiplier", np.array([1]), 2)
    properties = {"multiplier": SymbolRefAttr(one), "shift": IntegerAttr(0, i64), "lo": IntegerAttr(0, i64),
                  "hi": IntegerAttr(signed_range(element_width(op.output))[1], i64)}
    m.bind(op.output, m.emit(spatial.RequantOp, m.layer_of(op), [source.value], source.layout.frame,
                             op.output, properties), source.layout)


def map_lookup(m: GraphMapper, op: nn.LookupOp) -> None:
    source = m.stream(op.input, f"layer '{m.layer_of(op)}' input")
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
        stream = m.stream(value, f"layer '{m.layer_of(op)}' input")
        if not stream.layout.is_natural_for(per_sample(value)):
            raise m.fail(op, "an input is not streamed channel-innermost")
        sources.append(stream.value)
    layout = Layout.natural(per_sample(op.output))
    concat = spatial.ConcatOp(operands=[sources], result_types=[m.stream_type(op.output, layout.frame)],
                                     properties={"layer": StringAttr(m.unique_layer(m.layer_of(op)))})
    m.block.add_op(concat)
    m.bind(op.output, concat.output, layout)


def map_reshape(m: GraphMapper, op: nn.ReshapeOp) -> None:
    source = m.stream(op.input, f"layer '{m.layer_of(op)}' input")
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
    m.bind(op.output, m.emit(spatial.ReshapeOp, m.layer_of(op), [source.value], layout.frame,
                             op.output, {}), layout)


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
    if m.is_activation(op.lhs) and m.is_activation(op.rhs):
        map_eltwise(m, op, "mul", (op.lhs, 1), (op.rhs, 1))
        return
    activation, constant, _ = constant_operand(m, op)
    factor = m.rom_array(constant, op)
    users = [use.operation for use in op.output.uses]
    if len(users) == 1 and isinstance(users[0], nn.AddOp | nn.SubOp):
        m.scaled[op.output] = Scaled(activation, factor)  # folded into the add/sub after it
        return
    source = m.stream(activation, f"layer '{m.layer_of(op)}' input")
    map_affine(m, op, activation, per_channel(m, op, factor, nn.shape_of(op.output), source.layout), None)


def map_add_sub(m: GraphMapper, op: nn.AddOp | nn.SubOp) -> None:
    kind = "add" if isinstance(op, nn.AddOp) else "sub"
    if m.is_activation(op.lhs) and m.is_activation(op.rhs):
        map_eltwise(m, op, kind, unscaled(m, op, op.lhs), unscaled(m, op, op.rhs))
        return
    activation, constant, constant_is_lhs = constant_operand(m, op)
    x, factor = activation, np.array([1])
    if activation in m.scaled:
        x, factor = m.scaled[activation].source, m.scaled[activation].factor
    source = m.stream(x, f"layer '{m.layer_of(op)}' input")
    shape = nn.shape_of(op.output)
    scale = per_channel(m, op, factor, shape, source.layout)
    offset = per_channel(m, op, m.rom_array(constant, op), shape, source.layout)
    if kind == "sub":
        scale, offset = (-scale, offset) if constant_is_lhs else (scale, -offset)
    map_affine(m, op, x, scale, offset)


def unscaled(m: GraphMapper, op: Operation, value: SSAValue) -> tuple[SSAValue, int]:
    """An add/sub operand as (activation, integer factor)."""
    if value not in m.scaled:
        return value, 1
    factor = m.scaled[value].factor
    if factor.size == 0 or not np.all(factor == factor.reshape(-1)[0]):
        raise m.fail(op, "a residual branch scaled per channel is not supported (eltwise scales are scalars)")
    return m.scaled[value].source, int(factor.reshape(-1)[0])


def map_eltwise(m: GraphMapper, op: Operation, kind: str, lhs: tuple[SSAValue, int],
                rhs: tuple[SSAValue, int]) -> None:
    streams = [m.stream(v, f"layer '{m.layer_of(op)}' input") for v, _ in (lhs, rhs)]
    if not streams[0].layout.same_order(streams[1].layout) or streams[0].layout.frame != streams[1].layout.frame:
        raise m.fail(op, "its operands are streamed in different orders (broadcasting is not supported)")
    if nn.shape_of(op.lhs) != nn.shape_of(op.rhs):
        raise m.fail(op, "broadcasting between two activations is not supported")
    requant = m.fusable_requant(op.results[0], streams[0].layout)
    if requant is None or nn.shape_of(requant.multiplier) != (1,):
        raise m.fail(op, "an element-wise op of two activations must be followed by a per-tensor nn.requant")
    multiplier = m.rom_array(requant.multiplier, requant).reshape(-1)[0]
    m.consumed.add(requant)
    properties = {
        "kind": StringAttr(kind), "lhs_scale": IntegerAttr(lhs[1], i64), "rhs_scale": IntegerAttr(rhs[1], i64),
        "multiplier": IntegerAttr(int(multiplier), i64), "shift": requant.shift,
        "lo": requant.lo, "hi": requant.hi,
    }
    layout = streams[0].layout
    m.bind(requant.output, m.emit(spatial.EltwiseOp, m.layer_of(op), [s.value for s in streams],
                                  layout.frame, requant.output, properties), layout)


def map_affine(m: GraphMapper, op: Operation, x: SSAValue, scale: np.ndarray, offset: np.ndarray | None) -> None:
    """`x * scale[c] (+ offset[c])` per channel as an MVU with a diagonal weight ROM."""

    source = m.stream(x, f"layer '{m.layer_of(op)}' input")
    stem = m.layer_of(op)
    weights = m.new_rom(f"{stem}_diagonal", np.diag(scale), width_for(int(np.abs(scale).max(initial=1))))
    bias = None
    if offset is not None:
        bias = m.new_rom(f"{stem}_offset", offset, width_for(int(np.abs(offset).max(initial=1))))
    frame = source.layout.frame
    m.mvu(op, stem, source.value, weights, bias, op.results[0], frame[-1], frame[:-1], source.layout)


def map_transpose(m: GraphMapper, op: nn.TransposeOp) -> None:
    raise m.fail(op, "a transpose of an activation has no spatial form yet")


HANDLERS: dict[type[Operation], Callable[[GraphMapper, Operation], None]] = {
    nn.ConvOp: map_conv, nn.DenseOp: map_dense,
    nn.MaxPoolOp: map_pool, nn.SumPoolOp: map_pool, nn.GlobalSumPoolOp: map_global_pool,
    nn.PadOp: map_pad, nn.RequantOp: map_requant, nn.ReluOp: map_relu, nn.LookupOp: map_lookup,
    nn.ConcatOp: map_concat, nn.ReshapeOp: map_reshape, nn.TransposeOp: map_transpose,
    nn.MulOp: map_mul, nn.AddOp: map_add_sub, nn.SubOp: map_add_sub,
}
"""How each integer nn op becomes PEs (a handler appends to the graph body)."""


# --------------------------------------------------------------------------- graph finishing


def insert_dups(block: Block) -> None:
    """Give every stream with several consumers a `spatial.dup` (one output per consumer)."""
    position = {op: index for index, op in enumerate(block.ops)}
    values = list(block.args) + [r for op in block.ops for r in op.results]
    for value in values:
        uses = sorted(value.uses, key=lambda use: (position[use.operation], use.index))
        if len(uses) < 2:
            continue
        owner = value.owner
        layer = owner.layer.data if isinstance(owner, Operation) and hasattr(owner, "layer") else "input"
        dup = spatial.DupOp(operands=[value], result_types=[[value.type] * len(uses)],
                                   properties={"layer": StringAttr(f"{layer}_dup")})
        if isinstance(owner, Operation):
            block.insert_op_after(dup, owner)
        else:
            block.insert_op_before(dup, block.first_op)
        for use, output in zip(uses, dup.outputs):
            use.operation.operands[use.index] = output


def set_timing(block: Block) -> None:
    """Every PE's `ii` and `latency` at its current folding."""
    for op in block.ops:
        if isinstance(op, spatial.PE_OPS):
            op.ii = IntegerAttr(op.nominal_ii(), i64)
            op.latency = IntegerAttr(op.nominal_latency(), i64)


def remove_unread_roms(module: ModuleOp) -> None:
    """Erase the `rom.rom` symbols that no op names any more."""
    named: set[str] = set()
    for op in module.walk():
        for attr in (*op.properties.values(), *op.attributes.values()):
            if isinstance(attr, SymbolRefAttr):
                named.add(attr.root_reference.data)
    for op in list(module.ops):
        if isinstance(op, RomOp) and op.sym_name.data not in named:
            module.body.block.erase_op(op)


def map_module(module: ModuleOp) -> ModuleOp:
    """Apply the rewrite to `module` in place (the plain Python form of the pass)."""
    function = main_function(module)
    mapper = GraphMapper(module, function, store_for(module))
    graph = mapper.run()
    block = module.body.block
    for rom in mapper.new_roms:
        block.insert_op_before(rom, function)
    block.insert_op_before(graph, function)
    block.erase_op(function)
    remove_unread_roms(module)
    try:
        graph.verify()
    except VerifyException as error:
        raise HwcError(f"map-to-spatial: the graph does not verify: {str(error).splitlines()[0]}") from None
    return module


@dataclass(frozen=True)
class MapToSpatialPass(ModulePass):
    """`func.func @main` (integer nn + rom) → `spatial.graph @main` (see the module docstring)."""

    name = "map-to-spatial"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        map_module(op)
