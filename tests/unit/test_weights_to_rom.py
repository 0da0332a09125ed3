"""weights-to-rom on hand-written integer graphs, and the driver's rom level.

Expected integers are computed by hand in the comments; the pass must not change
what the graph computes (integer executor before and after).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context

from compiler.errors import HwcError
from compiler.executor import IntExecutor
from compiler.ir import parse_module
from compiler.weights import store_for, used_weight_keys
from dialects.rom import ReadOp, RomOp
from passes.weights_to_rom import WeightsToRomPass, sanitize

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits_mlp"

SMALL = """
builtin.module {
  func.func @main(%x: tensor<1x3xi8> {nn.name = "x"}) -> (tensor<1x2xi8> {nn.name = "y"}) {
    %w = nn.constant dense<[[1, -2, 3], [4, 5, -6]]> : tensor<2x3xi4>
    %b = nn.constant dense<[10, -10]> : tensor<2xi12>
    %acc = nn.dense %x, %w, %b : (tensor<1x3xi8>, tensor<2x3xi4>, tensor<2xi12>) -> tensor<1x2xi12>
    %m = nn.constant dense<[1, 3]> : tensor<2xi4>
    %y = nn.requant %acc, %m {shift = 1 : i64, lo = -127 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x2xi12>, tensor<2xi4>) -> tensor<1x2xi8>
    func.return %y : tensor<1x2xi8>
  }
}
"""


def apply(module) -> None:
    WeightsToRomPass().apply(Context(), module)
    module.verify()


def test_small_graph_computes_the_same_integers():
    x = np.array([[2, 1, -1]])
    # acc = [2 - 2 - 3 + 10, 8 + 5 + 6 - 10] = [7, 9]; y = floor((acc * [1, 3] + 1) / 2) = [4, 14]
    module = parse_module(SMALL)
    before = IntExecutor(module).run_int({"x": x})["y"]
    apply(module)
    after = IntExecutor(module).run_int({"x": x})["y"]
    np.testing.assert_array_equal(before, [[4, 14]])
    np.testing.assert_array_equal(after, [[4, 14]])
    roms = [op for op in module.ops if isinstance(op, RomOp)]
    assert [r.sym_name.data for r in roms] == ["dense0_weight", "dense0_bias", "dense0_multiplier"]
    assert all(r.value is not None for r in roms)
    assert not [op for op in module.walk() if op.name in ("nn.constant", "nn.weight")]


def large_module(weight: np.ndarray, element: str, key: str = "fc1.weight"):
    rows, cols = weight.shape
    module = parse_module(f"""
builtin.module {{
  func.func @main(%x: tensor<1x{cols}xi8> {{nn.name = "x"}}) -> (tensor<1x{rows}xi32> {{nn.name = "y"}}) {{
    %w = nn.weight "{key}" : tensor<{rows}x{cols}x{element}>
    %y = nn.dense %x, %w : (tensor<1x{cols}xi8>, tensor<{rows}x{cols}x{element}>) -> tensor<1x{rows}xi32>
    func.return %y : tensor<1x{rows}xi32>
  }}
}}""")
    store = store_for(module)
    store.add(key, weight)
    return module, store


def test_large_contents_are_renamed_not_copied():
    weight = (np.arange(200) % 255 - 127).astype(np.int8).reshape(10, 20)
    module, store = large_module(weight, "i8")
    apply(module)
    (rom,) = [op for op in module.ops if isinstance(op, RomOp)]
    assert rom.sym_name.data == "fc1_weight" and rom.value is None
    assert store.get("fc1_weight") is weight  # the same array: no copy
    assert used_weight_keys(module) == ["fc1_weight"]
    x = np.ones((1, 20), np.int64)
    np.testing.assert_array_equal(IntExecutor(module).run_int({"x": x})["y"], weight.sum(axis=1)[None])


def test_contents_wider_than_needed_are_stored_in_the_smallest_dtype():
    weight = (np.arange(100) * 41 % 4095 - 2047).astype(np.int64).reshape(5, 20)
    module, store = large_module(weight, "i12")
    apply(module)
    image = store.get("fc1_weight")
    assert image.dtype == np.int16
    np.testing.assert_array_equal(image, weight)


def test_symbol_names_avoid_existing_store_keys():
    weight = np.zeros((10, 20), np.int8)
    module, store = large_module(weight, "i8", key="fc1.weight")
    store.add("fc1_weight", np.ones(3, np.float32))  # e.g. a float weight of another module
    apply(module)
    (read,) = [op for op in module.walk() if isinstance(op, ReadOp)]
    assert read.rom.string_value() == "fc1_weight_1"
    assert store.get("fc1_weight").dtype == np.float32


def test_contents_outside_the_width_are_refused():
    weight = np.full((10, 20), 9, np.int8)  # 9 does not fit i4 [-8, 7]
    module, _ = large_module(weight, "i4")
    with pytest.raises(HwcError, match=r"values \[9, 9\] do not fit 4 bits"):
        apply(module)


def test_float_constants_need_quantize_first():
    module = parse_module(SMALL.replace(
        "%m = nn.constant", '%f = nn.constant dense<[1.5]> : tensor<1xf32>\n    %m = nn.constant'))
    with pytest.raises(HwcError, match=r"1 float constant\(s\) left .*run 'quantize' first"):
        apply(module)


def test_wider_than_32_bits_is_refused():
    module = parse_module(SMALL.replace("tensor<2xi12>", "tensor<2xi40>"))
    with pytest.raises(HwcError, match="40-bit elements; a ROM holds 1..32 bits"):
        apply(module)


@pytest.mark.parametrize("text, expected", [("fc1.weight", "fc1_weight"), ("0/conv", "_0_conv"), ("..", "rom")])
def test_sanitize(text, expected):
    assert sanitize(text) == expected


# --------------------------------------------------------------------------- the driver and CLI


def test_cli_emit_rom_and_run_int(run_hwc, tmp_path):
    out = tmp_path / "build"
    result = run_hwc("compile", DIGITS / "model.onnx", "-o", out, "--calib", DIGITS / "calib.npz",
                     "--wbits", "4", "--emit", "rom")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "model.nn.mlir", "model.rom.mlir", "rom.safetensors", "weights.safetensors"]
    assert "tensor<32x64xi4>" in (out / "model.rom.mlir").read_text()
    result = run_hwc("run", DIGITS / "model.onnx", "--calib", DIGITS / "calib.npz", "--input",
                     DIGITS / "calib.npz", "--level", "int", "-o", tmp_path / "y.npz")
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "y.npz")["logits"].shape == (300, 10)


@pytest.mark.parametrize("args, message", [
    (["--wbits", "9"], "--wbits 9: must be an integer from 2 to 8"),
    (["--wbits", "1"], "--wbits 1: must be an integer from 2 to 8"),
    (["--abits", "17"], "--abits 17: must be an integer from 2 to 16"),
    (["--abits", "many"], "argument --abits: invalid int value"),
    (["--calib", "missing.npz"], "--calib missing.npz: no such file"),
    (["--emit", "gds"], "--emit gds is not available"),
])
def test_cli_bad_options_are_one_line_errors(run_hwc, tmp_path, args, message):
    result = run_hwc("compile", DIGITS / "model.onnx", "-o", tmp_path / "build", *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("hwc: error: ") and message in lines[-1], result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "build").exists()
