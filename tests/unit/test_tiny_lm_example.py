"""The trained example examples/tiny_lm guards itself without torch: onnxruntime on
the committed model.onnx scores the held-out text as transformers did (bits per
byte per window, stored in reference.json by examples/tiny_lm/train.py), hwc's
float level equals onnxruntime's logits, and `Design.generate` reproduces
transformers' greedy continuation."""

from __future__ import annotations

import json

import numpy as np
import pytest

import compiler
from tests.support import ROOT, onnxruntime_session

EXAMPLE = ROOT / "examples" / "tiny_lm"
MODEL = EXAMPLE / "model.onnx"
SEQ_LEN = 64
CHECKED_WINDOWS = 8
BITS_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((EXAMPLE / "reference.json").read_text())


@pytest.fixture(scope="module")
def heldout_windows() -> np.ndarray:
    """heldout.txt as non-overlapping windows of SEQ_LEN bytes, int64 [n, SEQ_LEN]."""
    data = np.frombuffer((EXAMPLE / "heldout.txt").read_bytes(), dtype=np.uint8).astype(np.int64)
    count = len(data) // SEQ_LEN
    return data[:count * SEQ_LEN].reshape(count, SEQ_LEN)


@pytest.fixture(scope="module")
def design():
    return compiler.compile(MODEL)


def bits_per_byte(logits: np.ndarray, window: np.ndarray) -> float:
    """Mean -log2 p of bytes 1..T-1 of `window` given `logits` [T, 256] (float64)."""
    logits = logits.astype(np.float64)[:-1]
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return float(-log_probs[np.arange(SEQ_LEN - 1), window[1:]].mean() / np.log(2))


def test_files_are_within_their_budgets_and_shapes(reference, heldout_windows):
    assert MODEL.stat().st_size <= 4_200_000
    assert sum(p.stat().st_size for p in EXAMPLE.iterdir() if p.is_file()) <= 5_000_000
    with np.load(EXAMPLE / "calib.npz", allow_pickle=False) as calib:
        assert list(calib) == ["input_ids"]
        assert calib["input_ids"].dtype == np.int64 and calib["input_ids"].shape == (16, 1, SEQ_LEN)
        assert 0 <= calib["input_ids"].min() and calib["input_ids"].max() < 256
    assert len(reference["heldout"]["window_bits_per_byte"]) == len(heldout_windows)


def test_onnxruntime_scores_the_heldout_text_as_transformers_did(reference, heldout_windows):
    session = onnxruntime_session(MODEL)
    expected = reference["heldout"]["window_bits_per_byte"][:CHECKED_WINDOWS]
    got = [bits_per_byte(session.run(["logits"], {"input_ids": w[None]})[0][0], w)
           for w in heldout_windows[:CHECKED_WINDOWS]]
    assert abs(np.mean(got) - np.mean(expected)) <= BITS_TOLERANCE, (got, expected)
    assert reference["heldout"]["bits_per_byte"] <= 2.5, "the committed model should have learned"


def test_float_level_equals_onnxruntime(design, heldout_windows):
    window = heldout_windows[1][None]
    expected = onnxruntime_session(MODEL).run(["logits"], {"input_ids": window})[0]
    got = design.run({"input_ids": window}, level="float")["logits"]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_generate_reproduces_transformers_greedy_continuation(design, reference):
    generation = reference["generations"][0]
    assert generation["prompt_ids"] == list(generation["prompt"].encode())
    tokens = design.generate(generation["prompt_ids"], len(generation["new_ids"]), level="float")
    assert tokens == generation["new_ids"]
