"""Shared IR plumbing: the context with hwc's dialects, parsing and printing
modules, and moving constant tensors between numpy and the IR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    Builtin,
    DenseIntOrFPElementsAttr,
    Float32Type,
    Float64Type,
    IntegerType,
    ModuleOp,
    Signedness,
    TensorType,
    f32,
    f64,
)
from xdsl.dialects.comb import Comb
from xdsl.dialects.func import Func, FuncOp
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.parser import Parser
from xdsl.traits import ConstantLike
from xdsl.utils.exceptions import ParseError, VerifyException

from compiler.errors import HwcError
from compiler.weights import INLINE_LIMIT, WeightStore, store_for
from dialects.circt import HW, Seq
from dialects.nn import NN, ConstantOp, WeightOp
from dialects.rom import ROM, ReadOp, find_rom, signed_range
from dialects.spatial import SPATIAL


def hwc_dialects():
    """Every dialect hwc defines or uses, for contexts and the xDSL universe."""
    # HW and Seq: xDSL's hw and seq plus the CIRCT ops xDSL lacks (dialects/circt.py).
    return [Builtin, Func, NN, ROM, SPATIAL, HW, Comb, Seq]


def make_context() -> Context:
    ctx = Context()
    for dialect in hwc_dialects():
        ctx.load_dialect(dialect)
    return ctx


def parse_module(text: str, name: str = "<input>", base_dir: Path | None = None) -> ModuleOp:
    """Parse and verify a module; its weight store is resolved against `base_dir`."""
    try:
        module = Parser(make_context(), text, name).parse_module()
        module.verify()
    except (ParseError, VerifyException) as error:
        first_line = str(error).strip().splitlines()
        raise HwcError(f"{name}: invalid IR: {' '.join(first_line[-1:]) or error}") from None
    if base_dir is not None:
        store_for(module, base_dir)
    return module


def main_function(module: ModuleOp) -> FuncOp:
    """The graph: the module's `func.func @main` (or its only function)."""
    functions = [op for op in module.ops if isinstance(op, FuncOp)]
    for function in functions:
        if function.sym_name.data == "main":
            return function
    if len(functions) == 1:
        return functions[0]
    raise HwcError("module has no func.func @main")


# --------------------------------------------------------------------------- element types

def numpy_dtype(element_type: Attribute) -> np.dtype:
    if isinstance(element_type, Float32Type):
        return np.dtype(np.float32)
    if isinstance(element_type, Float64Type):
        return np.dtype(np.float64)
    if isinstance(element_type, IntegerType):
        width = element_type.width.data
        if width == 1:
            return np.dtype(np.bool_)
        for bits, signed, unsigned in ((8, np.int8, np.uint8), (16, np.int16, np.uint16),
                                       (32, np.int32, np.uint32), (64, np.int64, np.uint64)):
            if width <= bits:
                is_unsigned = element_type.signedness.data == Signedness.UNSIGNED
                return np.dtype(unsigned if is_unsigned else signed)
    raise HwcError(f"element type {element_type} has no numpy equivalent")


def element_type_for(dtype: np.dtype) -> Attribute:
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return f32
    if dtype == np.float64:
        return f64
    if dtype == np.bool_:
        return IntegerType(1)
    if dtype.kind in "iu":
        signedness = Signedness.UNSIGNED if dtype.kind == "u" else Signedness.SIGNLESS
        return IntegerType(dtype.itemsize * 8, signedness)
    raise HwcError(f"numpy dtype {dtype} has no IR element type")


def tensor_type(shape, element_type: Attribute = f32) -> TensorType:
    return TensorType(element_type, [int(d) for d in shape])


# --------------------------------------------------------------------------- constants

def dense_to_numpy(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    tensor = attr.get_type()
    assert isinstance(tensor, TensorType)
    shape = tuple(tensor.get_shape())
    dtype = numpy_dtype(tensor.get_element_type())
    values = np.asarray(attr.get_values(), dtype=dtype)
    if values.size == 1 and int(np.prod(shape)) != 1:
        return np.full(shape, values.reshape(()), dtype=dtype)
    return values.reshape(shape)


def numpy_to_dense(array: np.ndarray, element_type: Attribute | None = None) -> DenseIntOrFPElementsAttr:
    element_type = element_type or element_type_for(array.dtype)
    return DenseIntOrFPElementsAttr.from_list(
        tensor_type(array.shape, element_type), array.reshape(-1).tolist()
    )


def constant_value(value: SSAValue | Operation, store: WeightStore) -> np.ndarray | None:
    """The contents of a constant tensor, or None when `value` is not a constant."""
    op = value.owner if isinstance(value, SSAValue) else value
    if isinstance(op, ConstantOp):
        return dense_to_numpy(op.value)
    if isinstance(op, WeightOp):
        return store.get(op.key.data)
    if isinstance(op, ReadOp):
        return rom_contents(op, store)
    return None


def is_constant(op: Operation | None) -> bool:
    """Whether `op` gives a compile-time constant tensor (it has xDSL's `ConstantLike`
    trait: `nn.constant`, `nn.weight`, `rom.read`; see `constant_value`)."""
    return isinstance(op, Operation) and op.has_trait(ConstantLike)


def rom_contents(read: ReadOp, store: WeightStore) -> np.ndarray:
    """The integers a `rom.read` gives: inline, or from the ROM image (range-checked)."""
    rom = find_rom(read)
    if rom is None:
        raise HwcError(f"rom.read: no rom.rom @{read.rom.string_value()}")
    if rom.value is not None:
        return dense_to_numpy(rom.value)
    contents = store.get(rom.sym_name.data)
    lo, hi = signed_range(rom.width)
    if tuple(contents.shape) != rom.shape:
        raise HwcError(f"ROM image: @{rom.sym_name.data} has shape {list(contents.shape)}, the IR says {list(rom.shape)}")
    if contents.size and (contents.min() < lo or contents.max() > hi):
        raise HwcError(f"ROM image: @{rom.sym_name.data} holds values outside {rom.width} bits [{lo}, {hi}]")
    return contents


def make_constant(array: np.ndarray, store: WeightStore, stem: str,
                  element_type: Attribute | None = None) -> Operation:
    """An op producing `array`: inline when small, else a new entry in `store`."""
    if array.size <= INLINE_LIMIT:
        return ConstantOp(numpy_to_dense(array, element_type))
    key = store.unique_key(stem)
    store.add(key, array)
    return WeightOp(key, tensor_type(array.shape, element_type or element_type_for(array.dtype)))
