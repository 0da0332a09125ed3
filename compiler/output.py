"""Safe output: a build folder or file appears whole or not at all, and nothing
hwc did not write is ever deleted.

Everything is written into a temporary sibling first and renamed into place
when complete, so that a failed run leaves no half-written build behind, and
the staging copy is removed on every failure path.

An existing `-o` folder is replaced only when it is empty or is an hwc build
folder: every file in it is one that hwc writes (`BUILD_ENTRIES`). Any other
folder, the current folder or one holding it, and a path that cannot be
written are refused with one clear line before any work starts
(`check_output_folder`, `check_output_file`).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from compiler.errors import HwcError

BUILD_ENTRIES = {
    ".": ("model.nn.mlir", "model.rom.mlir", "model.spatial.mlir", "model.hw.mlir",
          "weights.safetensors", "rom.safetensors", "spatial.safetensors", "report.json",
          "report.html", "verify.json", "hwc_*.core"),
    "rtl": ("*.sv", "filelist.f", "waivers.vlt"),
    "rom": ("*.hex",),
    "tb": ("*.py", "bench.json", "vectors.npz", "*.hex"),
}
"""The files of an hwc build folder, by sub-folder: what `Design.write` creates
(extend it when a build gains files). Every build holds `BUILD_MARK`."""
BUILD_MARK = "model.nn.mlir"
SCRATCH_DIRS = ("tb/sim_build", "tb/__pycache__")
"""Folders that running a build's test bench makes inside it (`tb/run.py`'s
simulator build, Python's byte code): whatever they hold belongs to the build."""


def _os_error(path: Path, error: OSError, doing: str) -> HwcError:
    reason = error.strerror or str(error)
    if error.errno == errno.ENAMETOOLONG:
        reason = "the name is too long"
    return HwcError(f"{path}: cannot {doing} ({reason})")


def is_build_folder(folder: Path) -> bool:
    """True when `folder` holds `BUILD_MARK` and every file under it is one that
    hwc writes into a build (no symbolic links, no other sub-folders)."""
    if not (folder / BUILD_MARK).is_file():
        return False
    for root, dirs, files in os.walk(folder, followlinks=False):
        relative = Path(root).relative_to(folder).as_posix()
        if relative in SCRATCH_DIRS:
            dirs.clear()
            continue
        patterns = BUILD_ENTRIES.get(relative)
        if patterns is None:
            return False
        children = [d if relative == "." else f"{relative}/{d}" for d in dirs]
        if any(c not in BUILD_ENTRIES and c not in SCRATCH_DIRS for c in children):
            return False
        if any(Path(root, d).is_symlink() for d in dirs):
            return False
        for name in files:
            if Path(root, name).is_symlink() or not any(fnmatch.fnmatch(name, p) for p in patterns):
                return False
    return True


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_creatable(target: Path, what: str) -> None:
    """HwcError unless `target` (and any missing parents) could be created."""
    existing = _nearest_existing(target.parent)
    if not existing.is_dir():
        raise HwcError(f"{what} {target}: {existing} is not a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".hwc-probe.", dir=existing)
    except OSError as error:
        raise HwcError(f"{what} {target}: cannot write in {existing} ({error.strerror or error})") from None
    os.rmdir(probe)


def _absolute(target: Path | str) -> Path:
    """`target` made absolute, HwcError for names no file system accepts."""
    text = os.fspath(target)
    if text == "":
        raise HwcError("-o: the output name is empty")
    if "\0" in text:
        raise HwcError("-o: the path contains a NUL byte")
    absolute = Path(os.path.abspath(text))
    for part in absolute.parts:
        if len(os.fsencode(part)) > 255:
            raise HwcError(f"-o {text[:80]}...: a path component is longer than 255 bytes")
    return absolute


def check_output_folder(target: Path | str) -> Path:
    """The absolute build folder for `target`, or HwcError (one line) when writing
    it would fail or would destroy something hwc did not create."""
    target = _absolute(target)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise HwcError(f"-o {target}: exists and is not a folder")
    if Path.cwd() == target or target in Path.cwd().parents:
        raise HwcError(f"-o {target}: refusing to replace the folder you are working in; choose a new folder")
    if target.is_dir():
        try:
            empty = not any(target.iterdir())
            if not empty and not is_build_folder(target):
                raise HwcError(f"-o {target}: the folder exists and holds files that hwc did not write; "
                               "choose a new folder or an earlier build folder")
        except OSError as error:
            raise _os_error(target, error, "read the folder") from None
    _check_creatable(target, "-o")
    return target


def check_output_file(target: Path | str, example: str = "outputs.npz") -> Path:
    """The absolute output file for `target`, or HwcError when it cannot be written
    (`example`: a file name to suggest when `target` is a folder)."""
    target = _absolute(target)
    if target.is_dir():
        raise HwcError(f"-o {target}: is a folder; give a file name such as {example}")
    if target.exists() and not target.is_file():
        raise HwcError(f"-o {target}: exists and is not a regular file")
    _check_creatable(target, "-o")
    return target


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces `target` when the block succeeds.

    Requires `target` to pass `check_output_folder` (checked again here)."""
    target = check_output_folder(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise _os_error(target, error, "create the build folder") from None
    try:
        os.chmod(staging, 0o777 & ~_umask())
        yield staging
        _replace_directory(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace_directory(staging: Path, target: Path) -> None:
    """Rename `staging` to `target`, moving a previous build aside and deleting it after."""
    old = None
    try:
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
        os.rename(staging, target)
    except OSError as error:
        if old is not None and not target.exists():
            os.rename(old, target)
        raise _os_error(target, error, "replace the build folder") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path that is renamed to `target` when the block succeeds."""
    target = check_output_file(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    except OSError as error:
        raise _os_error(target, error, "create the file") from None
    os.close(handle)
    staging = Path(name)
    try:
        os.chmod(staging, 0o666 & ~_umask())
        yield staging
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def save_npz(target: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_file(target) as staging:
        with open(staging, "wb") as f:
            np.savez(f, **arrays)
