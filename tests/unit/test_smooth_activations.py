"""`smooth-activations` keeps the function and evens out the channel ranges it
targets (Llama fixture: RMS norms before q/k/v and gate/up, SwiGLU products
before down)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import compiler
from compiler.ir import main_function
from compiler.pipelines import run_pipeline
from passes.smooth_activations import channel_ranges, find_sites, smoothing_factors

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"


def test_smoothing_factors_by_hand():
    # α = 0.5: s = sqrt(max|X_j| / max|W_j|) = sqrt(4/1), sqrt(1/4); a zero range keeps 1
    factors = smoothing_factors(np.array([4.0, 1.0, 0.0]), [np.array([[1.0, -4.0, 3.0]])], 0.5)
    np.testing.assert_allclose(factors, [2.0, 0.5, 1.0])


def test_smoothing_keeps_the_function_and_evens_the_ranges(tmp_path):
    data = np.load(FIXTURES / "llama.npz")
    calib = tmp_path / "calib.npz"
    np.savez(calib, input_ids=data["input_ids"])
    design = compiler.compile(FIXTURES / "llama.onnx")
    before = design.run({"input_ids": data["input_ids"]}, level="float")["logits"]
    module = design.nn_module
    sites = find_sites(main_function(module))
    assert len(sites) == 7  # per block (2): two norms and the SwiGLU product; the final norm before the head
    samples = {"input_ids": data["input_ids"]}
    spread_before = [r.max() / np.median(r) for r in channel_ranges(module, [s.value for s in sites], samples)]
    run_pipeline(module, f'smooth-activations{{alpha=0.5 calib="{calib}"}}')
    smoothed = compiler.compile(FIXTURES / "llama.onnx")
    smoothed.nn_module = module
    after = smoothed.run({"input_ids": data["input_ids"]}, level="float")["logits"]
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4)
    sites = find_sites(main_function(module))
    spread_after = [r.max() / np.median(r) for r in channel_ranges(module, [s.value for s in sites], samples)]
    assert np.mean(spread_after) < np.mean(spread_before)
