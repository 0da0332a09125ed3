"""`-o` never destroys what hwc did not write, and failures leave nothing behind.

An existing output folder is replaced only when it is empty or an earlier hwc
build; a user's folder, the current folder (or one holding it), a path under a
file, under /proc or /sys, or with an over-long name is one `hwc: error:` line,
before any work starts, and every folder involved is left exactly as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MLP = Path(__file__).resolve().parents[1] / "fixtures" / "mlp.onnx"


def listing(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (hidden ones included) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(result, *words: str) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwc: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def user_folder(tmp_path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my own work\n")
    (folder / "model.nn.mlir").write_text("// a file that only looks like hwc's\n")
    return folder


def test_a_users_folder_is_never_replaced(run_hwc, tmp_path, user_folder):
    before = listing(tmp_path)
    result = run_hwc("compile", MLP, "-o", user_folder, "--emit", "nn")
    assert_refused(result, str(user_folder), "did not write")
    assert listing(tmp_path) == before


def test_the_current_folder_is_never_replaced(run_hwc, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(MLP.read_bytes())
    for output in (".", str(tmp_path), ""):
        result = run_hwc("compile", model, "-o", output, "--emit", "nn", cwd=tmp_path)
        assert_refused(result)
        assert sorted(os.listdir(tmp_path)) == ["m.onnx"], f"-o {output!r} left {os.listdir(tmp_path)}"


def test_an_earlier_build_or_an_empty_folder_is_replaced(run_hwc, tmp_path):
    empty = tmp_path / "build"
    empty.mkdir()
    assert run_hwc("compile", MLP, "-o", empty, "--emit", "rom").returncode == 0
    assert {p.name for p in empty.iterdir()} == {"model.nn.mlir", "weights.safetensors", "model.rom.mlir",
                                                   "rom.safetensors"}
    result = run_hwc("compile", MLP, "-o", empty, "--emit", "nn")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in empty.iterdir()} == {"model.nn.mlir", "weights.safetensors"}
    assert sorted(os.listdir(tmp_path)) == ["build"], "no staging or old copy may remain"


@pytest.mark.parametrize("where", ["under_a_file", "proc", "sys", "long_name"])
def test_an_unwritable_output_is_refused_before_any_work(run_hwc, tmp_path, where):
    (tmp_path / "file").write_text("x")
    output = {
        "under_a_file": str(tmp_path / "file" / "build"),
        "proc": "/proc/hwc-build",
        "sys": "/sys/hwc-build",
        "long_name": str(tmp_path / ("b" * 300)),
    }[where]
    before = listing(tmp_path)
    assert_refused(run_hwc("compile", MLP, "-o", output, "--emit", "nn"), "-o")
    assert listing(tmp_path) == before


def test_a_nul_byte_in_the_output_path_is_one_error():
    from compiler.errors import HwcError
    from compiler.output import check_output_folder

    with pytest.raises(HwcError, match="NUL"):
        check_output_folder("build\0x")


def test_run_output_that_is_a_folder_leaves_nothing(run_hwc, tmp_path):
    import numpy as np

    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 16), np.float32))
    folder = tmp_path / "out"
    folder.mkdir()
    before = listing(tmp_path)
    assert_refused(run_hwc("run", MLP, "--input", x, "-o", folder), "folder")
    assert listing(tmp_path) == before and not any(folder.iterdir())


def test_a_failure_after_staging_removes_the_staging_folder(tmp_path):
    from compiler.output import atomic_directory

    target = tmp_path / "build"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staging:
            (staging / "model.nn.mlir").write_text("half")
            raise RuntimeError("the compiler failed midway")
    assert os.listdir(tmp_path) == []
