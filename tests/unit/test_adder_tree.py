"""Sums of shifted, range-tracked values (compiler/hw/adder_tree.py): offset-binary
row sums are exact on every corner of their terms' ranges and never sign-extend an
operand. The values are computed by a small evaluator of the comb ops on Python
ints (Verilator on whole MVUs: tests/unit/test_hw_mvu.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from xdsl.dialects import comb, hw

from compiler.hw.adder_tree import Ranged, sum_terms
from compiler.hw.bits import width_of
from compiler.hw.builder import ModuleBuilder
from compiler.hw.const_mult import ConstantMultiplier


def evaluate(builder: ModuleBuilder, inputs: dict) -> dict:
    """Every SSA value of `builder`'s block as an unsigned int of its width, given the inputs' unsigned values."""
    values = dict(inputs)

    def of(value):
        return values[value]

    for op in builder.block.ops:
        if not op.results:
            continue
        width = width_of(op.results[0])
        mask = (1 << width) - 1
        if isinstance(op, hw.ConstantOp):
            result = op.value.value.data
        elif isinstance(op, comb.AddOp):
            result = sum(of(v) for v in op.operands)
        elif isinstance(op, comb.SubOp):
            result = of(op.operands[0]) - of(op.operands[1])
        elif isinstance(op, comb.XorOp):
            result = 0
            for v in op.operands:
                result ^= of(v)
        elif isinstance(op, comb.ExtractOp):
            result = of(op.input) >> op.low_bit.value.data
        elif isinstance(op, comb.ConcatOp):
            result = 0
            for v in op.operands:
                result = (result << width_of(v)) | of(v)
        elif isinstance(op, comb.ReplicateOp):
            bit = of(op.operands[0])
            result = mask if bit else 0
        else:
            raise NotImplementedError(op.name)
        values[op.results[0]] = result & mask
    return values


def signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) else value


RANGES = [(-128, 127), (0, 127), (-5, 9), (-300, -17), (3, 3), (-7, -7), (0, 1)]


@pytest.mark.parametrize("seed", range(6))
def test_offset_binary_sums_are_exact_on_every_corner(seed):
    rng = np.random.default_rng(seed)
    b = ModuleBuilder("m", clocked=False)
    terms, ports = [], []
    for i in range(int(rng.integers(1, 6))):
        lo, hi = RANGES[int(rng.integers(len(RANGES)))]
        if lo == hi:
            value = Ranged(b.const(lo, max(2, abs(lo).bit_length() + 1)), lo, hi)
        else:
            port = b.input(f"x{i}", 10)
            value, _ = Ranged.of(port, lo, hi), ports.append((port, lo, hi))
        terms.append((value, int(rng.integers(0, 5)), int(rng.choice([-1, 1]))))
    total = sum_terms(b, terms, offset_binary=True)
    out = total.at_width(b, 24)
    for corner in itertools.product(*[(lo, hi, (lo + hi) // 2) for _, lo, hi in ports]):
        inputs = {port: v & 1023 for (port, _, _), v in zip(ports, corner)}
        by_port = dict(zip([p for p, _, _ in ports], corner))
        expected = sum(sign * ((by_port[r.value] if r.value in by_port else r.lo) << shift)
                       for r, shift, sign in terms)
        assert total.lo << total.shift <= expected <= total.hi << total.shift
        assert signed(evaluate(b, inputs)[out], 24) == expected


def test_offset_binary_extends_no_operand_by_its_sign():
    b = ModuleBuilder("m", clocked=False)
    xs = [Ranged.of(b.input(f"x{i}", 8)) for i in range(4)]
    sum_terms(b, [(xs[0], 0, 1), (xs[1], 3, 1), (xs[2], 1, -1), (xs[3], 0, -1)], offset_binary=True)
    assert not any(isinstance(op, comb.ReplicateOp) for op in b.block.ops)
    plain = ModuleBuilder("p", clocked=False)
    ys = [Ranged.of(plain.input(f"x{i}", 8)) for i in range(4)]
    sum_terms(plain, [(ys[0], 0, 1), (ys[1], 3, 1), (ys[2], 1, -1), (ys[3], 0, -1)])
    assert any(isinstance(op, comb.ReplicateOp) for op in plain.block.ops)  # the check can fail


@pytest.mark.parametrize("input_range", [(-128, 127), (0, 127), (-3, 60)])
def test_a_shared_adder_graph_in_offset_binary_is_exact(input_range):
    """A hardwired matrix (`ConstantMultiplier.matrix`: shared nodes, their operands
    and the rows' terms in offset binary) equals weights @ x on random inputs and the corners."""
    rng = np.random.default_rng(input_range[0] + 1000)
    weights = rng.integers(-7, 8, size=(12, 10))
    weights[rng.random(weights.shape) < 0.15] = 0
    b = ModuleBuilder("m", clocked=False)
    xs = [b.input(f"x{i}", 8) for i in range(10)]
    outs = ConstantMultiplier(b).matrix(xs, weights.tolist(), 20, input_range)
    samples = [rng.integers(input_range[0], input_range[1] + 1, size=10) for _ in range(40)]
    samples += [np.full(10, input_range[0]), np.full(10, input_range[1])]
    for x in samples:
        values = evaluate(b, {port: int(v) & 255 for port, v in zip(xs, x)})
        assert [signed(values[out], 20) for out in outs] == (weights @ x).tolist()
