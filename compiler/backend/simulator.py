"""A built Verilator simulator of a design behind the AXI4-Stream test bench
(`compiler.backend.testbench`), and what a run of it saw; `compiler.backend.verilator`
builds it.

    result = simulator.run(beats, stall_in=0.3, stall_out=0.3, seed=1,
                           expected_output_beats=len(beats))
    result.output_beats, result.in_cycles, result.out_cycles, result.total_cycles
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.backend.testbench import STALLED_EXIT_STATUS
from compiler.errors import HwcError


def first_lines(text: str, count: int = 3) -> str:
    """The first `count` nonblank lines of a tool's output, joined on one line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[:count]) or "no output"


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
    trace: str | None = None
    """The waveform format it can write ("vcd", "fst"), None when built without."""

    def run(
        self,
        input_beats,
        *,
        stall_in: float = 0.0,
        stall_out: float = 0.0,
        seed: int = 0,
        expected_output_beats: int,
        max_cycles: int | None = None,
        trace_file: Path | None = None,
    ) -> SimResult:
        """Stream `input_beats` (ints or an integer array, each in
        [0, 2**in_width)) through the design until all are accepted and
        `expected_output_beats` came out; `stall_in`/`stall_out` are the
        per-cycle probabilities of withholding `s_axis_tvalid`/`m_axis_tready`.

        Raises SimulationStalled after `max_cycles` cycles (default generous for
        a design that takes a beat per cycle). `trace_file`: where a simulator
        built with `trace` writes the waveform of the run (also when it stalls)."""
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
            if trace_file is not None:
                if self.trace is None:
                    raise HwcError("this simulator was built without tracing; build it with trace='vcd' or 'fst'")
                args.append(str(Path(trace_file).resolve()))
            result = subprocess.run([str(self.binary), *args], cwd=self.run_dir,
                                    capture_output=True, text=True)
            if result.returncode == STALLED_EXIT_STATUS:
                raise SimulationStalled(result.stderr.strip())
            if result.returncode != 0:
                raise HwcError(f"RTL simulation failed: {first_lines(result.stderr + result.stdout)}")
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
