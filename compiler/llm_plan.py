"""`hwc plan`: the LLM chip projected from a model's shape alone (`compiler.llm_shape`).

    options = PlanOptions(wbits=4, group_size=64, abits=8, target_tps=17000, clock_mhz=1000)
    plan = make_plan(read_config(path), options)      # JSON-ready dict (`print_plan` prints it)

What it counts (docs/llm-plan.md states the model in full):

* ROM bits: a dense layer's N x K weights at `wbits`, with groups one
  `GROUP_SCALE_BITS`-bit integer per G inputs of each row (`compiler.weight_formats`),
  one `MULTIPLIER_BITS`-bit requant multiplier per output channel, a bias in a
  `BIAS_BITS`-bit word; embedding tables at `abits` (an activation source, as the
  integer level keeps them); a norm's weight as a per-channel multiplier (its bias
  as a bias word); RoPE's cos/sin table by position (context x head_dim at `abits`).
  A tied head is stored twice: as the embedding (abits) and as the head (wbits).
* SRAM bits: the K/V cache, 2 · layers · kv_heads · head_dim · context · abits.
* Work per token: one MAC per dense weight (the head included, the embedding is a
  lookup); attention 2 · layers · heads · head_dim · n MACs with n keys.
* The chip: a pipeline where every token passes every unit once, so each unit has
  C = floor(clock / tokens per s) cycles per token. `ideal`: a unit of M MACs needs
  ceil(M / C) multipliers. `folded`: each unit folded as `fold-parallelism` folds an
  MVU (pe divides the outputs, simd the inputs, (N/pe)·(K/simd) <= C, least pe·simd).
  Units: every dense layer, and per decoder layer the two attention products at full
  context (Q·Kᵀ: heads·context outputs of head_dim inputs; P·V: heads·head_dim
  outputs of context inputs). With a multiplier budget: the least C that fits it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

from compiler.errors import HwcError
from compiler.llm_shape import KNOWN_MODEL_TYPES, PARAMETER_KINDS, Matrix, ModelShape
from compiler.numerics import MULTIPLIER_BITS, check_bits
from compiler.weight_formats import GROUP_SCALE_BITS, WeightFormat
from dialects.spatial import divisors

BIAS_BITS = 32
"""A bias (or a LayerNorm's offset) is one accumulator-wide word; 32 bits is assumed."""
SRAM_TRANSISTORS_PER_BIT = 6
"""The six-transistor SRAM cell."""
ROM_TRANSISTORS_PER_BIT = 1
"""At most one transistor per bit in a mask-programmed NOR ROM (one at each cell that stores a 1)."""

HC1 = {"parameters": 8_030_000_000, "transistors": 53_000_000_000, "tokens_per_s": 17_000, "weights": "3/6-bit"}
"""Taalas HC1 as published (Llama-3.1-8B hardwired): tokens/s for one user."""


@dataclass(frozen=True)
class PlanOptions:
    wbits: int = 4
    group_size: int = 64
    abits: int = 8
    target_tps: float | None = None
    clock_mhz: float = 1000.0
    context: int | None = None
    max_multipliers: int | None = None

    def check(self) -> None:
        WeightFormat(self.wbits, self.group_size).check(f"--wbits {self.wbits} --group-size {self.group_size}")
        check_bits(self.wbits, self.abits)
        for option, value in (("--target-tps", self.target_tps), ("--clock-mhz", self.clock_mhz),
                              ("--context", self.context), ("--max-multipliers", self.max_multipliers)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise HwcError(f"{option} {value}: must be positive")


DEFAULT_TARGET_TPS = HC1["tokens_per_s"]


_divisors = functools.lru_cache(maxsize=64)(divisors)
"""`dialects.spatial.divisors`, remembered: a budget search folds the same few sizes many times."""


@dataclass(frozen=True)
class Unit:
    """A multiplying unit of the pipeline: `count` copies of an `outputs` x `inputs` product per token."""

    name: str
    outputs: int
    inputs: int
    count: int
    attention: bool = False

    @property
    def macs(self) -> int:
        return self.outputs * self.inputs

    def ideal_multipliers(self, cycles: int) -> int:
        """ceil(MACs / cycles): every multiplier busy every cycle."""
        return -(-self.macs // cycles)

    def folding(self, cycles: int) -> tuple[int, int]:
        """(pe, simd): pe divides outputs, simd divides inputs, (N/pe)·(K/simd) <= cycles, least pe·simd
        (ties: the larger ii, then the larger simd, as `fold-parallelism` breaks them)."""
        best = None
        for pe in _divisors(self.outputs):
            rows = self.outputs // pe
            simd = next((s for s in _divisors(self.inputs) if rows * (self.inputs // s) <= cycles), None)
            if simd is not None:
                key = (pe * simd, -rows * (self.inputs // simd), -simd)
                best = min(best, (key, (pe, simd))) if best else (key, (pe, simd))
        if best is None:
            raise HwcError(f"{self.name}: cannot take {cycles} cycles per token")
        return best[1]

    def folded_multipliers(self, cycles: int) -> int:
        pe, simd = self.folding(cycles)
        return pe * simd


# --------------------------------------------------------------------------- storage


def context_of(shape: ModelShape, options: PlanOptions) -> int:
    """The K/V cache's capacity: the model's positions, or fewer with `--context`."""
    if options.context is None:
        return shape.max_positions
    if options.context > shape.max_positions:
        raise HwcError(f"--context {options.context}: the model has {shape.max_positions:,} positions")
    return options.context


def matrix_rom_bits(matrix: Matrix, options: PlanOptions) -> int:
    """One dense layer's ROM: weights, group scales, channel multipliers, biases."""
    groups = -(-matrix.inputs // options.group_size) if options.group_size else 0
    per_row = (matrix.inputs * options.wbits + groups * GROUP_SCALE_BITS + MULTIPLIER_BITS
               + (BIAS_BITS if matrix.bias else 0))
    return matrix.outputs * per_row


def rom_bits(shape: ModelShape, options: PlanOptions, context: int) -> dict[str, int]:
    """ROM bits by parameter kind, the RoPE table ("position table") and "total"."""
    bits = dict.fromkeys(PARAMETER_KINDS, 0)
    bits["embedding"] = shape.embedding_rows() * shape.hidden * options.abits
    for matrix in shape.matrices():
        bits[matrix.kind] += matrix.count * matrix_rom_bits(matrix, options)
    bits["norms"] = shape.norms * shape.hidden * (MULTIPLIER_BITS + (BIAS_BITS if shape.norm_has_bias else 0))
    bits["position table"] = context * shape.head_dim * options.abits if shape.rope else 0
    bits["total"] = sum(bits.values())
    return bits


def kv_cache_bits(shape: ModelShape, context: int, abits: int) -> int:
    """2 (K and V) · layers · kv_heads · head_dim · context · abits."""
    return 2 * shape.layers * shape.kv_heads * shape.head_dim * context * abits


# --------------------------------------------------------------------------- work and the chip


def attention_macs(shape: ModelShape, keys: int) -> int:
    """Q·Kᵀ and P·V for one token attending to `keys` positions, over every layer."""
    return 2 * shape.layers * shape.heads * shape.head_dim * keys


def units(shape: ModelShape, context: int) -> list[Unit]:
    """The multiplying units: the dense layers, then the attention products at full context."""
    dense = [Unit(m.kind, m.outputs, m.inputs, m.count) for m in shape.matrices()]
    return dense + [Unit("attention Q·Kᵀ", shape.heads * context, shape.head_dim, shape.layers, True),
                    Unit("attention P·V", shape.heads * shape.head_dim, context, shape.layers, True)]


MODELS = {"ideal": Unit.ideal_multipliers, "folded": Unit.folded_multipliers}


def multipliers(pipeline: list[Unit], cycles: int, model: str) -> int:
    return sum(unit.count * MODELS[model](unit, cycles) for unit in pipeline)


def cycles_for_budget(pipeline: list[Unit], budget: int, model: str) -> int:
    """The fewest cycles per token whose design under `model` fits `budget` multipliers
    (the count does not grow with the cycles: a binary search)."""
    slowest = max(unit.macs for unit in pipeline)
    least = multipliers(pipeline, slowest, model)
    if least > budget:
        raise HwcError(f"--max-multipliers {budget}: the chip needs at least {least:,} (one multiplier per unit)")
    low, high = 1, slowest
    while low < high:
        middle = (low + high) // 2
        if multipliers(pipeline, middle, model) <= budget:
            high = middle
        else:
            low = middle + 1
    return low


def design(pipeline: list[Unit], cycles: int, clock_hz: Fraction, model: str) -> dict:
    """The chip at `cycles` per token under `model`: its rate and multipliers (weights, attention)."""
    dense = [unit for unit in pipeline if not unit.attention]
    attention = [unit for unit in pipeline if unit.attention]
    weights, products = multipliers(dense, cycles, model), multipliers(attention, cycles, model)
    return {"cycles_per_token": cycles, "tokens_per_s": float(clock_hz / cycles),
            "multipliers_weights": weights, "multipliers_attention": products, "multipliers": weights + products}


def cycles_for_target(tokens_per_s: float, clock_hz: Fraction) -> int:
    """floor(clock / tokens per s), at least one cycle."""
    cycles = math.floor(clock_hz / Fraction(repr(float(tokens_per_s))))
    if cycles < 1:
        raise HwcError(f"--target-tps {tokens_per_s:g}: more than one token per cycle at "
                       f"{float(clock_hz) / 1e6:g} MHz")
    return cycles


def chip(shape: ModelShape, options: PlanOptions, context: int) -> dict:
    """Both designs (`MODELS`), for the target rate or, given only a budget, within it."""
    clock_hz = Fraction(repr(float(options.clock_mhz))) * 1_000_000
    pipeline = units(shape, context)
    budget_mode = options.max_multipliers is not None and options.target_tps is None
    target = None if budget_mode else options.target_tps or DEFAULT_TARGET_TPS
    result = {"mode": "budget" if budget_mode else "target", "clock_mhz": options.clock_mhz,
              "target_tps": target, "max_multipliers": options.max_multipliers}
    for model in MODELS:
        cycles = (cycles_for_budget(pipeline, options.max_multipliers, model) if budget_mode
                  else cycles_for_target(target, clock_hz))
        result[model] = design(pipeline, cycles, clock_hz, model)
        if options.max_multipliers is not None:
            result[model]["fits_budget"] = result[model]["multipliers"] <= options.max_multipliers
    result["units"] = [unit_row(unit, result) for unit in pipeline]
    return result


def unit_row(unit: Unit, result: dict) -> dict:
    ideal, folded = result["ideal"]["cycles_per_token"], result["folded"]["cycles_per_token"]
    pe, simd = unit.folding(folded)
    return {"unit": unit.name, "count": unit.count, "outputs": unit.outputs, "inputs": unit.inputs,
            "macs": unit.macs, "multipliers_ideal": unit.ideal_multipliers(ideal), "pe": pe, "simd": simd,
            "multipliers_folded": pe * simd}


# --------------------------------------------------------------------------- the plan


def make_plan(shape: ModelShape, options: PlanOptions) -> dict:
    """Every figure of `hwc plan` as a JSON-ready dict (see docs/llm-plan.md)."""
    options.check()
    context = context_of(shape, options)
    parameters = shape.parameters()
    rom = rom_bits(shape, options, context)
    sram = kv_cache_bits(shape, context, options.abits)
    weight_macs = sum(m.count * m.weights for m in shape.matrices())
    notes = []
    if shape.model_type not in KNOWN_MODEL_TYPES:
        notes.append(f"model_type {shape.model_type or '(none)'} read as Llama-style "
                     "(RMSNorm, RoPE, gated MLP, no biases unless attention_bias/mlp_bias)")
    return {
        "model": shape.describe(),
        "format": {"wbits": options.wbits, "group_size": options.group_size, "abits": options.abits,
                   "context": context},
        "parameters": parameters,
        "rom_bits": rom,
        "rom_bits_per_parameter": rom["total"] / parameters["total"],
        "sram_bits": sram,
        "rom_sram_bits_per_parameter": (rom["total"] + sram) / parameters["total"],
        "work_per_token": {"weight_macs": weight_macs,
                           "attention_macs_full_context": attention_macs(shape, context),
                           "attention_macs_average": shape.layers * shape.heads * shape.head_dim * (context + 1)},
        "chip": chip(shape, options, context),
        "storage_transistors": {"rom_at_most": ROM_TRANSISTORS_PER_BIT * rom["total"],
                                "sram": SRAM_TRANSISTORS_PER_BIT * sram},
        "hc1": HC1,
        "notes": notes,
    }

