"""Train the digits MLP and export it with its calibration and test data.

    python examples/digits_mlp/train.py        # writes model.onnx, calib.npz, test.npz here

The data is scikit-learn's bundled 8x8 digits (1797 images, no download). Pixels
(0..16) are scaled to 0..1 and the images flattened to 64 features. A fixed seed
splits off 30 % as the held-out test set; the MLP 64→32→16→10 (ReLU) trains on
the rest with Adam. Needs torch and scikit-learn, which are only needed here,
not by hwc.

Writes, beside this file:
* `model.onnx` — input "input" [1, 64] float32, output "logits" [1, 10];
* `calib.npz`  — key "input": 300 training images [300, 64];
* `test.npz`   — keys "input" [n, 64] and "label" [n] (int64), the held-out split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
SEED = 0
CALIBRATION_IMAGES = 300


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels); images float32 in [0, 1]."""
    digits = load_digits()
    images = (digits.data / 16.0).astype(np.float32)
    train_x, test_x, train_y, test_y = train_test_split(
        images, digits.target.astype(np.int64), test_size=0.3, random_state=SEED, stratify=digits.target)
    return train_x, train_y, test_x, test_y


def make_model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, 10),
    )


def train(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, epochs: int = 150) -> None:
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()


def accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    with torch.no_grad():
        predicted = model(torch.from_numpy(images)).argmax(dim=1).numpy()
    return float(np.mean(predicted == labels))


def main() -> None:
    torch.manual_seed(SEED)
    train_x, train_y, test_x, test_y = load_split()
    model = make_model()
    train(model, train_x, train_y)
    model.eval()
    print(f"torch accuracy on the held-out {len(test_y)} images: {accuracy(model, test_x, test_y):.4f}")
    torch.onnx.export(model, (torch.zeros(1, 64),), str(HERE / "model.onnx"), dynamo=False,
                      input_names=["input"], output_names=["logits"], opset_version=17)
    np.savez(HERE / "calib.npz", input=train_x[:CALIBRATION_IMAGES])
    np.savez(HERE / "test.npz", input=test_x, label=test_y)


if __name__ == "__main__":
    main()
