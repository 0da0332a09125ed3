"""`hwc compile` writes a build folder whose IR parses back and runs like the model;
`hwc verify` prints the ladder and exits 0 when every level agrees."""

from __future__ import annotations

import numpy as np

from compiler.executor import FloatExecutor
from compiler.ir import parse_module


def test_compile_writes_ir_that_reloads_and_matches_onnxruntime(
    tmp_path, fixtures_dir, run_hwc, onnxruntime_reference
):
    model = fixtures_dir / "cnn.onnx"
    build = tmp_path / "build" / "cnn"
    result = run_hwc("compile", str(model), "-o", str(build), "--emit", "nn")
    assert result.returncode == 0, result.stderr
    ir_path = build / "model.nn.mlir"
    assert (build / "weights.safetensors").is_file()
    assert [p.name for p in build.parent.iterdir()] == ["cnn"], "no staging folder may remain"

    module = parse_module(ir_path.read_text(), str(ir_path), base_dir=build)
    x = np.random.default_rng(3).standard_normal((4, 3, 16, 16)).astype(np.float32)
    ours = FloatExecutor(module).run({"input": x})["logits"]
    theirs = onnxruntime_reference(model, {"input": x})["logits"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_compile_replaces_an_existing_build(tmp_path, fixtures_dir, run_hwc):
    build = tmp_path / "out"
    build.mkdir()
    (build / "model.nn.mlir").write_text("// an earlier build\n")
    (build / "rtl").mkdir()
    (build / "rtl" / "stale.sv").write_text("module stale; endmodule\n")
    result = run_hwc("compile", str(fixtures_dir / "mlp.onnx"), "-o", str(build), "--emit", "rom")
    assert result.returncode == 0, result.stderr
    assert not (build / "rtl").exists()
    assert (build / "model.nn.mlir").read_text() != "// an earlier build\n"


def test_verify_prints_the_ladder(fixtures_dir, run_hwc):
    result = run_hwc("verify", str(fixtures_dir / "mlp.onnx"), "--samples", "8", "--fold", "full")
    assert result.returncode == 0, result.stdout + result.stderr
    for level in ("float", "int", "spatial", "rtl"):
        assert f"│ {level}" in result.stdout
    assert "DIFFER" not in result.stdout


def test_bad_sample_count_is_one_line(fixtures_dir, run_hwc):
    result = run_hwc("verify", str(fixtures_dir / "mlp.onnx"), "--samples", "0")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("hwc: error:") and len(result.stderr.strip().splitlines()) == 1
