"""The digits example end to end: the 8-bit integer model (what the hardware
computes) keeps the float model's accuracy on held-out data; the 4-bit figure is
printed. Labels come from scikit-learn's dataset, not from our own output."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _example():
    spec = importlib.util.spec_from_file_location("digits_run_example", HERE / "run_example.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = _example()


def test_8bit_accuracy_within_one_point_of_float():
    results = example.accuracies()
    print(f"\ndigits: float {results['float']:.2%}, 8-bit {results['int8']:.2%}, 4-bit {results['int4']:.2%}")
    assert results["float"] > 0.9, "the committed model should classify digits well"
    assert abs(results["int8"] - results["float"]) <= 0.01
    assert results["int4"] > 0.5


def test_emit_rom_writes_the_rom_image(tmp_path):
    import compiler
    from safetensors.numpy import load_file

    design = compiler.compile(example.MODEL, calib=example.CALIB)
    written = design.write(tmp_path / "build", emit="rom")
    assert {p.name for p in written} == {"model.nn.mlir", "weights.safetensors", "model.rom.mlir", "rom.safetensors"}
    image = load_file(tmp_path / "build" / "rom.safetensors")
    # The three weight matrices (more than 64 elements) are in the image as int8; nothing else.
    assert {k: (v.shape, v.dtype) for k, v in image.items()} == {
        "dense0_weight": ((32, 64), np.int8), "dense1_weight": ((16, 32), np.int8),
        "dense2_weight": ((10, 16), np.int8)}
    # The written build reads back and computes what the in-memory design did.
    images = np.load(example.TEST)["input"][:50]
    from compiler.executor import IntExecutor
    from compiler.ir import parse_module

    path = tmp_path / "build" / "model.rom.mlir"
    reloaded = IntExecutor(parse_module(path.read_text(), str(path), base_dir=path.parent))
    np.testing.assert_array_equal(reloaded.run({"input": images})["logits"],
                                  design.run(images, level="int")["logits"])
