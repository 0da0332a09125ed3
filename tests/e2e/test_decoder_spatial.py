"""The LLM chip at the spatial level: a decoder's step graph as MVUs and vector
units whose state is the K/V caches (`passes/spatial_decoder.py`,
`dialects/spatial/vector.py`).

Oracles: the integer whole-sequence logits at every position (what the step graph
must reproduce, token by token, with the caches on chip), and `hwc generate
--level int`'s tokens. The K/V-cache size is checked against the models' shapes
(layers × 2 × KV heads × context × head dim × 8 bits), written here from their
configs, not read from hwc."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.errors import HwcError
from dialects.spatial.vector import op_cycles
from tests.e2e.test_generate_int import DECODERS, EXAMPLE, FIXTURES, calibration
from tests.support import run_hwc_command


def spatial_logits_per_position(design: compiler.Design, ids: np.ndarray) -> np.ndarray:
    """The spatial graph's logits for `ids` fed one token a frame, from empty caches."""
    executor = design.executor("spatial")
    executor.states.reset()
    token, position = executor.input_names
    rows = [executor.run_int({token: np.array([[t]]), position: np.array([p])})["logits"].reshape(-1)
            for p, t in enumerate(ids)]
    return np.stack(rows)


@pytest.mark.parametrize("name", DECODERS)
def test_the_chip_computes_the_integer_logits_at_every_position(name, tmp_path):
    design = compiler.compile(FIXTURES / f"{name}.onnx", calib=calibration(name, tmp_path))
    ids = np.load(FIXTURES / f"{name}.npz")["input_ids"][1]
    whole = design.executor("int").run_int({"input_ids": ids[None]})["logits"][0]
    np.testing.assert_array_equal(spatial_logits_per_position(design, ids), whole)


def test_grouped_four_bit_weights_stay_exact_on_chip(tmp_path):
    design = compiler.compile(FIXTURES / "llama.onnx", wbits=4, group_size=16, layer_wbits={"last": 8},
                              calib=calibration("llama", tmp_path))
    ids = np.load(FIXTURES / "llama.npz")["input_ids"][2]
    whole = design.executor("int").run_int({"input_ids": ids[None]})["logits"][0]
    np.testing.assert_array_equal(spatial_logits_per_position(design, ids), whole)


def test_the_trained_example_generates_the_integer_tokens_on_chip():
    design = compiler.compile(EXAMPLE / "model.onnx", calib=EXAMPLE / "calib.npz")
    for prompt in (b"def ", b"import os\n", b"class Parser:\n    "):
        expected = design.generate(list(prompt), 12, level="int")
        assert design.generate(list(prompt), 12, level="spatial") == expected, prompt


def test_the_report_gives_the_chip_s_token_rates_and_cache_memory():
    design = compiler.compile(EXAMPLE / "model.onnx", calib=EXAMPLE / "calib.npz", clock_mhz=100)
    decoder = design.report()["design"]["decoder"]
    layers, kv_heads, head_dim, context = 4, 2, 32, 64  # examples/tiny_lm/README.md
    assert decoder["context"] == context
    assert decoder["kv_cache_bits"] == layers * 2 * kv_heads * context * head_dim * 8
    assert decoder["decode_tokens_per_second"] == pytest.approx(100e6 / decoder["decode_cycles_per_token"])
    assert decoder["prefill_cycles_per_token"] < decoder["decode_cycles_per_token"]


def test_hwc_generate_at_the_spatial_level_prints_the_integer_tokens(tmp_path):
    args = ["generate", str(FIXTURES / "gpt2.onnx"), "--prompt", "5,6,7", "--max-new-tokens", "6",
            "--calib", str(calibration("gpt2", tmp_path))]
    at_int = run_hwc_command(*args, "--level", "int")
    at_spatial = run_hwc_command(*args, "--level", "spatial")
    assert at_int.returncode == 0 and at_spatial.returncode == 0, at_spatial.stderr
    assert at_spatial.stdout == at_int.stdout


def test_the_vector_unit_s_cycle_model():
    """Hand-counted: Q·Kᵀ for 4 heads, 64 keys, head dim 32 on one ALU is
    4·64 dot products of 32 cycles; a softmax over 4 rows of 64 is 3 passes
    of 64 cycles plus a division per row, one quotient bit a cycle: 127 << 25
    has 7 + 25 = 32 bits."""
    from xdsl.dialects.builtin import IntegerType, TensorType
    from xdsl.ir import Block

    from dialects import nn

    block = Block(arg_types=[TensorType(IntegerType(8), s) for s in ([1, 4, 1, 32], [1, 4, 32, 64])])
    matmul = nn.MatMulOp.create(operands=list(block.args), result_types=[TensorType(IntegerType(20), [1, 4, 1, 64])])
    assert op_cycles(matmul, 1) == 4 * 64 * 32
    scores = TensorType(IntegerType(8), [1, 4, 1, 64])
    softmax_block = Block(arg_types=[scores, TensorType(IntegerType(1), [1, 1, 1, 64]), TensorType(IntegerType(17), [108])])
    softmax = nn.IntSoftmaxOp(*softmax_block.args, axis=3, shift=25, out_max=127, result_type=scores)
    assert op_cycles(softmax, 1) == 4 * (3 * 64 + 32)


def test_target_tps_folds_the_chip_for_a_token_rate(tmp_path):
    """Decoding waits for each token, so --target-tps bounds the latency per token:
    the chip meets each target, and a lower target costs fewer multipliers."""
    calib = calibration("llama", tmp_path)
    reports = {}
    for target in (5_000, 15_000):
        design = compiler.compile(FIXTURES / "llama.onnx", calib=calib, target_tps=target, clock_mhz=200)
        reports[target] = design.report()["design"]
        assert reports[target]["decoder"]["decode_tokens_per_second"] >= target
        assert reports[target]["latency_cycles"] <= 200e6 / target
    assert reports[5_000]["multipliers"] < reports[15_000]["multipliers"]


@pytest.mark.parametrize("args, message", [
    (["llama", "--target-tps", "1e12"], "out of reach"),
    (["llama", "--target-tps", "1000", "--target-fps", "1000"], "goes alone"),
    (["mlp", "--target-tps", "1000"], "does not read token ids"),
])
def test_bad_token_rate_requests_are_one_line(args, message, tmp_path):
    name, *options = args
    model = FIXTURES / f"{name}.onnx" if name != "mlp" else FIXTURES.parent / "mlp.onnx"
    result = run_hwc_command("compile", str(model), "--emit", "spatial", "-o", str(tmp_path / "b"), *options)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def test_hwc_run_puts_whole_sequences_through_the_chip_one_token_a_frame(tmp_path):
    """`hwc run --level spatial` on a decoder: each sequence through the chip from empty
    caches, every position's logits, equal to the integer whole sequence's."""
    ids = np.load(FIXTURES / "qwen2.npz")["input_ids"][:2]
    np.save(tmp_path / "ids.npy", ids)
    calib = calibration("qwen2", tmp_path)
    for level in ("int", "spatial"):
        result = run_hwc_command("run", str(FIXTURES / "qwen2.onnx"), "--input", str(tmp_path / "ids.npy"),
                                 "--calib", str(calib), "--level", level, "-o", str(tmp_path / f"{level}.npz"))
        assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "spatial.npz")["logits"], np.load(tmp_path / "int.npz")["logits"])
