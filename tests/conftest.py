"""Shared test plumbing: the `rtl` marker's guard, fixture paths, the real
`hwc` command line in a subprocess, onnxruntime as the float oracle, and the
ONNX conformance tally printed at the end of the run."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from compiler.backend.verilator import REFUSE_BUILDS_ENV

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HWC = Path(sys.executable).parent / "hwc"
"""The installed `hwc` entry point of the interpreter running the tests."""

CLI_TIMEOUT_SECONDS = 120


# --------------------------------------------------------------------------- the rtl marker


@contextmanager
def _environment_variable(name: str, value: str | None):
    """`name` set to `value` (None: left as it is) while the block runs."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


class RtlGuard:
    """Only a test marked `rtl` may build a Verilator simulator: for every other
    test (its fixtures included, and the `hwc` processes it starts) the
    environment says REFUSE_BUILDS_ENV, so `compiler.backend.verilator.build`
    raises, cache hit or not. `pytest -m "not rtl"` is thereby CPU-only, and a
    test that builds a simulator without the mark fails instead of hiding."""

    @staticmethod
    def _refusal(item: pytest.Item) -> str | None:
        return None if item.get_closest_marker("rtl") else "1"

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item):
        with _environment_variable(REFUSE_BUILDS_ENV, self._refusal(item)):
            yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        with _environment_variable(REFUSE_BUILDS_ENV, self._refusal(item)):
            yield


def pytest_configure(config):
    # A plugin, not conftest hooks: it then guards every collected test (examples/ too).
    if not config.pluginmanager.has_plugin("hwc-rtl-guard"):
        config.pluginmanager.register(RtlGuard(), "hwc-rtl-guard")


# --------------------------------------------------------------------------- fixture models


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The folder of the committed torch-exported models (see fixtures/make_fixtures.py)."""
    return FIXTURES


# --------------------------------------------------------------------------- the hwc CLI


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


@pytest.fixture
def run_hwc():
    """`run_hwc(*args, cwd=None)`: the real `hwc` CLI in a subprocess."""
    return run_hwc_command


# --------------------------------------------------------------------------- onnxruntime oracle


def onnxruntime_session(model_path: Path):
    """A single-threaded CPU onnxruntime session for `model_path`."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


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


@pytest.fixture(scope="session")
def onnxruntime_reference():
    """`onnxruntime_reference(model_path, {input: array})` -> {output: array}, per sample."""
    return onnxruntime_per_sample


# --------------------------------------------------------------------------- conformance tally


@dataclass
class ConformanceTally:
    """What the ONNX backend conformance cases came to in this run."""

    total: int = 0
    supported: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"ONNX conformance: {len(self.supported)} of {self.total} cases supported, "
                f"{len(self.passed)} passed")


_TALLY_KEY = pytest.StashKey[ConformanceTally]()


@pytest.fixture(scope="session")
def conformance_tally(request) -> ConformanceTally:
    """The run's conformance tally; the terminal summary prints it."""
    config = request.config
    if _TALLY_KEY not in config.stash:
        config.stash[_TALLY_KEY] = ConformanceTally()
    return config.stash[_TALLY_KEY]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the conformance tally when any conformance case ran."""
    tally = config.stash.get(_TALLY_KEY, None)
    if tally is None or tally.total == 0:
        return
    terminalreporter.section("ONNX backend conformance")
    terminalreporter.write_line(tally.summary())
    failed = [case for case in tally.supported if case not in tally.passed]
    if failed:
        terminalreporter.write_line(f"supported but failing: {', '.join(sorted(failed))}")
