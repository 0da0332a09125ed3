"""Weight formats: how many bits a layer's weights get, per output channel or per
group of inputs, and the per-layer overrides a user gives.

A format is `wbits` and a `group_size` (0: one scale per output channel). With
groups, a weight row is cut along the input axis into groups of `group_size` (the
last one shorter when the row does not divide) and stored as

    W[c, i] ≈ q[c, i] · g[c, i // group_size] · S[c]

`q` signed `wbits`-bit (narrow range), `g` an unsigned `GROUP_SCALE_BITS`-bit
integer per group (at least 1), `S` one real scale per output channel: the
accumulator `Σ_k g[c,k] Σ_{i in k} x_i q[c,i]` is exact in integers and one
per-channel requant applies `S`. This is the shape of llama.cpp's k-quants
(small integer group scales under one channel scale), with integers instead of
half floats.

Overrides (`layer_wbits`, from `--layer-wbits NAME=BITS[:GROUP]`) give a layer
another format. A layer answers to its ordinal name `dense<i>` (the i-th weight
layer in graph order, counting from 0), to `first` and `last`, to its weight's
key in the weight store and to its ONNX node and output names; NAME may be a
glob (`dense1*`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import numpy as np

from compiler.errors import HwcError
from compiler.numerics import BITS_RANGES, WEIGHT_BLOCK_ELEMENTS, narrow_limit, round_half_up

GROUP_SCALE_BITS = 8
"""Width of a group's integer scale g (unsigned: 1..2^8-1)."""
GROUP_SIZES = (0, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class WeightFormat:
    bits: int
    group_size: int = 0

    def check(self, what: str) -> None:
        low, high = BITS_RANGES["wbits"]
        if not low <= self.bits <= high:
            raise HwcError(f"{what}: {self.bits} weight bits; choose {low}..{high}")
        if self.group_size not in GROUP_SIZES:
            raise HwcError(f"{what}: group size {self.group_size}; choose one of "
                           f"{', '.join(map(str, GROUP_SIZES[1:]))} (or 0: per output channel)")

    def describe(self) -> str:
        return f"w{self.bits}" + (f" g{self.group_size}" if self.group_size else "")


def parse_overrides(text: str) -> list[tuple[str, WeightFormat]]:
    """`last=8,dense0=6:64` -> [("last", w8), ("dense0", w6 g64)]; HwcError for anything else."""
    overrides = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        bits, _, group = value.partition(":")
        if not name or not bits.isdigit() or (group and not group.isdigit()):
            raise HwcError(f"--layer-wbits {item!r}: write NAME=BITS or NAME=BITS:GROUP, e.g. last=8 or dense3=4:64")
        weight_format = WeightFormat(int(bits), int(group) if group else 0)
        weight_format.check(f"--layer-wbits {item!r}")
        overrides.append((name.strip(), weight_format))
    return overrides


def format_overrides(overrides: dict[str, int | str] | list | str | None) -> str:
    """The pass-option text of overrides given as a dict (`{"last": 8, "dense0": "6:64"}`), a list of
    NAME=BITS strings, or the text itself."""
    if not overrides:
        return ""
    if isinstance(overrides, str):
        text = overrides
    elif isinstance(overrides, dict):
        text = ",".join(f"{name}={value}" for name, value in overrides.items())
    else:
        text = ",".join(overrides)
    parse_overrides(text)
    return text


@dataclass(frozen=True)
class LayerNames:
    """The names a weight layer answers to (see the module doc)."""

    ordinal: int
    count: int
    others: tuple[str, ...]

    def all(self) -> list[str]:
        names = [f"dense{self.ordinal}", *self.others]
        if self.ordinal == 0:
            names.append("first")
        if self.ordinal == self.count - 1:
            names.append("last")
        return names


def format_for(names: LayerNames, default: WeightFormat, overrides: list[tuple[str, WeightFormat]]) -> WeightFormat:
    """The last override whose pattern matches one of the layer's names, else `default`."""
    chosen = default
    for pattern, weight_format in overrides:
        if any(fnmatch.fnmatchcase(name, pattern) for name in names.all()):
            chosen = weight_format
    return chosen


def check_overrides_match(overrides: list[tuple[str, WeightFormat]], layers: list[LayerNames]) -> None:
    """HwcError naming the first override that matches no layer (a misspelt name)."""
    for pattern, _ in overrides:
        if not any(fnmatch.fnmatchcase(name, pattern) for layer in layers for name in layer.all()):
            known = f"dense0..dense{len(layers) - 1}, first, last" if layers else "none"
            raise HwcError(f"--layer-wbits {pattern}: no weight layer has that name (layers: {known}, "
                           "or a weight or ONNX node name)")


def quantize_groups(weight: np.ndarray, bits: int, group_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`weight` [C, I] as (q int8 [C, I], g int64 [C, ceil(I/group)], S float64 [C]) (see the module
    doc; when I is not a multiple of the group size the last group is shorter).

    g[c,k] = max(1, round(s[c,k] / S[c])) with s[c,k] = max|W[c, group k]| / (2^(bits-1)-1)
    and S[c] = max_k s[c,k] / (2^GROUP_SCALE_BITS - 1); q = clamp(round(W / (g·S))).
    Rows are independent: they are quantized in blocks of about `WEIGHT_BLOCK_ELEMENTS`, so
    that a large (memory-mapped) weight is never held whole in float64.
    """
    channels, inputs = weight.shape
    groups_per_row = -(-inputs // group_size)
    q = np.empty((channels, inputs), np.int8)
    groups = np.empty((channels, groups_per_row), np.int64)
    channel = np.empty(channels, np.float64)
    step = max(1, WEIGHT_BLOCK_ELEMENTS // max(1, inputs))
    for begin in range(0, channels, step):
        rows = slice(begin, min(channels, begin + step))
        q[rows], groups[rows], channel[rows] = _quantize_group_rows(weight[rows], bits, group_size)
    return q, groups, channel


def _quantize_group_rows(weight: np.ndarray, bits: int, group_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`quantize_groups` of a block of rows."""
    channels, inputs = weight.shape
    groups_per_row = -(-inputs // group_size)
    limit = narrow_limit(bits)
    if inputs == groups_per_row * group_size:
        padded = np.array(weight, np.float64)  # a copy of the block: rounded in place below
    else:
        padded = np.zeros((channels, groups_per_row * group_size))
        padded[:, :inputs] = np.asarray(weight, np.float64)
    if not np.all(np.isfinite(padded)):
        raise HwcError("quantize: a weight holds NaN or infinite values")
    grouped = padded.reshape(channels, groups_per_row, group_size)
    ideal = np.maximum(grouped.max(axis=2), -grouped.min(axis=2)) / limit
    channel = ideal.max(axis=1) / ((1 << GROUP_SCALE_BITS) - 1)
    channel = np.where(channel > 0, channel, 1.0)
    groups = np.clip(round_half_up(ideal / channel[:, None]), 1, (1 << GROUP_SCALE_BITS) - 1).astype(np.int64)
    steps = groups * channel[:, None]
    # q = clamp(round_half_up(W / step)), computed in place in the block's float64 buffer
    np.divide(grouped, steps[:, :, None], out=grouped)
    np.add(grouped, 0.5, out=grouped)
    np.floor(grouped, out=grouped)
    np.clip(grouped, -limit, limit, out=grouped)
    return padded[:, :inputs].astype(np.int8), groups, channel


GIVEN_GROUP_SCALE_BITS = 12
"""Width of the integer group scales standing for a model's own float block scales
(MatMulNBits): each block's scale is represented within 2^-13 of its row's largest
(a 12-bit g keeps the bias and accumulator within a 32-bit ROM word)."""


def groups_for_scales(block_scales: np.ndarray, bits: int = GIVEN_GROUP_SCALE_BITS) -> tuple[np.ndarray, np.ndarray]:
    """A model's float block scales s [C, blocks] as (g int64 [C, blocks], S float64 [C]) with
    `g · S ≈ s`: S[c] = max_k |s[c,k]| / (2^bits - 1), |g| = clamp(round(|s| / S), 1, 2^bits - 1)
    with the sign of s (onnxruntime's symmetric quantizer writes negative scales), so
    |g·S - s| <= S/2 (exact only when every s[c,k] is a multiple of S[c])."""
    scales = np.asarray(block_scales, np.float64)
    top = (1 << bits) - 1
    channel = np.abs(scales).max(axis=1) / top
    channel = np.where(channel > 0, channel, 1.0)
    magnitudes = np.clip(round_half_up(np.abs(scales) / channel[:, None]), 1, top).astype(np.int64)
    return np.where(scales < 0, -magnitudes, magnitudes), channel


def grouped_magnitudes(q: np.ndarray, groups: np.ndarray, group_size: int) -> np.ndarray:
    """[C, groups] int64 for an int8 `q` (as `quantize_groups` gives): g[c,k] · Σ_{i in group k}
    |q[c,i]|, whose row sums are those of |q · expand_groups(g)| (the accumulator bound of a
    grouped layer) without building that [C, I] matrix; computed in blocks of rows."""
    channels, inputs = q.shape
    groups_per_row = groups.shape[1]
    sums = np.empty((channels, groups_per_row), np.int64)
    step = max(1, WEIGHT_BLOCK_ELEMENTS // max(1, groups_per_row * group_size))
    for begin in range(0, channels, step):
        rows = slice(begin, min(channels, begin + step))
        block = np.zeros((rows.stop - begin, groups_per_row * group_size), np.int16)
        np.abs(q[rows], out=block[:, :inputs], dtype=np.int16)  # |q| of int8 fits int16
        sums[rows] = block.reshape(-1, groups_per_row, group_size).sum(axis=2, dtype=np.int64)
    return sums * groups


def expand_groups(groups: np.ndarray, group_size: int, inputs: int) -> np.ndarray:
    """Each group's scale repeated over its inputs: [C, inputs]."""
    return np.repeat(groups, group_size, axis=1)[:, :inputs]
