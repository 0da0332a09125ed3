"""The ONNX frontend's handling of bad files, unsupported graphs, weights and inputs.

Every user mistake must be one `HwcError` whose message names the file and
the node, tensor or input at fault.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

from compiler.errors import HwcError
from compiler.frontend import import_onnx
from compiler.ir import constant_value, main_function
from compiler.weights import store_for
from dialects import nn

RNG = np.random.default_rng(1)


def make_model(path, nodes, inputs, outputs, initializers=(), opset=13, elem=TensorProto.FLOAT):
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, elem, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(a), name) for name, a in initializers],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(model, path)
    return path


def dense_model(path, w=None):
    """x[2, 3] · w[3, 4] -> y[2, 4]."""
    w = RNG.standard_normal((3, 4)).astype(np.float32) if w is None else w
    return make_model(path, [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                      [("x", [2, 3])], [("y", [2, w.shape[1]])], [("w", w)])


def dense_weight(module):
    (dense,) = [op for op in main_function(module).walk() if isinstance(op, nn.DenseOp)]
    return constant_value(dense.weight, store_for(module))


def error_of(*args, **kwargs) -> str:
    with pytest.raises(HwcError) as caught:
        import_onnx(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    assert "no such file" in error_of(tmp_path / "absent.onnx")


@pytest.mark.parametrize("contents", [b"hello, this is a text file\n", bytes(range(256)) * 4,
                                      np.random.default_rng(7).bytes(4096)])
def test_not_onnx(tmp_path, contents):
    path = tmp_path / "model.onnx"
    path.write_bytes(contents)
    message = error_of(path)
    assert str(path) in message and "not an ONNX model" in message


def test_truncated_file(tmp_path):
    path = dense_model(tmp_path / "model.onnx", np.ones((3, 400), np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    message = error_of(path)
    assert str(path) in message and "truncated" in message


def test_checker_failure(tmp_path):
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["nowhere"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]))
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    message = error_of(path)
    assert "invalid ONNX model" in message and "nowhere" in message


def test_shape_inference_failure_is_an_error(tmp_path):
    path = make_model(tmp_path / "m.onnx", [helper.make_node("Relu", ["x"], ["y"])],
                      [("x", [2])], [("y", [5])])
    assert "shape inference failed" in error_of(path)


# --------------------------------------------------------------------------- unsupported nodes


def test_all_unsupported_nodes_are_listed_at_once(tmp_path):
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R"], ["", "h"], name="lstm1", hidden_size=4),
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "scale"], ["q"]),   # unnamed: index 2
        helper.make_node("Gather", ["r", "i"], ["m"], name="act_gather"),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3]),
         helper.make_tensor_value_info("i", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 2, 4]),
         helper.make_tensor_value_info("q", TensorProto.UINT8, [1, 2, 3]),
         helper.make_tensor_value_info("m", TensorProto.FLOAT, [1, 2, 3])],
        [numpy_helper.from_array(np.zeros((1, 16, 3), np.float32), "W"),
         numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "R"),
         numpy_helper.from_array(np.array(0.1, np.float32), "scale")])
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    message = error_of(path)
    assert message.startswith(f"{path}: 3 unsupported nodes: ")
    assert "'lstm1' (LSTM)" in message
    assert "'QuantizeLinear_2' (QuantizeLinear" in message
    assert "'act_gather' (Gather: the indices must be constants, or the data a constant table" in message
    assert message.endswith("supported operators are listed in docs/operators.md")


@pytest.mark.parametrize("node, inputs, initializers, reason", [
    (helper.make_node("Gemm", ["x", "b"], ["y"], name="g"), [("x", [2, 3]), ("b", [3, 3, 1])], [],
     "A and B must be 2-D"),
    (helper.make_node("Where", ["c", "x", "x"], ["y"], name="g"), [("x", [2, 3]), ("c", [2, 3])], [],
     "the condition must be a constant or a boolean activation"),
    (helper.make_node("BatchNormalization", ["x", "s", "s", "s", "s"], ["y"], name="g",
                      training_mode=1), [("x", [2, 3])], [("s", np.ones(3, np.float32))],
     "training_mode=1"),
    (helper.make_node("Pad", ["x", "p"], ["y"], name="g"), [("x", [2, 3]), ("p", None)], [],
     "pads must be a constant"),
])
def test_unsupported_forms_give_a_reason(tmp_path, node, inputs, initializers, reason):
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, TensorProto.INT64 if n == "p" else TensorProto.FLOAT,
                                       s if s is not None else [4]) for n, s in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(a, n) for n, a in initializers])
    path = tmp_path / "model.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.graph.output[0].type.tensor_type.shape.SetInParent()
    onnx.save(model, path)
    message = error_of(path)
    assert f"'g' ({node.op_type}: {reason})" in message


# --------------------------------------------------------------------------- inputs


def dynamic_model(tmp_path):
    path = tmp_path / "model.onnx"
    make_model(path, [helper.make_node("Relu", ["x"], ["y"])],
               [("x", ["N", 3, 4, 4])], [("y", ["N", 3, 4, 4])])
    return path


def test_dynamic_dimension_needs_a_shape(tmp_path):
    message = error_of(dynamic_model(tmp_path))
    assert "input 'x' has a dynamic dimension (N x 3 x 4 x 4)" in message
    assert "--shape x=1x3x4x4" in message


def test_dynamic_dimension_given(tmp_path):
    module = import_onnx(dynamic_model(tmp_path), shapes={"x": [5, 3, 4, 4]})
    assert list(main_function(module).args[0].type.get_shape()) == [5, 3, 4, 4]


@pytest.mark.parametrize("shapes, needle", [({"x": [1, 3, 4]}, "rank 3"),
                                            ({"z": [1, 3, 4, 4]}, "'z', which is not an input"),
                                            ({"x": [1, 2, 4, 4]}, "dimension 1 = 2")])
def test_bad_shape_option(tmp_path, shapes, needle):
    assert needle in error_of(dynamic_model(tmp_path), shapes=shapes)


def test_input_of_another_element_type_is_refused(tmp_path):
    path = make_model(tmp_path / "m.onnx", [helper.make_node("Identity", ["x"], ["y"])],
                      [("x", [2])], [("y", [2])], elem=TensorProto.INT16)
    message = error_of(path)
    assert "input 'x' has element type int16" in message
    assert "inputs must be float32 or float64, or int64/int32 ids" in message


# --------------------------------------------------------------------------- weights


def test_nan_weight_is_refused(tmp_path):
    w = np.ones((3, 4), np.float32)
    w[1, 2] = np.nan
    message = error_of(dense_model(tmp_path / "m.onnx", w))
    assert "weight 'w' contains NaN or Inf" in message and "m.onnx" in message


def save_with_external_data(tmp_path, location, w):
    """A dense model whose weight `w` lives in `location` (relative to the model)."""
    model = onnx.load(dense_model(tmp_path / "model.onnx", w))
    tensor = model.graph.initializer[0]
    data_file = (tmp_path / location)
    data_file.parent.mkdir(parents=True, exist_ok=True)
    data_file.write_bytes(b"\0" * 16 + w.tobytes())
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "16"), ("length", str(w.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    onnx.save(model, tmp_path / "model.onnx")
    return tmp_path / "model.onnx"


def test_external_data_inside_the_folder_is_memory_mapped(tmp_path):
    w = RNG.standard_normal((3, 70)).astype(np.float32)
    path = save_with_external_data(tmp_path, "data/weights.bin", w)
    module = import_onnx(path)
    np.testing.assert_array_equal(dense_weight(module), w.T)


def test_external_data_without_transform_is_not_copied(tmp_path):
    w = RNG.standard_normal((70, 3)).astype(np.float32)   # Gemm transB: [out, in] as stored
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 70])],
        [numpy_helper.from_array(w, "w")]), opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, tmp_path / "model.onnx", save_as_external_data=True,
              all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    module = import_onnx(tmp_path / "model.onnx")
    weight = dense_weight(module)
    assert isinstance(weight, np.memmap)
    np.testing.assert_array_equal(weight, w)


@pytest.mark.parametrize("location", ["../outside.bin", "sub/../../outside.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    folder = tmp_path / "model_dir"
    folder.mkdir()
    (folder / "sub").mkdir()
    path = save_with_external_data(folder, location, np.ones((3, 4), np.float32))
    message = error_of(path)
    assert "tensor 'w'" in message and "outside the model's folder" in message


def test_external_data_with_absolute_path_is_refused(tmp_path):
    path = save_with_external_data(tmp_path, "w.bin", np.ones((3, 4), np.float32))
    model = onnx.load(path, load_external_data=False)
    model.graph.initializer[0].external_data[0].value = str(tmp_path / "w.bin")
    onnx.save(model, path)
    assert "absolute path" in error_of(path)


def test_external_data_through_symlink_leaving_the_folder_is_refused(tmp_path):
    folder = tmp_path / "model_dir"
    folder.mkdir()
    w = np.ones((3, 4), np.float32)
    path = save_with_external_data(folder, "w.bin", w)
    os.replace(folder / "w.bin", tmp_path / "elsewhere.bin")
    os.symlink(tmp_path / "elsewhere.bin", folder / "w.bin")
    assert "outside the model's folder" in error_of(path)


def test_safetensors_overrides_initializer(tmp_path):
    path = dense_model(tmp_path / "m.onnx")
    new_w = RNG.standard_normal((3, 4)).astype(np.float32)
    save_file({"w": new_w}, tmp_path / "w.safetensors")
    module = import_onnx(path, weights=tmp_path / "w.safetensors")
    np.testing.assert_array_equal(dense_weight(module), new_w.T)


def test_safetensors_supplies_weights_of_a_weightless_model(tmp_path):
    path = make_model(tmp_path / "m.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                      [("x", [2, 3]), ("w", [3, 4])], [("y", [2, 4])])
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    save_file({"w": w}, tmp_path / "w.safetensors")
    module = import_onnx(path, weights=tmp_path / "w.safetensors")
    assert len(main_function(module).args) == 1
    np.testing.assert_array_equal(dense_weight(module), w.T)


@pytest.mark.parametrize("tensor, needle", [
    (np.zeros((4, 3), np.float32), "F32 [4, 3]"),
    (np.zeros((3, 4), np.float64), "F64 [3, 4]"),
])
def test_safetensors_mismatch_names_tensor_and_both_files(tmp_path, tensor, needle):
    path = dense_model(tmp_path / "m.onnx")
    save_file({"w": tensor}, tmp_path / "w.safetensors")
    message = error_of(path, weights=tmp_path / "w.safetensors")
    assert "tensor 'w'" in message and needle in message and "F32 [3, 4]" in message
    assert "w.safetensors" in message and "m.onnx" in message


def test_safetensors_with_unknown_tensor(tmp_path):
    path = dense_model(tmp_path / "m.onnx")
    save_file({"v": np.zeros(2, np.float32)}, tmp_path / "w.safetensors")
    assert "tensor 'v' is neither an initializer nor an input" in \
        error_of(path, weights=tmp_path / "w.safetensors")


def test_safetensors_nan_names_the_weights_file(tmp_path):
    path = dense_model(tmp_path / "m.onnx")
    save_file({"w": np.full((3, 4), np.inf, np.float32)}, tmp_path / "w.safetensors")
    message = error_of(path, weights=tmp_path / "w.safetensors")
    assert "w.safetensors: weight 'w' contains NaN or Inf" in message
