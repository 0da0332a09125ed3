"""The state `map-to-spatial` keeps while it builds a `spatial.graph`: which
stream carries each nn value and in which layout (`dialects/stream_layout.py`),
the names of layers and ROMs, and how a PE is emitted.

Used by the per-op handlers (`passes/spatial_handlers.py`), the PE fusions
(`passes/spatial_fusions.py`, which only need its ROM helpers) and the
pass itself (`passes/map_to_spatial.py`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, IntegerType, ModuleOp, StringAttr, SymbolRefAttr, i64
from xdsl.dialects.func import FuncOp
from xdsl.ir import Attribute, Block, Operation, SSAValue

from compiler.errors import HwcError
from compiler.ir import dense_to_numpy, numpy_to_dense, rom_contents, tensor_type
from compiler.weights import INLINE_LIMIT, WeightStore
from dialects import nn, spatial
from dialects.rom import ReadOp, RomOp, lookup_rom, signed_range
from dialects.spatial import PROBE_ATTR
from dialects.stream_layout import Layout
from passes.weights_to_rom import LayerNames, SymbolNamer, rom_dtype, sanitize


def per_sample(value: SSAValue) -> tuple[int, ...]:
    return nn.shape_of(value)[1:]


def element_width(value: SSAValue) -> int:
    element = nn.element_type_of(value)
    assert isinstance(element, IntegerType)
    return element.width.data


def stream_type(value: SSAValue, frame: Sequence[int]) -> spatial.StreamType:
    """A one-lane stream of `frame` with `value`'s element type."""
    return spatial.StreamType(frame, nn.element_type_of(value), 1)


# --------------------------------------------------------------------------- ROMs


def rom_op(symbol: str, array: np.ndarray, width: int, store: WeightStore) -> RomOp:
    """A `rom.rom @symbol` holding `array` as `width`-bit integers (at least 2),
    inline when small, else in `store`."""
    element = IntegerType(max(width, 2))
    lo, hi = signed_range(element.width.data)
    assert array.size == 0 or (array.min() >= lo and array.max() <= hi), (symbol, width)
    result_type = tensor_type(array.shape, element)
    if array.size <= INLINE_LIMIT:
        return RomOp(symbol, result_type, value=numpy_to_dense(array.astype(np.int64), element))
    store.add(symbol, np.ascontiguousarray(array.astype(rom_dtype(element.width.data))))
    return RomOp(symbol, result_type)


def find_rom(op: Operation, symbol: SymbolRefAttr) -> RomOp | None:
    """The `rom.rom` that `symbol` names, seen from `op` (inside a module)."""
    return lookup_rom(op, symbol)


def rom_values(rom: RomOp, store: WeightStore) -> np.ndarray:
    """The integers `rom` holds (int64)."""
    if rom.value is not None:
        return dense_to_numpy(rom.value).astype(np.int64)
    return np.asarray(store.get(rom.sym_name.data)).astype(np.int64)


# --------------------------------------------------------------------------- the mapper


@dataclass
class Stream:
    """The stream carrying an nn value, and how it lays the value out."""

    value: SSAValue
    layout: Layout


@dataclass(frozen=True)
class NamedLater:
    """A PE's layer name taken from nn op `op` once the graph is fused (see `GraphMapper.emit`)."""

    op: Operation
    suffix: str = ""


@dataclass
class GraphMapper:
    """Builds the body of `spatial.graph @main` from `func.func @main`, one nn op at a time."""

    module: ModuleOp
    function: FuncOp
    store: WeightStore
    probes: dict[SSAValue, int]
    """The integer graph's activations and their probe index (`spatial.probe`)."""
    block: Block = field(default_factory=Block)
    streams: dict[SSAValue, Stream] = field(default_factory=dict)
    later: dict[str, NamedLater] = field(default_factory=dict)
    later_roms: dict[str, str | NamedLater] = field(default_factory=dict)
    layer_names: LayerNames = field(default_factory=LayerNames)
    used_layers: set[str] = field(default_factory=set)
    namer: SymbolNamer = field(init=False)

    def __post_init__(self):
        self.namer = SymbolNamer(self.module, self.store)

    # ------------------------------------------------------------------ values

    def stream(self, value: SSAValue, what: str) -> Stream:
        if value in self.streams:
            return self.streams[value]
        owner = value.owner
        name = owner.name if isinstance(owner, Operation) else "a block argument"
        raise HwcError(f"map-to-spatial: {what} comes from {name}, which is not a stream "
                       "(a constant, or an op that must be folded into its consumer)")

    def input_stream(self, op: Operation, value: SSAValue, what: str = "input") -> Stream:
        """The stream of `op`'s operand `value` (the layer is named only in the error)."""
        if value in self.streams:
            return self.streams[value]
        return self.stream(value, f"layer '{self.layer_of(op)}' {what}")

    def is_activation(self, value: SSAValue) -> bool:
        return value in self.streams

    def natural_input(self, op: Operation, value: SSAValue, what: str = "input") -> Stream:
        source = self.input_stream(op, value, what)
        if len(per_sample(value)) < 2 or not source.layout.is_natural_for(per_sample(value)):
            raise self.fail(op, f"its {what} is not an image/sequence streamed channel-innermost "
                                "(a reshape or transpose re-orders it)")
        return source

    def rom_symbol(self, value: SSAValue, op: Operation) -> str:
        read = value.owner
        if not isinstance(read, ReadOp):
            raise HwcError(f"map-to-spatial: layer '{self.layer_of(op)}' ({op.name}): its constants must be "
                           "rom.read (run weights-to-rom first)")
        return read.rom.root_reference.data

    def rom_array(self, value: SSAValue, op: Operation, native: bool = False) -> np.ndarray:
        """The ROM's integers as int64, or with `native` in the ROM image's own dtype
        (for weights that are only reordered: a large layer is not copied at 8 bytes
        a weight)."""
        self.rom_symbol(value, op)
        contents = np.asarray(rom_contents(value.owner, self.store))
        return contents if native and contents.dtype.kind == "i" else contents.astype(np.int64)

    # ------------------------------------------------------------------ names

    def layer_of(self, op: Operation) -> str:
        if isinstance(op, nn.DenseOp | nn.ConvOp | nn.GroupDenseOp) and isinstance(op.weight.owner, ReadOp):
            symbol = op.weight.owner.rom.root_reference.data  # fc1_weight, fc1_weight_2 -> fc1, fc1_2
            return re.sub(r"_weight(_\d+)?$", r"\1", symbol)
        return self.layer_names.stem(op)

    def fail(self, op: Operation, reason: str) -> HwcError:
        return HwcError(f"map-to-spatial: layer '{self.layer_of(op)}' ({op.name}): {reason}")

    def unique_layer(self, stem: str) -> str:
        name, n = stem, 0
        while name in self.used_layers:
            n += 1
            name = f"{stem}_{n}"
        self.used_layers.add(name)
        return name

    def final_layer(self, provisional: str) -> str:
        """The unique layer name of a PE emitted with layer `provisional` (graph order)."""
        named = self.later.get(provisional)
        stem = provisional if named is None else self.layer_of(named.op) + named.suffix
        return self.unique_layer(stem)

    def new_rom(self, name: str | NamedLater, array: np.ndarray, width: int) -> str:
        """A new ROM holding `array` as `width`-bit integers (inline when small), named
        `name` (a stem, or a `NamedLater` with the suffix) once the graph is fused."""
        symbol = f"map-to-spatial.rom.{len(self.later_roms)}"
        self.later_roms[symbol] = name
        self.module.body.block.insert_op_before(rom_op(symbol, array, width, self.store), self.function)
        return symbol

    def final_rom(self, provisional: str) -> str:
        """The unique symbol of new ROM `provisional` (called in module order)."""
        name = self.later_roms[provisional]
        stem = name if isinstance(name, str) else self.layer_of(name.op) + name.suffix
        return self.namer.unique(sanitize(stem))

    # ------------------------------------------------------------------ emitting

    def emit(self, op_type: type[Operation], name: str | NamedLater, operands: Sequence, frame: Sequence[int],
             like: SSAValue, properties: dict[str, Attribute]) -> SSAValue:
        """A PE of `op_type` with one result stream of `frame` and `like`'s element type.

        `name` is the layer's stem, or a `NamedLater` for a PE that a fusion may
        remove (its nn op then takes no name nor a stem counter; names are made
        unique in graph order when the graph is finished)."""
        layer = name
        if isinstance(name, NamedLater):
            layer = f"map-to-spatial.later.{len(self.later)}"
            self.later[layer] = name
        op = op_type.create(operands=list(operands), properties={"layer": StringAttr(layer), **properties},
                            result_types=[stream_type(like, frame)])
        self.block.add_op(op)
        return op.results[0]

    def bind(self, value: SSAValue, stream: SSAValue, layout: Layout) -> None:
        """`value` is carried by `stream` in `layout`; its PE records it as its probe."""
        self.streams[value] = Stream(stream, layout)
        owner = stream.owner
        if value in self.probes and isinstance(owner, Operation) and len(owner.results) == 1:
            owner.attributes[PROBE_ATTR] = DictionaryAttr({
                "index": IntegerAttr(self.probes[value], i64),
                "source": nn.i64_array(layout.source),
                "perm": nn.i64_array(layout.perm),
            })

    def requant_properties(self, requant: nn.RequantOp) -> dict[str, Attribute]:
        properties = {
            "multiplier": SymbolRefAttr(self.rom_symbol(requant.multiplier, requant)),
            "shift": requant.shift, "lo": requant.lo, "hi": requant.hi,
        }
        if requant.offset is not None:
            properties["offset"] = SymbolRefAttr(self.rom_symbol(requant.offset, requant))
        if requant.rounding is not None:
            properties["rounding"] = requant.rounding
        return properties

    def mvu(self, op: Operation, name: str | NamedLater, input_stream: SSAValue, weights: str, bias: str | None,
            out_features: int, vector_frame: Sequence[int], layout: Layout) -> None:
        """An MVU on `input_stream` producing `op`'s result (its exact accumulator)."""
        properties: dict[str, Attribute] = {
            "weights": SymbolRefAttr(weights), "pe": IntegerAttr(1, i64), "simd": IntegerAttr(1, i64),
        }
        if bias is not None:
            properties["bias"] = SymbolRefAttr(bias)
        result = op.results[0]
        frame = (*vector_frame, out_features)
        self.bind(result, self.emit(spatial.MVUOp, name, [input_stream], frame, result, properties), layout)
