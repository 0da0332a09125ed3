"""The torch-exported fixture models through the ONNX importer and the float
executor, and through `hwc run`, against onnxruntime.

The fixtures have their batch dimension fixed to 1; hwc takes any number of
samples stacked on axis 0, so onnxruntime (the oracle) runs them one by one.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

RTOL = 1e-4
ATOL = 1e-5
FIXTURE_MODELS = ["mlp.onnx", "cnn.onnx"]


def graph_input_shapes(model_path) -> dict[str, list[int]]:
    """The static shape of each real graph input (initializers excluded)."""
    graph = onnx.load(str(model_path), load_external_data=False).graph
    initializers = {tensor.name for tensor in graph.initializer}
    return {
        value.name: [dim.dim_value for dim in value.type.tensor_type.shape.dim]
        for value in graph.input
        if value.name not in initializers
    }


def random_inputs(model_path, samples: int, seed: int) -> dict[str, np.ndarray]:
    """Normal random float32 inputs for `samples` samples stacked on axis 0."""
    rng = np.random.default_rng(seed)
    return {
        name: rng.standard_normal([samples, *shape[1:]]).astype(np.float32)
        for name, shape in graph_input_shapes(model_path).items()
    }


def assert_outputs_match(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert set(actual) == set(expected), f"output names {sorted(actual)} != {sorted(expected)}"
    for name, want in expected.items():
        got = np.asarray(actual[name])
        assert got.shape == want.shape, f"output {name}: shape {got.shape} != {want.shape}"
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"output {name}")


def test_fixtures_are_small_and_valid(fixtures_dir):
    """The committed models are valid ONNX, opset 17, and small enough to commit."""
    for name in [*FIXTURE_MODELS, "cnn_dynamic.onnx"]:
        path = fixtures_dir / name
        assert path.stat().st_size < 200_000, f"{name} is too large to commit"
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        assert {opset.version for opset in model.opset_import if opset.domain in ("", "ai.onnx")} == {17}


def test_cnn_keeps_batchnorm_with_nontrivial_statistics(fixtures_dir):
    """BatchNorm must survive export with real statistics, or the tests would not see it."""
    model = onnx.load(str(fixtures_dir / "cnn.onnx"))
    assert sum(node.op_type == "BatchNormalization" for node in model.graph.node) == 3
    tensors = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    running_vars = [value for name, value in tensors.items() if name.endswith("running_var")]
    assert running_vars and all(not np.allclose(v, 1.0) for v in running_vars)


@pytest.mark.parametrize("samples", [1, 8])
@pytest.mark.parametrize("model_name", FIXTURE_MODELS)
def test_float_executor_matches_onnxruntime(fixtures_dir, onnxruntime_reference, model_name, samples):
    from compiler.executor import FloatExecutor
    from compiler.frontend import import_onnx

    path = fixtures_dir / model_name
    inputs = random_inputs(path, samples, seed=samples)
    expected = onnxruntime_reference(path, inputs)
    actual = FloatExecutor(import_onnx(path)).run(inputs)
    assert_outputs_match(actual, expected)


def test_dynamic_batch_model_with_shape_matches_onnxruntime(fixtures_dir, onnxruntime_reference):
    from compiler.executor import FloatExecutor
    from compiler.frontend import import_onnx

    path = fixtures_dir / "cnn_dynamic.onnx"
    inputs = {"input": np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)}
    module = import_onnx(path, shapes={"input": [1, 3, 16, 16]})
    assert_outputs_match(FloatExecutor(module).run(inputs), onnxruntime_reference(path, inputs))


def test_cli_run_cnn_npy_matches_onnxruntime(fixtures_dir, onnxruntime_reference, run_hwc, tmp_path):
    path = fixtures_dir / "cnn.onnx"
    inputs = random_inputs(path, samples=4, seed=11)
    np.save(tmp_path / "x.npy", inputs["input"])

    result = run_hwc("run", path, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npz")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    with np.load(tmp_path / "y.npz") as outputs:
        actual = {name: outputs[name] for name in outputs.files}
    assert_outputs_match(actual, onnxruntime_reference(path, inputs))


def test_cli_run_mlp_npz_matches_onnxruntime(fixtures_dir, onnxruntime_reference, run_hwc, tmp_path):
    path = fixtures_dir / "mlp.onnx"
    inputs = random_inputs(path, samples=2, seed=12)
    np.savez(tmp_path / "x.npz", **inputs)

    result = run_hwc("run", path, "--input", tmp_path / "x.npz", "-o", tmp_path / "y.npz")

    assert result.returncode == 0, result.stderr
    with np.load(tmp_path / "y.npz") as outputs:
        actual = {name: outputs[name] for name in outputs.files}
    assert_outputs_match(actual, onnxruntime_reference(path, inputs))
