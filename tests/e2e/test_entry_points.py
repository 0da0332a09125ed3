"""The installed console scripts, started for real: the other CLI tests run
`hwc` inside the test process (tests/support.py), so these make sure that the
entry points themselves work as a user's shell starts them."""

from __future__ import annotations

import subprocess

from tests.support import FIXTURES, HWC_OPT, run_hwc_subprocess


def test_installed_hwc_writes_ir_that_installed_hwc_opt_reads(tmp_path):
    build = tmp_path / "mlp"
    result = run_hwc_subprocess("compile", FIXTURES / "mlp.onnx", "-o", build, "--emit", "rom")
    assert result.returncode == 0, result.stderr
    assert f"compiled {FIXTURES / 'mlp.onnx'} to {build}/" in result.stdout
    opt = subprocess.run([str(HWC_OPT), str(build / "model.rom.mlir")],
                         capture_output=True, text=True, timeout=120)
    assert opt.returncode == 0, opt.stderr
    assert "rom.rom @" in opt.stdout and "nn.dense" in opt.stdout


def test_installed_hwc_reports_a_mistake_in_one_line(tmp_path):
    result = run_hwc_subprocess("compile", tmp_path / "missing.onnx")
    assert result.returncode == 1
    assert result.stderr.startswith("hwc: error:") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
