"""The ROM build at scale: a Dense stack whose float weights come from a separate
safetensors file goes through import -> fold -> quantize -> weights-to-rom -> ROM
image in a subprocess (benchmarks/rom_build.py), and we check peak memory, IR
size and the ROM contents.

The ROM contents are checked against an independent numpy per-channel
quantization of the weights read straight from the safetensors file (DESIGN.md
numerics: symmetric, narrow range, scale = max|W[c]| / 127, round half up).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "rom_build.py"
IR_LIMIT_BYTES = 1 << 20
MEMORY_FACTOR = 1.5


def _rom_build():
    spec = importlib.util.spec_from_file_location("rom_build", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules["rom_build"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


rom_build = _rom_build()


def reference_weight_rom(weights: np.ndarray) -> np.ndarray:
    absmax = np.abs(weights.astype(np.float64)).max(axis=1)
    scale = np.where(absmax > 0, absmax / 127, 1.0)
    return np.clip(np.floor(weights / scale[:, None] + 0.5), -127, 127).astype(np.int8)


def test_rom_image_of_a_5m_parameter_model(tmp_path):
    model = rom_build.generate_model(tmp_path, 5e6, 1024)
    build = rom_build.measure_rom_build(model, tmp_path / "build")
    print(f"\n5M: extra memory {build.extra_bytes / 2**20:.0f} MiB "
          f"({build.extra_bytes / model.float_weight_bytes:.2f}x float), IR {build.ir_bytes} bytes")
    assert build.ir_bytes < IR_LIMIT_BYTES
    text = (tmp_path / "build" / "model.rom.mlir").read_text()
    assert 'nn.weight "' not in text and text.count("rom.rom @fc") == 3 * model.layers
    with safe_open(str(model.weights_path), "numpy") as floats, \
            safe_open(str(tmp_path / "build" / "rom.safetensors"), "numpy") as image:
        assert sorted(image.keys()) == sorted(
            f"fc{i}_{part}" for i in range(model.layers) for part in ("weight", "bias", "multiplier")
            if part == "weight" or model.width > 64)
        for i in range(model.layers):
            rom = image.get_tensor(f"fc{i}_weight")
            assert rom.dtype == np.int8
            np.testing.assert_array_equal(rom, reference_weight_rom(floats.get_tensor(f"fc{i}.weight")))


def test_100m_parameters_stay_within_memory_and_ir_size(tmp_path):
    model = rom_build.generate_model(tmp_path, 100e6, 4096)
    build = rom_build.measure_rom_build(model, tmp_path / "build")
    ratio = build.extra_bytes / model.float_weight_bytes
    print(f"\n100M: baseline {build.baseline_bytes / 2**20:.0f} MiB, peak {build.peak_bytes / 2**20:.0f} MiB, "
          f"extra {ratio:.2f}x the float weights, IR {build.ir_bytes} bytes, {build.seconds:.1f} s")
    assert build.ir_bytes < IR_LIMIT_BYTES
    assert build.rom_bytes >= model.parameters - model.layers * model.width  # int8 weights at least
    assert ratio <= MEMORY_FACTOR
