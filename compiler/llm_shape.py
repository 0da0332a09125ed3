"""A decoder-only language model known only by its shape: read from a `transformers`
`config.json`, with no weights.

    shape = read_config(Path("config.json"))     # ModelShape, or HwcError (one line)
    shape.matrices()                              # every dense layer, one decoder layer's and the head
    shape.parameters()                            # parameter count by kind

Two families, as `transformers` builds them:

* Llama-style (`llama`, `mistral`, `qwen2` and any other or no `model_type`):
  token embedding, per layer RMSNorm, q/k/v/o projections (grouped-query:
  `num_key_value_heads`), RMSNorm, gated MLP (gate, up: hidden -> intermediate;
  down: intermediate -> hidden), a final RMSNorm and the head (`lm_head`,
  vocab x hidden, no bias). Positions by RoPE (no parameters). Biases:
  `attention_bias` on q/k/v/o and `mlp_bias` on the MLP (Llama's fields, default
  false); Qwen2 always has q/k/v biases and none on o.
* GPT-2 (`model_type` "gpt2", or `n_embd` given): token and learned position
  embeddings, LayerNorms with a bias, q/k/v (one fused `c_attn`, counted here as
  three hidden x hidden matrices) and o with biases, an ungated MLP (up: `n_inner`,
  default 4 x hidden, and down, with biases), a final LayerNorm, the head.

`tie_word_embeddings` (the head shares the embedding's table) defaults to each
family's `transformers` default: false for Llama-style, true for GPT-2. A tied
head has no parameters of its own (it still does its MACs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from compiler.boundary import read_file
from compiler.errors import HwcError

GPT2 = "gpt2"
LLAMA = "llama"
KNOWN_MODEL_TYPES = {"llama", "mistral", "qwen2", "gpt2"}

REQUIRED_FIELDS = {
    "hidden": ("hidden_size", "n_embd"),
    "layers": ("num_hidden_layers", "n_layer"),
    "heads": ("num_attention_heads", "n_head"),
    "vocab": ("vocab_size",),
    "max_positions": ("max_position_embeddings", "n_positions"),
}
"""Each size and the `config.json` keys that give it (Llama names first, then GPT-2's)."""

MAX_SIZE = 1 << 24
"""The largest size taken (16,777,216: beyond every vocabulary, width and context in use)."""

PARAMETER_KINDS = ("embedding", "attention q", "attention k", "attention v", "attention o",
                   "MLP gate", "MLP up", "MLP down", "norms", "head")


@dataclass(frozen=True)
class Matrix:
    """One dense layer: `outputs` x `inputs` weights (+ `outputs` biases), `count` of them in the model."""

    kind: str
    outputs: int
    inputs: int
    bias: bool
    count: int

    @property
    def weights(self) -> int:
        return self.outputs * self.inputs


@dataclass(frozen=True)
class ModelShape:
    family: str
    model_type: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_positions: int
    tied: bool
    attention_bias: tuple[bool, bool, bool, bool]
    """Biases on q, k, v, o."""
    mlp_bias: bool

    @property
    def gated(self) -> bool:
        return self.family == LLAMA

    @property
    def rope(self) -> bool:
        """Positions by rotation (no position parameters; a cos/sin table by position)."""
        return self.family == LLAMA

    def matrices(self) -> list[Matrix]:
        """Every dense layer: one decoder layer's (each `count` = layers), then the head."""
        queries, keys = self.heads * self.head_dim, self.kv_heads * self.head_dim
        q_bias, k_bias, v_bias, o_bias = self.attention_bias
        mlp = [Matrix("MLP gate", self.intermediate, self.hidden, self.mlp_bias, self.layers)] if self.gated else []
        mlp += [Matrix("MLP up", self.intermediate, self.hidden, self.mlp_bias, self.layers),
                Matrix("MLP down", self.hidden, self.intermediate, self.mlp_bias, self.layers)]
        return [Matrix("attention q", queries, self.hidden, q_bias, self.layers),
                Matrix("attention k", keys, self.hidden, k_bias, self.layers),
                Matrix("attention v", keys, self.hidden, v_bias, self.layers),
                Matrix("attention o", self.hidden, queries, o_bias, self.layers),
                *mlp,
                Matrix("head", self.vocab, self.hidden, False, 1)]

    @property
    def norms(self) -> int:
        """Normalisations: two per layer and the final one."""
        return 2 * self.layers + 1

    @property
    def norm_has_bias(self) -> bool:
        """LayerNorm (GPT-2) has a bias beside its weight; RMSNorm has only the weight."""
        return self.family == GPT2

    def embedding_rows(self) -> int:
        """Rows of the embedding tables: the vocabulary, and the learned positions (GPT-2)."""
        return self.vocab + (0 if self.rope else self.max_positions)

    def parameters(self) -> dict[str, int]:
        """Parameter count by kind (`PARAMETER_KINDS`, biases with their layer), and "total"."""
        counts = dict.fromkeys(PARAMETER_KINDS, 0)
        counts["embedding"] = self.embedding_rows() * self.hidden
        for matrix in self.matrices():
            if matrix.kind == "head" and self.tied:
                continue
            counts[matrix.kind] += matrix.count * (matrix.weights + (matrix.outputs if matrix.bias else 0))
        counts["norms"] = self.norms * self.hidden * (2 if self.norm_has_bias else 1)
        counts["total"] = sum(counts.values())
        return counts

    def describe(self) -> dict:
        """The shape as a JSON-ready dict."""
        return {"family": self.family, "model_type": self.model_type, "hidden": self.hidden,
                "layers": self.layers, "heads": self.heads, "kv_heads": self.kv_heads,
                "head_dim": self.head_dim, "intermediate": self.intermediate, "vocab": self.vocab,
                "max_positions": self.max_positions, "tie_word_embeddings": self.tied}


# --------------------------------------------------------------------------- reading config.json


MAX_CONFIG_BYTES = 1 << 20
"""A config.json is a few kilobytes; anything above a megabyte is not one."""


def read_config(path: Path) -> ModelShape:
    """The shape in the `config.json` at `path`; HwcError naming the file and the problem."""
    text = read_file(path, max_bytes=MAX_CONFIG_BYTES)
    try:
        config = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HwcError(f"{path}: not JSON ({error})") from None
    except RecursionError:
        raise HwcError(f"{path}: not a config.json (nested too deeply)") from None
    if not isinstance(config, dict):
        raise HwcError(f"{path}: not a config.json (expected a JSON object of the model's settings)")
    try:
        return shape_from_config(config)
    except HwcError as error:
        raise HwcError(f"{path}: {error}") from None


def shape_from_config(config: dict) -> ModelShape:
    """The shape a parsed `config.json` describes (see the module doc)."""
    model_type = config.get("model_type") or ""
    if not isinstance(model_type, str):
        raise HwcError("'model_type' is not a string")
    family = GPT2 if model_type == GPT2 or "n_embd" in config else LLAMA
    sizes = {name: _positive(config, keys) for name, keys in REQUIRED_FIELDS.items()}
    heads, hidden = sizes["heads"], sizes["hidden"]
    kv_heads = _positive(config, ("num_key_value_heads",), default=heads)
    if heads % kv_heads:
        raise HwcError(f"num_key_value_heads {kv_heads} does not divide num_attention_heads {heads}")
    head_dim = _positive(config, ("head_dim",), default=0) or _even_split(hidden, heads)
    if family == GPT2:
        intermediate = _positive(config, ("n_inner",), default=4 * hidden)
        attention_bias, mlp_bias = (True,) * 4, True
    else:
        intermediate = _positive(config, ("intermediate_size",))
        attention_bias, mlp_bias = _llama_biases(config, model_type)
    tied = _flag(config, "tie_word_embeddings", default=family == GPT2)
    return ModelShape(family, model_type, hidden, sizes["layers"], heads, kv_heads, head_dim, intermediate,
                      sizes["vocab"], sizes["max_positions"], tied, attention_bias, mlp_bias)


def _positive(config: dict, keys: tuple[str, ...], default: int | None = None) -> int:
    """The first of `keys` present (and not null) as a positive integer, else `default`."""
    for key in keys:
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise HwcError(f"'{key}' is {json.dumps(value)}; expected a positive integer")
        if value > MAX_SIZE:
            raise HwcError(f"'{key}' is {value:,}; hwc plan takes sizes up to {MAX_SIZE:,}")
        return value
    if default is None:
        raise HwcError(f"no '{keys[0]}'" + (f" (or '{keys[1]}')" if len(keys) > 1 else "")
                       + ": a decoder config.json gives hidden_size, num_hidden_layers, num_attention_heads, "
                         "intermediate_size, vocab_size and max_position_embeddings")
    return default


def _even_split(hidden: int, heads: int) -> int:
    if hidden % heads:
        raise HwcError(f"hidden size {hidden} is not a multiple of the {heads} heads (and no 'head_dim')")
    return hidden // heads


def _flag(config: dict, key: str, default: bool) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise HwcError(f"'{key}' is {json.dumps(value)}; expected true or false")
    return value


def _llama_biases(config: dict, model_type: str) -> tuple[tuple[bool, bool, bool, bool], bool]:
    """(q, k, v, o) biases and the MLP's: Qwen2's q/k/v, else Llama's `attention_bias` / `mlp_bias`."""
    if model_type == "qwen2":
        return (True, True, True, False), False
    attention = _flag(config, "attention_bias", default=False)
    return (attention,) * 4, _flag(config, "mlp_bias", default=False)
