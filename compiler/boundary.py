"""The boundary: every file hwc reads from outside is checked here, where it
enters, so that deeper code can trust it.

A path given by the user (the model, its external data, `--input`, `--calib`,
`--weights`, a build folder's `report.json`, an MLIR file) must name an
existing regular file (not a folder, named pipe or device: reading those hangs
or never ends), must not be larger than hwc can hold, and is resolved without
following symbolic-link loops. Each mistake is one `HwcError` line naming the
path.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from pathlib import Path

from compiler.errors import HwcError

MAX_MODEL_BYTES = 2 << 30
"""Largest ONNX protobuf (the format's own limit); larger weights go to external data."""


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a symbolic link loops"
    if error.errno == errno.ENAMETOOLONG:
        return "the name is too long"
    return error.strerror or str(error)


def file_status(path: Path, what: str = "") -> os.stat_result:
    """`os.stat(path)` (following links), or HwcError naming the problem."""
    label = f"{what} {path}".strip()
    if "\0" in str(path):
        raise HwcError(f"{what or 'path'}: the path contains a NUL byte")
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise HwcError(f"{label}: no such file (it does not exist)") from None
    except OSError as error:
        raise HwcError(f"{label}: cannot be read ({_reason(error)})") from None


def regular_file(path: Path | str, what: str = "", max_bytes: int | None = None) -> Path:
    """`path` as a Path after checking that it is a readable regular file of at
    most `max_bytes` bytes; HwcError (one line) otherwise."""
    path = Path(path)
    label = f"{what} {path}".strip()
    status = file_status(path, what)
    if stat.S_ISDIR(status.st_mode):
        raise HwcError(f"{label}: is a folder, not a file")
    if not stat.S_ISREG(status.st_mode):
        raise HwcError(f"{label}: is not a regular file (a pipe or device cannot be read as a model or data)")
    if max_bytes is not None and status.st_size > max_bytes:
        raise HwcError(f"{label}: {status.st_size:,} bytes is larger than the {max_bytes:,} bytes allowed")
    if not os.access(path, os.R_OK):
        raise HwcError(f"{label}: cannot be read (permission denied)")
    return path


def read_file(path: Path | str, what: str = "", max_bytes: int | None = None) -> bytes:
    """The bytes of a checked regular file (see `regular_file`)."""
    path = regular_file(path, what, max_bytes)
    try:
        return path.read_bytes()
    except OSError as error:
        raise HwcError(f"{f'{what} {path}'.strip()}: cannot be read ({_reason(error)})") from None


def resolve_inside(folder: Path, location: str, what: str) -> Path:
    """`folder / location` resolved, proven to lie inside `folder` and to be a regular
    file; HwcError for absolute paths, escapes, loops, NUL bytes and long names."""
    if "\0" in location:
        raise HwcError(f"{what}: the location contains a NUL byte")
    if os.path.isabs(location) or Path(location).is_absolute():
        raise HwcError(f"{what} is at an absolute path ({location}); external data must lie in the model's folder")
    try:
        resolved = (folder / location).resolve(strict=False)
    except (OSError, RuntimeError) as error:
        reason = _reason(error) if isinstance(error, OSError) else "a symbolic link loops"
        raise HwcError(f"{what} ({location}): cannot be resolved ({reason})") from None
    if not resolved.is_relative_to(folder):
        raise HwcError(f"{what} ({location}) resolves outside the model's folder; refused")
    try:
        exists = os.path.lexists(resolved)
    except (OSError, ValueError):
        exists = False
    if not exists:
        raise HwcError(f"{what}: file {location} does not exist")
    return regular_file(resolved, what)


def available_memory() -> int:
    """Bytes of memory this process may still use (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 1 << 34


def check_fits(elements: int, itemsize: int, what: str) -> None:
    """HwcError when a tensor of `elements` items of `itemsize` bytes cannot fit in memory."""
    nbytes = int(elements) * int(itemsize)
    limit = available_memory()
    if nbytes > limit:
        raise HwcError(f"{what} needs {nbytes / 2**30:,.1f} GiB, more than the "
                       f"{limit / 2**30:,.1f} GiB of memory available")


NUMPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK"


def _checked_npy_header(stream, what: str) -> None:
    """Read an .npy header from `stream` and refuse arrays that cannot fit in memory."""
    import numpy as np

    try:
        version = np.lib.format.read_magic(stream)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(stream)
    except (ValueError, OSError, SyntaxError, TypeError) as error:
        raise HwcError(f"{what}: not a readable .npy array ({error})") from None
    if dtype.hasobject:
        raise HwcError(f"{what}: holds Python objects, not numbers")
    check_fits(math.prod(shape), dtype.itemsize, f"{what}: an array of shape {list(shape)}")


def load_arrays(path: Path | str, what: str) -> tuple[str, object]:
    """An .npy (`("npy", array)`) or .npz (`("npz", {key: array})`) file, checked
    before anything is allocated: a regular file, the right format, each array's
    declared size within memory, no pickled objects. HwcError (one line) otherwise."""
    import zipfile

    import numpy as np

    path = regular_file(path, what)
    label = f"{what} {path}".strip()
    with open(path, "rb") as f:
        magic = f.read(len(NUMPY_MAGIC))
    try:
        if magic == NUMPY_MAGIC:
            with open(path, "rb") as f:
                _checked_npy_header(f, label)
            return "npy", np.load(path, allow_pickle=False)
        if magic.startswith(ZIP_MAGIC):
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    with archive.open(member) as stream:
                        _checked_npy_header(stream, f"{label}: key '{member.filename.removesuffix('.npy')}'")
            with np.load(path, allow_pickle=False) as npz:
                return "npz", {key: np.asarray(npz[key]) for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as error:
        raise HwcError(f"{label}: not a readable .npz or .npy file ({' '.join(str(error).split())[:200]})") from None
    raise HwcError(f"{label}: not a readable .npz or .npy file (neither format begins it)")


def check_input_dtype(name: str, array, dtype) -> None:
    """HwcError (one line) unless `array` can feed graph input `name` of numpy `dtype`:
    float data of any precision for a float input (float32 or float64; the caller
    converts it, exactly when widening, rounded to nearest when narrowing); for an
    integer input (token ids) integer data whose values fit `dtype` (float data is
    refused even when its values are whole)."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        if array.dtype.kind != "f":
            raise HwcError(f"input {name!r}: expected {dtype} data, got {array.dtype}")
        return
    if array.dtype.kind not in "iu":
        raise HwcError(f"input {name!r}: expected integer ids ({dtype}), got {array.dtype} data")
    info = np.iinfo(dtype)
    if array.size and (int(array.min()) < info.min or int(array.max()) > info.max):
        raise HwcError(f"input {name!r}: values outside the range of {dtype} [{info.min}, {info.max}]")
