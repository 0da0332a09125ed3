"""What hardwiring the weights costs, measured by Yosys: constant products as
shift-and-add logic (`--const-mult shift-add`, the default: one adder graph per
layer with common subexpressions shared) against `comb.mul` by a constant left
to synthesis (`--const-mult mul`, the old path), and shift-and-add with
requantization multipliers of at most two signed digits (`--requant-digits 2`),
and with one weight scale per layer besides (`--weight-scales tensor`: a
layer's requantization is one constant, also in folded layers), with two or
one digit (`-rd1`: a power of two, no adder, each weight scale up to 2x
coarser), in one run, each with what it costs in accuracy.

    python benchmarks/area.py [--designs full8,full4,full2,fps1e6,fps1e6-nopad,fps1e6-mem]
                              [--styles mul,shift-add,shift-add-rd2,shift-add-rd1,
                                        shift-add-tensor-rd2,shift-add-tensor-rd1]
                              [--syntheses nodsp,generic,xilinx]
                              [--timeout 1800] [--memory-gb 12] [--jobs 2]

The model: `benchmarks/jet_mlp/model.onnx`, a 16-64-32-32-5 MLP of the
jet-tagging network's shape with random weights and random-normal calibration
inputs (`benchmarks/jet_mlp/make_model.py`). Designs: fully unrolled
(`--fold full`, one inference per cycle) at 8, 4 and 2 weight bits (8-bit
activations), and folded to 1 M inferences/s (`--target-fps 1e6`, 8 bits), with
zero neurons padding the layers where that saves multipliers (`pad-neurons`, the
default: 24 multipliers) and without (`--no-padding`: 33, powers of two), and
with its weight ROMs as memories (`--rom memory`; Yosys maps them to LUT ROMs).
Each is compiled in the six styles and synthesised three times
by `hwc synth` in its own process: `xilinx` (with DSP48s), `xilinx --nodsp`
(all LUTs), `generic` (transistors). Every synthesis runs under `timeout`
and `ulimit -v` (`--memory-gb`); one that fails prints why in its cell.

Accuracy: the integer model of each design and style (which the RTL computes
bit for bit) against onnxruntime on 2,000 standard-normal inputs (not the
calibration ones): top-1 agreement and the mean |error| of the logits
relative to their mean magnitude, so that a style's area is read next to what
it costs.

Printed: one table (LUTs with and without DSPs, DSPs, FFs, BRAMs, logic
depth in LUT levels, transistors and transistors per weight, synthesis
seconds, top-1 agreement and mean error), then the new path's ratio to the
old one per design.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from synth_runs import hwc, print_table, run_synth

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "benchmarks" / "jet_mlp" / "model.onnx"
CALIB = ROOT / "benchmarks" / "jet_mlp" / "calib.npz"
DESIGNS = {
    "full8": ["--fold", "full", "--wbits", "8"],
    "full4": ["--fold", "full", "--wbits", "4"],
    "full2": ["--fold", "full", "--wbits", "2"],
    "fps1e6": ["--target-fps", "1e6", "--wbits", "8"],
    "fps1e6-nopad": ["--target-fps", "1e6", "--wbits", "8", "--no-padding"],
    "fps1e6-mem": ["--target-fps", "1e6", "--wbits", "8", "--rom", "memory"],
}
STYLES = {"mul": ["--const-mult", "mul"], "shift-add": ["--const-mult", "shift-add"],
          "shift-add-rd2": ["--const-mult", "shift-add", "--requant-digits", "2"],
          "shift-add-rd1": ["--const-mult", "shift-add", "--requant-digits", "1"],
          "shift-add-tensor-rd2": ["--const-mult", "shift-add", "--weight-scales", "tensor", "--requant-digits", "2"],
          "shift-add-tensor-rd1": ["--const-mult", "shift-add", "--weight-scales", "tensor", "--requant-digits", "1"]}
QUANTIZATION = {"mul": {}, "shift-add": {}, "shift-add-rd2": {"requant_digits": 2},
                "shift-add-rd1": {"requant_digits": 1},
                "shift-add-tensor-rd2": {"weight_scales": "tensor", "requant_digits": 2},
                "shift-add-tensor-rd1": {"weight_scales": "tensor", "requant_digits": 1}}
"""Each style's quantization options (what its accuracy depends on), as `CompileOptions` fields."""
ACCURACY_SAMPLES = 2000
SYNTHESES = {"xilinx": ["--target", "xilinx"], "nodsp": ["--target", "xilinx", "--nodsp"],
             "generic": ["--target", "generic"]}


def compile_design(folder: Path, design: str, style: str) -> Path:
    build = folder / f"{design}-{style}"
    subprocess.run(hwc("compile", str(MODEL), "--calib", str(CALIB), "-o", str(build), *STYLES[style],
                       *DESIGNS[design]), check=True, capture_output=True)
    return build


def synthesise(build: Path, kind: str, timeout: float, memory_gb: float) -> dict:
    """One `hwc synth` in a copy of the build (so that runs do not share report.json):
    its figures, or {"failed": reason}."""
    copy = build.with_name(f"{build.name}-{kind}")
    shutil.copytree(build, copy)
    return run_synth(copy, SYNTHESES[kind], "generic" if kind == "generic" else "xilinx", timeout, memory_gb)


def measure(designs: list[str], styles: list[str], kinds: list[str], timeout: float, memory_gb: float,
            jobs: int) -> dict:
    """{(design, style): {kind: figures}}; syntheses start kind by kind, in the
    order given."""
    with tempfile.TemporaryDirectory(prefix="hwc-area-") as scratch:
        folder = Path(scratch)
        builds = {(d, s): compile_design(folder, d, s) for d in designs for s in styles}
        results: dict = {key: {kind: {"failed": "not run"} for kind in SYNTHESES} for key in builds}
        work = [(key, kind) for kind in kinds for key in builds]
        with ThreadPoolExecutor(jobs) as pool:
            futures = {item: pool.submit(synthesise, builds[item[0]], item[1], timeout, memory_gb) for item in work}
            for (key, kind), future in futures.items():
                figures = future.result()
                results[key][kind] = figures
                print(f"  {key[0]} {key[1]} {kind}: {_brief(figures)}", file=sys.stderr, flush=True)
    for key in builds:
        results[key]["accuracy"] = accuracy(*key)
    return results


def accuracy(design: str, style: str) -> dict:
    """The integer model of (design, style) — what the RTL computes bit for bit —
    against onnxruntime on ACCURACY_SAMPLES standard-normal inputs (not the
    calibration ones): top-1 agreement and the mean |error| of the logits
    relative to their mean magnitude."""
    from compiler.driver import compile as compile_model
    from compiler.oracle import onnxruntime_run
    from compiler.verify import random_inputs, top1_agreement

    wbits = int(DESIGNS[design][DESIGNS[design].index("--wbits") + 1])
    model = compile_model(MODEL, calib=CALIB, wbits=wbits, **QUANTIZATION[style])
    inputs = random_inputs(model, ACCURACY_SAMPLES, seed=1)
    (name,) = model.output_names
    ours = model.run(inputs, level="int")[name].astype(np.float64)
    theirs = onnxruntime_run(MODEL, inputs, 1, [name])[name].astype(np.float64)
    return {"top1": top1_agreement(ours, theirs),
            "error": float(np.mean(np.abs(ours - theirs)) / np.mean(np.abs(theirs)))}


def _brief(figures: dict) -> str:
    if "failed" in figures:
        return figures["failed"]
    return ", ".join(f"{k} {figures[k]}" for k in ("luts", "dsps", "ffs", "transistors", "seconds")
                     if figures.get(k) is not None)


def _cell(figures: dict, key: str) -> str:
    if key in ("top1", "error"):
        return f"{figures[key]:.1%}"
    if "failed" in figures:
        return figures["failed"].split(" after")[0]
    value = figures.get(key)
    if value is None:
        return "-"
    return f"{value:,.2f}" if isinstance(value, float) and not value.is_integer() else f"{value:,.0f}"


COLUMNS = [("LUTs", "xilinx", "luts"), ("DSPs", "xilinx", "dsps"), ("FFs", "xilinx", "ffs"),
           ("BRAM", "xilinx", "brams"), ("depth", "xilinx", "logic_depth"), ("LUTs nodsp", "nodsp", "luts"),
           ("depth nodsp", "nodsp", "logic_depth"), ("transistors", "generic", "transistors"),
           ("T/weight", "generic", "transistors_per_weight"), ("s xilinx", "xilinx", "seconds"),
           ("s nodsp", "nodsp", "seconds"), ("s generic", "generic", "seconds"),
           ("top-1", "accuracy", "top1"), ("error", "accuracy", "error")]


def print_results(results: dict) -> None:
    header = ["design", "const-mult", *(name for name, _, _ in COLUMNS)]
    rows = [[design, style, *(_cell(runs[kind], key) for _, kind, key in COLUMNS)]
            for (design, style), runs in results.items()]
    print_table(header, rows)
    for design, style in results:
        if style == "mul" or (design, "mul") not in results:
            continue
        old, new = results[(design, "mul")], results[(design, style)]
        ratios = []
        for name, kind, key in (("LUTs", "xilinx", "luts"), ("DSPs", "xilinx", "dsps"),
                                ("LUTs nodsp", "nodsp", "luts"), ("transistors", "generic", "transistors")):
            a, b = old[kind].get(key), new[kind].get(key)
            if a is not None and b is not None and a == 0:
                ratios.append(f"{name} {a} -> {b}")
            elif a and b is not None:
                ratios.append(f"{name} {b / a:.2f}x")
        print(f"{design}: {style} / mul: {', '.join(ratios) or 'n/a (a synthesis failed)'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--designs", default=",".join(DESIGNS), help=f"comma-separated, of {', '.join(DESIGNS)}")
    parser.add_argument("--styles", default=",".join(STYLES), help=f"comma-separated, of {', '.join(STYLES)}")
    parser.add_argument("--syntheses", default=",".join(SYNTHESES),
                        help=f"comma-separated, run in this order, of {', '.join(SYNTHESES)}")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per synthesis (default 1800)")
    parser.add_argument("--memory-gb", type=float, default=12, help="ulimit -v per synthesis (default 12 GB)")
    parser.add_argument("--jobs", type=int, default=2, help="syntheses at once (default 2)")
    args = parser.parse_args(argv)
    designs = [d for d in args.designs.split(",") if d]
    unknown = [d for d in designs if d not in DESIGNS]
    if unknown:
        parser.error(f"unknown designs {unknown}")
    kinds = [k for k in args.syntheses.split(",") if k]
    if any(k not in SYNTHESES for k in kinds):
        parser.error(f"unknown syntheses in {kinds}")
    styles = [s for s in args.styles.split(",") if s]
    if any(s not in STYLES for s in styles):
        parser.error(f"unknown styles in {styles}")
    print_results(measure(designs, styles, kinds, args.timeout, args.memory_gb, args.jobs))


if __name__ == "__main__":
    main()
