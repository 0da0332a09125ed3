"""Reading an ONNX model: the file itself, its weights, and its inputs.

Everything here turns a user mistake into a one-line `HwcError` that names the
file (and the tensor or input): a missing, non-ONNX or truncated file, a model
that fails `onnx.checker`, external data that leaves the model's folder, a
safetensors file whose tensors do not fit the model, NaN/Inf weights, and
dynamic input dimensions without a shape.

Weights are never copied eagerly: an initializer becomes a `Constant` whose
loader wraps the protobuf's raw bytes (`np.frombuffer`) or memory-maps ONNX
external data / a safetensors file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto

from compiler.boundary import MAX_MODEL_BYTES, check_fits, read_file, regular_file, resolve_inside
from compiler.errors import HwcError
from compiler.weights import memmap_safetensors, read_safetensors_header, safetensors_dtype_name

# --------------------------------------------------------------------------- constants


@dataclass
class Constant:
    """A tensor known at import time (initializer, folded value, supplied weight).

    Its contents are produced by `load` on first use and then cached; `shape`
    and `dtype` are known without loading.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    load: Callable[[], np.ndarray] = field(repr=False)
    _array: np.ndarray | None = field(default=None, repr=False)
    element_range: tuple[int, int] | None = None
    """The range of the ONNX element type when it is narrower than `dtype` (INT4 and
    UINT4 tensors load as int8 and uint8: (-8, 7) and (0, 15))."""
    element_format: str = ""
    """"e2m1" for a FLOAT4E2M1 tensor (loaded as float32, exactly: MXFP4's elements)."""

    @classmethod
    def of(cls, name: str, array: np.ndarray) -> Constant:
        array = np.asarray(array)
        return cls(name, tuple(array.shape), array.dtype, lambda: array, array)

    def value(self) -> np.ndarray:
        """The contents, kept after the first load unless memory-mapped (see
        `compiler.weights.WeightStore`: a mapping is made again on each use)."""
        if self._array is not None:
            return self._array
        array = self.load()
        if not isinstance(array, np.memmap):
            self._array = array
        return array

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


# --------------------------------------------------------------------------- the file

# ModelProto's top-level fields and their protobuf wire types (0 varint, 2 bytes).
_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}


def _read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value, shift = 0, 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def diagnose_model_bytes(data: bytes) -> str | None:
    """Why `data` is not a complete ONNX ModelProto: "truncated", "not ONNX", or None.

    Walks the top-level protobuf fields only: an unknown field number or wire
    type means the file is something else; a field running past the end of
    the data means the file was cut short.
    """
    pos = 0
    while pos < len(data):
        key = _read_varint(data, pos)
        if key is None:
            return "truncated"
        (tag, pos) = key
        number, wire_type = tag >> 3, tag & 7
        if _MODEL_FIELDS.get(number) != wire_type:
            return "not ONNX"
        item = _read_varint(data, pos)
        if item is None:
            return "truncated"
        length, pos = item
        if wire_type == 2:
            if pos + length > len(data):
                return "truncated"
            pos += length
    return None


def load_model(path: Path) -> onnx.ModelProto:
    """The model at `path`, parsed (not yet checked), external data not loaded."""
    data = read_file(path, max_bytes=MAX_MODEL_BYTES)
    try:
        model = onnx.load_from_string(data)
    except (DecodeError, ValueError, RuntimeError):
        model = None
    if model is not None and model.HasField("graph") and model.opset_import:
        return model
    if diagnose_model_bytes(data) == "truncated":
        raise HwcError(
            f"{path}: the ONNX file is truncated ({len(data)} bytes; its data ends mid-field)"
        )
    raise HwcError(f"{path}: not an ONNX model (no ONNX graph could be read from the file)")


def _text_fields(graph: onnx.GraphProto):
    """Every name-like string field of `graph` and its sub-graphs, with what it names."""
    for value in (*graph.input, *graph.output, *graph.value_info):
        yield value.name, "a value name"
    for tensor in graph.initializer:
        yield tensor.name, "an initializer name"
    for node in graph.node:
        yield node.name, "a node name"
        yield node.op_type, "an operator name"
        yield node.domain, "an operator domain"
        for tensor in (*node.input, *node.output):
            yield tensor, f"a tensor name of node {node.op_type}"
        for attribute in node.attribute:
            yield attribute.name, f"an attribute name of node {node.op_type}"
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                yield from _text_fields(sub)


def check_text(model: onnx.ModelProto, path: Path) -> None:
    """HwcError when a name in the model is not valid UTF-8 (protobuf then hands out
    bytes, which nothing downstream can print)."""
    for text, what in _text_fields(model.graph):
        if not isinstance(text, str):
            shown = bytes(text)[:40].decode("utf-8", "replace")
            raise HwcError(f"{path}: {what} is not valid UTF-8 text ({shown!r})")


def check_model(model: onnx.ModelProto, path: Path) -> None:
    """`onnx.checker.check_model`, its failure as one line naming the file.

    With external data the checker is given the path, so that it resolves the
    data files against the model's folder (their contents are not read).
    """
    external = any(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer)
    try:
        onnx.checker.check_model(str(path) if external else model)
    except (onnx.checker.ValidationError, ValueError) as error:
        raise HwcError(f"{path}: invalid ONNX model: {first_line(error)}") from None


def first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text[:300]


def opset_version(model: onnx.ModelProto) -> int:
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx"):
            return opset.version
    return 1


# --------------------------------------------------------------------------- initializers


def data_type_name(data_type: int) -> str:
    """ONNX's name of an element type, or the number when it names none."""
    try:
        return TensorProto.DataType.Name(data_type)
    except ValueError:
        return f"{data_type} (not an ONNX element type)"


def numpy_dtype_of(data_type: int, what: str) -> np.dtype:
    """The numpy dtype of a numeric ONNX element type; HwcError for others (strings...)."""
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(data_type))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise HwcError(f"{what} has an unsupported element type {data_type_name(data_type)}")
    return dtype


def initializer_constants(model: onnx.ModelProto, path: Path) -> dict[str, Constant]:
    """One lazily loaded `Constant` per initializer of the main graph."""
    if model.graph.sparse_initializer:
        name = model.graph.sparse_initializer[0].values.name
        raise HwcError(f"{path}: sparse initializer '{name}' is not supported")
    return {t.name: tensor_constant(t, path) for t in model.graph.initializer}


FOUR_BIT_TYPES = {TensorProto.INT4: (np.dtype(np.int8), (-8, 7)), TensorProto.UINT4: (np.dtype(np.uint8), (0, 15))}
"""ONNX's packed 4-bit integer types: the numpy dtype they load as, and their range."""


def tensor_constant(tensor: TensorProto, path: Path) -> Constant:
    """A `Constant` over a TensorProto's data: raw bytes, typed fields or external data."""
    what = f"{path}: tensor '{tensor.name}'"
    if tensor.data_type in FOUR_BIT_TYPES:
        return _four_bit_constant(tensor, what)
    if tensor.data_type in NARROW_FLOAT_TYPES:
        return _narrow_float_constant(tensor, what)
    dtype = numpy_dtype_of(tensor.data_type, what)
    shape = tuple(int(d) for d in tensor.dims)
    if any(d < 0 for d in shape):
        raise HwcError(f"{what} has a negative dimension {list(shape)}")
    # No memory check here: raw and typed data are already in the parsed model (their
    # length is checked against the shape), and external data is memory-mapped, its
    # extent checked against the file, so a weight larger than RAM is fine.
    if tensor.data_location == TensorProto.EXTERNAL:
        load = _external_loader(tensor, path, dtype, shape)
    elif tensor.HasField("raw_data") and dtype.kind in "fiub" and dtype.itemsize in (1, 2, 4, 8) \
            and tensor.data_type != TensorProto.BFLOAT16:
        load = _raw_loader(tensor, what, dtype, shape)
    else:
        load = _converted_loader(tensor, what)
    return Constant(tensor.name, shape, dtype, load)


NARROW_FLOAT_TYPES = {TensorProto.FLOAT4E2M1: "e2m1", TensorProto.FLOAT8E8M0: "e8m0"}
"""OCP microscaling's element and scale types (MXFP4: E2M1 values, E8M0 powers of two),
which float32 holds exactly; they load as float32."""


def _narrow_float_constant(tensor: TensorProto, what: str) -> Constant:
    if tensor.data_location == TensorProto.EXTERNAL:
        raise HwcError(f"{what}: {data_type_name(tensor.data_type)} in external data is not supported")
    convert = _converted_loader(tensor, what)
    return Constant(tensor.name, tuple(int(d) for d in tensor.dims), np.dtype(np.float32),
                    lambda: convert().astype(np.float32), element_format=NARROW_FLOAT_TYPES[tensor.data_type])


def _four_bit_constant(tensor: TensorProto, what: str) -> Constant:
    """An INT4/UINT4 tensor (two values a byte), unpacked to int8/uint8 by onnx."""
    if tensor.data_location == TensorProto.EXTERNAL:
        raise HwcError(f"{what}: 4-bit integers in external data are not supported")
    dtype, element_range = FOUR_BIT_TYPES[tensor.data_type]
    convert = _converted_loader(tensor, what)
    return Constant(tensor.name, tuple(int(d) for d in tensor.dims), dtype, lambda: convert().astype(dtype),
                    element_range=element_range)


def _raw_loader(tensor: TensorProto, what: str, dtype: np.dtype, shape) -> Callable[[], np.ndarray]:
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(tensor.raw_data) != expected:
        raise HwcError(f"{what} has {len(tensor.raw_data)} bytes of data, expected {expected}")

    def load() -> np.ndarray:
        return np.frombuffer(tensor.raw_data, dtype=dtype.newbyteorder("<")).reshape(shape)

    return load


def _converted_loader(tensor: TensorProto, what: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        try:
            return onnx.numpy_helper.to_array(tensor)
        except (ValueError, TypeError) as error:
            raise HwcError(f"{what} cannot be read: {first_line(error)}") from None

    return load


def _external_info(tensor: TensorProto) -> dict[str, str]:
    return {entry.key: entry.value for entry in tensor.external_data}


def check_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Refuse external data that is absolute or resolves outside the model's folder."""
    for tensor in model.graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL:
            external_data_file(tensor, path)


def external_data_file(tensor: TensorProto, path: Path) -> Path:
    """The file holding a tensor's external data, proven to lie inside the model's folder."""
    location = _external_info(tensor).get("location", "")
    what = f"{path}: external data of tensor '{tensor.name}'"
    if not location:
        raise HwcError(f"{what} has no location")
    return resolve_inside(path.resolve().parent, location, what)


def _external_loader(tensor: TensorProto, path: Path, dtype: np.dtype, shape) -> Callable[[], np.ndarray]:
    file = external_data_file(tensor, path)
    info = _external_info(tensor)
    what = f"{path}: external data of tensor '{tensor.name}'"
    try:
        offset = int(info.get("offset", "0"))
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        length = int(info.get("length", str(nbytes)))
    except ValueError:
        raise HwcError(f"{what} has a malformed offset or length") from None
    if length != nbytes:
        raise HwcError(f"{what} has length {length}, but shape {_shape_text(shape)} "
                       f"of {dtype} needs {nbytes} bytes")
    if offset < 0 or offset + length > file.stat().st_size:
        raise HwcError(f"{what} runs past the end of {info['location']}")

    def load() -> np.ndarray:
        if nbytes == 0:
            return np.zeros(shape, dtype)
        return np.memmap(file, dtype=dtype.newbyteorder("<"), mode="r", offset=offset, shape=shape)

    return load


# --------------------------------------------------------------------------- a weights file


def supplied_weights(
    weights: Path, path: Path, model: onnx.ModelProto, constants: Mapping[str, Constant]
) -> dict[str, Constant]:
    """Tensors of a safetensors file, each checked against the initializer or
    graph input of the same name (shape and dtype), memory-mapped lazily."""
    regular_file(weights, "--weights")
    header, _ = read_safetensors_header(weights)
    loaders = memmap_safetensors(weights)
    declared = _declared_tensors(model, constants)
    supplied: dict[str, Constant] = {}
    for name, entry in header.items():
        if name not in declared:
            raise HwcError(f"{weights}: tensor '{name}' is neither an initializer "
                           f"nor an input of {path}")
        shape, dtype = tuple(entry["shape"]), entry["dtype"]
        model_shape, model_dtype = declared[name]
        model_dtype_name = _safetensors_name(model_dtype)
        if not _shapes_agree(shape, model_shape) or dtype != model_dtype_name:
            raise HwcError(
                f"{weights}: tensor '{name}' is {dtype} {_shape_text(shape)}, but {path} "
                f"declares it {model_dtype_name} {_shape_text(d if d is not None else '?' for d in model_shape)}"
            )
        supplied[name] = Constant(name, shape, np.dtype(model_dtype), loaders[name])
    return supplied


def _safetensors_name(dtype: np.dtype) -> str:
    try:
        return safetensors_dtype_name(np.dtype(dtype))
    except HwcError:
        return str(dtype)


def _shapes_agree(actual, declared) -> bool:
    return len(actual) == len(declared) and all(
        d is None or d == a for a, d in zip(actual, declared)
    )


def _declared_tensors(model: onnx.ModelProto, constants: Mapping[str, Constant]):
    """name -> (shape with None for dynamic dims, numpy dtype) of initializers and inputs."""
    declared = {name: (c.shape, c.dtype) for name, c in constants.items()}
    for value in model.graph.input:
        if value.name not in declared and value.type.HasField("tensor_type"):
            tensor_type = value.type.tensor_type
            dims = tuple(_static_dim(d) for d in tensor_type.shape.dim)
            declared[value.name] = (dims, numpy_dtype_of(tensor_type.elem_type, f"input '{value.name}'"))
    return declared


def _static_dim(dim) -> int | None:
    return int(dim.dim_value) if dim.HasField("dim_value") else None


def check_finite(constants: Mapping[str, Constant], source: Mapping[str, Path]) -> None:
    """Refuse float weights holding NaN or Inf, naming the tensor and its file."""
    chunk = 1 << 20
    for name, constant in constants.items():
        if constant.dtype.kind != "f" or constant.size == 0:
            continue
        flat = np.asarray(constant.value()).reshape(-1)
        for start in range(0, flat.size, chunk):
            if not np.isfinite(flat[start:start + chunk]).all():
                raise HwcError(f"{source[name]}: weight '{name}' contains NaN or Inf")


# --------------------------------------------------------------------------- graph inputs


@dataclass
class GraphInput:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype = np.dtype(np.float32)


INPUT_TYPES = {TensorProto.FLOAT: np.dtype(np.float32), TensorProto.DOUBLE: np.dtype(np.float64),
               TensorProto.INT64: np.dtype(np.int64), TensorProto.INT32: np.dtype(np.int32)}
"""Element types a graph input may have: float32 or float64 activations, int64/int32 ids."""


def resolve_inputs(
    model: onnx.ModelProto, path: Path, known: Mapping[str, Constant],
    shapes: Mapping[str, list[int]],
) -> list[GraphInput]:
    """The model's real inputs (graph inputs that are not weights), with static shapes.

    Guarantees every returned input is float32, float64, int64 or int32 (token
    ids) and fully static; a dynamic dimension must be given in `shapes`.
    """
    inputs = [v for v in model.graph.input if v.name not in known]
    names = {v.name for v in inputs}
    for name in shapes:
        if name not in names:
            listed = ", ".join(f"'{n}'" for n in names) or "none"
            raise HwcError(f"{path}: --shape names '{name}', which is not an input "
                           f"of the model (inputs: {listed})")
    return [_resolve_input(v, path, shapes.get(v.name)) for v in inputs]


def _resolve_input(value: onnx.ValueInfoProto, path: Path, given: list[int] | None) -> GraphInput:
    name = value.name
    if not value.type.HasField("tensor_type"):
        raise HwcError(f"{path}: input '{name}' is not a tensor")
    tensor_type = value.type.tensor_type
    dtype = INPUT_TYPES.get(tensor_type.elem_type)
    if dtype is None:
        type_name = data_type_name(tensor_type.elem_type).lower()
        raise HwcError(f"{path}: input '{name}' has element type {type_name}, "
                       "which is not supported (inputs must be float32 or float64, or int64/int32 ids)")
    dims = list(tensor_type.shape.dim) if tensor_type.HasField("shape") else None
    if given is not None:
        return GraphInput(name, _check_given_shape(name, path, dims, given, dtype.itemsize), dtype)
    if dims is None:
        raise HwcError(f"{path}: input '{name}' has no shape; give it with --shape {name}=...")
    if any(_static_dim(d) is None for d in dims):
        shown = " x ".join(d.dim_param or "?" if _static_dim(d) is None else str(d.dim_value)
                           for d in dims)
        example = "x".join(str(_static_dim(d) or 1) for d in dims)
        raise HwcError(f"{path}: input '{name}' has a dynamic dimension ({shown}); "
                       f"give its shape with --shape {name}={example}")
    shape = tuple(int(d.dim_value) for d in dims)
    if any(d < 0 for d in shape):
        raise HwcError(f"{path}: input '{name}' has a negative dimension {list(shape)}")
    if any(d == 0 for d in shape):
        raise HwcError(f"{path}: input '{name}': zero-size dimensions are not supported")
    check_fits(math.prod(shape), dtype.itemsize, f"{path}: input '{name}' of shape {list(shape)}")
    return GraphInput(name, shape, dtype)


def _check_given_shape(name: str, path: Path, dims, given: list[int], itemsize: int) -> tuple[int, ...]:
    shape = tuple(int(d) for d in given)
    if any(d < 0 for d in shape):
        raise HwcError(f"{path}: --shape for input '{name}' must have positive dimensions")
    if any(d == 0 for d in shape):
        raise HwcError(f"{path}: input '{name}': zero-size dimensions are not supported")
    check_fits(math.prod(shape), itemsize, f"{path}: input '{name}' of shape {list(shape)}")
    if dims is None:
        return shape
    declared = tuple(_static_dim(d) for d in dims)
    if len(shape) != len(declared):
        raise HwcError(f"{path}: --shape gives input '{name}' rank {len(shape)}, "
                       f"but the model declares rank {len(declared)}")
    for axis, (have, want) in enumerate(zip(shape, declared)):
        if want is not None and have != want:
            raise HwcError(f"{path}: --shape gives input '{name}' dimension {axis} = {have}, "
                           f"but the model fixes it to {want}")
    return shape


def set_input_shapes(model: onnx.ModelProto, inputs: list[GraphInput]) -> None:
    """Write the resolved static shapes into the model's graph inputs (for shape inference)."""
    by_name = {i.name: i.shape for i in inputs}
    for value in model.graph.input:
        if value.name in by_name:
            shape = value.type.tensor_type.shape
            del shape.dim[:]
            for d in by_name[value.name]:
                shape.dim.add().dim_value = d
