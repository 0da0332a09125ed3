"""Test plumbing shared by test modules (conftest.py turns some into fixtures):
the repository's folders, the real `hwc` command line in a subprocess, and
onnxruntime as the float oracle."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
DIGITS = ROOT / "examples" / "digits_mlp"
"""The digits example: model.onnx, calib.npz, test.npz."""
BIN = Path(sys.executable).parent
HWC = BIN / "hwc"
"""The installed `hwc` entry point of the interpreter running the tests."""
HWC_OPT = BIN / "hwc-opt"

CLI_TIMEOUT_SECONDS = 120


def run_hwc_command(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `hwc ARGS...` as a user would; returns the finished process (text output).

    Requires the package to be installed (the `hwc` script next to `sys.executable`).
    """
    if not HWC.exists():
        pytest.fail(f"the hwc entry point {HWC} is not installed (pip install -e .)")
    return subprocess.run(
        [str(HWC), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )


def onnxruntime_session(model: Path | bytes, log_severity_level: int = 3):
    """A single-threaded CPU onnxruntime session for a model file or serialized model."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = log_severity_level
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def onnxruntime_per_sample(model_path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of a batch-1 model on inputs of any batch size, one sample at a time.

    Every input must have the same number of samples on axis 0; the outputs
    are the per-sample outputs stacked on axis 0, keyed by output name.
    """
    session = onnxruntime_session(model_path)
    names = [output.name for output in session.get_outputs()]
    samples = {len(array) for array in inputs.values()}
    assert len(samples) == 1, f"inputs disagree on the number of samples: {samples}"
    per_sample = [
        session.run(names, {name: array[i : i + 1] for name, array in inputs.items()})
        for i in range(samples.pop())
    ]
    return {name: np.concatenate([outputs[k] for outputs in per_sample]) for k, name in enumerate(names)}
