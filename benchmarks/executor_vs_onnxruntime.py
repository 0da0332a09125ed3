"""Time hwc's float executor against onnxruntime, both on one thread.

    python benchmarks/executor_vs_onnxruntime.py [MODEL.onnx] [--builtin] [--runs N]

MODEL defaults to tests/fixtures/cnn.onnx; `--builtin` (or a missing fixture)
uses a CNN built here with onnx.helper: 3x32x32 input, 3x3 convs with 16-32
channels, batch norm, max-pool, a residual add and a linear head. Every model
input must have a fixed shape whose axis 0 is the batch. Prints, at batch 1 and
batch 64, the median time per run of each after warm-up, the ratio
hwc / onnxruntime, and the largest difference between their outputs.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # before numpy is imported: BLAS reads these once

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_MODEL = ROOT / "tests" / "fixtures" / "cnn.onnx"
BATCHES = (1, 64)


def builtin_cnn(seed: int = 0) -> onnx.ModelProto:
    """A small residual CNN on 3x32x32 images, batch dimension 1."""
    rng = np.random.default_rng(seed)
    initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def constant(name: str, array: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv(x: str, name: str, c_in: int, c_out: int, bn: bool, relu: bool) -> str:
        w = constant(f"{name}.w", rng.standard_normal((c_out, c_in, 3, 3)) * np.sqrt(2 / (9 * c_in)))
        b = constant(f"{name}.b", rng.standard_normal(c_out) * 0.1)
        nodes.append(helper.make_node("Conv", [x, w, b], [f"{name}.conv"], pads=(1, 1, 1, 1)))
        y = f"{name}.conv"
        if bn:
            params = [constant(f"{name}.{p}", v) for p, v in (
                ("scale", 1 + 0.1 * rng.standard_normal(c_out)), ("shift", 0.1 * rng.standard_normal(c_out)),
                ("mean", 0.1 * rng.standard_normal(c_out)), ("var", 1 + 0.1 * rng.random(c_out)))]
            nodes.append(helper.make_node("BatchNormalization", [y, *params], [f"{name}.bn"]))
            y = f"{name}.bn"
        if relu:
            nodes.append(helper.make_node("Relu", [y], [f"{name}.relu"]))
            y = f"{name}.relu"
        return y

    x = conv("input", "conv1", 3, 16, bn=True, relu=True)
    x = conv(x, "conv2", 16, 16, bn=True, relu=True)
    nodes.append(helper.make_node("MaxPool", [x], ["pool1"], kernel_shape=(2, 2), strides=(2, 2)))
    x = conv("pool1", "conv3", 16, 32, bn=False, relu=True)
    y = conv(x, "conv4", 32, 32, bn=True, relu=False)
    nodes.append(helper.make_node("Add", [y, x], ["residual"]))
    nodes.append(helper.make_node("Relu", ["residual"], ["block"]))
    nodes.append(helper.make_node("MaxPool", ["block"], ["pool2"], kernel_shape=(2, 2), strides=(2, 2)))
    nodes.append(helper.make_node("Flatten", ["pool2"], ["flat"]))
    w = constant("fc.w", rng.standard_normal((10, 32 * 8 * 8)) * 0.02)
    b = constant("fc.b", rng.standard_normal(10) * 0.1)
    nodes.append(helper.make_node("Gemm", ["flat", w, b], ["logits"], transB=1))
    graph = helper.make_graph(
        nodes, "builtin_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, (1, 3, 32, 32))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, (1, 10))],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def median_seconds(function, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def onnxruntime_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def with_symbolic_batch(path: Path, scratch: Path) -> Path | None:
    """A copy of the model whose inputs and outputs have a symbolic axis 0, so that
    onnxruntime can run a whole batch in one call; None when the model has no
    fixed batch to relax."""
    model = onnx.load(str(path))
    changed = False
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
            changed = True
    if not changed:
        return None
    del model.graph.value_info[:]
    relaxed = scratch / f"{path.stem}_batch.onnx"
    onnx.save(model, str(relaxed))
    return relaxed


def onnxruntime_runner(sessions: list[ort.InferenceSession], inputs: dict[str, np.ndarray]):
    """A function running `inputs` (N samples) through onnxruntime, and how: in one call
    by the first session that accepts N samples at once, else one IR batch at a time."""
    count = next(iter(inputs.values())).shape[0]
    for session in sessions:
        ir_batch = session.get_inputs()[0].shape[0]
        if isinstance(ir_batch, int) and ir_batch != count:
            continue
        try:
            session.run(None, inputs)
        except Exception:  # noqa: BLE001 - a model that hard-codes its batch (e.g. in a Reshape)
            continue
        return (lambda s=session: s.run(None, inputs)[0]), "one call"
    session = sessions[-1]
    ir_batch = session.get_inputs()[0].shape[0]

    def run_chunks():
        return np.concatenate([
            session.run(None, {k: v[i:i + ir_batch] for k, v in inputs.items()})[0]
            for i in range(0, count, ir_batch)
        ])

    return run_chunks, f"{count // ir_batch} calls"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", type=Path, help="an ONNX model (default: tests/fixtures/cnn.onnx)")
    parser.add_argument("--builtin", action="store_true", help="use the CNN built by this script")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per measurement")
    args = parser.parse_args(argv)

    from compiler.executor import FloatExecutor
    from compiler.frontend import import_onnx

    with tempfile.TemporaryDirectory() as scratch:
        path = args.model
        if args.builtin or (path is None and not DEFAULT_MODEL.exists()):
            path = Path(scratch) / "builtin_cnn.onnx"
            onnx.save(builtin_cnn(), path)
        path = path or DEFAULT_MODEL
        executor = FloatExecutor(import_onnx(path))
        relaxed = with_symbolic_batch(path, Path(scratch))
        sessions = [onnxruntime_session(p) for p in (relaxed, path) if p is not None]
        rng = np.random.default_rng(1)
        print(f"model: {path.name if not args.builtin else 'builtin CNN (3x32x32)'}  "
              f"inputs: {executor.input_shapes}  one thread, median of {args.runs} runs")
        print(f"{'batch':>5}  {'hwc ms':>9}  {'onnxruntime ms':>14}  {'hwc/ort':>7}  "
              f"{'max |diff|':>10}  onnxruntime ran")
        for batch in BATCHES:
            inputs = {name: rng.standard_normal((batch, *shape)).astype(np.float32)
                      for name, shape in executor.input_shapes.items()}
            ours = lambda: executor.run(inputs)[executor.output_names[0]]  # noqa: E731
            theirs, how = onnxruntime_runner(sessions, inputs)
            difference = float(np.max(np.abs(ours() - theirs())))
            hwc_time = median_seconds(ours, args.runs)
            ort_time = median_seconds(theirs, args.runs)
            print(f"{batch:>5}  {hwc_time * 1e3:>9.3f}  {ort_time * 1e3:>14.3f}  "
                  f"{hwc_time / ort_time:>7.2f}  {difference:>10.2e}  {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
