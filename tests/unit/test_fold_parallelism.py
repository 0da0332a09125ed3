"""fold-parallelism: optimality against brute force, a two-layer design by hand, modes, bad options."""

from __future__ import annotations

import itertools
import math

import pytest

from compiler.errors import HwcError
from compiler.ir import parse_module
from compiler.report import build_report
from dialects.spatial import PE_OPS, EltwiseOp, MVUOp, RequantOp, ResizeOp, stream_of
from passes.fold_parallelism import fold
from tests.support import FIXTURES, run_hwc_opt

TWO_LAYERS = """
builtin.module {
  rom.rom @fc1_weight : tensor<8x16xi8> = dense<1> : tensor<8x16xi8>
  rom.rom @fc2_weight : tensor<4x8xi8> = dense<1> : tensor<4x8xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<16xi8, 1>):
    %a = spatial.mvu %x {layer = "fc1", weights = @fc1_weight, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<16xi8, 1>) -> !spatial.stream<8xi20, 1>
    %b = spatial.mvu %a {layer = "fc2", weights = @fc2_weight, pe = PE2 : i64, simd = 1 : i64} : (!spatial.stream<8xi20, 1>) -> !spatial.stream<4xi32, PE2>
    spatial.yield %b : !spatial.stream<4xi32, PE2>
  }
}
"""


def two_layers(pe2: int = 1):
    return parse_module(TWO_LAYERS.replace("PE2", str(pe2)))


def mvus(module):
    return {op.layer.data: op for op in module.walk() if isinstance(op, MVUOp)}


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def test_two_layers_by_hand():
    # 200 MHz / 2e6 fps = 100 cycles. fc1: 16·8 = 128 MACs, needs pe·simd ≥ 2 -> ii 64;
    # fc2: 8·4 = 32 MACs, ii 32 ≤ 64 with one multiplier. Cycles = max(64, 32) = 64.
    # Latency (first frame's schedule): x arrives as 8 beats of 2 lanes at cycles 0..7;
    # fc1 needs all of them (ready 7), depth 3, then one output beat per K/simd = 8
    # cycles: 10, 18, ..., 66; fc2 needs all 8 (ready 66), depth 3, one beat per 8:
    # 69, 77, 85, 93. Latency = 93 + 1 = 94.
    module = two_layers()
    fold(module, target_fps=2_000_000, clock_mhz=200)
    fc1, fc2 = mvus(module)["fc1"], mvus(module)["fc2"]
    assert (fc1.pe.value.data, fc1.simd.value.data) == (1, 2)
    assert (fc2.pe.value.data, fc2.simd.value.data) == (1, 1)
    assert (fc1.ii.value.data, fc2.ii.value.data) == (64, 32)
    design = build_report(module, 200.0)["design"]
    assert design["cycles_per_inference"] == 64
    assert design["latency_cycles"] == 94
    assert design["multipliers"] == 3
    assert design["inferences_per_second"] == pytest.approx(200e6 / 64)


def test_budget_gives_the_fastest_design_within_it():
    for budget in (2, 3, 5, 12, 40, 100, 160):
        module = two_layers()
        fold(module, max_multipliers=budget)
        got = build_report(module, 200.0)["design"]
        best = min(max(128 // (p1 * s1), 32 // (p2 * s2))
                   for p1, s1, p2, s2 in itertools.product(divisors(8), divisors(16), divisors(4), divisors(8))
                   if p1 * s1 + p2 * s2 <= budget)
        assert got["cycles_per_inference"] == best, budget
        assert got["multipliers"] <= budget


def test_full_and_min():
    module = two_layers()
    fold(module, mode="full")
    assert all(op.ii.value.data == 1 for op in mvus(module).values())
    assert [(op.pe.value.data, op.simd.value.data) for op in mvus(module).values()] == [(8, 16), (4, 8)]
    fold(module, mode="min")
    assert [(op.pe.value.data, op.simd.value.data) for op in mvus(module).values()] == [(1, 1), (1, 1)]
    assert build_report(module, 100.0)["design"]["cycles_per_inference"] == 128


def test_lane_mismatch_gets_a_resize():
    # A budget of 12: fc1 at 8 multipliers (ii 16), fc2 at 2 (ii 16); they meet at 8 → 1, 2 lanes.
    module = two_layers()
    fold(module, max_multipliers=10)
    module.verify()
    for op in module.walk():
        if isinstance(op, MVUOp):
            assert stream_of(op.input).lanes.data == op.simd.value.data
    producer = mvus(module)["fc1"]
    consumer = mvus(module)["fc2"]
    if producer.pe.value.data != consumer.simd.value.data:
        assert isinstance(consumer.input.owner, ResizeOp)


@pytest.fixture(scope="module")
def cnn_spatial():
    from compiler.frontend.importer import import_onnx
    from compiler.pipelines import rom_pipeline, run_pipeline

    module = import_onnx(FIXTURES / "cnn.onnx")
    run_pipeline(module, rom_pipeline() + ",map-to-spatial")
    return module


@pytest.mark.parametrize("target_fps", [20_000, 150_000, 300_000])
def test_no_layer_could_use_fewer_multipliers(cnn_spatial, target_fps):
    module = cnn_spatial.clone()
    clock_mhz = 100.0
    bound = math.floor(clock_mhz * 1e6 / target_fps)
    fold(module, target_fps=target_fps, clock_mhz=clock_mhz)
    module.verify()
    pes = [op for op in module.walk() if isinstance(op, PE_OPS)]
    assert max(op.ii.value.data for op in pes) <= bound
    for op in pes:
        assert op.ii.value.data == op.nominal_ii() and op.latency.value.data == op.nominal_latency()
        if isinstance(op, MVUOp):
            n, k, vectors = op.out_features, op.in_features, op.vectors
            cheapest = min(p * s for p in divisors(n) for s in divisors(k)
                           if vectors * (n // p) * (k // s) <= bound)
            assert op.pe.value.data * op.simd.value.data == cheapest, op.layer.data
        elif isinstance(op, (RequantOp, EltwiseOp)):
            lanes = stream_of(op.output).lanes.data
            fewest = min(l for l in divisors(stream_of(op.output).frame[-1])
                         if max(stream_of(v).beats * stream_of(v).lanes.data // l
                                for v in (*op.operands, *op.results)) <= bound)
            assert lanes == fewest, op.layer.data


def test_unreachable_target_names_the_best_rate(cnn_spatial):
    with pytest.raises(HwcError, match=r"out of reach: the fastest folding gives [0-9.e+]+ inferences/s"):
        fold(cnn_spatial.clone(), target_fps=1e9, clock_mhz=100)


@pytest.mark.parametrize("options, message", [
    ("{clock-mhz=0 target-fps=10}", "clock-mhz must be positive"),
    ("{target-fps=-5}", "target-fps must be positive"),
    ("{target-fps=1000000000 clock-mhz=200}", "out of reach: the fastest folding gives 2e+08 inferences/s"),
    ("{max-multipliers=0}", "max-multipliers 0 is below the 2 the smallest folding needs"),
    ("{full min}", "choose one of full and min"),
    ("{min target-fps=10}", "'min' takes no target-fps or max-multipliers"),
])
def test_bad_options_are_one_line_errors(tmp_path, options, message):
    source = tmp_path / "two.mlir"
    source.write_text(TWO_LAYERS.replace("PE2", "1"))
    result = run_hwc_opt(source, "-p", f"fold-parallelism{options}")
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_hand_set_folding_that_does_not_divide(tmp_path):
    source = tmp_path / "bad.mlir"
    source.write_text(TWO_LAYERS.replace("PE2", "3"))
    result = run_hwc_opt(source, "-p", "fold-parallelism{min}")
    assert result.returncode == 1
    assert "lanes 3 must divide the innermost dimension 4" in result.stderr
    assert result.stderr.count("\n") == 1
