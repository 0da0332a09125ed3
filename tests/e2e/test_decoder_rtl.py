"""The LLM chip in Verilator (compiler/hw/vector.py, compiler/hw/llm_chip.py): the
smallest decoder fixture (`llama_micro`: one layer, context 16), exported by real
CIRCT, linted and simulated.

Oracles: the integer executor's greedy tokens (`Design.generate(level="int")`,
itself checked against the whole-sequence integers) and the spatial executor's
logits at every position (itself checked against the integer whole sequence);
cycles against the spatial level's prediction: a generated token every
`latency` cycles (decode waits for each token), prompt tokens every bottleneck
`ii` (prefill pipelines)."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
from compiler.llm_rtl import ChipSimulation
from tests.e2e.test_generate_int import FIXTURES

pytestmark = pytest.mark.rtl


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    path = tmp_path_factory.mktemp("micro") / "calib.npz"
    np.savez(path, input_ids=np.load(FIXTURES / "llama_micro.npz")["input_ids"])
    return path


@pytest.fixture(scope="module")
def micro(calib):
    design = compiler.compile(FIXTURES / "llama_micro.onnx", calib=calib, max_multipliers=64)
    return design, design.rtl_build()


def spatial_logits(design, ids):
    executor = design.executor("spatial")
    executor.states.reset()
    return np.stack([executor.run_int({"input_ids": np.array([[t]]), "position": np.array([p])})["logits"]
                     .reshape(-1) for p, t in enumerate(ids)])


def test_the_chip_s_logits_equal_the_spatial_level_at_every_position(micro):
    design, build = micro
    ids = [int(t) for t in np.load(FIXTURES / "llama_micro.npz")["input_ids"][1]]
    run = ChipSimulation(design.executor("spatial"), build, stall_in=0.2, stall_out=0.2).logits(ids)
    np.testing.assert_array_equal(run.logits, spatial_logits(design, ids))


@pytest.mark.parametrize("row", [0, 1, 2])
def test_the_chip_generates_the_integer_tokens_under_random_stalls(micro, row):
    design, build = micro
    data = np.load(FIXTURES / "llama_micro.npz")
    prompt = [int(t) for t in data["prompts"][row][:data["prompt_lengths"][row]]]
    chip = ChipSimulation(design.executor("spatial"), build, stall_in=0.3, stall_out=0.3, seed=row)
    assert chip.generate(prompt, 8).tokens == design.generate(prompt, 8, level="int")


def test_tokens_per_second_are_as_predicted(micro):
    """Within 5% (the issue's bound): decode, a token every `latency` cycles; prefill,
    the prompt's tokens at the bottleneck's `ii` each, then one latency."""
    design, build = micro
    report = design.report()["design"]["decoder"]
    chip = ChipSimulation(design.executor("spatial"), build)
    prompt = [int(t) for t in np.load(FIXTURES / "llama_micro.npz")["input_ids"][0][:6]]
    run = chip.generate(prompt, 6)
    assert run.decode_cycles_per_token == pytest.approx(report["decode_cycles_per_token"], rel=0.05)
    first_token = run.out_cycles[0]
    predicted = (len(prompt) - 1) * report["prefill_cycles_per_token"] + report["decode_cycles_per_token"]
    assert first_token == pytest.approx(predicted, rel=0.05)


def test_generate_and_verify_at_the_rtl_level(micro):
    """What `hwc generate --level rtl` and `hwc verify` run (the CLI is the same call
    at every level, tested at the others): the chip's tokens are the integer ones,
    and the ladder's RTL rung agrees, bit-exact, its cycles as predicted."""
    from compiler.verify_llm import rtl_rung

    design, _ = micro
    assert design.generate([5, 6, 7], 6, level="rtl") == design.generate([5, 6, 7], 6, level="int")
    rung = rtl_rung(design, np.load(FIXTURES / "llama_micro.npz")["input_ids"][2])
    assert rung.agreed and "16 positions bit-identical" in rung.detail, rung.detail
