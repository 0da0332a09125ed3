"""Float64 models and import-time inputs through the real `hwc` command line.

* A model with a float64 input runs at the float level in float64: `hwc run
  --level float` equals onnxruntime bit for bit on values float32 cannot hold
  (1e-310, 1e+250); float32 data for it is widened (exact); the integer levels
  and ops imported in float32 only refuse it in one line.
* An input needed at import time (Expand's shape) is bound with `--weights`,
  or by an initializer of the same name (ONNX's default value for an input).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

from tests.e2e.test_cli_errors import assert_one_line_error
from tests.support import onnxruntime_session

WIDE = np.array([[[1e250, 2.0, -1e-310], [3.0, 1e-5, -7.0]]])
"""Values float32 cannot hold: 1e250 overflows, -1e-310 underflows to zero."""


def save(path, nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(a, n) for n, a in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def float64_model(path):
    """x [1, 2, 3] f64 -> Add b -> Mul by a Constant node -> Sub x -> Div b -> Neg -> Abs."""
    b = np.array([1e200, -1e-300, 1 / 3], np.float64)
    nodes = [
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array(1e-310), "c")),
        helper.make_node("Add", ["x", "b"], ["s"]),
        helper.make_node("Mul", ["s", "c"], ["m"]),
        helper.make_node("Sub", ["m", "x"], ["d"]),
        helper.make_node("Div", ["d", "b"], ["q"]),
        helper.make_node("Neg", ["q"], ["n"]),
        helper.make_node("Abs", ["n"], ["y"]),
    ]
    return save(path, nodes, [("x", TensorProto.DOUBLE, [1, 2, 3])], [("y", TensorProto.DOUBLE, [1, 2, 3])],
                [("b", b)])


def onnxruntime_y(model, **inputs) -> np.ndarray:
    return onnxruntime_session(model).run(["y"], inputs)[0]


def run_float(run_hwc, model, tmp_path, x, *extra) -> np.ndarray:
    np.save(tmp_path / "x.npy", x)
    result = run_hwc("run", model, "--input", tmp_path / "x.npy", "--level", "float",
                     "-o", tmp_path / "y.npz", *extra)
    assert result.returncode == 0, result.stderr
    return np.load(tmp_path / "y.npz")["y"]


def test_float64_model_equals_onnxruntime_exactly(tmp_path, run_hwc):
    model = float64_model(tmp_path / "m.onnx")
    ours = run_float(run_hwc, model, tmp_path, WIDE)
    reference = onnxruntime_y(model, x=WIDE)
    assert ours.dtype == np.float64
    tiny = reference[(reference != 0)].min()
    assert np.isfinite(reference).all() and reference.max() > 1e39 and tiny < 1e-46  # beyond float32
    np.testing.assert_array_equal(ours, reference)


def test_float32_data_for_a_float64_input_is_widened(tmp_path, run_hwc):
    model = float64_model(tmp_path / "m.onnx")
    x = np.array([[[1.5, -2.25, 1e-3], [3.0, 7.0, -0.1]]], np.float32)
    ours = run_float(run_hwc, model, tmp_path, x)
    np.testing.assert_array_equal(ours, onnxruntime_y(model, x=x.astype(np.float64)))


@pytest.mark.parametrize("command", [("run", "--level", "int"), ("compile",), ("verify",)])
def test_integer_levels_refuse_float64_in_one_line(tmp_path, run_hwc, command):
    model = float64_model(tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", WIDE)
    extra = ["--input", tmp_path / "x.npy"] if command[0] == "run" else []
    extra += ["-o", tmp_path / "out"] if command[0] != "verify" else []
    assert_one_line_error(run_hwc(command[0], model, *command[1:], *extra),
                          r"input 'x' holds f64 values: the integer levels quantize float32 graphs only")
    assert not (tmp_path / "out").exists()


def test_float64_ops_imported_in_float32_only_are_refused(tmp_path, run_hwc):
    w = np.ones((2, 3), np.float64)
    model = save(tmp_path / "m.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                 [("x", TensorProto.DOUBLE, [1, 2])], [("y", TensorProto.DOUBLE, [1, 3])], [("w", w)])
    np.save(tmp_path / "x.npy", np.ones((1, 2)))
    assert_one_line_error(run_hwc("run", model, "--input", tmp_path / "x.npy", "--level", "float"),
                          r"unsupported node: 'MatMul_0' \(MatMul: float64 operands: constant 'w\w*' is float32\)")


def test_float_inputs_of_mixed_precision_are_refused(tmp_path, run_hwc):
    model = save(tmp_path / "m.onnx", [helper.make_node("Identity", ["a"], ["y"]),
                                       helper.make_node("Identity", ["b"], ["z"])],
                 [("a", TensorProto.DOUBLE, [1, 2]), ("b", TensorProto.FLOAT, [1, 2])],
                 [("y", TensorProto.DOUBLE, [1, 2]), ("z", TensorProto.FLOAT, [1, 2])])
    assert_one_line_error(run_hwc("compile", model, "--emit", "nn", "-o", tmp_path / "out"),
                          r"float inputs of mixed precision \('a' float64, 'b' float32\) are not supported")


# --------------------------------------------------------------------------- import-time inputs


def expand_model(path, default_shape: np.ndarray | None = None):
    """Expand(x [1, 3, 1], shape), shape an int64 graph input (with an initializer
    of the same name, its default value, when `default_shape` is given)."""
    initializers = [("shape", default_shape)] if default_shape is not None else []
    return save(path, [helper.make_node("Expand", ["x", "shape"], ["y"])],
                [("x", TensorProto.FLOAT, [1, 3, 1]), ("shape", TensorProto.INT64, [3])],
                [("y", TensorProto.FLOAT, ["a", "b", "c"])], initializers, opset=13)


X = np.array([[[1.0], [2.0], [3.0]]], np.float32)


def test_expand_shape_input_bound_with_weights(tmp_path, run_hwc):
    model = expand_model(tmp_path / "m.onnx")
    shape = np.array([1, 3, 4], np.int64)
    save_file({"shape": shape}, str(tmp_path / "shape.safetensors"))
    ours = run_float(run_hwc, model, tmp_path, X, "--weights", tmp_path / "shape.safetensors")
    np.testing.assert_array_equal(ours, onnxruntime_y(model, x=X, shape=shape))
    assert ours.shape == (1, 3, 4)


def test_expand_shape_input_with_a_default_value(tmp_path, run_hwc):
    shape = np.array([2, 3, 5], np.int64)
    model = expand_model(tmp_path / "m.onnx", default_shape=shape)
    ours = run_float(run_hwc, model, tmp_path, X)
    np.testing.assert_array_equal(ours, onnxruntime_y(model, x=X, shape=shape))
    assert ours.shape == (2, 3, 5)


def test_expand_shape_input_left_unbound_is_refused(tmp_path, run_hwc):
    model = expand_model(tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", X)
    assert_one_line_error(run_hwc("run", model, "--input", tmp_path / "x.npy", "--level", "float"),
                          r"Expand: the shape must be a constant")
