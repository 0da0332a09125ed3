"""`hwc compile --emit spatial`, `hwc report`, `hwc run --level spatial` as a user
runs them, and the folding options' one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support import DIGITS as EXAMPLE
from tests.support import run_hwc_opt


def one_line_error(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwc: error:"), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_emit_spatial_writes_the_report(tmp_path, run_hwc):
    build = tmp_path / "digits"
    result = run_hwc("compile", EXAMPLE / "model.onnx", "--calib", EXAMPLE / "calib.npz",
                     "-o", build, "--emit", "spatial", "--target-fps", "1e6")
    assert result.returncode == 0, result.stderr
    assert (build / "model.spatial.mlir").is_file()
    report = json.loads((build / "report.json").read_text())
    design = report["design"]
    # 1e6 inferences/s at 200 MHz leaves 200 cycles per inference
    assert 0 < design["cycles_per_inference"] <= 200
    assert "cycles per inference" in result.stdout
    again = run_hwc("report", build)
    assert again.returncode == 0 and "cycles per inference" in again.stdout


def test_run_at_the_spatial_level_equals_the_int_level(tmp_path, run_hwc):
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    outputs = {}
    for level in ("int", "spatial"):
        result = run_hwc("run", EXAMPLE / "model.onnx", "--calib", EXAMPLE / "calib.npz", "--input",
                         tmp_path / "x.npy", "--level", level, "-o", tmp_path / f"{level}.npz",
                         "--fold", "min")
        assert result.returncode == 0, result.stderr
        outputs[level] = np.load(tmp_path / f"{level}.npz")["logits"]
    np.testing.assert_array_equal(outputs["spatial"], outputs["int"])


@pytest.mark.parametrize("options, words", [
    (["--target-fps", "1e12"], "inferences"),
    (["--clock-mhz", "0"], "clock"),
    (["--fold", "sideways"], "--fold"),
    (["--fold", "full", "--target-fps", "10"], "--fold auto"),
    (["--max-multipliers", "1"], "multipliers"),
])
def test_bad_folding_options(tmp_path, run_hwc, options, words):
    build = tmp_path / "out"
    result = run_hwc("compile", EXAMPLE / "model.onnx", "--calib", EXAMPLE / "calib.npz",
                     "-o", build, "--emit", "spatial", *options)
    assert words in one_line_error(result)
    assert not build.exists() and list(tmp_path.iterdir()) == []


def test_report_of_a_folder_without_one(tmp_path, run_hwc):
    assert "report.json" in one_line_error(run_hwc("report", tmp_path))


def test_hand_set_folding_that_does_not_divide(tmp_path, run_hwc):
    """A folding edited by hand is checked by the verifier: one line, exit 1."""
    build = tmp_path / "digits"
    assert run_hwc("compile", EXAMPLE / "model.onnx", "--calib", EXAMPLE / "calib.npz",
                   "-o", build, "--emit", "spatial", "--fold", "min").returncode == 0
    text = (build / "model.spatial.mlir").read_text()
    assert "pe = 1 : i64" in text
    (build / "edited.mlir").write_text(text.replace("pe = 1 : i64", "pe = 3 : i64", 1))
    result = run_hwc_opt(build / "edited.mlir", "-p", "size-fifos")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not divide" in lines[0], result.stderr
