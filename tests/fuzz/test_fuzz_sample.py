"""A fixed-seed sample of the fuzzer (tests/fuzz): every named malformed input
and a few hundred seeded random mutations of the fixtures and the command line
end either in success or in exactly one `hwc: error:` line with exit status 1
— never a traceback, an internal error, a hang, a crash or a lost file. The
full run (thousands of cases) is `python -m tests.fuzz`."""

from __future__ import annotations

import pytest

from tests.fuzz.__main__ import run_all
from tests.fuzz.cases import named_model_cases, random_cases, side_file_cases
from tests.fuzz.runner import GOOD

SEED = 20261130
RANDOM_CASES = 100
TIMEOUT_SECONDS = 120


def _bad(outcomes) -> list[str]:
    return [f"[{name}] {outcome.line()}" for name, outcome in outcomes.items() if outcome.verdict not in GOOD]


def test_named_malformed_inputs_are_one_clear_line():
    outcomes = run_all(named_model_cases() + side_file_cases(), TIMEOUT_SECONDS)
    assert _bad(outcomes) == []
    errors = [o for o in outcomes.values() if o.verdict == "error"]
    assert len(errors) >= len(outcomes) - 2, "the named cases are mistakes; nearly all must be refused"


def test_random_mutations_are_handled():
    outcomes = run_all(random_cases(SEED, RANDOM_CASES), TIMEOUT_SECONDS)
    assert _bad(outcomes) == []


@pytest.mark.parametrize("verdict, stderr, status", [
    ("error", "hwc: error: x.onnx: bad\n", 1),
    ("internal", "hwc: error: internal error at a.py:1: KeyError: 'x' -- this is a bug\n", 1),
    ("traceback", "Traceback (most recent call last):\n  ...\nValueError\n", 1),
    ("noisy", "hwc: warning: w\nhwc: error: e\n", 1),
    ("noisy", "hwc: error: e\n", 2),
    ("ok", "", 0),
])
def test_the_judge_tells_good_endings_from_bad(verdict, stderr, status):
    from tests.fuzz.runner import judge

    assert judge(stderr, status, False, 0) == verdict
