"""The ops docs/operators.md lists as checked in float64: each, on a float64
input, runs in float64 in the float executor and equals onnxruntime to 1e-12
(relative); an op imported in float32 only is refused, never run in float32."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.errors import HwcError
from compiler.executor import FloatExecutor
from compiler.frontend import import_onnx
from tests.support import onnxruntime_session

RNG = np.random.default_rng(64)
SHAPE = [1, 3, 4, 5]
N = helper.make_node


def vector(*shape) -> np.ndarray:
    return RNG.standard_normal(shape)


CASES = {
    "add": ([N("Add", ["x", "c"], ["y"])], {"c": vector(5)}),
    "sub": ([N("Sub", ["c", "x"], ["y"])], {"c": vector(4, 1)}),
    "mul": ([N("Mul", ["x", "x"], ["y"])], {}),
    "div": ([N("Div", ["x", "c"], ["y"])], {"c": vector(3, 1, 1) + 3}),
    "pow": ([N("Pow", ["x", "c"], ["y"])], {"c": np.array(2.0)}),
    "neg_abs_sqrt": ([N("Neg", ["x"], ["n"]), N("Abs", ["n"], ["a"]), N("Sqrt", ["a"], ["y"])], {}),
    "exp": ([N("Exp", ["x"], ["y"])], {}),
    "tanh": ([N("Tanh", ["x"], ["y"])], {}),
    "sigmoid": ([N("Sigmoid", ["x"], ["y"])], {}),
    "relu": ([N("Relu", ["x"], ["y"])], {}),
    "leaky_relu": ([N("LeakyRelu", ["x"], ["y"], alpha=0.1)], {}),
    "prelu": ([N("PRelu", ["x", "s"], ["y"])], {"s": vector(3, 1, 1)}),
    "clip": ([N("Clip", ["x", "lo", "hi"], ["y"])], {"lo": np.array(-0.5), "hi": np.array(0.5)}),
    "softmax": ([N("Softmax", ["x"], ["y"], axis=-1)], {}),
    "layer_norm": ([N("LayerNormalization", ["x", "s", "b"], ["y"])], {"s": vector(5), "b": vector(5)}),
    "transpose": ([N("Transpose", ["x"], ["y"], perm=[0, 2, 1, 3])], {}),
    "reshape": ([N("Reshape", ["x", "s"], ["y"])], {"s": np.array([1, -1])}),
    "concat": ([N("Concat", ["x", "x"], ["y"], axis=1)], {}),
}


def float64_model(path, nodes, initializers) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, SHAPE)],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
                              [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_computes_in_float64(tmp_path, name):
    path = float64_model(tmp_path / "m.onnx", *CASES[name])
    x = RNG.standard_normal(SHAPE)
    ours = FloatExecutor(import_onnx(path)).run({"x": x})["y"]
    reference = onnxruntime_session(path).run(["y"], {"x": x})[0]
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("nodes, initializers, needle", [
    ([N("Conv", ["x", "w"], ["y"])], {"w": vector(2, 3, 1, 1)}, "nn.conv is imported in float32 only"),
    ([N("Flatten", ["x"], ["f"]), N("Gemm", ["f", "w"], ["y"], alpha=0.5)], {"w": vector(60, 2)},
     "constant 'w_t' is float32"),
    ([N("MaxPool", ["x"], ["y"], kernel_shape=[2, 2])], {}, "element types differ"),
])
def test_op_imported_in_float32_only_is_refused(tmp_path, nodes, initializers, needle):
    path = float64_model(tmp_path / "m.onnx", nodes, initializers)
    with pytest.raises(HwcError, match="unsupported node") as error:
        import_onnx(path)
    assert needle in str(error.value)
