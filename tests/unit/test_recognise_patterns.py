"""The float pipeline's `recognise-norms` and `recognise-gelu` on whole models:
the RMSNorm of a Llama block as torch's dynamo exporter writes it, a LayerNorm
and GELUs (tanh and erf) written out op by op become `nn.rms_norm`,
`nn.layer_norm` and `nn.gelu` in the `nn` module `compiler.compile` builds, and
the model still computes what onnxruntime computes.

The Llama graph is built by hand with the exporter's op sequence (Cast to
float32, Pow by a Constant 2, ReduceMean with constant axes [-1] and keepdims,
Add of a Constant eps, Sqrt, Reciprocal, Mul, Cast back, then weight * that).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.executor import FloatExecutor
from compiler.frontend import import_onnx
from compiler.ir import main_function
from dialects import nn
from tests.support import onnxruntime_session

RNG = np.random.default_rng(7)
HIDDEN, TOKENS = 16, 5


def constant_node(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def exporter_rms_norm(prefix: str, x: str, weight: str, out: str, eps: float) -> list[onnx.NodeProto]:
    """LlamaRMSNorm as the dynamo exporter writes it (opset 18)."""
    p = prefix
    return [
        helper.make_node("Cast", [x], [f"{p}_f32"], to=TensorProto.FLOAT),
        constant_node(f"{p}_two", np.array(2.0, np.float32)),
        helper.make_node("Pow", [f"{p}_f32", f"{p}_two"], [f"{p}_pow"]),
        constant_node(f"{p}_axes", np.array([-1], np.int64)),
        helper.make_node("ReduceMean", [f"{p}_pow", f"{p}_axes"], [f"{p}_mean"], keepdims=1),
        constant_node(f"{p}_eps", np.array(eps, np.float32)),
        helper.make_node("Add", [f"{p}_mean", f"{p}_eps"], [f"{p}_add"]),
        helper.make_node("Sqrt", [f"{p}_add"], [f"{p}_sqrt"]),
        helper.make_node("Reciprocal", [f"{p}_sqrt"], [f"{p}_rsqrt"]),
        helper.make_node("Mul", [f"{p}_f32", f"{p}_rsqrt"], [f"{p}_normed"]),
        helper.make_node("Cast", [f"{p}_normed"], [f"{p}_cast"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [weight, f"{p}_cast"], [out]),
    ]


def llama_like_model(path):
    """Embedding-free Llama-ish block: rms norm, SwiGLU MLP with a residual, final rms norm, lm head."""
    w = {name: (RNG.standard_normal(shape) * 0.3).astype(np.float32) for name, shape in {
        "gate": (HIDDEN, 32), "up": (HIDDEN, 32), "down": (32, HIDDEN), "head": (HIDDEN, 40)}.items()}
    w["norm1"] = RNG.uniform(0.5, 1.5, HIDDEN).astype(np.float32)
    w["norm2"] = RNG.uniform(0.5, 1.5, HIDDEN).astype(np.float32)
    nodes = [
        *exporter_rms_norm("n1", "x", "norm1", "h1", 1e-5),
        helper.make_node("MatMul", ["h1", "gate"], ["g"]),
        helper.make_node("Sigmoid", ["g"], ["gs"]),
        helper.make_node("Mul", ["g", "gs"], ["silu"]),
        helper.make_node("MatMul", ["h1", "up"], ["u"]),
        helper.make_node("Mul", ["silu", "u"], ["gu"]),
        helper.make_node("MatMul", ["gu", "down"], ["d"]),
        helper.make_node("Add", ["x", "d"], ["r"]),
        *exporter_rms_norm("n2", "r", "norm2", "h2", 1e-6),
        helper.make_node("MatMul", ["h2", "head"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "llama_like",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, TOKENS, HIDDEN])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, TOKENS, 40])],
        [numpy_helper.from_array(a, name) for name, a in w.items()],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def ops_of(module, op_type):
    return [op for op in main_function(module).walk() if isinstance(op, op_type)]


def test_exporter_rms_norm_is_named_and_computes_the_same(tmp_path):
    path = llama_like_model(tmp_path / "llama_like.onnx")
    design = compiler.compile(path)
    norms = ops_of(design.nn_module, nn.RmsNormOp)
    assert [op.epsilon.value.data for op in norms] == [np.float32(1e-5), np.float32(1e-6)]
    assert all(op.weight is not None and op.axis.value.data == 2 for op in norms)
    for gone in (nn.PowOp, nn.ReduceMeanOp, nn.SqrtOp, nn.ReciprocalOp):
        assert not ops_of(design.nn_module, gone), gone
    x = RNG.standard_normal((1, TOKENS, HIDDEN)).astype(np.float32)
    ours = design.run({"x": x}, level="float")["logits"]
    (theirs,) = onnxruntime_session(path).run(None, {"x": x})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    # The decomposed form (the importer's IR, before the pass) computes the same.
    decomposed = import_onnx(path)
    assert ops_of(decomposed, nn.PowOp) and not ops_of(decomposed, nn.RmsNormOp)
    np.testing.assert_allclose(FloatExecutor(decomposed).run({"x": x})["logits"], ours,
                               rtol=1e-5, atol=1e-6)


def test_written_out_layer_norm_is_named(tmp_path):
    gamma = RNG.uniform(0.5, 1.5, 8).astype(np.float32)
    beta = RNG.standard_normal(8).astype(np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mu"], axes=[-1], keepdims=1),
        helper.make_node("Sub", ["x", "mu"], ["d"]),
        helper.make_node("Pow", ["d", "two"], ["p"]),
        helper.make_node("ReduceMean", ["p"], ["var"], axes=[-1], keepdims=1),
        helper.make_node("Add", ["var", "eps"], ["ve"]),
        helper.make_node("Sqrt", ["ve"], ["std"]),
        helper.make_node("Div", ["d", "std"], ["n"]),
        helper.make_node("Mul", ["n", "gamma"], ["s"]),
        helper.make_node("Add", ["s", "beta"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "ln", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 8])],
        [numpy_helper.from_array(a, n) for n, a in (("two", np.array(2.0, np.float32)),
                                                     ("eps", np.array(1e-5, np.float32)),
                                                     ("gamma", gamma), ("beta", beta))])
    path = tmp_path / "ln.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    design = compiler.compile(path)
    (norm,) = ops_of(design.nn_module, nn.LayerNormOp)
    assert norm.bias is not None and not ops_of(design.nn_module, nn.ReduceMeanOp)
    x = (RNG.standard_normal((3, 8)) * 2 + 1).astype(np.float32)
    ours = design.run({"x": x}, level="float")["y"]
    (theirs,) = onnxruntime_session(path).run(None, {"x": x})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_decomposed_norms_compute_the_same(tmp_path):
    """`decompose-norms` writes the named norms out again; the float executor agrees."""
    from compiler.pipelines import run_pipeline

    path = llama_like_model(tmp_path / "llama_like.onnx")
    named = compiler.compile(path).nn_module
    decomposed = named.clone()
    run_pipeline(decomposed, "decompose-norms")
    assert ops_of(named, nn.RmsNormOp) and not ops_of(decomposed, nn.RmsNormOp)
    assert len(ops_of(decomposed, nn.ReduceMeanOp)) == 2
    x = RNG.standard_normal((1, TOKENS, HIDDEN)).astype(np.float32)
    np.testing.assert_allclose(FloatExecutor(decomposed).run({"x": x})["logits"],
                               FloatExecutor(named).run({"x": x})["logits"], rtol=1e-5, atol=1e-6)


def _written_out_gelu_model(path, exact: bool):
    """GPT-2's tanh GELU or BERT's erf GELU, as exporters write them, after a MatMul."""
    constants = {"w": (RNG.standard_normal((8, 8)) * 0.8).astype(np.float32),
                 "half": np.array(0.5, np.float32), "one": np.array(1.0, np.float32),
                 "three": np.array(3.0, np.float32), "k": np.array(0.044715, np.float32),
                 "c": np.array(0.7978845834732056, np.float32), "root2": np.array(1.4142135, np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Mul", ["h", "half"], ["m1"])]
    if exact:
        nodes += [helper.make_node("Div", ["h", "root2"], ["d"]), helper.make_node("Erf", ["d"], ["t"])]
    else:
        nodes += [helper.make_node("Pow", ["h", "three"], ["p"]), helper.make_node("Mul", ["p", "k"], ["m2"]),
                  helper.make_node("Add", ["h", "m2"], ["a"]), helper.make_node("Mul", ["a", "c"], ["m3"]),
                  helper.make_node("Tanh", ["m3"], ["t"])]
    nodes += [helper.make_node("Add", ["t", "one"], ["a2"]), helper.make_node("Mul", ["m1", "a2"], ["y"])]
    graph = helper.make_graph(nodes, "gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
                              [numpy_helper.from_array(a, n) for n, a in constants.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


@pytest.mark.parametrize("exact", [False, True], ids=["tanh", "erf"])
def test_written_out_gelu_is_named(tmp_path, exact):
    path = _written_out_gelu_model(tmp_path / "gelu.onnx", exact)
    design = compiler.compile(path)
    (gelu,) = ops_of(design.nn_module, nn.GeluOp)
    assert gelu.approximate.data == ("none" if exact else "tanh")
    assert not ops_of(design.nn_module, nn.TanhOp) and not ops_of(design.nn_module, nn.ErfOp)
    x = (RNG.standard_normal((4, 8)) * 2).astype(np.float32)
    ours = design.run({"x": x}, level="float")["y"]
    (theirs,) = onnxruntime_session(path).run(None, {"x": x})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
