"""How a random light-zoo network's regime decides 8-bit top-1 agreement (onnxruntime only).

    python benchmarks/zoo_sensitivity.py [MODEL ...] [--centre 0 0.3 0.6 1] [--per-layer] [--samples 40]

For each model and each `--centre` (the fraction of each channel's mean the
biases remove, `zoo_weights.with_random_weights`), builds the random network and
the same network with its weights rounded to 8 bits per output channel
(`zoo.weights_rounded`, what hwc does to weights), runs both in onnxruntime on
`--samples` random-normal inputs not used for scaling, and prints:

* distinct: how many different top-1 classes float picks over the samples (1: the
  output does not depend on the input);
* common/varying: mean |per-class mean logit| over the mean per-class std across
  inputs (large: one pattern common to all inputs dominates the logits);
* w8 top-1: top-1 agreement of the rounded network with the float one;
* error at the first layer, at the last, and the growth per layer: the relative
  error ||rounded - float|| / ||float|| of each Conv/Gemm output, the growth the
  geometric mean of its ratio per level of depth.

No hwc code runs here: this measures the random network, not the compiler.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zoo import MODELS, weights_rounded, zoo_dir  # noqa: E402
from zoo_weights import LAYERS, layer_depths, with_random_weights  # noqa: E402


def session_with_layers(path: Path):
    """An onnxruntime session returning the logits (the input of a final Softmax, else the
    graph's output) and every Conv/Gemm output."""
    import onnx
    import onnxruntime

    model = onnx.load(path)
    last = model.graph.node[-1]
    logits = last.input[0] if last.op_type == "Softmax" else model.graph.output[0].name
    names = [node.output[0] for node in model.graph.node if node.op_type in LAYERS]
    del model.graph.output[:]
    model.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                              for n in [logits, *names])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = 1, 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session, names, layer_depths(model)


def measure(name: str, centre: float, per_channel: bool, samples: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        model, rounded = Path(scratch) / "model.onnx", Path(scratch) / "w8.onnx"
        with_random_weights(zoo_dir() / f"light_{name}.onnx", model, centre=centre, per_channel=per_channel)
        weights_rounded(model, rounded)
        (floats, names, depths), (eights, _, _) = session_with_layers(model), session_with_layers(rounded)
    feed = floats.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in feed.shape]
    rng = np.random.default_rng(99)  # not the scaling inputs' seed
    errors, logits, agree = np.zeros(len(names)), [], 0
    for _ in range(samples):
        x = {feed.name: rng.standard_normal(shape).astype(np.float32)}
        a, b = floats.run(None, x), eights.run(None, x)
        agree += int(np.argmax(a[0]) == np.argmax(b[0]))
        logits.append(a[0].ravel())
        errors += [np.linalg.norm(p - q) / max(np.linalg.norm(p), 1e-30) / samples for p, q in zip(a[1:], b[1:])]
    logits = np.stack(logits)
    deepest = max(depths.values())
    first, last = errors[0], errors[-1]
    return {"distinct": len(set(np.argmax(logits, axis=1))),
            "common": float(np.abs(logits.mean(0)).mean() / max(logits.std(0).mean(), 1e-30)),
            "w8": agree / samples, "first": first, "last": last,
            "growth": (last / first) ** (1 / max(deepest - 1, 1)) if first > 0 else float("nan"),
            "depth": deepest}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(MODELS))
    parser.add_argument("--centre", type=float, nargs="+", default=[0.0, 0.3, 0.6, 1.0])
    parser.add_argument("--per-layer", action="store_true", help="one scale per layer instead of per channel")
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args(argv)
    print(f"random weights scaled per {'layer' if args.per_layer else 'channel'}; "
          f"{args.samples} random-normal inputs; onnxruntime, float vs 8-bit weights")
    print(f"{'model':13} {'centre':>6} {'depth':>5} {'distinct':>8} {'common/varying':>14} {'w8 top-1':>8} "
          f"{'error first':>11} {'error last':>10} {'growth/layer':>12}")
    for name in args.models:
        for centre in args.centre:
            r = measure(name, centre, not args.per_layer, args.samples)
            print(f"{name:13} {centre:6.2f} {r['depth']:5d} {r['distinct']:8d} {r['common']:14.2f} {r['w8']:8.1%} "
                  f"{r['first']:11.4f} {r['last']:10.4f} {r['growth']:12.3f}", flush=True)


if __name__ == "__main__":
    main()
