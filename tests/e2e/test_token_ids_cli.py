"""`hwc run` on a model whose input is integer token ids: a tiny attention block
(embedding, projections, scores of two activations, softmax, weighted values)
with a dynamic sequence length given by `--shape`. The float level equals
onnxruntime; wrong ids or levels past float are one clear line each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.support import onnxruntime_session, run_hwc_command

VOCAB, WIDTH, LENGTH = 11, 8, 5
RNG = np.random.default_rng(3)


@pytest.fixture(scope="module")
def token_model(tmp_path_factory) -> Path:
    weights = {name: RNG.standard_normal(shape).astype(np.float32) for name, shape in
               (("table", (VOCAB, WIDTH)), ("wq", (WIDTH, WIDTH)), ("wk", (WIDTH, WIDTH)),
                ("wv", (WIDTH, WIDTH)))}
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["embedded"]),
        helper.make_node("MatMul", ["embedded", "wq"], ["q"]),
        helper.make_node("MatMul", ["embedded", "wk"], ["k"]),
        helper.make_node("MatMul", ["embedded", "wv"], ["v"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["attention"], axis=-1),
        helper.make_node("MatMul", ["attention", "v"], ["mixed"]),
        helper.make_node("Slice", ["mixed", "start", "end", "axis"], ["last"]),
    ]
    constants = {"start": np.array([-1], np.int64), "end": np.array([2**62], np.int64),
                 "axis": np.array([1], np.int64)}
    graph = helper.make_graph(
        nodes, "tokens", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, "sequence"])],
        [helper.make_tensor_value_info("last", TensorProto.FLOAT, [1, 1, WIDTH])],
        [numpy_helper.from_array(a, n) for n, a in {**weights, **constants}.items()])
    path = tmp_path_factory.mktemp("tokens") / "tokens.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def run(model: Path, ids: np.ndarray, tmp_path: Path, *extra: str):
    np.save(tmp_path / "ids.npy", ids)
    return run_hwc_command("run", model, "--input", tmp_path / "ids.npy", "--shape", f"ids=1x{ids.shape[1]}",
                           *extra)


def test_float_run_of_int_ids_equals_onnxruntime(token_model, tmp_path):
    ids = np.array([[3, 10, 0, 7, 3]], np.int64)
    done = run(token_model, ids, tmp_path, "--level", "float", "-o", tmp_path / "out.npz")
    assert done.returncode == 0, done.stderr
    (want,) = onnxruntime_session(token_model).run(["last"], {"ids": ids})
    with np.load(tmp_path / "out.npz") as outputs:
        np.testing.assert_allclose(outputs["last"], want, rtol=1e-4, atol=1e-5)


def test_int32_ids_feed_an_int64_input(token_model, tmp_path):
    ids = np.array([[3, 10, 0]], np.int32)
    done = run(token_model, ids, tmp_path, "-o", tmp_path / "out.npz")
    assert done.returncode == 0, done.stderr
    (want,) = onnxruntime_session(token_model).run(["last"], {"ids": ids.astype(np.int64)})
    with np.load(tmp_path / "out.npz") as outputs:
        np.testing.assert_allclose(outputs["last"], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ids, level, message", [
    (np.array([[3.0, 1.0]], np.float32), "float", "hwc: error: input 'ids': expected integer ids (int64), got float32 data"),
    (np.array([[3, 11]], np.int64), "float", "hwc: error: nn.embedding ('Gather_0'): id 11 is outside the embedding "
                                             "table of 11 rows (ids must lie in 0..10)"),
    (np.array([[3, 1]], np.int64), "spatial", "hwc: error: the graph does not run token by token: "),
])
def test_bad_ids_and_integer_levels_are_one_line(token_model, tmp_path, ids, level, message):
    done = run(token_model, ids, tmp_path, "--level", level)
    assert done.returncode == 1
    assert done.stderr.startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_int_level_runs_token_ids_through_attention(token_model, tmp_path):
    """An unmasked softmax over the keys is an integer softmax keeping every entry."""
    ids = np.array([[3, 10, 0, 7, 3]], np.int64)
    done = run(token_model, ids, tmp_path, "--level", "int", "-o", tmp_path / "out.npz")
    assert done.returncode == 0, done.stderr
    (want,) = onnxruntime_session(token_model).run(["last"], {"ids": ids})
    with np.load(tmp_path / "out.npz") as outputs:
        assert np.corrcoef(outputs["last"].reshape(-1), want.reshape(-1))[0, 1] > 0.9


def test_integer_level_names_the_new_ops_it_cannot_quantize(tmp_path):
    nodes = [helper.make_node("Sin", ["x"], ["t"]),
             helper.make_node("MatMul", ["x", "t"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", RNG.standard_normal((1, 4, 4)).astype(np.float32))
    done = run_hwc_command("run", tmp_path / "m.onnx", "--input", tmp_path / "x.npy", "--level", "int")
    assert done.returncode == 1
    assert done.stderr.startswith("hwc: error: quantize: unsupported ops nn.sin (supported: ")
    assert len(done.stderr.strip().splitlines()) == 1
