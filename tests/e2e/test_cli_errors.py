"""User mistakes through the real `hwc` command line.

Each bad input must end the run with exit status 1 and exactly one line on
stderr, `hwc: error: ...`, that names the problem; never a Python traceback,
and never an output file (or a temporary left-over) in the output folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file


def assert_one_line_error(result, *patterns: str) -> str:
    """The run failed as a user mistake should; returns the message after `hwc: error: `.

    Each regular expression in `patterns` must occur in the message (ignoring case).
    """
    assert result.returncode == 1, f"exit status {result.returncode}, stderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    assert lines[0].startswith("hwc: error: "), lines[0]
    message = lines[0][len("hwc: error: "):]
    for pattern in patterns:
        assert re.search(pattern, message, re.IGNORECASE), f"{pattern!r} not in message: {message}"
    return message


def folder_listing(folder: Path) -> set[str]:
    """Every path below `folder`, hidden ones included, relative to it."""
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.fixture
def sample_input(tmp_path) -> Path:
    """A valid input for cnn.onnx: one 3x16x16 image."""
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32))
    return path


def run_and_expect_failure(run_hwc, tmp_path: Path, model: Path, *extra: str | Path, patterns=()) -> str:
    """`hwc run MODEL ... -o tmp/out/y.npz` must fail cleanly and write nothing."""
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    before = folder_listing(tmp_path)
    result = run_hwc("run", model, *extra, "-o", out_dir / "y.npz")
    message = assert_one_line_error(result, *patterns)
    assert folder_listing(tmp_path) == before, "the failed run left files behind"
    return message


# --------------------------------------------------------------------------- malformed model files


def test_text_file_is_not_onnx(run_hwc, tmp_path, sample_input):
    model = tmp_path / "notes.onnx"
    model.write_text("this is a shopping list, not a neural network\n" * 20)
    run_and_expect_failure(run_hwc, tmp_path, model, "--input", sample_input,
                           patterns=[r"notes\.onnx", r"onnx|protobuf|model"])


def test_truncated_onnx_file(run_hwc, tmp_path, sample_input, fixtures_dir):
    whole = (fixtures_dir / "cnn.onnx").read_bytes()
    model = tmp_path / "cut.onnx"
    model.write_bytes(whole[: len(whole) // 2])
    run_and_expect_failure(run_hwc, tmp_path, model, "--input", sample_input,
                           patterns=[r"cut\.onnx", r"truncat|incomplete|corrupt|damaged|parse|not .*onnx|invalid"])


def test_missing_model_file(run_hwc, tmp_path, sample_input):
    run_and_expect_failure(run_hwc, tmp_path, tmp_path / "absent.onnx", "--input", sample_input,
                           patterns=[r"absent\.onnx", r"not exist|no such|not found|missing"])


# --------------------------------------------------------------------------- unsupported operators


def model_with_lstm_and_topk() -> onnx.ModelProto:
    """A valid model: an LSTM over [seq 3, batch 1, 4 features], then TopK of its flattened output."""
    hidden = 2
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, 4)).astype(np.float32), "W")
    r = numpy_helper.from_array(rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32), "R")
    k = numpy_helper.from_array(np.array([2], dtype=np.int64), "K")
    nodes = [
        helper.make_node("Relu", ["x"], ["x_relu"], name="relu0"),
        helper.make_node("LSTM", ["x_relu", "W", "R"], ["y"], name="lstm0", hidden_size=hidden),
        helper.make_node("Flatten", ["y"], ["y_flat"], name="flatten0", axis=1),
        helper.make_node("TopK", ["y_flat", "K"], ["values", "indices"], name="topk0"),
    ]
    graph = helper.make_graph(
        nodes, "lstm_topk",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 1, 4])],
        [helper.make_tensor_value_info("values", TensorProto.FLOAT, [3, 2])],
        initializer=[w, r, k],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def test_unsupported_operators_are_listed_together(run_hwc, tmp_path):
    model = tmp_path / "lstm_topk.onnx"
    onnx.save_model(model_with_lstm_and_topk(), model)
    np.save(tmp_path / "x.npy", np.zeros((3, 1, 4), np.float32))
    message = run_and_expect_failure(run_hwc, tmp_path, model, "--input", tmp_path / "x.npy",
                                     patterns=[r"unsupported|not supported", r"\bLSTM\b", r"\bTopK\b"])
    assert not re.search(r"\b(Relu|Flatten)\b", message), f"a supported operator is blamed: {message}"


# --------------------------------------------------------------------------- external data


def test_external_data_outside_the_model_folder_is_refused(run_hwc, tmp_path, sample_input, fixtures_dir):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    model = onnx.load(str(fixtures_dir / "cnn.onnx"))
    onnx.save_model(model, model_dir / "cnn.onnx", save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    # The data really exists at the forbidden place, so only the path is wrong.
    shutil.move(model_dir / "weights.bin", tmp_path / "secret.bin")
    saved = onnx.load(str(model_dir / "cnn.onnx"), load_external_data=False)
    for tensor in saved.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../secret.bin"
    onnx.save_model(saved, model_dir / "cnn.onnx")

    run_and_expect_failure(run_hwc, tmp_path, model_dir / "cnn.onnx", "--input", sample_input,
                           patterns=[r"secret\.bin", r"outside|leaves|escapes|not allowed|refus|forbidden"])


def test_external_data_inside_the_model_folder_works(run_hwc, tmp_path, sample_input, fixtures_dir):
    """The control for the test above: the same model with its data beside it runs."""
    model = tmp_path / "cnn.onnx"
    onnx.save_model(onnx.load(str(fixtures_dir / "cnn.onnx")), model, save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    result = run_hwc("run", model, "--input", sample_input, "-o", tmp_path / "y.npz")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "y.npz").exists()


# --------------------------------------------------------------------------- --weights


def cnn_weights(fixtures_dir: Path) -> dict[str, np.ndarray]:
    model = onnx.load(str(fixtures_dir / "cnn.onnx"))
    return {tensor.name: numpy_helper.to_array(tensor).copy() for tensor in model.graph.initializer}


def test_safetensors_with_wrong_shape(run_hwc, tmp_path, sample_input, fixtures_dir):
    weights = cnn_weights(fixtures_dir)
    weights["classifier.weight"] = np.zeros((10, 256), np.float32)
    save_file(weights, str(tmp_path / "w.safetensors"))
    run_and_expect_failure(run_hwc, tmp_path, fixtures_dir / "cnn.onnx", "--input", sample_input,
                           "--weights", tmp_path / "w.safetensors",
                           patterns=[r"classifier\.weight", r"\b256\b", r"\b512\b"])


def test_safetensors_with_wrong_dtype(run_hwc, tmp_path, sample_input, fixtures_dir):
    weights = cnn_weights(fixtures_dir)
    weights["stem.weight"] = weights["stem.weight"].astype(np.float16)
    save_file(weights, str(tmp_path / "w.safetensors"))
    run_and_expect_failure(run_hwc, tmp_path, fixtures_dir / "cnn.onnx", "--input", sample_input,
                           "--weights", tmp_path / "w.safetensors",
                           patterns=[r"stem\.weight", r"\bf16\b|float16|half", r"\bf32\b|float32"])


def test_safetensors_with_matching_weights_replaces_them(run_hwc, tmp_path, sample_input, fixtures_dir,
                                                         onnxruntime_reference):
    """The control for the two tests above: right shapes and dtypes are used, not ignored."""
    weights = cnn_weights(fixtures_dir)
    weights["classifier.bias"] = weights["classifier.bias"] + 1.0
    save_file(weights, str(tmp_path / "w.safetensors"))
    result = run_hwc("run", fixtures_dir / "cnn.onnx", "--input", sample_input,
                     "--weights", tmp_path / "w.safetensors", "-o", tmp_path / "y.npz")
    assert result.returncode == 0, result.stderr
    expected = onnxruntime_reference(fixtures_dir / "cnn.onnx", {"input": np.load(sample_input)})["logits"]
    with np.load(tmp_path / "y.npz") as outputs:
        np.testing.assert_allclose(outputs["logits"], expected + 1.0, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- shapes


def test_dynamic_dimension_without_shape(run_hwc, tmp_path, sample_input, fixtures_dir):
    run_and_expect_failure(run_hwc, tmp_path, fixtures_dir / "cnn_dynamic.onnx", "--input", sample_input,
                           patterns=[r"\binput\b", r"dynamic|symbolic|unknown|--shape"])


def test_dynamic_dimension_with_shape_runs(run_hwc, tmp_path, sample_input, fixtures_dir, onnxruntime_reference):
    result = run_hwc("run", fixtures_dir / "cnn_dynamic.onnx", "--input", sample_input,
                     "--shape", "input=1x3x16x16", "-o", tmp_path / "y.npz")
    assert result.returncode == 0, result.stderr
    expected = onnxruntime_reference(fixtures_dir / "cnn_dynamic.onnx", {"input": np.load(sample_input)})
    with np.load(tmp_path / "y.npz") as outputs:
        np.testing.assert_allclose(outputs["logits"], expected["logits"], rtol=1e-4, atol=1e-5)


def test_input_with_wrong_shape(run_hwc, tmp_path, fixtures_dir):
    np.save(tmp_path / "small.npy", np.zeros((1, 3, 8, 8), np.float32))
    run_and_expect_failure(run_hwc, tmp_path, fixtures_dir / "cnn.onnx", "--input", tmp_path / "small.npy",
                           patterns=[r"\binput\b", r"shape", r"8"])
