"""The ONNX frontend: structure of the imported IR, folding, and op normalisation.

Models are built with `onnx.helper` in each test. Expected values come from
numpy or onnxruntime, never from the importer itself.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.executor import FloatExecutor
from compiler.frontend import SUPPORTED_OPS, import_onnx
from compiler.ir import constant_value, main_function
from compiler.weights import store_for
from dialects import nn
from tests.support import ROOT, onnxruntime_session

RNG = np.random.default_rng(0)


def make_model(path, nodes, inputs, outputs, initializers=(), opset=13):
    """Save a model; inputs/outputs are (name, shape) pairs of float tensors."""
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(np.asarray(a), name) for name, a in initializers],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(model, path)
    return path


def ops_of(module, op_type):
    return [op for op in main_function(module).walk() if isinstance(op, op_type)]


def value_of(module, ssa):
    return constant_value(ssa, store_for(module))


def run_both(module, path, feeds):
    """Our float executor and onnxruntime on the same inputs."""
    ours = FloatExecutor(module).run(feeds)
    theirs = onnxruntime_session(path).run(None, feeds)
    return list(ours.values()), theirs


# --------------------------------------------------------------------------- structure


def test_module_shape_names_and_store(tmp_path):
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    path = make_model(tmp_path / "m.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                      [("x", [2, 3])], [("y", [2, 4])], [("w", w)])
    module = import_onnx(path)
    function = main_function(module)
    assert function.sym_name.data == "main"
    assert function.arg_attrs.data[0].data["nn.name"].data == "x"
    assert function.res_attrs.data[0].data["nn.name"].data == "y"
    assert module.attributes["nn.weights"].data.startswith("memory:")
    assert list(function.function_type.inputs.data[0].get_shape()) == [2, 3]


def test_matmul_weight_becomes_out_in_and_add_fuses_as_bias(tmp_path):
    w = RNG.standard_normal((30, 20)).astype(np.float32)  # [in, out], above the inline limit
    b = RNG.standard_normal(20).astype(np.float32)
    path = make_model(tmp_path / "m.onnx",
                      [helper.make_node("MatMul", ["x", "w"], ["h"]),
                       helper.make_node("Add", ["h", "b"], ["y"])],
                      [("x", [5, 30])], [("y", [5, 20])], [("w", w), ("b", b)])
    module = import_onnx(path)
    (dense,) = ops_of(module, nn.DenseOp)
    assert not ops_of(module, nn.AddOp)
    assert isinstance(dense.weight.owner, nn.WeightOp)
    np.testing.assert_array_equal(value_of(module, dense.weight), w.T)
    np.testing.assert_array_equal(value_of(module, dense.bias), b)


def test_add_not_fused_when_matmul_result_is_used_twice(tmp_path):
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    b = RNG.standard_normal(4).astype(np.float32)
    path = make_model(tmp_path / "m.onnx",
                      [helper.make_node("MatMul", ["x", "w"], ["h"]),
                       helper.make_node("Add", ["h", "b"], ["y"]),
                       helper.make_node("Relu", ["h"], ["z"])],
                      [("x", [2, 3])], [("y", [2, 4]), ("z", [2, 4])], [("w", w), ("b", b)])
    module = import_onnx(path)
    assert len(ops_of(module, nn.AddOp)) == 1
    assert ops_of(module, nn.DenseOp)[0].bias is None


@pytest.mark.parametrize("trans_a, trans_b, alpha, beta", [(0, 1, 1.0, 1.0), (0, 0, 0.5, 2.0),
                                                           (1, 1, 2.0, 0.5)])
def test_gemm_is_normalised_to_dense(tmp_path, trans_a, trans_b, alpha, beta):
    a_shape = [6, 2] if trans_a else [2, 6]
    b = RNG.standard_normal((5, 6) if trans_b else (6, 5)).astype(np.float32)
    c = RNG.standard_normal(5).astype(np.float32)
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=trans_a, transB=trans_b,
                            alpha=alpha, beta=beta)
    path = make_model(tmp_path / "m.onnx", [node], [("a", a_shape)], [("y", [2, 5])],
                      [("b", b), ("c", c)])
    module = import_onnx(path)
    (dense,) = ops_of(module, nn.DenseOp)
    expected_w = (b if trans_b else b.T) * alpha
    np.testing.assert_allclose(value_of(module, dense.weight), expected_w, rtol=1e-6)
    np.testing.assert_allclose(value_of(module, dense.bias), c * beta, rtol=1e-6)
    assert len(ops_of(module, nn.TransposeOp)) == trans_a
    x = RNG.standard_normal(a_shape).astype(np.float32)
    ours, theirs = run_both(module, path, {"a": x})
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-5)


def test_gemm_with_matrix_c_adds_it(tmp_path):
    b = RNG.standard_normal((3, 4)).astype(np.float32)
    c = RNG.standard_normal((2, 4)).astype(np.float32)
    path = make_model(tmp_path / "m.onnx", [helper.make_node("Gemm", ["a", "b", "c"], ["y"])],
                      [("a", [2, 3])], [("y", [2, 4])], [("b", b), ("c", c)])
    module = import_onnx(path)
    assert ops_of(module, nn.DenseOp)[0].bias is None
    (add,) = ops_of(module, nn.AddOp)
    np.testing.assert_array_equal(value_of(module, add.rhs), c)


def test_conv_auto_pad_same_resolves_to_explicit_pads(tmp_path):
    w = RNG.standard_normal((4, 2, 3, 3)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_LOWER", strides=[2, 2],
                            group=1)
    path = make_model(tmp_path / "m.onnx", [node], [("x", [1, 2, 8, 7])], [("y", [1, 4, 4, 4])],
                      [("w", w)])
    module = import_onnx(path)
    (conv,) = ops_of(module, nn.ConvOp)
    # ONNX SAME: out = ceil(in / stride) = [4, 4]; total pad = (out-1)*s + k - in = [1, 2];
    # SAME_LOWER puts the odd one at the beginning.
    assert list(conv.pads.get_values()) == [1, 1, 0, 1]
    assert list(conv.output.type.get_shape()) == [1, 4, 4, 4]
    x = RNG.standard_normal((1, 2, 8, 7)).astype(np.float32)
    ours, theirs = run_both(module, path, {"x": x})
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-5)


def test_pools_and_batch_norm(tmp_path):
    c = 3
    params = [("s", RNG.random(c).astype(np.float32) + 0.5), ("b", RNG.random(c).astype(np.float32)),
              ("m", RNG.random(c).astype(np.float32)), ("v", RNG.random(c).astype(np.float32) + 0.1)]
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"], epsilon=1e-3),
        helper.make_node("MaxPool", ["n"], ["p"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], ceil_mode=1),
        helper.make_node("AveragePool", ["p"], ["q"], kernel_shape=[2, 2], count_include_pad=1,
                         pads=[0, 0, 1, 1]),
        helper.make_node("GlobalAveragePool", ["q"], ["y"]),
    ]
    path = make_model(tmp_path / "m.onnx", nodes, [("x", [2, c, 9, 9])], [("y", [2, c, 1, 1])], params)
    module = import_onnx(path)
    for op_type in (nn.BatchNormOp, nn.MaxPoolOp, nn.AveragePoolOp, nn.GlobalAveragePoolOp):
        assert len(ops_of(module, op_type)) == 1
    x = RNG.standard_normal((2, c, 9, 9)).astype(np.float32)
    ours, theirs = run_both(module, path, {"x": x})
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- softmax semantics


@pytest.mark.parametrize("opset, reshapes", [(11, 2), (13, 0)])
def test_softmax_opset_semantics(tmp_path, opset, reshapes):
    """Softmax axis=1 on [2, 3, 4]: opset 11 normalises over 3*4 values, opset 13 over 3."""
    path = make_model(tmp_path / "m.onnx", [helper.make_node("Softmax", ["x"], ["y"], axis=1)],
                      [("x", [2, 3, 4])], [("y", [2, 3, 4])], opset=opset)
    module = import_onnx(path)
    assert len(ops_of(module, nn.ReshapeOp)) == reshapes
    (softmax,) = ops_of(module, nn.SoftmaxOp)
    assert softmax.axis.value.data == 1
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    ours, theirs = run_both(module, path, {"x": x})
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-6)
    sums = theirs[0].reshape(2, -1).sum(axis=1) if opset == 11 else theirs[0].sum(axis=1)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5)


def test_old_softmax_on_last_axis_needs_no_reshape(tmp_path):
    path = make_model(tmp_path / "m.onnx", [helper.make_node("LogSoftmax", ["x"], ["y"], axis=-1)],
                      [("x", [2, 3, 4])], [("y", [2, 3, 4])], opset=11)
    module = import_onnx(path)
    assert not ops_of(module, nn.ReshapeOp)
    assert ops_of(module, nn.LogSoftmaxOp)[0].axis.value.data == 2


# --------------------------------------------------------------------------- folding


def test_torch_style_shape_chain_is_folded(tmp_path):
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape (torch's x.view(x.size(0), -1))."""
    const = lambda name, values: helper.make_node(  # noqa: E731
        "Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64)))
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Shape", ["r"], ["shape"]),
        const("zero", 0),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        const("axes", [0]),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        const("minus_one", [-1]),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["r", "target"], ["flat"]),
        helper.make_node("Identity", ["flat"], ["y"]),
    ]
    path = make_model(tmp_path / "m.onnx", nodes, [("x", [2, 3, 4, 5])], [("y", [2, 60])])
    module = import_onnx(path)
    names = {op.name for op in main_function(module).body.ops}
    assert names == {"nn.relu", "nn.reshape", "func.return"}
    (reshape,) = ops_of(module, nn.ReshapeOp)
    assert list(reshape.output.type.get_shape()) == [2, 60]


def test_dropout_identity_and_float_cast_disappear(tmp_path):
    nodes = [helper.make_node("Dropout", ["x"], ["d"]),
             helper.make_node("Cast", ["d"], ["c"], to=TensorProto.FLOAT),
             helper.make_node("Identity", ["c"], ["y"])]
    path = make_model(tmp_path / "m.onnx", nodes, [("x", [2, 3])], [("y", [2, 3])])
    module = import_onnx(path)
    function = main_function(module)
    (ret,) = function.body.ops
    assert ret.operands[0] is function.args[0]


def test_constant_only_graph_output_is_materialised(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"]),
             helper.make_node("ConstantOfShape", ["shape"], ["z"],
                              value=numpy_helper.from_array(np.array([2.5], np.float32)))]
    path = make_model(tmp_path / "m.onnx", nodes, [("x", [2])], [("y", [2]), ("z", [3])],
                      [("shape", np.array([3], np.int64))])
    module = import_onnx(path)
    returned = list(main_function(module).body.ops)[-1].operands[1]
    np.testing.assert_array_equal(value_of(module, returned), np.full(3, 2.5, np.float32))


def test_constant_condition_if_is_inlined(tmp_path):
    then_branch = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                                    [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])])
    else_branch = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["e"])], "else", [],
                                    [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=then_branch,
                              else_branch=else_branch)]
    path = make_model(tmp_path / "m.onnx", nodes, [("x", [2])], [("y", [2])],
                      [("cond", np.array(False))])
    module = import_onnx(path)
    assert ops_of(module, nn.SigmoidOp) and not ops_of(module, nn.ReluOp)


# --------------------------------------------------------------------------- data movement


def test_reshape_squeeze_unsqueeze_flatten_transpose_pad(tmp_path):
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["a"]),        # [2,3,4] -> [2,0->3,-1]=[2,3,4]..
        helper.make_node("Unsqueeze", ["a", "axes"], ["b"]),       # axes [-1] -> [2,3,4,1]
        helper.make_node("Transpose", ["b"], ["c"], perm=[0, 3, 1, 2]),  # [2,1,3,4]
        helper.make_node("Pad", ["c", "pads"], ["d"], mode="reflect"),   # [2,1,3,6]
        helper.make_node("Squeeze", ["d", "sq"], ["e"]),           # [2,3,6]
        helper.make_node("Flatten", ["e"], ["y"], axis=-1),        # [6,6]
    ]
    inits = [("shape", np.array([2, 0, -1], np.int64)), ("axes", np.array([-1], np.int64)),
             ("pads", np.array([0, 0, 0, 1, 0, 0, 0, 1], np.int64)), ("sq", np.array([1], np.int64))]
    path = make_model(tmp_path / "m.onnx", nodes, [("x", [2, 3, 4])], [("y", [6, 6])], inits)
    module = import_onnx(path)
    (pad,) = ops_of(module, nn.PadOp)
    assert pad.mode.data == "reflect" and list(pad.pads.get_values()) == [0, 0, 0, 1, 0, 0, 0, 1]
    assert list(ops_of(module, nn.TransposeOp)[0].perm.get_values()) == [0, 3, 1, 2]
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    ours, theirs = run_both(module, path, {"x": x})
    assert ours[0].shape == theirs[0].shape == (6, 6)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)


def test_clip_bounds_attributes_and_inputs(tmp_path):
    old = make_model(tmp_path / "old.onnx", [helper.make_node("Clip", ["x"], ["y"], min=-1.0, max=2.0)],
                     [("x", [3])], [("y", [3])], opset=6)
    new = make_model(tmp_path / "new.onnx", [helper.make_node("Clip", ["x", "lo", ""], ["y"])],
                     [("x", [3])], [("y", [3])], [("lo", np.array(-0.5, np.float32))], opset=13)
    (clip_old,) = ops_of(import_onnx(old), nn.ClipOp)
    (clip_new,) = ops_of(import_onnx(new), nn.ClipOp)
    assert (clip_old.min.value.data, clip_old.max.value.data) == (-1.0, 2.0)
    assert clip_new.min.value.data == -0.5 and clip_new.max is None


def test_binary_ops_broadcast_with_constants_and_negative_concat_axis(tmp_path):
    k = RNG.standard_normal((3, 1)).astype(np.float32)
    nodes = [helper.make_node("Sub", ["k", "x"], ["a"]),
             helper.make_node("Div", ["a", "two"], ["b"]),
             helper.make_node("Concat", ["b", "x"], ["y"], axis=-1)]
    path = make_model(tmp_path / "m.onnx", nodes, [("x", [3, 4])], [("y", [3, 8])],
                      [("k", k), ("two", np.array(2.0, np.float32))])
    module = import_onnx(path)
    assert ops_of(module, nn.ConcatOp)[0].axis.value.data == 1
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    ours, theirs = run_both(module, path, {"x": x})
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)


def test_supported_ops_are_documented():
    doc = (ROOT / "docs" / "operators.md").read_text()
    for op_type in SUPPORTED_OPS:
        assert f"`{op_type}`" in doc, op_type
