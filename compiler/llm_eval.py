"""How well a language model predicts text, at a level of the pipeline: what
`hwc verify` reports for a model with token-id inputs and what
`benchmarks/llm_quality.py` tabulates.

Text is cut into non-overlapping windows of the exported sequence length T;
each window is run whole, and position t (1 <= t < T) is scored on predicting
token t from the tokens before it in the same window. Reported: the mean
negative log-likelihood (nats per token), its perplexity `exp(nll)` and bits per
token `nll / ln 2` (bits per byte for a byte-level model), and the greedy
(argmax) next-token choices, to compare levels with.

Token ids come from a `.npy` (1-D, or windows [n, T]) or a text file read as
UTF-8 bytes when the model's vocabulary is byte-level (at least 256 ids).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.errors import HwcError

WINDOWS_PER_RUN = 16


@dataclass
class TextScore:
    """A level's predictions over the windows: nll per scored position, greedy choices."""

    level: str
    nll: np.ndarray          # [windows, T-1], nats
    choices: np.ndarray      # [windows, T-1], argmax next token

    @property
    def mean_nll(self) -> float:
        return float(self.nll.mean())

    @property
    def perplexity(self) -> float:
        return math.exp(self.mean_nll)

    @property
    def bits_per_token(self) -> float:
        return self.mean_nll / math.log(2)

    def agreement(self, other: "TextScore") -> float:
        return float(np.mean(self.choices == other.choices))


def load_token_ids(path: Path, vocabulary: int, option: str = "--text") -> np.ndarray:
    """1-D int64 token ids from `.npy` or, for a byte-level vocabulary, a text file's bytes."""
    path = Path(path)
    if not path.is_file():
        raise HwcError(f"{option} {path}: no such file")
    if path.suffix == ".npy":
        try:
            ids = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise HwcError(f"{option} {path}: not a numpy array file ({error})") from None
        if ids.dtype.kind not in "iu":
            raise HwcError(f"{option} {path}: holds {ids.dtype} data, not token ids")
        ids = ids.astype(np.int64).reshape(-1)
    else:
        if vocabulary < 256:
            raise HwcError(f"{option} {path}: a text file is read as bytes, but the vocabulary has only "
                           f"{vocabulary} ids; give token ids as a .npy")
        ids = np.frombuffer(path.read_bytes(), np.uint8).astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= vocabulary):
        raise HwcError(f"{option} {path}: token id {int(ids.max())} is outside the vocabulary of {vocabulary}")
    return ids


def text_windows(ids: np.ndarray, length: int, limit: int | None = None) -> np.ndarray:
    """Non-overlapping [n, length] windows of `ids` (the tail shorter than a window dropped)."""
    count = ids.size // length
    if limit is not None:
        count = min(count, limit)
    if count == 0:
        raise HwcError(f"the text holds {ids.size} tokens, fewer than one window of {length}")
    return ids[: count * length].reshape(count, length)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def score_text(design, windows: np.ndarray, level: str, logits_name: str | None = None) -> TextScore:
    """Run `windows` whole at `level` and score every position after the first."""
    name = design.input_names[0]
    output = logits_name or design.output_names[0]
    nll, choices = [], []
    for begin in range(0, len(windows), WINDOWS_PER_RUN):
        batch = windows[begin:begin + WINDOWS_PER_RUN]
        logits = design.run({name: batch}, level=level)[output]
        logp = log_softmax(logits[:, :-1])
        targets = batch[:, 1:]
        nll.append(-np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0])
        choices.append(logits[:, :-1].argmax(axis=-1))
    return TextScore(level, np.concatenate(nll), np.concatenate(choices))
