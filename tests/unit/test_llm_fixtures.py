"""The transformer fixtures in tests/fixtures/llm guard themselves, without torch:
onnxruntime on each committed .onnx reproduces the logits `transformers`
computed (stored in the .npz next to it), and every stored greedy generation is
what onnxruntime's whole-sequence logits predict, token by token.

The fixtures and their .npz layout are made by tests/fixtures/llm/make_llm_fixtures.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.support import FIXTURES, onnxruntime_session

LLM_FIXTURES = FIXTURES / "llm"
TOLERANCE = 1e-4
EXPECTED = {"llama", "qwen2", "mistral", "gpt2", "bert"}
SDPA = {"llama_sdpa", "qwen2_sdpa", "mistral_sdpa", "gpt2_sdpa", "gpt2_sdpa_classic", "llama_sdpa_opset23"}
"""Exported with transformers' default attention code (SDPA), not eager."""
WHOLE_SEQUENCE_ONLY = {"bert"}
MODELS = sorted(LLM_FIXTURES.glob("*.onnx"))


def fixture_data(model: Path) -> dict[str, np.ndarray]:
    with np.load(model.with_suffix(".npz"), allow_pickle=False) as data:
        return dict(data)


def test_every_family_has_a_fixture_and_every_model_its_data():
    assert EXPECTED | SDPA <= {path.stem for path in MODELS}
    for model in MODELS:
        assert model.with_suffix(".npz").is_file(), model.name


@pytest.mark.parametrize("model", MODELS, ids=lambda path: path.stem)
def test_signature_is_token_ids_in_logits_out_with_weights_embedded(model):
    proto = onnx.load(str(model), load_external_data=False)
    data = fixture_data(model)
    assert [i.name for i in proto.graph.input] == ["input_ids"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    (input_ids,), (logits,) = proto.graph.input, proto.graph.output
    assert input_ids.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert logits.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_value for d in input_ids.type.tensor_type.shape.dim] == [1, data["input_ids"].shape[1]]
    assert [d.dim_value for d in logits.type.tensor_type.shape.dim] == [1, *data["logits"].shape[1:]]
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)


@pytest.mark.parametrize("model", MODELS, ids=lambda path: path.stem)
def test_onnxruntime_reproduces_transformers_logits(model):
    data = fixture_data(model)
    session = onnxruntime_session(model)
    for input_ids, expected in zip(data["input_ids"], data["logits"]):
        (got,) = session.run(["logits"], {"input_ids": input_ids[None]})
        np.testing.assert_allclose(got[0], expected, rtol=0, atol=TOLERANCE)


def greedy_steps(data: dict[str, np.ndarray]):
    """(prompt index, step, tokens before the step, the stored token of the step)."""
    for row, length in enumerate(data["prompt_lengths"]):
        tokens = np.concatenate([data["prompts"][row, :length], data["generated"][row]])
        for step in range(data["generated"].shape[1]):
            yield row, step, tokens[:length + step], tokens[length + step]


@pytest.mark.parametrize("model", [m for m in MODELS if m.stem.split("_")[0] not in WHOLE_SEQUENCE_ONLY],
                         ids=lambda path: path.stem)
def test_stored_generations_are_greedy_argmax_of_onnxruntime(model):
    data = fixture_data(model)
    seq_len = data["input_ids"].shape[1]
    assert (data["prompts"][data["prompts"] >= 0].size == data["prompt_lengths"].sum())
    assert data["prompt_lengths"].max() + data["generated"].shape[1] <= seq_len
    session = onnxruntime_session(model)
    for row, step, prefix, token in greedy_steps(data):
        # The model is causal: what follows the prefix (here zeros) cannot change its last logits.
        padded = np.zeros((1, seq_len), dtype=np.int64)
        padded[0, :len(prefix)] = prefix
        (logits,) = session.run(["logits"], {"input_ids": padded})
        assert int(np.argmax(logits[0, len(prefix) - 1])) == token, f"prompt {row}, step {step}"


@pytest.mark.parametrize("model", MODELS, ids=lambda path: path.stem)
def test_sdpa_exports_carry_the_nan_guard_or_the_attention_op_and_eager_ones_neither(model):
    # SDPA attention exports as where(isnan(softmax), 0, softmax), or at opset 23 as the
    # fused Attention op; eager attention as the softmax alone.
    ops = {node.op_type for node in onnx.load(str(model), load_external_data=False).graph.node}
    assert bool(ops & {"IsNaN", "Attention"}) == (model.stem in SDPA), sorted(ops)
