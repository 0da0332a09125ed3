"""The cocotb test bench of a build folder (`tb/`), for hardware engineers who
test their RTL in Python.

    write_bench(folder, vectors, top="main_top", in_width=32, out_width=16,
                prediction=report["design"])

writes

    tb/hwc_bench.py    the cocotb tests (`compiler/backend/bench/hwc_bench.py`):
                       random backpressure, and cycles per inference against the
                       report's prediction
    tb/run.py          cocotb's own runner (`cocotb_tools.runner`) on Verilator:
                       `python tb/run.py [--waves]`
    tb/bench.json      top, widths, samples, beats per frame, prediction, stalls, seed
    tb/vectors.npz     the quantized inputs (the integers the integer executor takes,
                       nn layout, samples on axis 0) and the expected outputs,
                       keyed by port name
    tb/in_beats.hex    those inputs as AXI4-Stream beats, one per line
    tb/out_beats.hex   the expected output beats

The two Python files are copied unchanged; everything else is a function of the
vectors and the design, so a build stays byte-identical run to run.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

BENCH_DIR = "tb"
BENCH_SOURCES = ("hwc_bench.py", "run.py")
BENCH_SAMPLES = 4
"""Samples the bench streams: enough for a steady-state interval (the later half
of the frames), few enough that a slow folded design simulates in seconds."""
BENCH_STALL = 0.3
BENCH_SEED = 1
CYCLE_TOLERANCE = 0.05
RESET_CYCLES = 4


@dataclass
class BenchVectors:
    """One input and one output port: their names, the quantized samples and the
    expected outputs (nn layout), and both as beats."""

    input_name: str
    output_name: str
    inputs: np.ndarray
    outputs: np.ndarray
    in_beats: list[int]
    out_beats: list[int]

    @property
    def samples(self) -> int:
        return len(self.inputs)


def write_bench(folder: Path, vectors: BenchVectors, *, top: str, in_width: int, out_width: int,
                prediction: dict) -> list[Path]:
    """Write `tb/` into the build `folder` (see the module docstring); the paths written.

    `prediction`: the report's design section (`cycles_per_inference`, `latency_cycles`)."""
    tb = Path(folder) / BENCH_DIR
    tb.mkdir(parents=True, exist_ok=True)
    written = []
    for name in BENCH_SOURCES:
        text = resources.files(__package__).joinpath("bench", name).read_text()
        written.append(_write(tb / name, text))
    config = bench_config(vectors, top, in_width, out_width, prediction)
    written.append(_write(tb / "bench.json", json.dumps(config, indent=2) + "\n"))
    written.append(_write(tb / "in_beats.hex", "".join(f"{beat:x}\n" for beat in vectors.in_beats)))
    written.append(_write(tb / "out_beats.hex", "".join(f"{beat:x}\n" for beat in vectors.out_beats)))
    written.append(_write_npz(tb / "vectors.npz", {vectors.input_name: vectors.inputs,
                                                   vectors.output_name: vectors.outputs}))
    return written


def bench_config(vectors: BenchVectors, top: str, in_width: int, out_width: int, prediction: dict) -> dict:
    """What `hwc_bench.py` reads from `bench.json`."""
    samples = vectors.samples
    predicted = int(prediction["cycles_per_inference"])
    latency = int(prediction["latency_cycles"])
    beats = len(vectors.in_beats) + len(vectors.out_beats)
    flow = (1.0 - BENCH_STALL) ** 2
    return {
        "top": top,
        "in_width": in_width,
        "out_width": out_width,
        "input": vectors.input_name,
        "output": vectors.output_name,
        "samples": samples,
        "in_beats_per_frame": len(vectors.in_beats) // samples,
        "out_beats_per_frame": len(vectors.out_beats) // samples,
        "predicted_cycles_per_inference": predicted,
        "predicted_latency": latency,
        "cycle_tolerance": CYCLE_TOLERANCE,
        "stall": BENCH_STALL,
        "seed": BENCH_SEED,
        "reset_cycles": RESET_CYCLES,
        # as the C++ bench's budget (compiler.rtl.RtlExecutor.cycle_budget)
        "max_cycles": int((1000 + 10 * max(beats, latency + predicted * samples)) / flow),
    }


def run_command(folder: Path) -> str:
    """The one command that runs the bench of the build `folder`, from any shell:
    `python` when that is this interpreter, else this interpreter's path."""
    import shutil

    python = shutil.which("python")
    same = python is not None and Path(python).resolve() == Path(sys.executable).resolve()
    return f"{'python' if same else sys.executable} {Path(folder) / BENCH_DIR / 'run.py'}"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """An .npz whose bytes depend only on the arrays (no zip timestamps from the clock)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, buffer.getvalue())
    return path
