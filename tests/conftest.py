"""Shared test fixtures and hooks: the `rtl` marker's guard, fixture paths, the
`hwc` command line, onnxruntime as the float oracle, and the ONNX conformance
tally printed at the end of the run. Plain helpers live in tests/support.py."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from compiler.backend.verilator import REFUSE_BUILDS_ENV
from tests.support import FIXTURES, onnxruntime_per_sample, run_hwc_command


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
    if not config.pluginmanager.has_plugin("hwc-conformance-tally"):
        config.stash[_TALLY_KEY] = ConformanceTally()
        config.pluginmanager.register(TallyCollector(config.stash[_TALLY_KEY]), "hwc-conformance-tally")


# --------------------------------------------------------------------------- order-independent data

_FIRST_RNG_STATE: dict[str, dict] = {}


@pytest.fixture(autouse=True)
def _order_independent_rng(request):
    """Test modules draw their data from a module-level `RNG`; every test starts from
    that generator's state before the module's first test, so a test's data does not
    depend on which tests ran before it in the same process (pytest-xdist gives each
    worker a different set): the same data as when the test runs alone."""
    rng = getattr(request.module, "RNG", None)
    if isinstance(rng, np.random.Generator):
        state = _FIRST_RNG_STATE.setdefault(request.module.__name__, rng.bit_generator.state)
        rng.bit_generator.state = state
    yield


# --------------------------------------------------------------------------- fixture models


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The folder of the committed torch-exported models (see fixtures/make_fixtures.py)."""
    return FIXTURES


# --------------------------------------------------------------------------- the hwc CLI


@pytest.fixture
def run_hwc():
    """`run_hwc(*args, cwd=None)`: the `hwc` command line run as a process would run
    it, inside this one (tests/support.py; test_entry_points.py starts the real one)."""
    return run_hwc_command


# --------------------------------------------------------------------------- onnxruntime oracle


@pytest.fixture(scope="session")
def onnxruntime_reference():
    """`onnxruntime_reference(model_path, {input: array})` -> {output: array}, per sample."""
    return onnxruntime_per_sample


# --------------------------------------------------------------------------- conformance tally


@dataclass
class ConformanceTally:
    """What the ONNX backend conformance cases came to in this run, by case."""

    outcomes: dict[str, str] = field(default_factory=dict)
    """case -> "unsupported", "passed" or "failed"."""

    def record(self, case: str, supported: bool, passed: bool) -> None:
        self.outcomes[case] = "passed" if passed else "failed" if supported else "unsupported"

    def cases(self, outcome: str) -> list[str]:
        return sorted(case for case, result in self.outcomes.items() if result == outcome)

    def summary(self) -> str:
        supported = len(self.outcomes) - len(self.cases("unsupported"))
        return (f"ONNX conformance: {supported} of {len(self.outcomes)} cases supported, "
                f"{len(self.cases('passed'))} passed")


_TALLY_KEY = pytest.StashKey[ConformanceTally]()


@pytest.fixture(scope="session")
def conformance_tally(request) -> ConformanceTally:
    """The run's conformance tally; the terminal summary prints it."""
    return request.config.stash[_TALLY_KEY]


TALLY_PROPERTY = "onnx_conformance"
"""Each conformance case's report carries (case, supported, passed) under this
name, so that the tally also reaches the summary when pytest-xdist runs the cases
in worker processes."""


class TallyCollector:
    """Records every conformance case's report into the run's tally (in the process
    that prints the summary: the only one without pytest-xdist, the controller with it)."""

    def __init__(self, tally: ConformanceTally):
        self.tally = tally

    def pytest_runtest_logreport(self, report):
        for name, value in report.user_properties:
            if name == TALLY_PROPERTY and report.when == "call":
                self.tally.record(*value)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the conformance tally when any conformance case ran."""
    tally = config.stash.get(_TALLY_KEY, None)
    if tally is None or not tally.outcomes:
        return
    terminalreporter.section("ONNX backend conformance")
    terminalreporter.write_line(tally.summary())
    failed = tally.cases("failed")
    if failed:
        terminalreporter.write_line(f"supported but failing: {', '.join(failed)}")
