"""Constant multiplication as shift-and-add (compiler/hw/const_mult.py): canonical
signed digits, the adders a set of constants costs when the multiples of one
input are shared, and requantization constants narrowed without changing a bit. (Bit-exactness in Verilator: tests/unit/test_hw_mvu.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects import comb

from compiler.hw.builder import ModuleBuilder
from compiler.hw.cmvm import csd_digits
from compiler.hw.const_mult import ConstantMultiplier, odd_part
from compiler.hw.requant import narrowest_equivalent
from compiler.numerics import requantize


@pytest.mark.parametrize("value", [1, 2, 3, 7, 0xC3, 0x55, 255, 1023, (1 << 36) + 12345])
def test_csd_digits_sum_to_the_value_and_never_touch(value):
    digits = csd_digits(value)
    assert sum(sign << shift for shift, sign in digits) == value
    shifts = [shift for shift, _ in digits]
    assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))
    assert len(digits) <= bin(value).count("1")


def test_csd_of_a_run_of_ones_is_two_digits():
    assert csd_digits(0b1111111) == [(0, -1), (7, 1)]


def test_odd_part():
    assert odd_part(96) == (3, 5) and odd_part(7) == (7, 0)


def adders(builder: ModuleBuilder) -> int:
    return sum(isinstance(op, (comb.AddOp, comb.SubOp)) for op in builder.block.ops)


def test_multiples_of_one_input_are_shared():
    b = ModuleBuilder("m", clocked=False)
    x = b.input("x", 8)
    constants = ConstantMultiplier(b)
    constants.prepare(x, [3, 6, 12, 5, 0, 1, 64])
    assert adders(b) == 2  # x*3 = (x<<1) + x, x*5 = (x<<2) + x; 6, 12 = 3 shifted; 0, 1, 64 free
    for c in (3, 6, 12, 5, 0, 1, 64):
        constants.times(x, c, 20)
    assert adders(b) == 2
    constants.times(x, -12, 20)
    assert adders(b) == 3  # a negation


def test_a_dot_product_subtracts_its_negative_terms_once():
    b = ModuleBuilder("m", clocked=False)
    xs = [b.input(f"x{i}", 8) for i in range(4)]
    ConstantMultiplier(b).dot(xs, [1, -1, -2, 4], 16)
    assert adders(b) == 3  # (x0 + x3<<2) - (x1 + x2<<1)


def test_the_mul_style_keeps_comb_mul():
    b = ModuleBuilder("m", clocked=False)
    x = b.input("x", 8)
    ConstantMultiplier(b, "mul").times(x, 5, 16)
    assert sum(isinstance(op, comb.MulOp) for op in b.block.ops) == 1


@pytest.mark.parametrize("seed", range(6))
def test_a_narrower_requantization_is_equal_on_every_accumulator(seed):
    rng = np.random.default_rng(seed)
    acc_bits = int(rng.integers(8, 15))
    shift = int(rng.integers(12, 40))
    multiplier = int(rng.integers(1 << (shift - 12), 1 << (shift - 4)))
    lo, hi = [(0, 255), (-128, 127), (-8, 7)][seed % 3]
    narrow, narrow_shift = narrowest_equivalent(multiplier, shift, lo, hi, acc_bits)
    every = np.arange(-(1 << (acc_bits - 1)), 1 << (acc_bits - 1), dtype=np.int64)
    np.testing.assert_array_equal(requantize(every, np.int64(narrow), narrow_shift, lo, hi),
                                  requantize(every, np.int64(multiplier), shift, lo, hi))
    assert narrow_shift <= shift


def test_trailing_zeros_of_a_multiplier_are_always_dropped():
    narrow, narrow_shift = narrowest_equivalent(3 << 20, 30, -128, 127, 16)
    assert narrow_shift <= 10 and narrow <= 3
