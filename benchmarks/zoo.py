"""The onnx wheel's light model zoo through every software level, one table.

    python benchmarks/zoo.py [MODEL ...] [--target-fps 1000] [--calib 8] [--samples 200] [--timeout 1800]
                             [--centre 1] [--wbits 8] [--abits 8]

For each model of `onnx/backend/test/data/light` (squeezenet, vgg19, resnet50,
densenet121, shufflenet, bvlc_alexnet, inception_v1 by default; real
topologies, 224×224 inputs), in its own subprocess so that its peak memory is
its own. The light models fill every weight with one constant
(`ConstantOfShape`, 0.02), so that all classes score alike and top-1 agreement
would mean nothing: `zoo_weights.with_random_weights` gives them seeded
He-normal weights, then scales each Conv and Gemm on 8 random-normal inputs of
its own (not those calibrated or measured on) so that each output channel has
mean 0 and variance 1 (`--centre 1`, data-dependent initialisation; `--centre 0`
keeps the biases at zero). Measured:

* wall time, CPU time and peak resident memory (VmHWM, reset before each stage) of
  import (ONNX → nn), calibrate (fold-batchnorm, fold-constants, calibrate on
  `--calib` random-normal samples), quantize (quantize at `--wbits`/`--abits`,
  weights-to-rom) and spatial (map-to-spatial, fold-parallelism at `--target-fps`
  and 200 MHz, size-fifos, the report);
* the spatial report: cycles per inference, multipliers, ROM bits;
* after the stages (not timed): the float rung, the float executor against
  onnxruntime (the peer, measured in the same run) on 2 inputs, the largest
  error relative to the output's range; int-vs-float top-1 agreement on
  `--samples` other random-normal inputs, and beside it the peer: onnxruntime's
  top-1 agreement between the model and the same model with only its weights
  rounded to `--wbits` per output channel (`compiler.numerics.quantize_weight`,
  activations in float) on the same inputs: what rounding the weights alone
  allows, whatever is done to activations; and how many distinct top-1 classes
  float picks over those inputs (1: the output does not depend on the input).
  A random network's regime decides these numbers more than the quantizer does
  (`zoo_weights`'s docstring; `benchmarks/zoo_sensitivity.py` measures it).

A model that fails or runs out of `--timeout` seconds gets its stage and
reason in the table. Not part of CI (the models are large); the targets of
issue 16 are at most 3 minutes and 4 GB per model and 95% agreement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zoo_weights import with_random_weights

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("squeezenet", "vgg19", "resnet50", "densenet121", "shufflenet", "bvlc_alexnet", "inception_v1")
STAGES = ("import", "calibrate", "quantize", "spatial")


def zoo_dir() -> Path:
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


# --------------------------------------------------------------------------- one model (child process)


def reset_peak_memory() -> None:
    """Start a new VmHWM (Linux: writing 5 to clear_refs resets the peak RSS)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_memory_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Stages:
    """Wall time and peak memory per stage, written as they finish (a crash keeps them)."""

    def __init__(self):
        self.record: dict = {"stages": {}}

    def run(self, name: str, function):
        self.record["failed_in"] = name
        self.show()
        reset_peak_memory()
        start, cpu = time.perf_counter(), time.process_time()
        result = function()
        self.record["stages"][name] = {"seconds": time.perf_counter() - start, "peak_mb": peak_memory_mb(),
                                       "cpu": time.process_time() - cpu}
        self.record.pop("failed_in")
        self.show()
        return result

    def show(self) -> None:
        """The record so far, one JSON line (the parent reads the last one)."""
        print(json.dumps(self.record), flush=True)


def float_rung(model: Path, executor, inputs: dict) -> float:
    """Largest |float executor - onnxruntime| over the output's largest |value|, on `inputs`."""
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    worst = 0.0
    for i in range(next(iter(inputs.values())).shape[0]):
        one = {k: v[i:i + 1] for k, v in inputs.items()}
        theirs = dict(zip([o.name for o in session.get_outputs()], session.run(None, one)))
        ours = executor.run(one)
        for name, value in ours.items():
            scale = max(float(np.abs(theirs[name]).max()), 1e-30)
            worst = max(worst, float(np.abs(value - theirs[name]).max()) / scale)
    return worst


def weights_rounded(source: Path, target: Path, wbits: int = 8) -> None:
    """`source` with every float initializer of rank >= 2 (conv and dense weights) rounded
    as hwc quantizes weights (per output channel: axis 0, or axis 1 for the B of a
    Gemm without transB), saved to `target`."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from compiler.numerics import quantize_weight

    model = onnx.load(source)
    column_major = {n.input[1] for n in model.graph.node if n.op_type == "Gemm"
                    and not any(a.name == "transB" and a.i for a in n.attribute)}
    for init in model.graph.initializer:
        weight = numpy_helper.to_array(init)
        if weight.ndim < 2 or weight.dtype != np.float32:
            continue
        rows = weight.T if init.name in column_major else weight
        ints, scales = quantize_weight(rows, wbits)
        rounded = (ints.reshape(rows.shape[0], -1) * scales[:, None]).reshape(rows.shape)
        rounded = rounded.T if init.name in column_major else rounded
        init.CopyFrom(numpy_helper.from_array(rounded.astype(np.float32), init.name))
    onnx.save(model, target)


def weight_rounding_peer(model: Path, inputs: dict, wbits: int = 8) -> float | None:
    """onnxruntime's top-1 agreement between `model` and `model` with 8-bit weights
    (`weights_rounded`) on `inputs`: the agreement 8-bit weights alone allow."""
    import numpy as np
    import onnxruntime

    from compiler.verify import top1_agreement

    rounded = model.with_name(model.stem + "_w8.onnx")
    weights_rounded(model, rounded, wbits)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = 1, 3
    outputs = []
    for path in (model, rounded):  # one session at a time
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        count = next(iter(inputs.values())).shape[0]
        runs = [session.run(None, {k: v[i:i + 1] for k, v in inputs.items()})[0] for i in range(count)]
        outputs.append(np.concatenate(runs))
        del session
    return top1_agreement(outputs[1], outputs[0])


def measure(name: str, args) -> None:
    """Print the record of `name` (see the module docstring) after each step, as JSON lines."""
    import numpy as np

    import compiler
    from compiler.executor import FloatExecutor, IntExecutor
    from compiler.pipelines import quantize_spec, run_pipeline, spatial_pipeline
    from compiler.report import build_report
    from compiler.verify import top1_agreement

    scratch = tempfile.TemporaryDirectory()
    model = Path(scratch.name) / f"{name}.onnx"
    start = time.perf_counter()
    with_random_weights(zoo_dir() / f"light_{name}.onnx", model, centre=args.centre)
    stages = Stages()
    out = stages.record
    out["weights_s"] = time.perf_counter() - start
    try:
        design = stages.run("import", lambda: compiler.compile(model))
        floats = FloatExecutor(design.nn_module)
        shapes = design.input_shapes()
        rng = np.random.default_rng(16)

        def draw(count):
            return {k: rng.standard_normal((count, *s[1:])).astype(np.float32) for k, s in shapes.items()}

        calib_path = Path(scratch.name) / "calib.npz"
        np.savez(calib_path, **draw(args.calib))
        module = design.nn_module.clone()
        stages.run("calibrate", lambda: run_pipeline(
            module, f'fold-batchnorm,fold-constants,calibrate{{calib="{calib_path}"}}'))
        stages.run("quantize", lambda: run_pipeline(module, f"{quantize_spec(args.wbits, args.abits)},weights-to-rom"))
        ints = IntExecutor(module)
        spatial = module.clone()

        def to_spatial():
            run_pipeline(spatial, spatial_pipeline(target_fps=args.target_fps))
            return build_report(spatial, 200.0)["design"]

        report = stages.run("spatial", to_spatial)
        out.update({k: report[k] for k in ("cycles_per_inference", "multipliers", "rom_bits", "macs")})
        stages.show()
        del spatial
        out["float_vs_ort"] = float_rung(model, floats, draw(2))
        inputs = draw(args.samples)
        output = design.output_names[0]
        int_outputs = ints.run(inputs)[output]
        del ints, module  # one model's weights alive at a time from here on (vgg19: 0.5 GB each)
        float_outputs = floats.run(inputs)[output]
        del floats, design
        out["top1"] = top1_agreement(int_outputs, float_outputs)
        out["distinct"] = len(set(np.argmax(float_outputs.reshape(len(float_outputs), -1), axis=1).tolist()))
        stages.show()
        out["top1_w8"] = weight_rounding_peer(model, inputs, args.wbits)
    except Exception as error:  # noqa: BLE001 - the table shows where and why
        out["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
    stages.show()


# --------------------------------------------------------------------------- the table (parent process)


def run_child(name: str, args) -> dict:
    """`measure(name)` in a subprocess: its record, wall time and peak RSS (ru_maxrss)."""
    command = [sys.executable, __file__, "--one", name, "--target-fps", str(args.target_fps),
               "--calib", str(args.calib), "--samples", str(args.samples), "--centre", str(args.centre),
               "--wbits", str(args.wbits), "--abits", str(args.abits)]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=path)
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        killed = False
        while True:
            pid, _, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if not killed and time.perf_counter() - start > args.timeout:
                child.kill()
                killed = True
            time.sleep(0.2)
        log.seek(0)
        lines = [line for line in log.read().splitlines() if line.startswith("{")]
    record = json.loads(lines[-1]) if lines else {"stages": {}}
    record["wall"] = time.perf_counter() - start
    record["peak_mb"] = usage.ru_maxrss / 1024
    if not lines:
        record["error"] = "crashed before its first stage"
    if killed:
        record["error"] = f"killed after {args.timeout:.0f} s"
    return record


def cell(record: dict, stage: str) -> str:
    entry = record["stages"].get(stage)
    return f"{entry['seconds']:6.1f}/{entry['cpu']:5.1f} s {entry['peak_mb'] / 1024:4.1f}G" if entry else f"{'-':>20}"


def print_table(results: dict[str, dict], args) -> None:
    print(f"light zoo: calibrated on {args.calib} random-normal inputs, top-1 on {args.samples} others; "
          f"spatial at {args.target_fps:g} inferences/s, 200 MHz, wbits={args.wbits} abits={args.abits}; "
          f"random weights centre {args.centre:g} (zoo_weights); one subprocess per model")
    print("per stage: wall/CPU seconds (CPU: this process alone, whatever else loads the machine), peak resident GB;"
          " float rung: |float executor - onnxruntime| / max|ort|;"
          " top-1: int vs float; w8 top-1 (the peer): onnxruntime, weights rounded to wbits, float activations, vs float;"
          " distinct: how many different top-1 classes float picks over the samples")
    header = f"{'model':13} " + " ".join(f"{s:>20}" for s in STAGES)
    header += f" {'total':>7} {'peak':>6} {'float rung':>10} {'top-1':>6} {'w8 top-1':>8} {'distinct':>8} {'cycles':>9} {'mults':>7} {'ROM Mbit':>9}"
    print(header)
    for name, r in results.items():
        line = f"{name:13} " + " ".join(cell(r, s) for s in STAGES)
        line += f" {r['wall']:6.1f}s {r['peak_mb'] / 1024:5.2f}G"
        line += f" {r['float_vs_ort']:10.1e}" if "float_vs_ort" in r else f" {'-':>10}"
        line += f" {r['top1']:6.1%}" if r.get("top1") is not None else f" {'-':>6}"
        line += f" {r['top1_w8']:8.1%}" if r.get("top1_w8") is not None else f" {'-':>8}"
        line += f" {r['distinct']:8d}" if "distinct" in r else f" {'-':>8}"
        if "cycles_per_inference" in r:
            line += f" {r['cycles_per_inference']:9d} {r['multipliers']:7d} {r['rom_bits'] / 1e6:9.2f}"
        print(line)
        if "error" in r:
            print(f"{'':13} stopped in {r.get('failed_in', '?')}: {r['error']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(MODELS))
    parser.add_argument("--target-fps", type=float, default=1000.0)
    parser.add_argument("--calib", type=int, default=8)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--centre", type=float, default=1.0,
                        help="fraction of each channel's mean the random biases remove (zoo_weights)")
    parser.add_argument("--wbits", type=int, default=8)
    parser.add_argument("--abits", type=int, default=8)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        sys.setrecursionlimit(20000)
        measure(args.one, args)
        return
    results = {}
    for name in args.models:
        results[name] = run_child(name, args)
        print(f"{name}: {results[name]['wall']:.1f} s", file=sys.stderr, flush=True)
    print_table(results, args)


if __name__ == "__main__":
    main()
