"""`weights-to-rom`: every constant tensor of an integer graph becomes a ROM.

Rewrites each `nn.constant` / `nn.weight` of integer element type into a
`rom.rom` symbol at module level (before the functions, in graph order) and a
`rom.read` of it where the constant was:

    %w = nn.weight "dense0.q" : tensor<32x64xi8>
    %y = nn.dense %x, %w, %b : ...
  becomes
    rom.rom @fc1_weight : tensor<32x64xi8>
    ...
    %w = rom.read @fc1_weight : tensor<32x64xi8>

Symbol names say what the constant feeds: `<layer>_<operand>`, where
<operand> is the name of the operand in the consumer's definition (`weight`,
`bias`, `multiplier`, `table`, `lhs` ...) and <layer> is, in this order, the
consumer's `nn.name` attribute; for a layer with a weight store key like
`fc1.weight`, the key's first component (`fc1`); for an `nn.requant`, the
layer whose accumulator it rescales; else the op kind and its index among the
ops of that kind (`dense0`, `lookup1`). Names are sanitised to MLIR bare
identifiers and made unique against the module's symbols and the weight
store's keys.

Contents: at most `compiler.weights.INLINE_LIMIT` elements are inlined
(`= dense<...>`); larger contents stay in the module's weight store (the ROM
image) under the symbol name. That is a rename, not a copy: the new key's
loader returns the old key's array (converted only if its numpy dtype is not
already the smallest one holding the width), so a large model is never
materialised twice.

Quantization parameters: when the constant op carries `nn.scale` (an f64, or a
dense per-channel tensor) and optionally `nn.axis` (i64), they go onto the ROM
as `scale` / `axis`. A per-channel scale with more than INLINE_LIMIT entries
goes into the image as `<symbol>.scale` (float64) and the ROM keeps only
`axis` (the convention of `dialects/rom.py`). `quantize` records the weight
scales of conv and dense weights (per output channel, axis 0): inline when
small, else in the store under the key named by `nn.scale_key`.

Requires: `quantize` has run, i.e. every constant is an integer tensor of
signless width 1..32 (a float constant left in the graph is an HwcError naming
it and saying to run `quantize` first); the `nn.weight` keys exist in the
module's store; contents fit their width.
Guarantees: no `nn.constant` / `nn.weight` remains; every `rom.read` names a
`rom.rom` of its type; the graph computes the same integers; the module
verifies.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    Signedness,
    StringAttr,
    TensorType,
    f64,
)
from xdsl.dialects.func import FuncOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.traits import SymbolOpInterface

from compiler.errors import HwcError
from compiler.ir import dense_to_numpy, numpy_dtype, numpy_to_dense
from compiler.weights import INLINE_LIMIT, WeightStore, forget_unused_memory_store, store_for
from dialects.nn import AXIS_ATTR, NAME_ATTR, SCALE_ATTR, SCALE_KEY_ATTR, ConstantOp, ConvOp, DenseOp, RequantOp, WeightOp
from dialects.rom import MAX_WIDTH, ReadOp, RomOp, signed_range


_CONSTANTS = (ConstantOp, WeightOp)
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")


# --------------------------------------------------------------------------- checks


def describe(constant: Operation) -> str:
    if isinstance(constant, WeightOp):
        return f'nn.weight "{constant.key.data}" : {constant.output.type}'
    return f"nn.constant : {constant.results[0].type}"


def rom_width_of(constant: Operation) -> int:
    """The ROM width of an integer constant; HwcError when it cannot be a ROM."""
    element = constant.results[0].type.get_element_type()
    if not isinstance(element, IntegerType):
        raise AssertionError("float constants are rejected before")
    if element.signedness.data == Signedness.UNSIGNED:
        raise HwcError(f"weights-to-rom: {describe(constant)}: unsigned constants cannot be ROMs (ROMs are signed)")
    width = element.width.data
    if not 1 <= width <= MAX_WIDTH:
        raise HwcError(f"weights-to-rom: {describe(constant)}: {width}-bit elements; a ROM holds 1..{MAX_WIDTH} bits")
    return width


def reject_float_constants(constants: list[Operation]) -> None:
    floats = [c for c in constants if not isinstance(c.results[0].type.get_element_type(), IntegerType)]
    if floats:
        raise HwcError(
            f"weights-to-rom: {len(floats)} float constant(s) left (first: {describe(floats[0])}); "
            "the pass needs an integer graph: run 'quantize' first"
        )


# --------------------------------------------------------------------------- names


def sanitize(text: str) -> str:
    """`text` as an MLIR bare identifier: [A-Za-z_][A-Za-z0-9_]*, no leading/trailing '_' runs."""
    name = _NOT_IDENTIFIER.sub("_", text).strip("_")
    if not name:
        return "rom"
    return name if not name[0].isdigit() else f"_{name}"


def operand_role(user: Operation, value: SSAValue) -> str:
    """The name of the operand of `user` that `value` is (from the op's definition)."""
    definition = type(user).get_irdl_definition()
    for name, _ in definition.operands:
        operand = getattr(user, name, None)
        if operand is value or (isinstance(operand, tuple) and value in operand):
            return name
    return "operand"


class LayerNames:
    """Stems naming the ops of a graph (see the module docstring)."""

    def __init__(self):
        self._stems: dict[Operation, str] = {}
        self._counters: dict[str, itertools.count] = {}

    def stem(self, op: Operation) -> str:
        if op not in self._stems:
            self._stems[op] = self._choose(op)
        return self._stems[op]

    def _choose(self, op: Operation) -> str:
        name = op.attributes.get(NAME_ATTR)
        if isinstance(name, StringAttr) and name.data:
            return sanitize(name.data)
        if isinstance(op, DenseOp | ConvOp) and isinstance(op.weight.owner, WeightOp):
            head = op.weight.owner.key.data.split(".")[0]
            if head and head[0].isalpha() and "." in op.weight.owner.key.data:
                return sanitize(head)
        if isinstance(op, RequantOp) and isinstance(op.input.owner, DenseOp | ConvOp):
            return self.stem(op.input.owner)
        kind = op.name.split(".")[-1]
        counter = self._counters.setdefault(kind, itertools.count())
        return f"{kind}{next(counter)}"


class SymbolNamer:
    """Unique symbol names: not taken by a module symbol nor a store key."""

    def __init__(self, module: ModuleOp, store: WeightStore):
        self._taken = {
            op.sym_name.data for op in module.walk()
            if op.has_trait(SymbolOpInterface) and isinstance(getattr(op, "sym_name", None), StringAttr)
        }
        self._store = store

    def _free(self, name: str) -> bool:
        return (name not in self._taken and name not in self._store
                and f"{name}.scale" not in self._store)

    def unique(self, stem: str) -> str:
        name = stem
        for n in itertools.count(1):
            if self._free(name):
                break
            name = f"{stem}_{n}"
        self._taken.add(name)
        return name


def symbol_stem(constant: Operation, layers: LayerNames) -> str:
    value = constant.results[0]
    users = [use.operation for use in value.uses]
    if not users:
        return "unused_constant"
    user = users[0]
    return f"{layers.stem(user)}_{operand_role(user, value)}"


# --------------------------------------------------------------------------- contents


def rom_dtype(width: int) -> np.dtype:
    """The smallest numpy signed integer dtype holding `width` bits (int8 for 1..8)."""
    return numpy_dtype(IntegerType(max(width, 2)))


def renamed_loader(store: WeightStore, key: str, dtype: np.dtype) -> Callable[[], np.ndarray]:
    """A loader giving store[key] as `dtype`, without a copy when it already is."""

    def load() -> np.ndarray:
        return np.asarray(store.get(key)).astype(dtype, copy=False)

    return load


def check_range(contents: np.ndarray, width: int, constant: Operation) -> None:
    lo, hi = signed_range(width)
    if contents.size and (int(contents.min()) < lo or int(contents.max()) > hi):
        raise HwcError(
            f"weights-to-rom: {describe(constant)}: values [{int(contents.min())}, "
            f"{int(contents.max())}] do not fit {width} bits [{lo}, {hi}]"
        )


def quantization_params(constant: Operation, store: WeightStore) -> tuple[np.ndarray | None, int | None]:
    """The scale (float64, 1-D) and axis that `quantize` recorded on `constant`, if any:
    inline as `nn.scale`, or in the store under the key `nn.scale_key` names."""
    scale_attr = constant.attributes.get(SCALE_ATTR)
    axis_attr = constant.attributes.get(AXIS_ATTR)
    axis = axis_attr.value.data if isinstance(axis_attr, IntegerAttr) else None
    key_attr = constant.attributes.get(SCALE_KEY_ATTR)
    if isinstance(key_attr, StringAttr):
        return np.asarray(store.get(key_attr.data), np.float64).reshape(-1), axis
    if isinstance(scale_attr, FloatAttr):
        return np.array([scale_attr.value.data], np.float64), None
    if isinstance(scale_attr, DenseIntOrFPElementsAttr):
        return dense_to_numpy(scale_attr).astype(np.float64).reshape(-1), axis
    return None, None


@dataclass
class RomBuilder:
    """Turns one integer constant into a `rom.rom` named `symbol`."""

    store: WeightStore

    def build(self, constant: Operation, symbol: str) -> RomOp:
        width = rom_width_of(constant)
        result_type = constant.results[0].type
        assert isinstance(result_type, TensorType)
        count = int(np.prod(result_type.get_shape()))
        value = None
        if isinstance(constant, ConstantOp):
            contents = dense_to_numpy(constant.value)
            check_range(contents, width, constant)
            if count <= INLINE_LIMIT:
                value = constant.value
            else:
                self.store.add(symbol, contents.astype(rom_dtype(width)))
        else:
            assert isinstance(constant, WeightOp)
            key = constant.key.data
            check_range(np.asarray(self.store.get(key)), width, constant)
            if count <= INLINE_LIMIT:
                value = numpy_to_dense(np.asarray(self.store.get(key)), result_type.get_element_type())
            else:
                self.store.add_lazy(symbol, renamed_loader(self.store, key, rom_dtype(width)))
        scale, axis = quantization_params(constant, self.store)
        scale_attr = None
        if scale is not None and scale.size <= INLINE_LIMIT:
            scale_attr = numpy_to_dense(scale, f64)
        elif scale is not None:
            self.store.add(f"{symbol}.scale", scale)
        return RomOp(symbol, result_type, value=value, scale=scale_attr, axis=axis)


# --------------------------------------------------------------------------- the pass


def graph_constants(module: ModuleOp) -> list[Operation]:
    return [op for op in module.walk() if isinstance(op, _CONSTANTS)]


def first_function(module: ModuleOp) -> Operation | None:
    return next((op for op in module.ops if isinstance(op, FuncOp)), None)


@dataclass(frozen=True)
class WeightsToRomPass(ModulePass):
    """Every integer constant becomes a `rom.rom` + `rom.read` (see module docstring)."""

    name = "weights-to-rom"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        constants = graph_constants(op)
        reject_float_constants(constants)
        if not constants:
            return
        store = store_for(op)
        layers, namer, builder = LayerNames(), SymbolNamer(op, store), RomBuilder(store)
        anchor = first_function(op)
        rewriter = Rewriter()
        for constant in constants:
            symbol = namer.unique(symbol_stem(constant, layers))
            rom = builder.build(constant, symbol)
            where = InsertPoint.before(anchor) if anchor is not None else InsertPoint.at_end(op.body.block)
            rewriter.insert_op(rom, where)
            read = ReadOp(symbol, constant.results[0].type)
            rewriter.replace_op(constant, read)
        forget_unused_memory_store(op)
