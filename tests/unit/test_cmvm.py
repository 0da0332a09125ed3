"""Constant matrix-vector products as a shared adder graph (compiler/hw/cmvm.py):
the graph computes W x exactly, recurring pairs of terms become one adder, and it
costs fewer adders than summing every signed digit. (Its hardware, bit-exact in
Verilator: tests/unit/test_hw_mvu.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.hw.cmvm import csd_digits, same_sign_digits, share_subexpressions, signed_digit_terms
from compiler.numerics import signed_digit_count


def digit_adders(weights: np.ndarray) -> int:
    """Adders without sharing: every signed digit of a row summed, one fewer than digits."""
    return sum(max(0, sum(len(csd_digits(abs(int(w)))) for w in row if w) - 1) for row in weights)


@pytest.mark.parametrize("seed", range(8))
def test_the_graph_computes_the_product_exactly(seed):
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    bits = int(rng.integers(2, 9))
    weights = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(rows, cols))
    weights[rng.random(weights.shape) < 0.2] = 0
    graph = share_subexpressions(weights)
    x = rng.integers(-128, 128, size=(cols, 16))
    np.testing.assert_array_equal(graph.evaluate(x).astype(np.int64), weights @ x)
    assert graph.adder_count() <= digit_adders(weights)


def test_a_recurring_pair_is_one_adder():
    # x0 + 2·x1 in three rows (the third shifted by 2): one node, no other adder
    weights = np.array([[1, 2], [1, 2], [4, 8], [0, 0]])
    graph = share_subexpressions(weights)
    assert graph.nodes == [(0, 1, 1, 1)]
    assert graph.rows == [[(2, 0, 1)], [(2, 0, 1)], [(2, 2, 1)], []]
    assert graph.adder_count() == 1


def test_a_multiple_of_one_input_is_shared_like_a_pair():
    # 3·x in two rows and -6·x in a third: x + (x << 1) once
    graph = share_subexpressions(np.array([[3], [3], [-6]]))
    assert graph.adder_count() == 1
    np.testing.assert_array_equal(graph.evaluate(np.array([5])).astype(np.int64), [15, 15, -30])


def test_a_jet_sized_layer_needs_far_fewer_adders_than_its_digits():
    rng = np.random.default_rng(7)
    weights = np.clip(np.round(rng.normal(0, 2.5, size=(32, 64))), -7, 7).astype(np.int64)
    graph = share_subexpressions(weights)
    assert graph.adder_count() < 0.7 * digit_adders(weights)


@pytest.mark.parametrize("value", [1, 3, 7, 11, 0xC3, 255, 1023, (1 << 40) + 12345])
def test_signed_digits_of_a_weight_and_their_count(value):
    terms = signed_digit_terms(3, -value)
    assert sum(sign << shift for _, shift, sign in terms) == -value
    assert {column for column, _, _ in terms} == {3}
    assert signed_digit_count(value) == len(csd_digits(value)) == len(terms)


def test_the_same_sign_digit_form_is_kept_where_it_shares_more():
    # 3·x0 + x1 and x0 + x1. In CSD the first row is (x0 << 2) - x0 + x1, whose pair
    # x1 - x0 does not recur: 2 + 1 = 3 adders. As x0 + (x0 << 1) + x1 it holds
    # x0 + x1, the second row's sum: one node, then the first row adds (x0 << 1): 2.
    weights = np.array([[3, 1], [1, 1]])
    graph = share_subexpressions(weights)
    assert graph.adder_count() == 2
    assert graph.nodes == [(0, 1, 0, 1)]
    x = np.array([[7, -3], [-5, 11]])
    np.testing.assert_array_equal(graph.evaluate(x).astype(np.int64), weights @ x)


@pytest.mark.parametrize("value, digits", [(3, [(0, 1), (1, 1)]), (11, [(0, 1), (1, 1), (3, 1)]),
                                           (7, [(0, -1), (3, 1)]), (5, [(0, 1), (2, 1)])])
def test_same_sign_digits_are_binary_unless_csd_has_fewer(value, digits):
    assert same_sign_digits(value) == digits
    assert sum(sign << shift for shift, sign in digits) == value
