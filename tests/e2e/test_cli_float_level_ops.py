"""A model using float-level ops (element-wise math, a reduction, an RMS norm,
a transposed convolution) through the real `hwc` command line: `hwc run
--level float` equals onnxruntime; compiling past the float level stops with
one `hwc: error:` line naming the ops `quantize` cannot handle, no traceback."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.e2e.test_cli_errors import assert_one_line_error

RNG = np.random.default_rng(11)


def float_level_model(path):
    """x [1, 2, 4, 4] -> ConvTranspose -> Exp -> ReduceMean over W -> RMS norm
    (as exporters write it) -> Gelu(tanh) -> Max with Neg."""
    initializers = {
        "w": (RNG.standard_normal((2, 3, 3, 3)) * 0.3).astype(np.float32),
        "two": np.array(2.0, np.float32), "eps": np.array(1e-5, np.float32),
        "axes": np.array([-1], np.int64), "g": RNG.uniform(0.5, 1.5, 7).astype(np.float32),
    }
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w"], ["c"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Exp", ["c"], ["e"]),
        helper.make_node("ReduceMean", ["e", "axes"], ["m"], keepdims=1),
        helper.make_node("Transpose", ["m"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Pow", ["t", "two"], ["p"]),
        helper.make_node("ReduceMean", ["p", "axes"], ["ms"], keepdims=1),
        helper.make_node("Add", ["ms", "eps"], ["a"]),
        helper.make_node("Sqrt", ["a"], ["s"]),
        helper.make_node("Reciprocal", ["s"], ["r"]),
        helper.make_node("Mul", ["t", "r"], ["n"]),
        helper.make_node("Mul", ["g", "n"], ["k"]),
        helper.make_node("Gelu", ["k"], ["gl"], approximate="tanh"),
        helper.make_node("Neg", ["gl"], ["ng"]),
        helper.make_node("Max", ["gl", "ng"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "float_level", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 3, 7])],
        [numpy_helper.from_array(a, n) for n, a in initializers.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path)
    return path


def test_float_level_model_runs_and_refuses_to_quantize(tmp_path, run_hwc, onnxruntime_reference):
    model = float_level_model(tmp_path / "m.onnx")
    x = RNG.standard_normal((3, 2, 4, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = run_hwc("run", model, "--input", tmp_path / "x.npy", "--level", "float", "-o", tmp_path / "y.npz")
    assert result.returncode == 0, result.stderr
    ours = np.load(tmp_path / "y.npz")["y"]
    np.testing.assert_allclose(ours, onnxruntime_reference(model, {"x": x})["y"], rtol=1e-4, atol=1e-5)

    message = assert_one_line_error(run_hwc("compile", model, "-o", tmp_path / "build"),
                                    r"^quantize: unsupported ops ")
    named = message.split("unsupported ops ")[1].split(" (supported")[0].split(", ")
    assert named == ["nn.conv_transpose", "nn.exp", "nn.max", "nn.reduce_mean"]
    assert not (tmp_path / "build").exists()
    assert_one_line_error(run_hwc("run", model, "--input", tmp_path / "x.npy", "--level", "int"),
                          r"quantize: unsupported ops nn\.conv_transpose")
