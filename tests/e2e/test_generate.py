"""Transformers at the float level, whole sequence and token by token, on real
exporter output (tests/fixtures/llm: tiny Llama, Qwen2, Mistral, GPT-2 exported
by torch.onnx from transformers, two exporters and two opsets; BERT).

Oracles: onnxruntime for the whole-sequence logits; the whole sequence for the
step graph's logits at every position; transformers' own greedy `generate`
(stored by the fixture script) for `hwc generate`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.errors import HwcError
from compiler.generate import Generator
from tests.support import onnxruntime_session, run_hwc_command

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"
DECODERS = ["llama", "qwen2", "mistral", "gpt2", "llama_classic", "gpt2_classic", "llama_opset23",
            "llama_sdpa", "qwen2_sdpa", "mistral_sdpa", "gpt2_sdpa"]
TOLERANCE = dict(rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module", params=DECODERS)
def decoder(request):
    name = request.param
    design = compiler.compile(FIXTURES / f"{name}.onnx")
    return name, design, np.load(FIXTURES / f"{name}.npz")


def test_whole_sequence_equals_onnxruntime(decoder):
    name, design, data = decoder
    session = onnxruntime_session(FIXTURES / f"{name}.onnx")
    for ids in data["input_ids"]:
        expected = session.run(None, {"input_ids": ids[None]})[0]
        got = design.run({"input_ids": ids[None]}, level="float")["logits"]
        np.testing.assert_allclose(got, expected, **TOLERANCE)


def test_step_graph_equals_the_whole_sequence_at_every_position(decoder):
    name, design, data = decoder
    generator = Generator(design.nn_module)
    ids = data["input_ids"][0]
    whole = design.run({"input_ids": ids[None]}, level="float")["logits"][0]
    state = {n: np.zeros(generator.plan.ir_input_shapes[n], np.float32) for n in generator.cache_names}
    for position, token in enumerate(ids):
        logits, state = generator.step(int(token), position, state)
        np.testing.assert_allclose(logits[0, 0], whole[position], **TOLERANCE)


def test_generate_reproduces_transformers_greedy_tokens(decoder):
    name, design, data = decoder
    for prompt, length, expected in zip(data["prompts"], data["prompt_lengths"], data["generated"]):
        tokens = design.generate(list(prompt[:length]), len(expected))
        assert tokens == list(expected), (name, list(prompt[:length]))


def test_hwc_generate_prints_the_tokens_and_writes_them(tmp_path):
    data = np.load(FIXTURES / "llama.npz")
    prompt, length, expected = data["prompts"][1], data["prompt_lengths"][1], data["generated"][1]
    out = tmp_path / "tokens.npy"
    result = run_hwc_command("generate", FIXTURES / "llama.onnx", "--prompt", ",".join(map(str, prompt[:length])),
                             "--max-new-tokens", str(len(expected)), "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == ",".join(map(str, expected))
    assert list(np.load(out)) == list(expected)


@pytest.mark.parametrize("args, message", [
    (["--prompt", "1,2", "--max-new-tokens", "20"], "more than the context of 16"),
    (["--prompt", "1,500"], "token id 500 is outside the vocabulary of 128"),
    (["--prompt", "1,,2"], "give token ids as integers"),
    (["--prompt", "1", "--level", "int"], "float level only"),
    (["--prompt", "1", "--context", "40"], "--context 40"),
])
def test_bad_generate_requests_are_one_line(args, message):
    result = run_hwc_command("generate", FIXTURES / "llama.onnx", *args)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_a_bidirectional_encoder_runs_whole_sequence_but_does_not_generate():
    design = compiler.compile(FIXTURES / "bert.onnx")
    data = np.load(FIXTURES / "bert.npz")
    session = onnxruntime_session(FIXTURES / "bert.onnx")
    ids = data["input_ids"][:1]
    np.testing.assert_allclose(design.run({"input_ids": ids})["logits"],
                               session.run(None, {"input_ids": ids})[0], **TOLERANCE)
    result = run_hwc_command("generate", FIXTURES / "bert.onnx", "--prompt", "1,2")
    assert result.returncode == 1
    assert "does not run token by token" in result.stderr and "not causally masked" in result.stderr


def test_a_smaller_context_gives_the_same_tokens():
    # Caches of 8 positions instead of the exported 16: the position tables and the
    # mask are cut to 8; 3 prompt tokens and 5 new ones fit.
    design = compiler.compile(FIXTURES / "llama.onnx")
    data = np.load(FIXTURES / "llama.npz")
    prompt, length, expected = data["prompts"][1], data["prompt_lengths"][1], data["generated"][1]
    assert length == 3
    assert design.generate(list(prompt[:3]), 5, context=8) == list(expected[:5])
    with pytest.raises(HwcError, match="more than the context of 8"):
        design.generate(list(prompt[:3]), 7, context=8)
