"""What a model's own low-bit quantization saves in hardware: the digits MLP
(64-32-16-10) fully unrolled (`--rom logic --fold full`) as hwc quantizes the
float model at 8 bits (the peer), and as three pre-quantized versions of the
same MLP keep their formats, measured in one run.

    python benchmarks/quantized_area.py [--designs hwc8,ternary,qcdq4,mxfp4] [--no-synth]
                                        [--timeout 3600] [--memory-gb 12] [--jobs 1]

Designs (tests/fixtures/quantized/, docs/prequantized.md):

* `hwc8`: examples/digits_mlp/model.onnx, quantized by hwc at 8 bits (w8a8,
  calibrated on the example's images);
* `ternary`: `brevitas_digits_w2a4.onnx`, Brevitas-trained, ternary weights,
  4-bit activations, biases quantized by Brevitas (`Int32Bias`);
* `qcdq4`: `brevitas_digits_qcdq_w4a4.onnx`, Brevitas-trained, 4-bit weights and
  activations, float biases (the requant offset);
* `mxfp4`: `mlp_mxfp4.onnx`, the float MLP's weights in MXFP4, 8-bit activations
  chosen by hwc.

Printed per design: the held-out accuracy of the integer level on the digits
(540 images), ROM bits and multipliers (report.json), then, unless `--no-synth`,
`hwc synth --target generic` (Yosys: gates and transistors of the logic,
flip-flops not counted; 2 to 25 minutes per design), and each one's ratio to
`hwc8`. Every synthesis runs in its own process under `timeout` and `ulimit -v`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from synth_runs import hwc, print_table, run_synth

ROOT = Path(__file__).resolve().parents[1]
QUANTIZED = ROOT / "tests" / "fixtures" / "quantized"
DIGITS = ROOT / "examples" / "digits_mlp"
DESIGNS = {
    "hwc8": (DIGITS / "model.onnx", ["--calib", str(DIGITS / "calib.npz")]),
    "ternary": (QUANTIZED / "brevitas_digits_w2a4.onnx", []),
    "qcdq4": (QUANTIZED / "brevitas_digits_qcdq_w4a4.onnx", []),
    "mxfp4": (QUANTIZED / "mlp_mxfp4.onnx", ["--calib", str(DIGITS / "calib.npz")]),
}
PEER = "hwc8"
UNROLLED = ["--rom", "logic", "--fold", "full"]


def compile_design(folder: Path, design: str) -> Path:
    model, options = DESIGNS[design]
    build = folder / design
    subprocess.run(hwc("compile", str(model), "-o", str(build), *UNROLLED, *options), check=True,
                   capture_output=True)
    return build


def accuracy(design: str) -> float:
    """Top-1 on the held-out digits at hwc's integer level."""
    import compiler

    model, options = DESIGNS[design]
    calib = options[1] if options else None
    with np.load(DIGITS / "test.npz") as data:
        images, labels = data["input"], data["label"]
    logits = compiler.compile(model, calib=calib).run(images, "int")["logits"]
    return float(np.mean(logits.argmax(axis=1) == labels))


def synthesise(build: Path, timeout: float, memory_gb: float) -> dict:
    """`hwc synth --target generic` on `build`: its figures, or {"failed": reason}."""
    return run_synth(build, ["--target", "generic"], "generic", timeout, memory_gb)


def measure(designs: list[str], synth: bool, timeout: float, memory_gb: float, jobs: int) -> dict:
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="hwc-quantized-area-") as scratch:
        builds = {d: compile_design(Path(scratch), d) for d in designs}
        for design, build in builds.items():
            report = json.loads((build / "report.json").read_text())["design"]
            results[design] = {"accuracy": accuracy(design), "rom_bits": report["rom_bits"],
                               "multipliers": report["multipliers"], "synth": {"failed": "not run"}}
        if synth:
            with ThreadPoolExecutor(jobs) as pool:
                futures = {d: pool.submit(synthesise, builds[d], timeout, memory_gb) for d in designs}
                for design, future in futures.items():
                    results[design]["synth"] = future.result()
                    print(f"  {design}: {results[design]['synth']}", file=sys.stderr, flush=True)
    return results


def _figure(result: dict, key: str):
    if key in ("accuracy", "rom_bits", "multipliers"):
        return result[key]
    return result["synth"].get(key)


def print_results(results: dict) -> None:
    columns = [("accuracy", "accuracy"), ("ROM bits", "rom_bits"), ("multipliers", "multipliers"),
               ("gates", "gates"), ("transistors", "transistors"), ("synth s", "seconds")]
    header = ["design", *(name for name, _ in columns)]
    rows = []
    for design, result in results.items():
        cells = []
        for _, key in columns:
            value = _figure(result, key)
            if value is None:
                value = result["synth"].get("failed", "-").split(" after")[0] if key != "seconds" else "-"
            cells.append(f"{value:.1%}" if key == "accuracy" else f"{value:,.0f}" if isinstance(value, (int, float))
                         else value)
        rows.append([design, *cells])
    print_table(header, rows)
    peer = results.get(PEER)
    if peer is None:
        return
    for design, result in results.items():
        if design == PEER:
            continue
        ratios = []
        for name, key in (("ROM bits", "rom_bits"), ("multipliers", "multipliers"), ("transistors", "transistors")):
            ours, theirs = _figure(result, key), _figure(peer, key)
            if ours is not None and theirs:
                ratios.append(f"{name} {ours / theirs:.2f}x")
        print(f"{design} / {PEER}: {', '.join(ratios)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--designs", default=",".join(DESIGNS), help=f"comma-separated, of {', '.join(DESIGNS)}")
    parser.add_argument("--no-synth", action="store_true", help="ROM bits, multipliers and accuracy only")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per synthesis (default 3600)")
    parser.add_argument("--memory-gb", type=float, default=12, help="ulimit -v per synthesis (default 12 GB)")
    parser.add_argument("--jobs", type=int, default=1, help="syntheses at once (default 1)")
    args = parser.parse_args(argv)
    designs = [d for d in args.designs.split(",") if d]
    unknown = [d for d in designs if d not in DESIGNS]
    if unknown:
        parser.error(f"unknown designs {unknown}")
    print_results(measure(designs, not args.no_synth, args.timeout, args.memory_gb, args.jobs))


if __name__ == "__main__":
    main()
