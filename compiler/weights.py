"""The weight store: where the contents of `nn.weight "key"` live.

A module's weights are not inlined into the IR when large; `nn.weight "key"`
refers to a tensor in the module's weight store instead. The store is named by
the module attribute `nn.weights` (see `dialects.nn.WEIGHT_STORE_ATTR`):

* a path to a safetensors file (relative to the IR file, or absolute): the
  tensors are memory-mapped from it, never read whole;
* `memory:N`: a store that lives in this process only (a freshly imported
  model, or one that passes have added tensors to). `save_store` writes it to
  a safetensors file and re-points the module at that file.

Stores are cached per process by their name, so every pass and executor that
opens the store of a module sees the same tensors.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr

from compiler.errors import HwcError
from dialects.nn import WEIGHT_STORE_ATTR

_SAFETENSORS_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": None,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}

INLINE_LIMIT = 64
"""Constants with at most this many elements are printed inline in the IR."""


class WeightStore:
    """Named tensors, each either memory-mapped from a file or held in memory.

    Tensors are loaded lazily: `loaders[key]()` produces the array on first use,
    and it is kept, unless it is memory-mapped: a mapping is cheap to make again
    and the pages it touched stay resident while it lives, so each `get` maps the
    tensor anew and its pages leave the process's memory when its user drops it
    (a model much larger than memory goes through a pass a tensor at a time).
    """

    def __init__(self, name: str):
        self.name = name
        self._loaders: dict[str, Callable[[], np.ndarray]] = {}
        self._cache: dict[str, np.ndarray] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._loaders

    def keys(self) -> Iterable[str]:
        return self._loaders.keys()

    def get(self, key: str) -> np.ndarray:
        if key in self._cache:
            return self._cache[key]
        if key not in self._loaders:
            raise HwcError(f"weight '{key}' is not in the weight store {self.name}")
        array = self._loaders[key]()
        if not isinstance(array, np.memmap):
            self._cache[key] = array
        return array

    def add(self, key: str, array: np.ndarray) -> None:
        """Add (or replace) a tensor held in memory."""
        self._cache[key] = array
        self._loaders[key] = lambda: array

    def add_lazy(self, key: str, loader: Callable[[], np.ndarray]) -> None:
        self._cache.pop(key, None)
        self._loaders[key] = loader

    def unique_key(self, stem: str) -> str:
        if stem not in self:
            return stem
        for n in itertools.count(1):
            if f"{stem}_{n}" not in self:
                return f"{stem}_{n}"
        raise AssertionError


# --------------------------------------------------------------------------- safetensors


def read_safetensors_header(path: Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and the offset its data starts at."""
    try:
        with open(path, "rb") as f:
            raw_length = f.read(8)
            if len(raw_length) != 8:
                raise ValueError("file is shorter than a safetensors header")
            length = int.from_bytes(raw_length, "little")
            if length > os.path.getsize(path) - 8:
                raise ValueError("header length runs past the end of the file")
            header = json.loads(f.read(length))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise HwcError(f"{path}: not a readable safetensors file ({error})") from None
    if not isinstance(header, dict):
        raise HwcError(f"{path}: not a safetensors file (header is not a table)")
    header.pop("__metadata__", None)
    return header, 8 + length


def memmap_safetensors(path: Path) -> dict[str, Callable[[], np.ndarray]]:
    """Lazy loaders, one per tensor, that memory-map the tensor out of the file."""
    header, data_start = read_safetensors_header(path)
    size = os.path.getsize(path)
    loaders: dict[str, Callable[[], np.ndarray]] = {}
    for key, entry in header.items():
        dtype = _SAFETENSORS_DTYPES.get(entry.get("dtype"))
        if dtype is None:
            raise HwcError(f"{path}: tensor '{key}' has unsupported dtype {entry.get('dtype')}")
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        if data_start + end > size or end - begin != int(np.prod(shape)) * np.dtype(dtype).itemsize:
            raise HwcError(f"{path}: tensor '{key}' is truncated or its offsets are wrong")
        loaders[key] = _memmap_loader(path, dtype, data_start + begin, shape)
    return loaders


def _memmap_loader(path: Path, dtype, offset: int, shape: tuple[int, ...]):
    def load() -> np.ndarray:
        if int(np.prod(shape)) == 0:
            return np.zeros(shape, dtype)
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)

    return load


def safetensors_dtype_name(dtype: np.dtype) -> str:
    for name, candidate in _SAFETENSORS_DTYPES.items():
        if candidate is not None and np.dtype(candidate) == dtype:
            return name
    raise HwcError(f"dtype {dtype} cannot be stored in safetensors")


def write_safetensors(path: Path, tensors: Mapping[str, np.ndarray]) -> None:
    """Write tensors one at a time (streaming), so that peak memory stays one tensor:
    each is looked up in `tensors` when it is written and dropped after (a mapping that
    loads on lookup, as `save_store` gives, never holds them all), and a contiguous
    little-endian tensor is written from its own buffer, without a copy."""
    header: dict[str, dict] = {}
    offset = 0
    for key in tensors:
        header[key] = _header_entry(tensors[key], offset)
        offset = header[key]["data_offsets"][1]
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for key in tensors:
            array = tensors[key]
            data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            if data.size:
                f.write(data.reshape(-1).view(np.uint8).data)


def _header_entry(array: np.ndarray, offset: int) -> dict:
    nbytes = int(np.prod(array.shape)) * array.dtype.itemsize
    return {"dtype": safetensors_dtype_name(array.dtype), "shape": list(array.shape),
            "data_offsets": [offset, offset + nbytes]}


class _StoreTensors(Mapping):
    """The tensors of `keys` in `store`, each fetched when looked up (not held)."""

    def __init__(self, store: WeightStore, keys: list[str]):
        self._store, self._keys = store, keys

    def __getitem__(self, key: str) -> np.ndarray:
        return self._store.get(key)

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


# --------------------------------------------------------------------------- stores of modules

_STORES: dict[str, WeightStore] = {}
_memory_ids = itertools.count()


def new_memory_store() -> WeightStore:
    store = WeightStore(f"memory:{next(_memory_ids)}")
    _STORES[store.name] = store
    return store


def open_store(path: Path | str) -> WeightStore:
    """The store backed by a safetensors file (cached by its resolved path)."""
    resolved = str(Path(path).resolve())
    if resolved not in _STORES:
        if not os.path.exists(resolved):
            raise HwcError(f"weight store {path} does not exist")
        store = WeightStore(resolved)
        for key, loader in memmap_safetensors(Path(resolved)).items():
            store.add_lazy(key, loader)
        _STORES[resolved] = store
    return _STORES[resolved]


@contextmanager
def separate_process_stores() -> Iterator[None]:
    """Inside the block the stores opened before it are out of sight, and those
    opened inside it are forgotten after it: a tool run in-process (the test
    suite runs `hwc` and `hwc-opt` that way) sees the weight files as a process
    of its own would."""
    outside = dict(_STORES)
    _STORES.clear()
    try:
        yield
    finally:
        _STORES.clear()
        _STORES.update(outside)


def store_for(module: ModuleOp, base_dir: Path | str | None = None) -> WeightStore:
    """The weight store of `module`, creating an empty in-memory one if it has none.

    A relative file name is resolved against `base_dir` (the IR file's folder),
    and the module attribute is rewritten to the absolute path.
    """
    attr = module.attributes.get(WEIGHT_STORE_ATTR)
    if attr is None:
        store = new_memory_store()
        module.attributes[WEIGHT_STORE_ATTR] = StringAttr(store.name)
        return store
    assert isinstance(attr, StringAttr)
    name = attr.data
    relative_file = not name.startswith("memory:") and not Path(name).is_absolute()
    if relative_file and base_dir is not None:
        # The file beside the IR, not a store registered earlier under the same relative name.
        store = open_store(Path(base_dir) / name)
        module.attributes[WEIGHT_STORE_ATTR] = StringAttr(store.name)
        return store
    if name in _STORES:
        return _STORES[name]
    if name.startswith("memory:"):
        raise HwcError(f"weight store {name} belonged to another process; save it to a file first")
    path = Path(name)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    store = open_store(path)
    module.attributes[WEIGHT_STORE_ATTR] = StringAttr(store.name)
    return store


def used_weight_keys(module: ModuleOp) -> list[str]:
    """Store keys the module refers to: `nn.weight` keys and image-held ROM contents."""
    from dialects.nn import WeightOp
    from dialects.rom import RomOp

    keys: list[str] = []
    for op in module.walk():
        if isinstance(op, WeightOp):
            keys.append(op.key.data)
        elif isinstance(op, RomOp) and op.value is None:
            keys.append(op.sym_name.data)
    return list(dict.fromkeys(keys))


def save_store(module: ModuleOp, path: Path, relative_to: Path | None = None) -> None:
    """Write the tensors the module uses to `path` and point the module at it."""
    store = store_for(module)
    write_safetensors(path, _StoreTensors(store, used_weight_keys(module)))
    name = os.path.relpath(path, relative_to) if relative_to is not None else str(path)
    module.attributes[WEIGHT_STORE_ATTR] = StringAttr(name)
    # The new file holds the same tensors: register it so nothing is re-read.
    resolved = str(Path(path).resolve())
    saved = WeightStore(resolved)
    for key, loader in memmap_safetensors(Path(resolved)).items():
        saved.add_lazy(key, loader)
    _STORES[resolved] = saved
    if relative_to is not None:
        _STORES.setdefault(name, saved)

def forget_unused_memory_store(module: ModuleOp) -> None:
    """Drop the module's `nn.weights` attribute when it names an in-memory store
    and no `nn.weight` uses it.

    Passes open the module's store with `compiler.weights.store_for`, which gives
    a module without one a fresh in-memory store; calling this at the end of a
    pass keeps such a module free of a meaningless `nn.weights = "memory:N"`.
    """
    attr = module.attributes.get(WEIGHT_STORE_ATTR)
    in_memory = isinstance(attr, StringAttr) and attr.data.startswith("memory:")
    if in_memory and not used_weight_keys(module):
        del module.attributes[WEIGHT_STORE_ATTR]

