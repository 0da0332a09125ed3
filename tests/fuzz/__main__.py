"""The fuzzer's full run: `python -m tests.fuzz [--cases N] [--seed S] [--timeout T]`.

Runs the named cases and N seeded random cases (tests/fuzz/cases.py), each
isolated (tests/fuzz/runner.py), prints every case that did not end as `ok` or
a clean one-line `error`, and the totals per verdict. Exit status 1 when any
case ended badly.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.fuzz.cases import named_model_cases, random_cases, side_file_cases
from tests.fuzz.runner import GOOD, Outcome, run_case


def run_one(case, timeout: float) -> Outcome:
    """Make case's files in a fresh scratch folder, run it there, remove the folder."""
    _, make = case
    folder = Path(tempfile.mkdtemp(prefix="hwc-fuzz-"))
    try:
        return run_case(make(folder), folder, timeout)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_all(cases, timeout: float, verbose: bool = False, workers: int | None = None) -> dict[str, Outcome]:
    """Run every case (as many at once as there are cores); print the bad ones
    (all with `verbose`) as they finish. Returns {case name: outcome}."""
    cases = list(cases)
    outcomes: dict[str, Outcome] = {}
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        for (name, _), outcome in zip(cases, pool.map(lambda case: run_one(case, timeout), cases)):
            outcomes[name] = outcome
            if outcome.verdict not in GOOD or verbose:
                print(f"[{name}] {outcome.line()}", flush=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    parser.add_argument("--cases", type=int, default=2000, help="random cases (default 2000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    parser.add_argument("--named-only", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = parser.parse_args(argv)
    start = time.monotonic()
    import compiler.cli  # noqa: F401 - imported once, before forking

    cases = named_model_cases() + side_file_cases()
    if not args.named_only:
        cases += list(random_cases(args.seed, args.cases, emits=("rom", "spatial", "sv")))
    totals = collections.Counter(o.verdict for o in run_all(cases, args.timeout, args.verbose).values())
    bad = sum(count for verdict, count in totals.items() if verdict not in GOOD)
    print(f"{sum(totals.values())} cases in {time.monotonic() - start:.0f} s: "
          + ", ".join(f"{verdict} {count}" for verdict, count in sorted(totals.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
