"""`hwc compile` writes a build folder whose IR parses back and runs like the model,
level by level what `hwc-opt -p` makes of the level before with the pipelines of
`compiler/pipelines.py`; `hwc verify` prints the ladder and exits 0 when every
level agrees."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.rtl
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


# --------------------------------------------------------------------------- every arrow by hand

HWC_OPT = Path(sys.executable).parent / "hwc-opt"
ARROWS = [("nn", "rom"), ("rom", "spatial"), ("spatial", "hw")]
"""(from, to): `hwc-opt model.<from>.mlir -p "$(python -m compiler.pipelines <to> ...)"`."""


def pipeline_arguments(level: str, compile_args: list[str]) -> list[str]:
    """The options of `hwc compile` that `python -m compiler.pipelines <level>` takes."""
    takes = {"rom": ("--wbits", "--abits", "--calib"),
             "spatial": ("--fold", "--target-fps", "--clock-mhz", "--max-multipliers"),
             "hw": ("--rom",)}[level]
    pairs = zip(compile_args[::2], compile_args[1::2])
    return [item for flag, value in pairs if flag in takes for item in (flag, value)]


def without_weight_store(text: str) -> str:
    """The IR text without its `nn.weights` path (hwc compile points each level at its
    own file, hwc-opt at the file that holds the tensors) and trailing newlines."""
    return re.sub(r'nn\.weights = "[^"]*"', "nn.weights = STORE", text).rstrip("\n")


def tensors_used(ir_path: Path) -> dict[str, np.ndarray]:
    from compiler.weights import store_for, used_weight_keys

    module = parse_module(ir_path.read_text(), str(ir_path), base_dir=ir_path.parent)
    store = store_for(module)
    return {key: np.asarray(store.get(key)) for key in used_weight_keys(module)}


@pytest.mark.parametrize("model, compile_args", [
    ("mlp.onnx", ["--wbits", "4", "--target-fps", "1e6", "--rom", "memory"]),
    ("mlp.onnx", ["--fold", "min", "--rom", "logic"]),
])
def test_hwc_opt_reproduces_every_arrow_of_hwc_compile(tmp_path, fixtures_dir, run_hwc, model, compile_args):
    """Each level `hwc compile` writes is what `hwc-opt` makes of the level before
    with the pipeline `python -m compiler.pipelines` prints for the same options:
    the same IR text (but for the weight file's path) using the same tensors."""
    build = tmp_path / "build"
    result = run_hwc("compile", str(fixtures_dir / model), *compile_args, "-o", str(build), "--emit", "hw")
    assert result.returncode == 0, result.stderr
    by_hand = tmp_path / "by_hand"
    by_hand.mkdir()
    for source, target in ARROWS:
        printed = subprocess.run([sys.executable, "-m", "compiler.pipelines", target,
                                  *pipeline_arguments(target, compile_args)],
                                 capture_output=True, text=True, check=True)
        pipeline = printed.stdout.strip()
        output = by_hand / f"model.{target}.mlir"
        opt = subprocess.run([str(HWC_OPT), str(build / f"model.{source}.mlir"), "-p", pipeline, "-o", str(output)],
                             capture_output=True, text=True, timeout=300)
        assert opt.returncode == 0, opt.stderr
        written = build / f"model.{target}.mlir"
        assert without_weight_store(output.read_text()) == without_weight_store(written.read_text()), \
            f"{source} -> {target}: hwc-opt -p '{pipeline}' differs from hwc compile"
        ours, theirs = tensors_used(output), tensors_used(written)
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=f"{target}: tensor {key}")
