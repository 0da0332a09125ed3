"""ONNX Attention (opset 23: what torch.onnx writes for scaled dot-product attention
at that opset) imported as plain nn ops and run by the float executor against
onnxruntime; a graph of it runs token by token like the op-by-op form."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from compiler.errors import HwcError
from compiler.frontend import import_onnx
from tests.unit.test_indexing_ops import check_against_onnxruntime, model_file, ops_of

RNG = np.random.default_rng(23)


def normal(*dims: int) -> np.ndarray:
    return RNG.standard_normal(dims).astype(np.float32)


def test_grouped_heads_with_a_boolean_mask(tmp_path):
    q, k, v = normal(1, 4, 5, 8), normal(1, 2, 5, 8), normal(1, 2, 5, 6)
    mask = np.tril(np.ones((5, 5), bool)) | (RNG.random((5, 5)) > 0.7)
    path = model_file(tmp_path / "a.onnx", [helper.make_node("Attention", ["q", "k", "v", "mask"], ["y"])],
                      {"q": q, "k": k, "v": v}, {"mask": mask[None, None]}, opset=23)
    ops = ops_of(check_against_onnxruntime(path, {"q": q, "k": k, "v": v}))
    assert {"nn.expand", "nn.softmax", "nn.is_nan", "nn.where"} <= set(ops) and ops.count("nn.matmul") == 2


def test_three_dimensional_inputs_causal_scaled_and_softcapped(tmp_path):
    q, k, v = normal(1, 6, 12), normal(1, 6, 4), normal(1, 6, 4)
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], q_num_heads=3, kv_num_heads=1,
                            is_causal=1, scale=0.3, softcap=2.0)
    path = model_file(tmp_path / "a.onnx", [node], {"q": q, "k": k, "v": v}, {}, opset=23)
    assert "nn.tanh" in ops_of(check_against_onnxruntime(path, {"q": q, "k": k, "v": v}))


def test_an_additive_mask_computed_in_the_graph(tmp_path):
    q, k, v, bias = normal(1, 2, 4, 8), normal(1, 2, 4, 8), normal(1, 2, 4, 8), normal(1, 1, 4, 4)
    nodes = [helper.make_node("Attention", ["q", "k", "v", "bias"], ["y"])]
    path = model_file(tmp_path / "a.onnx", nodes, {"q": q, "k": k, "v": v, "bias": bias}, {}, opset=23)
    check_against_onnxruntime(path, {"q": q, "k": k, "v": v, "bias": bias})


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the all -inf row
def test_a_fully_masked_row_gives_zeros_as_onnx_specifies(tmp_path):
    # ONNX's reference: a query that may attend nothing has output 0 (not NaN).
    from compiler.executor import FloatExecutor
    q, k, v = normal(1, 1, 3, 4), normal(1, 1, 3, 4), normal(1, 1, 3, 4)
    mask = np.ones((1, 1, 3, 3), bool)
    mask[0, 0, 1] = False
    path = model_file(tmp_path / "a.onnx", [helper.make_node("Attention", ["q", "k", "v", "mask"], ["y"])],
                      {"q": q, "k": k, "v": v}, {"mask": mask}, opset=23)
    y = FloatExecutor(import_onnx(path)).run({"q": q, "k": k, "v": v})["y"]
    assert np.all(y[0, 0, 1] == 0) and np.all(np.isfinite(y))


def test_a_past_key_input_is_refused(tmp_path):
    q, k, v, past = normal(1, 2, 4, 8), normal(1, 2, 4, 8), normal(1, 2, 4, 8), normal(1, 2, 3, 8)
    node = helper.make_node("Attention", ["q", "k", "v", "", "past_k", "past_v"], ["y"])
    path = model_file(tmp_path / "a.onnx", [node], {"q": q, "k": k, "v": v, "past_k": past, "past_v": past},
                      {}, opset=23)
    with pytest.raises(HwcError, match=r"Attention: past_key/past_value and nonpad_kv_seqlen inputs"):
        import_onnx(path)
