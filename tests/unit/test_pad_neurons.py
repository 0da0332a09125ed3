"""`pad-neurons`: zero neurons where they let a cheaper folding meet the target, and
nothing the model computes changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import compiler
from compiler.ir import parse_module
from compiler.report import build_report
from compiler.synth import count_weights
from compiler.verify import first_layer_differing_in_spatial
from dialects.spatial import GraphOp, MVUOp
from passes.fold_parallelism import fold
from passes.pad_neurons import cheapest_multipliers, pad_neurons

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "tests" / "fixtures" / "mlp.onnx"


def test_cheapest_multipliers_by_hand():
    # 64 x 16 at 200 cycles: 1024 MACs need >= 5.12 multipliers; 64 and 16 fold
    # only by powers of two, so 8 (ii 128). With 66 neurons: pe 3, simd 2 -> 22 x 8 = 176.
    assert cheapest_multipliers(1, 64, 16, 200) == 8
    assert cheapest_multipliers(1, 66, 16, 200) == 6
    # Too fast for any folding.
    assert cheapest_multipliers(1, 64, 16, 0) == float("inf")


def _jet_chain() -> str:
    sizes = [16, 64, 32, 32, 5]
    roms, ops = [], []
    value = "%x"
    for index, (k, n) in enumerate(zip(sizes, sizes[1:])):
        roms.append(f"  rom.rom @w{index} : tensor<{n}x{k}xi8> = dense<1> : tensor<{n}x{k}xi8>")
        ops.append(f"    %y{index} = spatial.mvu {value} {{layer = \"fc{index}\", weights = @w{index}, "
                   f"pe = 1 : i64, simd = 1 : i64}} : (!spatial.stream<{k}xi8, 1>) -> !spatial.stream<{n}xi8, 1>")
        value = f"%y{index}"
    body = "\n".join(ops)
    return (f"builtin.module {{\n" + "\n".join(roms) + "\n  spatial.graph @main {\n"
            f"  ^bb0(%x: !spatial.stream<16xi8, 1>):\n{body}\n    spatial.yield {value} : !spatial.stream<5xi8, 1>\n  }}\n}}")


def _multipliers(module) -> list[int]:
    return [op.multipliers() for op in module.walk() if isinstance(op, MVUOp)]


def test_the_jet_mlp_at_a_million_inferences_takes_24_multipliers_instead_of_33():
    # 200 cycles. Unpadded: 8 + 16 + 8 + 1 (powers of two). Padded, the least each
    # layer's MACs allow at 200 cycles: fc0 66 x 16 by pe 3, simd 2 (22 x 8 = 176
    # cycles), fc1 33 x 66 by 1 x 11 (33 x 6 = 198; 2,178 MACs need 11), fc2 32 x 33
    # by 2 x 3 (16 x 11 = 176), fc3 5 x 33 by 1 x 1 (165): 6 + 11 + 6 + 1.
    plain = parse_module(_jet_chain())
    fold(plain, target_fps=1e6)
    assert _multipliers(plain) == [8, 16, 8, 1]
    padded = parse_module(_jet_chain())
    pad_neurons(padded, 1e6)
    fold(padded, target_fps=1e6)
    assert sum(_multipliers(padded)) == 24
    for op in padded.walk():
        if isinstance(op, MVUOp):
            assert op.nominal_ii() <= 200
    assert sum(op.model_weights() for op in padded.walk() if isinstance(op, MVUOp)) == 4256


def test_within_a_budget_padding_buys_cycles():
    # 16 multipliers. Unpadded (powers of two): 256 cycles would take 4 + 8 + 4 + 1 =
    # 17, so 512 (2 + 4 + 2 + 1). Padded: 320 cycles with fc0 by 4 (256), fc1 with 35
    # neurons by pe 7 (5 x 64 = 320), fc2 with 35 inputs by pe 4 (8 x 35 = 280), fc3 (5 x
    # 35 = 175): 16. 319 is out of reach: fc1 needs 7 multipliers (2,048 / 319 > 6), and
    # 7 divides neither 32 + 3 = 35 neurons into 5 folds of 64 nor 64 + 6 inputs into
    # 10 folds of 32 under 320 cycles; 8 would make 17.
    plain = parse_module(_jet_chain())
    fold(plain, max_multipliers=16)
    assert max(op.nominal_ii() for op in plain.walk() if isinstance(op, MVUOp)) == 512
    padded = parse_module(_jet_chain())
    pad_neurons(padded, max_multipliers=16)
    fold(padded, max_multipliers=16)
    assert max(op.nominal_ii() for op in padded.walk() if isinstance(op, MVUOp)) == 320
    assert sum(_multipliers(padded)) <= 16


def test_padding_needs_a_saving():
    module = parse_module(_jet_chain())
    pad_neurons(module, 1e5)  # 2,000 cycles: 1 + 1 + 1 + 1 multipliers already
    assert all(op.padding == (0, 0) for op in module.walk() if isinstance(op, MVUOp))


def _onnx_macs(path: Path) -> int:
    model = onnx.load(str(path))
    return sum(numpy_helper.to_array(t).size for t in model.graph.initializer if numpy_helper.to_array(t).ndim == 2)


@pytest.fixture(scope="module")
def padded_mlp():
    design = compiler.compile(MLP, target_fps=1e6)
    assert any(op.padding != (0, 0) for op in design.spatial_module.walk() if isinstance(op, MVUOp))
    return design


def test_padded_design_computes_the_int_model_s_integers(padded_mlp):
    inputs = {name: np.random.default_rng(3).standard_normal((16, *shape[1:])).astype(np.float32)
              for name, shape in padded_mlp.input_shapes().items()}
    quantized = padded_mlp.executor("int").quantize_inputs(inputs)
    expected = padded_mlp.executor("int").run_int(quantized)
    actual = padded_mlp.executor("spatial").run_int(quantized)
    for name in expected:
        assert np.array_equal(actual[name], expected[name])
    # The probes drop the padding: every layer compares with the int model's tensor.
    assert first_layer_differing_in_spatial(padded_mlp, quantized) is None


def test_report_and_synthesis_count_the_model_s_weights_only(padded_mlp, tmp_path):
    report = build_report(padded_mlp.spatial_module, 200.0)
    assert report["design"]["macs"] == _onnx_macs(MLP)
    assert any("N+" in layer["folding"] for layer in report["layers"])
    path = tmp_path / "model.spatial.mlir"
    path.write_text(str(padded_mlp.spatial_module))
    assert count_weights(tmp_path) == _onnx_macs(MLP)


def test_no_padding_keeps_the_divisor_foldings():
    design = compiler.compile(MLP, target_fps=1e6, pad_neurons=False)
    assert all(op.padding == (0, 0) for op in design.spatial_module.walk() if isinstance(op, MVUOp))
    graph = next(op for op in design.spatial_module.walk() if isinstance(op, GraphOp))
    assert all(op.out_features % op.pe.value.data == 0 for op in graph.body.block.ops if isinstance(op, MVUOp))
