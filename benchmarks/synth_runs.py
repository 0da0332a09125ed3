"""What the area benchmarks (`area.py`, `quantized_area.py`) share: the `hwc`
beside this Python, one `hwc synth` run bounded in time and memory, and an
aligned table."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def hwc(*args: str) -> list[str]:
    """The command line of `hwc` from this Python's environment."""
    return [str(Path(sys.executable).with_name("hwc")), *args]


def run_synth(build: Path, options: list[str], target: str, timeout: float, memory_gb: float) -> dict:
    """`hwc synth build *options` under `timeout` seconds and `ulimit -v` of
    `memory_gb`: report.json's `synth.<target>` figures, or {"failed": reason}."""
    command = " ".join(hwc("synth", str(build), *options))
    limit = int(memory_gb * 1024 * 1024)
    started = time.monotonic()
    result = subprocess.run(["bash", "-c", f"ulimit -v {limit}; exec timeout {timeout:g} {command}"],
                            capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        why = "timeout" if result.returncode == 124 else (result.stderr.strip().splitlines() or ["?"])[-1][:60]
        return {"failed": f"{why} after {seconds:.0f} s"}
    return json.loads((build / "report.json").read_text())["synth"][target]


def print_table(header: list[str], rows: list[list]) -> None:
    """Columns right-aligned, a rule under the header, a blank line after."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths)))
    print()
