"""Compile the digits MLP at 8 and 4 bits and compare accuracies on the held-out split.

    python examples/digits_mlp/run_example.py

Prints the accuracy of the float model (hwc's float executor), and of the
integer models (hwc's integer executor: what the hardware computes) with 8-bit
and 4-bit weights, all on the 540 held-out images of test.npz. Activations are
8-bit, calibrated on calib.npz.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import compiler

HERE = Path(__file__).resolve().parent
MODEL = HERE / "model.onnx"
CALIB = HERE / "calib.npz"
TEST = HERE / "test.npz"


def held_out() -> tuple[np.ndarray, np.ndarray]:
    with np.load(TEST) as data:
        return data["input"], data["label"]


def accuracy(design: compiler.Design, level: str, images: np.ndarray, labels: np.ndarray) -> float:
    logits = design.run(images, level=level)["logits"]
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def accuracies() -> dict[str, float]:
    """{"float": ..., "int8": ..., "int4": ...}: top-1 accuracy on the held-out split."""
    images, labels = held_out()
    results = {}
    for wbits in (8, 4):
        design = compiler.compile(MODEL, wbits=wbits, abits=8, calib=CALIB)
        if "float" not in results:
            results["float"] = accuracy(design, "float", images, labels)
        results[f"int{wbits}"] = accuracy(design, "int", images, labels)
    return results


def main() -> None:
    results = accuracies()
    images, _ = held_out()
    print(f"digits MLP 64-32-16-10, {len(images)} held-out images")
    print(f"  float                     {results['float']:.2%}")
    print(f"  8-bit weights, 8-bit act. {results['int8']:.2%}")
    print(f"  4-bit weights, 8-bit act. {results['int4']:.2%}")


if __name__ == "__main__":
    main()
