"""Write `model.onnx` and `calib.npz` (256 random-normal inputs, seed 14): a 16-64-32-32-5 MLP with ReLUs, the shape of the
hls4ml jet-tagging network, with random weights (He-scaled normal, seed 13)
instead of trained ones: the area of hardwired weights depends on their
values' distribution, not on what they learnt.

    python benchmarks/jet_mlp/make_model.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

SIZES = (16, 64, 32, 32, 5)
SEED = 13


def jet_mlp() -> "onnx.ModelProto":  # noqa: F821
    rng = np.random.default_rng(SEED)
    nodes, initializers = [], []
    current = "input"
    for index, (fan_in, fan_out) in enumerate(zip(SIZES, SIZES[1:])):
        weight = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        bias = (rng.standard_normal(fan_out) * 0.1).astype(np.float32)
        initializers += [numpy_helper.from_array(weight, f"fc{index}.weight"),
                         numpy_helper.from_array(bias, f"fc{index}.bias")]
        last = index == len(SIZES) - 2
        nodes += [helper.make_node("MatMul", [current, f"fc{index}.weight"], [f"fc{index}.mm"]),
                  helper.make_node("Add", [f"fc{index}.mm", f"fc{index}.bias"],
                                   ["logits" if last else f"fc{index}.out"])]
        current = f"fc{index}.out"
        if not last:
            nodes.append(helper.make_node("Relu", [current], [f"relu{index}"]))
            current = f"relu{index}"
    graph = helper.make_graph(nodes, "jet_mlp",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, SIZES[0]])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, SIZES[-1]])],
                              initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="hwc-benchmarks")


if __name__ == "__main__":
    here = Path(__file__).parent
    save(jet_mlp(), here / "model.onnx")
    calib = np.random.default_rng(SEED + 1).standard_normal((256, SIZES[0])).astype(np.float32)
    np.savez(here / "calib.npz", input=calib)
