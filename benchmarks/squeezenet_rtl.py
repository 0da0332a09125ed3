"""SqueezeNet (the onnx wheel's light zoo) in Verilator: bit-exact with the spatial
executor, cycles as the cycle model predicts, and what the build and simulation cost.

    python benchmarks/squeezenet_rtl.py [--size 224] [--fold min] [--target-fps F]
                                        [--rom memory] [--images 3] [-o DIR] [--no-optimize]
    python benchmarks/squeezenet_rtl.py --size 224 --target-fps 1000 --images 5   # ~10 min

The model's constant weights are replaced by seeded He-normal ones
(`zoo.with_random_weights`), calibrated on 8 random-normal inputs. `--size S`
compiles it for S×S inputs (the network ends in a global average pool, so any
size from 32 up works): a small size checks a build quickly before the full one.
Steps, each timed (wall and CPU seconds, this process and its children; the
build's peak memory is that of its child processes, CIRCT and Verilator's C++
compiler):

1. import, calibrate, quantize, map to spatial at the folding (`--fold min` by default:
   the fewest multipliers, the cheapest Verilog to build);
2. lower to hw, export SystemVerilog with CIRCT, lint, build the Verilator simulator
   (its per-cycle C++ at -O1, `verilator.build(optimize=True)`; `--no-optimize`: -O0
   like the tests);
3. `--images` random-normal images through the spatial executor and through the
   simulation without backpressure: bit-exact outputs, measured cycles per inference
   against the prediction, simulated cycles per wall and per CPU second;
4. one image again under 10% random stalls on both ends (bit-exact).

Not part of CI (minutes; the minimum folding at 224x224, ~56M cycles an image, would
take some 5-10 CPU minutes per image at the rates below: projected, not run).

Measured (2 cores shared with other jobs, load 4-10: wall times are 2-5x the CPU
times; every run bit-exact, also under stalls, and cycles per inference measured
= predicted):

| input, target | multipliers | cycles/inference | build wall / CPU (peak) | simulated cycles per CPU s | CPU s per image |
|---|---|---|---|---|---|
| 224x224, 1000/s | 1,885 | 197,136 | 149-416 s / 98 s (0.58 GB) | 40,000 | 4.9 |
| 224x224, 200/s | 430 | 887,112 | 114-238 s / 65 s (0.89 GB) | 104,000 | 8.5 |
| 64x64, 2000/s | 278 | 93,312 | 40-256 s (0.33 GB) | 90,000-186,000 (-O0: 27,000-50,000) | 0.5-1 |

The whole 224x224 run at 1000/s (5 images, then one under stalls): 331 s wall,
0.61 GB peak. Measured latency is below the predicted one (322,908 vs 491,669
cycles at 1000/s; 1,423,844 vs 1,594,924 at 200/s): the cycle model's latency
is an upper bound here, its cycles per inference exact.

Before the line buffers moved to RAM and the pools' hold registers were split
(same 64x64 design, same 30,000 cycles on one loaded machine): 26.6 CPU s at -O0,
then 1.19 s at -O0, 0.51 s at -O1 (startup included); the closing note of that
session had 536 simulated cycles/s and a 557 s build.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def children_peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def children_cpu_seconds() -> float:
    """User + system CPU seconds of the finished child processes (the simulator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def with_input_size(model: Path, size: int) -> None:
    """`model` rewritten for size×size inputs (its intermediate shapes dropped: the
    importer infers them again; the output stays [1, 1000, 1, 1] after the global pool)."""
    import onnx

    proto = onnx.load(model)
    (data,) = [i for i in proto.graph.input if i.name == "data_0"]
    dims = data.type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = size
    del proto.graph.value_info[:]
    onnx.save(proto, model)


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (CIRCT, Verilator, g++,
    the simulator): on a loaded machine the wall time says little."""
    return time.process_time() + children_cpu_seconds()


def timed(what: str, function):
    start, cpu_start = time.perf_counter(), cpu_seconds()
    result = function()
    print(f"{what}: {time.perf_counter() - start:.1f} s ({cpu_seconds() - cpu_start:.1f} s CPU)", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--fold", default="min")
    parser.add_argument("--target-fps", type=float, default=None)
    parser.add_argument("--rom", default="memory", choices=("logic", "memory"))
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("-o", "--out", type=Path, default=None, help="build folder (default: a temporary one)")
    parser.add_argument("--no-optimize", action="store_true",
                        help="build the simulator at -O0 like the tests (default: -O1, for long runs)")
    args = parser.parse_args(argv)

    import compiler
    from compiler.rtl import RtlExecutor
    from zoo import with_random_weights, zoo_dir

    scratch = tempfile.TemporaryDirectory()
    model = Path(scratch.name) / "squeezenet.onnx"
    with_random_weights(zoo_dir() / "light_squeezenet.onnx", model)
    with_input_size(model, args.size)
    rng = np.random.default_rng(16)
    shape = (3, args.size, args.size)
    calib = Path(scratch.name) / "calib.npz"
    np.savez(calib, data_0=rng.standard_normal((8, *shape)).astype(np.float32))
    fold = "auto" if args.target_fps else args.fold
    design = timed("import", lambda: compiler.compile(
        model, calib=calib, fold=fold, target_fps=args.target_fps, rom=args.rom))
    spatial = timed("calibrate, quantize, spatial", lambda: design.executor("spatial"))
    report = design.report()["design"]
    print(f"squeezenet {args.size}x{args.size}, fold {fold}" + (f" at {args.target_fps:g}/s" if args.target_fps else "")
          + f", {args.rom} ROMs: {report['multipliers']} multipliers, {report['rom_bits'] / 1e6:.2f} Mbit ROM, "
          f"{spatial.cycles_per_inference} cycles/inference predicted, latency {spatial.latency}", flush=True)
    out = args.out or Path(scratch.name) / "build"
    build = timed("rtl build (lower, CIRCT export, lint, Verilator)", lambda: design.rtl_build(out, optimize=not args.no_optimize))
    print(f"rtl build peak memory (children): {children_peak_gb():.2f} GB", flush=True)

    images = {"data_0": rng.standard_normal((args.images, *shape)).astype(np.float32)}
    quantized = spatial.quantize_inputs(images)
    expected = timed(f"spatial executor, {args.images} images", lambda: spatial.run_int(quantized))
    steady = RtlExecutor(spatial, build)
    start, cpu_start = time.perf_counter(), children_cpu_seconds()
    got = steady.run_int(quantized)
    seconds, cpu = time.perf_counter() - start, children_cpu_seconds() - cpu_start
    run = steady.last_run
    exact = all(np.array_equal(got[k], v) for k, v in expected.items())
    print(f"rtl, {args.images} images: {seconds:.1f} s ({cpu:.1f} s CPU), {run.total_cycles / seconds:,.0f} "
          f"simulated cycles/s ({run.total_cycles / cpu:,.0f} per CPU second); "
          f"bit-exact: {exact}; {run.cycles_per_inference:g} cycles/inference measured, "
          f"{spatial.cycles_per_inference} predicted ({run.cycles_per_inference / spatial.cycles_per_inference - 1:+.2%});"
          f" latency {run.latency} measured, {spatial.latency} predicted", flush=True)
    one = {k: v[:1] for k, v in quantized.items()}
    stalled = RtlExecutor(spatial, build, stall_in=0.1, stall_out=0.1, seed=1)
    got = timed("rtl, 1 image under 10% stalls", lambda: stalled.run_int(one))
    exact_stalled = all(np.array_equal(got[k], v[:1]) for k, v in expected.items())
    print(f"bit-exact under stalls: {exact_stalled}")
    return 0 if exact and exact_stalled else 1


if __name__ == "__main__":
    sys.exit(main())
