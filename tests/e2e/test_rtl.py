"""The bottom of the verification ladder on real models: the Verilog that CIRCT
exports from our hw IR, simulated by Verilator behind the AXI4-Stream test bench,
computes exactly what the spatial executor says.

For the MLP and CNN fixtures at full folding and at two folded settings, with
both ROM styles (the CNN's slowest setting with logic ROMs only), each once more
with hardware-aware scales (`--requant-digits`, `--weight-scales`), and the digits
example (the MLP's architecture) at its README folding: ≥ 100 inputs streamed with the test bench
withholding `s_axis_tvalid` and `m_axis_tready` at random (backpressure must
not change a bit), and without stalls the measured cycles per inference within
5% of the report's prediction. Each design is a Verilator build (cached by
content hash, so re-runs are fast), hence the `rtl` mark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.rtl import RtlExecutor, build_rtl, lower_to_hw

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = 100
STALL = 0.3
CYCLE_TOLERANCE = 0.05

MODELS = {
    "mlp": (ROOT / "tests" / "fixtures" / "mlp.onnx", None),
    "digits": (ROOT / "examples" / "digits_mlp" / "model.onnx", ROOT / "examples" / "digits_mlp" / "calib.npz"),
    "cnn": (ROOT / "tests" / "fixtures" / "cnn.onnx", None),
}
FOLDINGS = {
    "mlp": [{"fold": "full"}, {"target_fps": 1e6}, {"target_fps": 1e5}],
    "digits": [{"target_fps": 1e6}],  # the MLP's architecture: the README's folding only
    "cnn": [{"fold": "full"}, {"target_fps": 2e5}, {"target_fps": 5e4}],
}
CASES = [
    pytest.param(name, folding, rom, id=f"{name}-{'-'.join(f'{k}={v:g}' if isinstance(v, float) else v for k, v in folding.items())}-{rom}")
    for name in MODELS for folding in FOLDINGS[name] for rom in ("logic", "memory")
    if (name, folding.get("target_fps"), rom) != ("cnn", 5e4, "memory")  # memory ROMs: the CNN at 2e5
] + [
    # hardware-aware scales (logic ROMs): unrolled 4-bit with 2-digit requants (every layer's adder graph, the
    # bias in the requant constant, unsigned sums after a ReLU); folded with one constant requant per layer
    pytest.param(name, folding, "logic", id=f"{name}-{'-'.join(f'{k}={v}' for k, v in folding.items())}-logic")
    # and within a multiplier budget, the first layer padded to 35 neurons (5 lanes, 448 cycles instead of 512);
    # per-channel requants of one digit each: powers of two, shifters by a table's exponent
    for name, folding in [("mlp", {"fold": "full", "wbits": 4, "requant_digits": 2}),
                          ("mlp", {"max_multipliers": 8}),
                          ("mlp", {"target_fps": 1e6, "requant_digits": 1}),
                          ("cnn", {"target_fps": 2e5, "weight_scales": "tensor", "requant_digits": 2})]
]

_designs: dict = {}


def design(name: str, folding: dict):
    key = (name, tuple(sorted(folding.items())))
    if key not in _designs:
        model, calib = MODELS[name]
        _designs[key] = compiler.compile(model, calib=calib, **folding)
    return _designs[key]


def inputs(d, count: int, seed: int = 7) -> dict[str, np.ndarray]:
    shape = d.input_shapes()["input"]
    x = np.random.default_rng(seed).standard_normal((count, *shape[1:])).astype(np.float32)
    return d.executor("spatial").quantize_inputs({"input": x})


@pytest.mark.rtl
@pytest.mark.parametrize("name, folding, rom", CASES)
def test_rtl_equals_the_spatial_executor(tmp_path, name, folding, rom):
    d = design(name, folding)
    spatial = d.executor("spatial")
    build = build_rtl(lower_to_hw(d.spatial_module, rom), tmp_path)
    ints = inputs(d, SAMPLES)
    (output,) = spatial.output_names
    expected = spatial.run_int(ints)[output]

    stalled = RtlExecutor(spatial, build, stall_in=STALL, stall_out=STALL, seed=3)
    np.testing.assert_array_equal(stalled.run_int(ints)[output], expected)

    steady = RtlExecutor(spatial, build)
    np.testing.assert_array_equal(steady.run_int(ints)[output], expected)
    measured, predicted = steady.last_run.cycles_per_inference, spatial.cycles_per_inference
    latency, predicted_latency = steady.last_run.latency, spatial.latency
    print(f"{name} {folding} {rom}: {measured:g} cycles/inference measured, {predicted} predicted; "
          f"latency {latency} measured, {predicted_latency} predicted")
    assert abs(measured - predicted) <= CYCLE_TOLERANCE * predicted
    assert abs(latency - predicted_latency) <= max(2, CYCLE_TOLERANCE * predicted_latency)


@pytest.mark.rtl
def test_full_mlp_accepts_an_input_every_cycle(tmp_path):
    """II = 1: the fully unrolled MLP takes a new sample on every clock cycle."""
    d = design("mlp", {"fold": "full"})
    spatial = d.executor("spatial")
    assert spatial.cycles_per_inference == 1
    rtl = RtlExecutor(spatial, build_rtl(lower_to_hw(d.spatial_module, "logic"), tmp_path))
    rtl.run_int(inputs(d, 50))
    done = rtl.last_run.frame_done_cycles
    assert np.all(np.diff(done) == 1), done
