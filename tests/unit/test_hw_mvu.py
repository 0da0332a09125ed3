"""The MVU generator (compiler/hw/mvu.py) in real CIRCT + Verilator: bit-exact
against a numpy model of `spatial.mvu`'s arithmetic, with random stalls, at full
and folded settings, with and without requant (and its per-channel offset), in both ROM styles, constant weights by
shift-and-add and by `comb.mul`; II = 1 per
vector when fully unrolled, V·NF·SF cycles per frame when folded."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.executor.int_kernels import requantize, wrap
from compiler.executor.spatial_executor import pack_beats
from compiler.hw.harness import simulate_modules
from compiler.hw.mvu import MVUSpec, Requant, build_mvu

IN_WIDTH = 8


def model(spec: MVUSpec, vectors: np.ndarray) -> np.ndarray:
    acc = vectors @ spec.weights.T.astype(np.int64)
    if spec.bias is not None:
        acc = acc + spec.bias
    if spec.requant is not None:
        multipliers = np.array([spec.requant.multiplier_of(n) for n in range(spec.out_features)])
        offsets = np.array([spec.requant.offset_of(n) for n in range(spec.out_features)])
        acc = requantize(acc, multipliers, spec.requant.shift, spec.requant.lo, spec.requant.hi, offsets,
                         spec.requant.rounding)
    return wrap(np.asarray(acc, np.int64), spec.out_width)


def make_spec(n: int, k: int, pe: int, simd: int, rom_style: str, with_requant: bool,
              weight_bits: int = 4, const_mult: str = "shift-add", with_offset: bool = False,
              rounding: str = "half_up", in_range: tuple[int, int] | None = None, requant_sharing: tuple[int, int] | None = None,
              power_of_two: bool = False, *, seed: int) -> MVUSpec:
    rng = np.random.default_rng(seed)
    weights = rng.integers(-(1 << (weight_bits - 1)), 1 << (weight_bits - 1), size=(n, k))
    weights[0, : k // 2] = 0  # zero weights cost nothing, and must still be right
    weights[-1, 0] = 1
    if in_range is not None:  # multipliers whose weights span less than the ROM's width
        weights[:, 1::simd] = rng.integers(0, 4, size=(n, len(range(1, k, simd))))  # unsigned 2-bit
        weights[:, 2::simd] = rng.integers(-3, 1, size=(n, len(range(2, k, simd))))  # [-3, 0]
        weights[:, 3::simd] = 0  # a multiplier that is never needed
    if weight_bits == 8 and k == 6:  # the extremes and powers of two: shifts and negations
        weights[1] = [-128, 64, -1, 2, 127, -64]
    bias = rng.integers(-300, 300, size=n) if with_requant else None
    requant = None
    if with_requant:
        offsets = rng.integers(-3000, 3000, size=n)
        on_grid = rounding != "half_up"  # multiples of 2^8 at shift 10: ties and whole numbers are frequent
        offset = tuple(int(c) for c in (offsets // 256 * 256 if on_grid else offsets)) if with_offset else ()
        multipliers = rng.integers(1, 4, size=n) * 256 if on_grid else rng.integers(20, 600, size=n)
        if power_of_two:  # `--requant-digits 1`: each channel's multiplier a power of two, 2^4 .. 2^9
            multipliers = 1 << rng.integers(4, 10, size=n)
        requant = Requant(tuple(int(m) for m in multipliers), 10, -100, 90, offset, rounding)
    return MVUSpec("fc_mvu", weights, weight_bits, IN_WIDTH, 8 if with_requant else 18 + weight_bits - 4, pe, simd,
                   bias=bias, requant=requant, rom_style=rom_style, rom_file="rom/mvu_weights.hex",
                   const_mult=const_mult, in_range=in_range, requant_sharing=requant_sharing)


CASES = {
    "full-logic-requant": (4, 8, 4, 8, "logic", True),
    # shift-and-add with 8-bit weights: many shared multiples per input, negative and ±2^k weights
    "full-logic-8bit-exact": (12, 6, 12, 6, "logic", False, 8),
    "full-logic-requant-mul": (4, 8, 4, 8, "logic", True, 4, "mul"),
    "folded-logic-requant": (8, 16, 2, 4, "logic", True),
    # a float bias at the requant's own precision (per fold when folded), and the model's
    # rounding into a scale it gives: ties to even (with constant offsets), ceil
    "folded-memory-requant-offset": (8, 16, 2, 4, "memory", True, 4, "mul", True),
    "full-logic-requant-half-even": (4, 8, 4, 8, "logic", True, 4, "shift-add", True, "half_even"),
    "folded-logic-requant-ceil": (8, 16, 2, 4, "logic", True, 4, "mul", False, "ceil"),
    "folded-memory-exact": (8, 16, 2, 4, "memory", False),
    # inputs known to be in [0, 100] (a ReLU's requant upstream): products as narrow as their
    # operands' ranges, 8-bit ROM weights with narrower positions
    "folded-memory-narrow-products": (8, 16, 2, 4, "memory", True, 8, "shift-add", False, "half_up", (0, 100)),
    # per-channel requants shared by the lanes (units, cycles a lane): one unit taking 4 lanes in
    # the 4 cycles of a vector fold (SF = 4); two units of 2 lanes each with offsets and ties to
    # even (SF = 2); one unit taking 2 lanes in 4 cycles each, the multiplier 3 bits a cycle
    # (SF = 8); one lane a bit a cycle (SF = 16)
    "folded-logic-one-shared-requant": (8, 16, 4, 4, "logic", True, 4, "shift-add", False, "half_up", None, (1, 1)),
    "folded-memory-two-shared-requants": (8, 16, 4, 8, "memory", True, 4, "mul", True, "half_even", None, (2, 1)),
    "folded-logic-multicycle-requant": (8, 16, 2, 2, "logic", True, 4, "shift-add", True, "floor", None, (1, 4)),
    "folded-memory-bit-serial-requant": (4, 16, 1, 1, "memory", True, 4, "mul", False, "half_up", None, (1, 16)),
    # per-channel multipliers that are powers of two: shifters by a table's exponent instead of
    # multipliers, per lane (NF = 4) and in a shared unit whose turns span 4 cycles (taken in one)
    "folded-logic-power-of-two-requant": (8, 16, 2, 4, "logic", True, 4, "shift-add", True, "half_up", None, None,
                                          True),
    "folded-memory-power-of-two-shared-requant": (8, 16, 2, 2, "memory", True, 4, "shift-add", False, "floor", None,
                                                  (1, 4), True),
}


@pytest.fixture(scope="module", params=list(CASES))
def mvu(request, tmp_path_factory):
    spec = make_spec(*CASES[request.param], seed=len(request.param))
    build = tmp_path_factory.mktemp(request.param)
    if spec.uses_memory:
        (build / "rom").mkdir()
        (build / spec.rom_file).write_text(spec.rom_hex())
    simulator = simulate_modules([build_mvu(spec)], "fc_mvu", build, in_width=spec.simd * IN_WIDTH,
                                 out_width=spec.pe * spec.out_width)
    return spec, simulator


def _vectors(spec: MVUSpec, count: int, seed: int) -> np.ndarray:
    lo, hi = spec.in_range or (-128, 127)
    vectors = np.random.default_rng(seed).integers(lo, hi + 1, size=(count, spec.in_features))
    vectors[0] = hi
    vectors[1] = lo
    return vectors


@pytest.mark.rtl
def test_bit_exact_with_random_stalls(mvu):
    spec, simulator = mvu
    vectors = _vectors(spec, 60, seed=1)
    expected = pack_beats(model(spec, vectors), spec.pe, spec.out_width)
    if spec.requant is not None and spec.requant.rounding != "half_up":  # the vectors do hit ties / whole numbers
        half_up = MVUSpec(**{**spec.__dict__, "requant": Requant(*[getattr(spec.requant, f) for f in
                                                                     ("multiplier", "shift", "lo", "hi", "offset")])})
        assert not np.array_equal(model(half_up, vectors), model(spec, vectors))
    for seed in (1, 2):
        result = simulator.run(pack_beats(vectors, spec.simd, IN_WIDTH), stall_in=0.3, stall_out=0.3,
                               seed=seed, expected_output_beats=len(expected))
        assert result.output_beats == expected


@pytest.mark.rtl
def test_one_step_per_cycle(mvu):
    spec, simulator = mvu
    vectors = _vectors(spec, 50, seed=3)
    expected = pack_beats(model(spec, vectors), spec.pe, spec.out_width)
    result = simulator.run(pack_beats(vectors, spec.simd, IN_WIDTH), expected_output_beats=len(expected))
    assert result.output_beats == expected
    steps = spec.neuron_folds * spec.synapse_folds
    vector_starts = result.in_cycles[:: spec.synapse_folds]
    # a new vector every NF·SF cycles (1 when unrolled); the input's skid buffer may take the
    # second vector's first beat early, while the first vector's later folds run
    assert vector_starts[1] <= steps and np.all(np.diff(vector_starts[1:]) == steps)
    assert result.total_cycles - len(vectors) * steps <= spec.synapse_folds + 4  # just the pipeline fill


def test_rom_image_holds_one_step_per_line():
    spec = make_spec(*CASES["folded-memory-exact"], seed=0)
    lines = spec.rom_hex().split()
    assert len(lines) == spec.neuron_folds * spec.synapse_folds
    word = int(lines[spec.synapse_folds + 1], 16)  # step (nf=1, sf=1)
    p, s = 1, 2
    field = (word >> ((p * spec.simd + s) * 4)) & 0xF
    assert field - 16 * (field >= 8) == spec.weights[spec.pe + p, spec.simd + s]


def test_rom_fields_are_as_wide_as_their_positions_ranges():
    spec = make_spec(*CASES["folded-memory-narrow-products"], seed=0)
    widths = spec.field_bits()
    # position 0: 8-bit signed weights; 1: in [0, 3] (2 bits, no sign); 2: in [-3, 0] (3 bits); 3: always 0
    assert widths.tolist() == [[8, 2, 3, 0]] * spec.pe
    lines = spec.rom_hex().split()
    assert {len(line) for line in lines} == {(2 * 13 + 3) // 4}
    word = int(lines[spec.synapse_folds + 1], 16)  # step (nf=1, sf=1); lane 1's fields start at bit 13
    assert (word >> (13 + 8)) & 0b11 == spec.weights[spec.pe + 1, spec.simd + 1]
    field = (word >> (13 + 10)) & 0b111
    assert field - 8 * (field >= 4) == spec.weights[spec.pe + 1, spec.simd + 2]


@pytest.mark.parametrize("name", ["folded-logic-power-of-two-requant", "folded-memory-power-of-two-shared-requant"])
def test_power_of_two_multipliers_are_shifters_not_multipliers(name):
    """The same MVU with each multiplier one more (no longer a power of two) has a
    multiplier per lane (or shared unit) that the powers of two do not need."""
    spec = make_spec(*CASES[name], seed=len(name))
    assert spec.requant is not None
    odd = Requant(tuple(m + 1 for m in spec.requant.multiplier), *[getattr(spec.requant, f) for f in
                                                                   ("shift", "lo", "hi", "offset", "rounding")])

    def count(s: MVUSpec, name: str) -> int:
        return sum(op.name == name for op in build_mvu(s).walk())

    units = spec.pe if spec.requant_sharing is None else spec.requant_sharing[0]
    assert count(spec, "comb.mul") == count(MVUSpec(**{**spec.__dict__, "requant": odd}), "comb.mul") - units
    assert count(spec, "comb.shl") == units
