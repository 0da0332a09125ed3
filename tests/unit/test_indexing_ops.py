"""Indexing ops and matmul of activations, imported from small ONNX models and run
by the float executor against onnxruntime; plus the importer's normal forms for
their ONNX spellings (opset variants land in the same IR).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.errors import HwcError
from compiler.executor import FloatExecutor
from compiler.frontend import import_onnx
from compiler.ir import main_function
from dialects import nn
from tests.support import onnxruntime_session

RTOL, ATOL = 1e-4, 1e-5
RNG = np.random.default_rng(11)
X = RNG.standard_normal((1, 4, 6, 8)).astype(np.float32)


def model_file(path: Path, nodes, inputs: dict[str, np.ndarray], initializers: dict[str, np.ndarray],
               outputs=("y",), opset: int = 18) -> Path:
    """A model of `nodes` whose input types follow the arrays; outputs typed by ONNX inference."""
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
         for name, a in inputs.items()],
        [], [numpy_helper.from_array(np.asarray(a), name) for name, a in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.value_info}
    for name in outputs:
        output = model.graph.output.add()
        output.CopyFrom(inferred[name])
        output.type.tensor_type.shape.SetInParent()  # ONNX infers no shape for some old forms
        if not output.type.tensor_type.shape.dim:
            output.type.tensor_type.shape.dim.add().dim_param = "unknown"
    onnx.save(model, path)
    return path


def check_against_onnxruntime(path: Path, inputs: dict[str, np.ndarray]):
    """Import `path`, run it in the float executor and onnxruntime; the imported module."""
    module = import_onnx(path)
    ours = FloatExecutor(module).run(inputs)
    session = onnxruntime_session(path)
    names = [o.name for o in session.get_outputs()]
    for name, want in zip(names, session.run(names, inputs)):
        assert ours[name].dtype == want.dtype
        np.testing.assert_allclose(ours[name], want, rtol=RTOL, atol=ATOL)
    return module


def ops_of(module) -> list[str]:
    return [op.name for op in main_function(module).body.block.ops
            if op.name not in ("nn.constant", "nn.weight", "func.return")]


def ints(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


# --------------------------------------------------------------------------- against onnxruntime


CASES = {
    "slice_negative_clamped_steps": (
        [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])],
        {"s": ints([1, -1, 7]), "e": ints([100, -100, -9]), "a": ints([1, -1, 2]), "t": ints([1, -2, -3])},
        ["nn.slice"]),
    "gather_indices_2d": (
        [helper.make_node("Gather", ["x", "i"], ["y"], axis=2)], {"i": ints([[0, 5], [3, 3]])},
        ["nn.gather", "nn.reshape"]),
    "gather_range_is_a_slice": (
        [helper.make_node("Gather", ["x", "i"], ["y"], axis=-1)], {"i": ints([2, 3, 4])}, ["nn.slice"]),
    "gather_scalar_drops_the_axis": (
        [helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], {"i": ints(-1)}, ["nn.slice", "nn.reshape"]),
    "split_num_outputs": (
        [helper.make_node("Split", ["x"], ["y", "z", "w"], axis=3, num_outputs=3)], {},
        ["nn.slice", "nn.slice", "nn.slice"]),
    "expand_adds_axes": (
        [helper.make_node("Expand", ["x", "s"], ["y"])], {"s": ints([3, 1, 4, 1, 1])}, ["nn.expand"]),
    "tile": ([helper.make_node("Tile", ["x", "r"], ["y"])], {"r": ints([1, 2, 1, 3])}, ["nn.tile"]),
    "where_constant_condition": (
        [helper.make_node("Where", ["c", "x", "m"], ["y"])],
        {"c": RNG.random((6, 8)) > 0.5, "m": np.float32(-3.0)}, ["nn.where"]),
    "matmul_with_its_transpose": (
        [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]),
         helper.make_node("MatMul", ["x", "t"], ["y"])], {}, ["nn.transpose", "nn.matmul"]),
    "matmul_constant_left": (
        [helper.make_node("MatMul", ["w", "x"], ["y"])], {"w": RNG.standard_normal((3, 6)).astype(np.float32)},
        ["nn.matmul"]),
    "matmul_1d_right": (
        [helper.make_node("MatMul", ["x", "v"], ["y"])], {"v": RNG.standard_normal(8).astype(np.float32)},
        ["nn.matmul", "nn.reshape"]),
    "cast_to_int": ([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT64)], {}, ["nn.cast"]),
    "cast_to_float_vanishes": (
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT),
         helper.make_node("Relu", ["y"], ["r"])], {}, ["nn.relu"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_onnxruntime(tmp_path, name):
    nodes, initializers, expected_ops = CASES[name]
    outputs = [o for node in nodes[-1:] for o in node.output]
    path = model_file(tmp_path / f"{name}.onnx", nodes, {"x": X * 3}, initializers, outputs)
    module = check_against_onnxruntime(path, {"x": X * 3})
    assert ops_of(module) == expected_ops


def test_matmul_of_two_inputs_broadcasts_batch_axes(tmp_path):
    inputs = {"a": X, "b": RNG.standard_normal((1, 1, 8, 3)).astype(np.float32)}
    path = model_file(tmp_path / "m.onnx", [helper.make_node("MatMul", ["a", "b"], ["y"])], inputs, {})
    assert ops_of(check_against_onnxruntime(path, inputs)) == ["nn.matmul"]


def test_gemm_of_two_activations(tmp_path):
    inputs = {"a": RNG.standard_normal((3, 2)).astype(np.float32), "b": RNG.standard_normal((4, 3)).astype(np.float32)}
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1, alpha=0.5, beta=2.0)
    path = model_file(tmp_path / "g.onnx", [node], inputs, {"c": RNG.standard_normal(4).astype(np.float32)})
    assert ops_of(check_against_onnxruntime(path, inputs)) == [
        "nn.transpose", "nn.transpose", "nn.matmul", "nn.mul", "nn.add"]
    inputs["c"] = RNG.standard_normal((1, 4)).astype(np.float32)
    path = model_file(tmp_path / "c.onnx", [node], inputs, {})
    assert ops_of(check_against_onnxruntime(path, inputs)) == [
        "nn.transpose", "nn.transpose", "nn.matmul", "nn.mul", "nn.mul", "nn.add"]


def test_embedding_of_int_ids(tmp_path):
    table = RNG.standard_normal((10, 4)).astype(np.float32)
    for dtype in (np.int64, np.int32):
        ids = np.array([[1, 2, 9, 0, -1]], dtype)
        path = model_file(tmp_path / "e.onnx", [helper.make_node("Gather", ["W", "ids"], ["y"])],
                          {"ids": ids}, {"W": table})
        assert ops_of(check_against_onnxruntime(path, {"ids": ids})) == ["nn.embedding"]


def test_embedding_of_a_3d_table_looks_rows_up(tmp_path):
    ids = np.array([[3, 0]], np.int64)
    path = model_file(tmp_path / "e.onnx", [helper.make_node("Gather", ["W", "ids"], ["y"])],
                      {"ids": ids}, {"W": RNG.standard_normal((5, 2, 3)).astype(np.float32)})
    assert ops_of(check_against_onnxruntime(path, {"ids": ids})) == ["nn.embedding", "nn.reshape"]


def test_embedding_id_outside_the_table_is_one_line(tmp_path):
    path = model_file(tmp_path / "e.onnx", [helper.make_node("Gather", ["W", "ids"], ["y"])],
                      {"ids": np.zeros((1, 3), np.int64)}, {"W": np.ones((10, 4), np.float32)})
    executor = FloatExecutor(import_onnx(path))
    for bad in (10, -11):
        with pytest.raises(HwcError, match=rf"id {bad} is outside the embedding table of 10 rows"):
            executor.run({"ids": np.array([[1, bad, 2]], np.int64)})


def test_integer_input_refuses_float_data(tmp_path):
    path = model_file(tmp_path / "e.onnx", [helper.make_node("Gather", ["W", "ids"], ["y"])],
                      {"ids": np.zeros((1, 3), np.int32)}, {"W": np.ones((10, 4), np.float32)})
    executor = FloatExecutor(import_onnx(path))
    with pytest.raises(HwcError, match=r"input 'ids': expected integer ids \(int32\), got float32 data"):
        executor.run({"ids": np.zeros((1, 3), np.float32)})
    with pytest.raises(HwcError, match=r"values outside the range of int32"):
        executor.run({"ids": np.array([[1, 2, 2**40]], np.int64)})


def test_integer_arithmetic_on_int_inputs(tmp_path):
    inputs = {"ids": np.array([[3, -2], [7, 1]], np.int64)}
    nodes = [helper.make_node("Add", ["ids", "k"], ["s"]), helper.make_node("Mul", ["ids", "s"], ["y"])]
    path = model_file(tmp_path / "i.onnx", nodes, inputs, {"k": ints([[1, 2], [3, 4]])})
    check_against_onnxruntime(path, inputs)


# --------------------------------------------------------------------------- normal forms


def imported_ops(tmp_path, nodes, initializers, opset, outputs=("y",)) -> str:
    """The printed body of the imported graph (without the ONNX origin attributes)."""
    path = model_file(tmp_path / f"m{opset}.onnx", nodes, {"x": X}, initializers, outputs, opset=opset)
    body = main_function(import_onnx(path)).body.block
    lines = []
    for op in body.ops:
        for attribute in (nn.ONNX_NODE_ATTR, nn.ONNX_TENSOR_ATTR):
            op.attributes.pop(attribute, None)
        lines.append(str(op).split("=", 1)[-1])
    return "\n".join(lines)


def test_slice_attributes_and_inputs_land_in_one_form(tmp_path):
    old = imported_ops(tmp_path, [helper.make_node("Slice", ["x"], ["y"], starts=[-4, 1], ends=[1000, 5], axes=[3, 2])],
                       {}, opset=9)
    new = imported_ops(tmp_path, [helper.make_node("Slice", ["x", "s", "e", "a"], ["y"])],
                       {"s": ints([-4, 1]), "e": ints([2**62, 5]), "a": ints([-1, 2])}, opset=13)
    assert old == new
    assert "nn.slice" in new and "{starts = array<i64: 0, 0, 1, 4>, steps = array<i64: 1, 1, 1, 1>}" in new


def test_split_spellings_land_in_one_form(tmp_path):
    outputs = ("y", "z")
    attribute = imported_ops(tmp_path, [helper.make_node("Split", ["x"], list(outputs), axis=-1, split=[4, 4])],
                             {}, opset=11, outputs=outputs)
    as_input = imported_ops(tmp_path, [helper.make_node("Split", ["x", "s"], list(outputs), axis=3)],
                            {"s": ints([4, 4])}, opset=13, outputs=outputs)
    equal = imported_ops(tmp_path, [helper.make_node("Split", ["x"], list(outputs), axis=3)], {}, opset=13,
                         outputs=outputs)
    counted = imported_ops(tmp_path, [helper.make_node("Split", ["x"], list(outputs), axis=3, num_outputs=2)],
                           {}, opset=18, outputs=outputs)
    assert attribute == as_input == equal == counted
    assert attribute.count("nn.slice") == 2


def test_gather_of_an_evenly_spaced_run_is_a_slice(tmp_path):
    gather = imported_ops(tmp_path, [helper.make_node("Gather", ["x", "i"], ["y"], axis=2)], {"i": ints([5, 3, 1])},
                          opset=13)
    sliced = imported_ops(tmp_path, [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])],
                          {"s": ints([5]), "e": ints([0]), "a": ints([2]), "t": ints([-2])}, opset=13)
    assert gather == sliced


def test_no_op_forms_vanish(tmp_path):
    for nodes, initializers in (
        ([helper.make_node("Slice", ["x", "s", "e"], ["y"])], {"s": ints([0]), "e": ints([99])}),
        ([helper.make_node("Expand", ["x", "s"], ["y"])], {"s": ints([1, 1])}),
        ([helper.make_node("Tile", ["x", "r"], ["y"])], {"r": ints([1, 1, 1, 1])}),
    ):
        assert "nn." not in imported_ops(tmp_path, nodes + [], initializers, opset=13).replace("func.return", "")


def test_data_movement_keeps_integer_ids(tmp_path):
    ids = np.array([[4, 0, 9]], np.int64)
    nodes = [helper.make_node("Concat", ["ids", "bos"], ["joined"], axis=1),
             helper.make_node("Unsqueeze", ["joined", "axes"], ["column"]),
             helper.make_node("Transpose", ["column"], ["row"], perm=[2, 1, 0]),
             helper.make_node("Gather", ["W", "row"], ["y"])]
    path = model_file(tmp_path / "ids.onnx", nodes, {"ids": ids},
                      {"bos": ints([[1]]), "axes": ints([2]), "W": RNG.standard_normal((10, 4)).astype(np.float32)})
    assert ops_of(check_against_onnxruntime(path, {"ids": ids})) == [
        "nn.concat", "nn.reshape", "nn.transpose", "nn.embedding"]


def test_cast_of_int_ids_to_float(tmp_path):
    ids = np.array([[4, -3, 9]], np.int64)
    path = model_file(tmp_path / "c.onnx", [helper.make_node("Cast", ["ids"], ["y"], to=TensorProto.FLOAT)],
                      {"ids": ids}, {})
    assert ops_of(check_against_onnxruntime(path, {"ids": ids})) == ["nn.cast"]


def test_where_between_two_activations(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Where", ["c", "x", "r"], ["y"])]
    path = model_file(tmp_path / "w.onnx", nodes, {"x": X}, {"c": RNG.random((1, 4, 1, 8)) > 0.5})
    assert ops_of(check_against_onnxruntime(path, {"x": X})) == ["nn.relu", "nn.where"]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the all -inf row
def test_where_on_an_isnan_condition_is_the_sdpa_nan_guard(tmp_path):
    # transformers' SDPA attention exported by torch.onnx: where(isnan(p), 0, p) after
    # the softmax; here one row of scores is all -inf, so its softmax is NaN.
    scores = X.copy()
    scores[0, 1, 2, :] = -np.inf
    nodes = [helper.make_node("Softmax", ["x"], ["p"], axis=-1),
             helper.make_node("IsNaN", ["p"], ["nan"]),
             helper.make_node("Where", ["nan", "zero", "p"], ["y"])]
    path = model_file(tmp_path / "guard.onnx", nodes, {"x": scores}, {"zero": np.float32(0.0)})
    module = check_against_onnxruntime(path, {"x": scores})
    assert ops_of(module) == ["nn.softmax", "nn.is_nan", "nn.where"]
    ours = FloatExecutor(module).run({"x": scores})["y"]
    assert np.all(ours[0, 1, 2] == 0) and np.all(np.isfinite(ours))


def test_isnan_is_refused_by_quantize(tmp_path):
    from passes.quantize import check_quantizable
    nodes = [helper.make_node("IsNaN", ["x"], ["nan"]),
             helper.make_node("Where", ["nan", "zero", "x"], ["y"])]
    path = model_file(tmp_path / "nan.onnx", nodes, {"x": X}, {"zero": np.float32(0.0)})
    with pytest.raises(HwcError, match=r"^quantize: unsupported ops nn\.is_nan\b"):
        check_quantizable(main_function(import_onnx(path)))


def test_a_minus_infinity_mask_from_constants_imports(tmp_path):
    # The classic exporter's SDPA attention: the causal mask as where(mask, 0, -inf) of constants.
    nodes = [helper.make_node("Constant", [], ["low"], value=numpy_helper.from_array(np.array([-np.inf], np.float32))),
             helper.make_node("Where", ["causal", "zero", "low"], ["mask"]),
             helper.make_node("Add", ["x", "mask"], ["s"]),
             helper.make_node("Softmax", ["s"], ["y"], axis=-1)]
    scores = RNG.standard_normal((1, 2, 8, 8)).astype(np.float32)
    path = model_file(tmp_path / "mask.onnx", nodes, {"x": scores},
                      {"causal": np.tril(np.ones((8, 8), bool)), "zero": np.float32(0.0)})
    check_against_onnxruntime(path, {"x": scores})


def test_plus_infinity_from_constants_is_still_refused(tmp_path):
    nodes = [helper.make_node("Constant", [], ["high"], value=numpy_helper.from_array(np.array([np.inf], np.float32))),
             helper.make_node("Add", ["x", "high"], ["y"])]
    path = model_file(tmp_path / "inf.onnx", nodes, {"x": X}, {})
    with pytest.raises(HwcError, match=r"computes NaN or \+infinite values in 'high' from constants"):
        import_onnx(path)
