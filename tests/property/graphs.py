"""Random small MLPs and CNNs as ONNX models, for the cycle-model property test.

`random_model(seed)` draws a network the way people write small ones: a CNN
(convolutions with kernel 1..5, padding or not, stride 1 or 2, ReLU / Tanh /
Sigmoid, max or average pools, an optional residual add) followed by dense
layers, or a plain MLP; and a folding target. Weights are random but scaled so
that activations stay in range. Everything is deterministic in the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclass
class RandomModel:
    model: onnx.ModelProto
    input_shape: tuple[int, ...]
    target_fps: float | None
    fold: str
    description: str


class _Builder:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.nrng = np.random.default_rng(rng.randrange(1 << 30))
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def weight(self, shape: tuple[int, ...]) -> str:
        name = self.name("w")
        fan_in = int(np.prod(shape[1:]))
        values = self.nrng.standard_normal(shape) / np.sqrt(fan_in)
        self.inits.append(numpy_helper.from_array(values.astype(np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def activation(self, x: str) -> str:
        return self.node(self.rng.choice(["Relu", "Relu", "Tanh", "Sigmoid"]), [x])


def _conv_block(b: _Builder, x: str, channels: int, size: int, parts: list[str]) -> tuple[str, int, int]:
    out_channels = b.rng.choice([2, 4, 6, 8])
    kernel = b.rng.choice([k for k in (1, 3, 5) if k <= size])
    pad = b.rng.choice([0, kernel // 2])
    stride = b.rng.choice([1, 1, 2]) if size >= 6 else 1
    w = b.weight((out_channels, channels, kernel, kernel))
    bias = b.weight((out_channels,))
    y = b.node("Conv", [x, w, bias], kernel_shape=[kernel, kernel], pads=[pad] * 4, strides=[stride] * 2)
    size = (size + 2 * pad - kernel) // stride + 1
    parts.append(f"conv{kernel}x{kernel}/s{stride}/p{pad}->{out_channels}")
    y = b.activation(y)
    if b.rng.random() < 0.3 and kernel in (1, 3) and stride == 1 and pad == kernel // 2:
        w2 = b.weight((out_channels, out_channels, kernel, kernel))
        z = b.node("Conv", [y, w2], kernel_shape=[kernel, kernel], pads=[pad] * 4)
        y = b.node("Add", [z, y])
        parts.append("residual")
    if size >= 4 and b.rng.random() < 0.6:
        pool = b.rng.choice(["MaxPool", "AveragePool"])
        y = b.node(pool, [y], kernel_shape=[2, 2], strides=[2, 2])
        size //= 2
        parts.append(pool)
    return y, out_channels, size


def random_model(seed: int) -> RandomModel:
    """A random small network and folding target, deterministic in `seed`."""
    rng = random.Random(seed)
    b = _Builder(rng)
    parts: list[str] = []
    if rng.random() < 0.7:
        channels, size = rng.choice([1, 2, 3]), rng.choice([8, 10, 12, 16])
        shape = (1, channels, size, size)
        x = "x"
        for _ in range(rng.randint(1, 2)):
            x, channels, size = _conv_block(b, x, channels, size, parts)
        x = b.node("Flatten", [x])
        features = channels * size * size
    else:
        features = rng.choice([8, 16, 24])
        shape = (1, features)
        x = "x"
    for index in range(rng.randint(1, 3)):
        out = rng.choice([4, 8, 12, 16]) if index < 2 else 10
        x = b.node("Gemm", [x, b.weight((out, features)), b.weight((out,))], transB=1)
        parts.append(f"dense{features}->{out}")
        features = out
        if rng.random() < 0.7:
            x = b.activation(x)
    graph = helper.make_graph(b.nodes, "random", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model = onnx.shape_inference.infer_shapes(model)
    del model.graph.value_info[:]
    fold, target = rng.choice([("auto", 1e4), ("auto", 2e4), ("auto", 5e4), ("auto", 1e5), ("auto", 3e5),
                               ("min", None), ("full", None)])
    folding = f"--target-fps {target:g}" if target else f"--fold {fold}"
    return RandomModel(model, shape, target, fold, f"seed {seed}: {' '.join(parts)} [{folding}]")


LENET5_DENSE = (120, 84)
"""LeNet-5's hidden dense widths (400 -> 120 -> 84 -> 10)."""
LENET5_SLIM_DENSE = (32, 16)
"""The same network with narrower dense layers (a quarter of the weights): the
windows, pools and rates the cycle model must get right are LeNet-5's own."""


def lenet5(dense: tuple[int, int] = LENET5_DENSE) -> onnx.ModelProto:
    """LeNet-5 as usually written: 5x5 convolutions (the first padded), tanh,
    average pools, three dense layers (28x28 input; hidden widths `dense`)."""
    b = _Builder(random.Random(5))
    c1 = b.node("Conv", ["x", b.weight((6, 1, 5, 5)), b.weight((6,))], kernel_shape=[5, 5], pads=[2] * 4)
    p1 = b.node("AveragePool", [b.node("Tanh", [c1])], kernel_shape=[2, 2], strides=[2, 2])
    c2 = b.node("Conv", [p1, b.weight((16, 6, 5, 5)), b.weight((16,))], kernel_shape=[5, 5])
    p2 = b.node("AveragePool", [b.node("Tanh", [c2])], kernel_shape=[2, 2], strides=[2, 2])
    x = b.node("Flatten", [p2])
    for features, out in ((400, dense[0]), (dense[0], dense[1])):
        x = b.node("Tanh", [b.node("Gemm", [x, b.weight((out, features)), b.weight((out,))], transB=1)])
    y = b.node("Gemm", [x, b.weight((10, dense[1])), b.weight((10,))], transB=1)
    graph = helper.make_graph(b.nodes, "lenet5", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 1, 28, 28))],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, (1, 10))], b.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
