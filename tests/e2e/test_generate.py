"""Transformers at the float level, whole sequence and token by token, on real
exporter output (tests/fixtures/llm: tiny Llama, Qwen2, Mistral, GPT-2 exported
by torch.onnx from transformers, two exporters and two opsets; BERT).

Oracles: onnxruntime for the whole-sequence logits; the whole sequence for the
step graph's logits at every position; transformers' own greedy `generate`
(stored by the fixture script) for `hwc generate`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.errors import HwcError
from compiler.generate import Generator
from tests.support import onnxruntime_session, run_hwc_command

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"
DECODERS = ["llama", "qwen2", "mistral", "gpt2", "llama_classic", "gpt2_classic", "llama_opset23",
            "llama_sdpa", "qwen2_sdpa", "mistral_sdpa", "gpt2_sdpa", "llama_sdpa_opset23", "gpt2_sdpa_classic"]
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
    (["--prompt", "1", "--level", "rtl", "--context", "8"], "--context applies to the float and int levels"),
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


def masked_decoder(path: Path, mask_as_bool: bool) -> Path:
    """input_ids [1, 4] and attention_mask [1, 4] -> logits [1, 4, 5]: an embedding whose rows
    are kept where the mask is set, as transformers' mask code does (Cast to bool, Where), or
    scaled by the mask in float arithmetic (Cast to float, Mul), which hwc imports."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    table = np.arange(5 * 5, dtype=np.float32).reshape(5, 5) / 10
    mask_nodes = ([helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.BOOL),
                   helper.make_node("Unsqueeze", ["m", "axes"], ["m3"]),
                   helper.make_node("Where", ["m3", "e", "zero"], ["logits"])] if mask_as_bool else
                  [helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
                   helper.make_node("Unsqueeze", ["m", "axes"], ["m3"]),
                   helper.make_node("Mul", ["e", "m3"], ["logits"])])
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["e"]), *mask_nodes], "masked",
        [helper.make_tensor_value_info(n, TensorProto.INT64, [1, 4]) for n in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4, 5])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array([2], np.int64), "axes"),
         numpy_helper.from_array(np.float32(0), "zero")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def test_an_attention_mask_input_computed_on_with_boolean_ops_is_refused_in_one_line(tmp_path):
    # What torch.onnx exports from transformers when the wrapper passes attention_mask as an input.
    model = masked_decoder(tmp_path / "masked.onnx", mask_as_bool=True)
    for command in (["generate", model, "--prompt", "1,2"], ["compile", model, "-o", tmp_path / "build"]):
        result = run_hwc_command(*command)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert "input 'attention_mask' is not supported" in result.stderr
        assert "export the model with input_ids as its only input" in result.stderr


def test_an_attention_mask_input_in_float_arithmetic_runs_whole_sequence_but_does_not_generate(tmp_path):
    model = masked_decoder(tmp_path / "masked.onnx", mask_as_bool=False)
    design = compiler.compile(model)
    feeds = {"input_ids": np.array([[1, 4, 0, 2]]), "attention_mask": np.array([[1, 1, 0, 1]])}
    np.testing.assert_allclose(design.run(feeds, level="float")["logits"],
                               onnxruntime_session(model).run(None, feeds)[0], **TOLERANCE)
    result = run_hwc_command("generate", model, "--prompt", "1,2")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "needs exactly one input, integer token ids" in result.stderr


@pytest.mark.parametrize("variants", [("llama", "llama_classic", "llama_opset23")])
def test_exporters_and_opsets_land_in_the_same_ir(variants):
    # The same weights exported by the dynamo and the classic exporter, at opsets
    # 17, 18 and 23 (RMSNormalization), import to the same nn ops. (GPT-2's classic
    # export keeps two more reshapes: consecutive reshapes are not merged yet.)
    def ops(name):
        module = compiler.compile(FIXTURES / f"{name}.onnx").nn_module
        return Counter(op.name for op in module.walk()
                       if op.name.startswith("nn.") and op.name not in ("nn.constant", "nn.weight"))

    first, *others = [ops(name) for name in variants]
    for name, other in zip(variants[1:], others):
        assert other == first, (name, other - first, first - other)
