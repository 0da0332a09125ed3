"""The integer executor against hand-derived numbers and a deliberately simple
pure-Python reference (loops over Python ints, written here, sharing no code
with `compiler/executor/int_kernels.py`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from compiler.errors import HwcError
from compiler.executor import IntExecutor
from compiler.ir import parse_module

RNG = np.random.default_rng(11)


# --------------------------------------------------------------------------- reference


def ref_requant(acc: int, m: int, shift: int, lo: int, hi: int) -> int:
    """DESIGN.md: clamp((acc * M + 2**(S-1)) >> S, lo, hi); Python's >> floors."""
    rounding = (1 << shift) >> 1
    return min(hi, max(lo, (acc * m + rounding) >> shift))


def ref_dense(x: list[list[int]], w: list[list[int]], b: list[int]) -> list[list[int]]:
    return [[sum(xi * wi for xi, wi in zip(row, w[o])) + b[o] for o in range(len(w))] for row in x]


def ref_conv2d(x, w, b, pad: int):
    """x [N][C][H][W], w [O][C][K][K], stride 1, zero padding `pad` on every side."""
    n_, c_, h_, w_ = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    o_, k = len(w), len(w[0][0])
    out_h, out_w = h_ + 2 * pad - k + 1, w_ + 2 * pad - k + 1
    result = [[[[b[o] for _ in range(out_w)] for _ in range(out_h)] for o in range(o_)] for _ in range(n_)]
    for n, o, i, j, c, di, dj in itertools.product(range(n_), range(o_), range(out_h), range(out_w),
                                                   range(c_), range(k), range(k)):
        r, s = i + di - pad, j + dj - pad
        if 0 <= r < h_ and 0 <= s < w_:
            result[n][o][i][j] += x[n][c][r][s] * w[o][c][di][dj]
    return result


def dense_text(values) -> str:
    return "dense<" + str(np.asarray(values).tolist()) + ">"


def run_single(text: str, x: np.ndarray) -> np.ndarray:
    module = parse_module(text)
    executor = IntExecutor(module)
    return executor.run_int({"x": x})["y"]


def requant_module(shape, m, shift, lo, hi, axis, in_bits=32) -> str:
    dims = "x".join(map(str, shape))
    return f"""
    func.func @main(%x: tensor<{dims}xi{in_bits}> {{nn.name = "x"}}) -> (tensor<{dims}xi8> {{nn.name = "y"}}) {{
      %m = nn.constant {dense_text(m)} : tensor<{len(m)}xi16>
      %y = nn.requant %x, %m {{shift = {shift} : i64, lo = {lo} : i64, hi = {hi} : i64, axis = {axis} : i64}} : (tensor<{dims}xi{in_bits}>, tensor<{len(m)}xi16>) -> tensor<{dims}xi8>
      func.return %y : tensor<{dims}xi8>
    }}"""


# --------------------------------------------------------------------------- requant alone


@pytest.mark.parametrize("acc, m, shift, expected", [
    (-3, 1, 1, -1),   # floor((-3 + 1) / 2) = floor(-1) = -1
    (3, 1, 1, 2),     # floor((3 + 1) / 2) = 2 (half rounds up)
    (-1, 1, 1, 0),    # floor((-1 + 1) / 2) = 0: -0.5 rounds up to 0
    (-2, 3, 2, -1),   # floor((-6 + 2) / 4) = -1: -1.5 rounds up to -1
    (-7, 3, 2, -5),   # floor((-21 + 2) / 4) = floor(-4.75) = -5
    (5, 7, 0, 35),    # shift 0: no rounding term
    (1000, 1, 0, 100),   # clamped at hi
    (-1000, 1, 0, -100),  # clamped at lo
])
def test_requant_rounding_and_clamping_by_hand(acc, m, shift, expected):
    y = run_single(requant_module((1, 1), [m], shift, -100, 100, 1), np.array([[acc]]))
    assert y.tolist() == [[expected]]


def test_requant_per_channel_matches_reference():
    shape, multipliers, shift = (3, 4, 5), [1, 20000, 32767, 12345], 17
    acc = RNG.integers(-(1 << 30), 1 << 30, size=shape)
    acc[0, :, 0] = (1 << 31) - 1   # largest i32 values times the largest multiplier
    acc[0, :, 1] = -(1 << 31)
    y = run_single(requant_module(shape, multipliers, shift, -127, 127, 1), acc)
    for i, c, j in itertools.product(*map(range, shape)):
        assert y[i, c, j] == ref_requant(int(acc[i, c, j]), multipliers[c], shift, -127, 127)


def test_requant_with_relu_bounds_and_wide_products():
    """acc * M beyond int64 (a 48-bit accumulator, shift 62) still computes exactly."""
    shape, multipliers, shift = (2, 3), [32767, 1, 30000], 62
    acc = np.array([[(1 << 47) - 1, -(1 << 47), 123456789012], [-5, 0, (1 << 46)]])
    y = run_single(requant_module(shape, multipliers, shift, 0, 127, 1, in_bits=48), acc)
    for i, c in itertools.product(*map(range, shape)):
        assert y[i, c] == ref_requant(int(acc[i, c]), multipliers[c], shift, 0, 127)


# --------------------------------------------------------------------------- whole layers


def dense_layer_module(w, b, acc_bits, m, shift, lo, hi) -> str:
    out, inp = len(w), len(w[0])
    return f"""
    func.func @main(%x: tensor<4x{inp}xi8> {{nn.name = "x"}}) -> (tensor<4x{out}xi8> {{nn.name = "y"}}) {{
      %w = nn.constant {dense_text(w)} : tensor<{out}x{inp}xi4>
      %b = nn.constant {dense_text(b)} : tensor<{out}xi{acc_bits}>
      %acc = nn.dense %x, %w, %b : (tensor<4x{inp}xi8>, tensor<{out}x{inp}xi4>, tensor<{out}xi{acc_bits}>) -> tensor<4x{out}xi{acc_bits}>
      %m = nn.constant {dense_text(m)} : tensor<{out}xi16>
      %y = nn.requant %acc, %m {{shift = {shift} : i64, lo = {lo} : i64, hi = {hi} : i64, axis = 1 : i64}} : (tensor<4x{out}xi{acc_bits}>, tensor<{out}xi16>) -> tensor<4x{out}xi8>
      func.return %y : tensor<4x{out}xi8>
    }}"""


def test_dense_layer_4bit_weights_per_channel_and_extremes():
    """Rows 0/1 of the input are at ±127 against weights at ±7: the largest |acc|
    the bounds allow (127 * 7 * 6 + 50 = 5384 < 2^13, so i14 holds it)."""
    w = [[7, -7, 7, -7, 7, -7], [-7, -7, -7, -7, -7, -7], [3, 0, -1, 2, -5, 1]]
    b = [50, -50, 3]
    m, shift = [1, 3000, 17], 12
    x = np.array([
        [127, -127, 127, -127, 127, -127],
        [-127, -127, -127, -127, -127, -127],
        [1, 2, 3, -4, -5, -6],
        [0, 0, 0, 0, 0, 0],
    ])
    y = run_single(dense_layer_module(w, b, 14, m, shift, -127, 127), x)
    acc = ref_dense(x.tolist(), w, b)
    assert acc[0][0] == 127 * 7 * 6 + 50 and acc[1][1] == 127 * 7 * 6 - 50
    expected = [[ref_requant(acc[r][c], m[c], shift, -127, 127) for c in range(3)] for r in range(4)]
    assert y.tolist() == expected
    assert y[1, 1] == 127  # clamped: (5284 * 3000 + 2048) >> 12 = 3870
    assert y[0, 0] == 1    # (5384 * 1 + 2048) >> 12 = 7432 >> 12 = 1


def test_dense_layer_random_against_reference():
    w = RNG.integers(-7, 8, size=(5, 9)).tolist()
    b = RNG.integers(-300, 300, size=5).tolist()
    m = RNG.integers(1, 1 << 15, size=5).tolist()
    x = RNG.integers(-127, 128, size=(4, 9))
    y = run_single(dense_layer_module(w, b, 16, m, 20, 0, 127), x)
    acc = ref_dense(x.tolist(), w, b)
    assert y.tolist() == [[ref_requant(acc[r][c], m[c], 20, 0, 127) for c in range(5)] for r in range(4)]


def test_conv_layer_against_reference():
    w = RNG.integers(-127, 128, size=(3, 2, 3, 3))
    w[0] = 127   # channel 0: all weights at the maximum
    b = RNG.integers(-1000, 1000, size=3)
    m = [5, 9000, 32767]
    x = RNG.integers(-127, 128, size=(2, 2, 4, 5))
    x[0] = 127
    text = f"""
    func.func @main(%x: tensor<2x2x4x5xi8> {{nn.name = "x"}}) -> (tensor<2x3x4x5xi8> {{nn.name = "y"}}) {{
      %w = nn.constant {dense_text(w)} : tensor<3x2x3x3xi8>
      %b = nn.constant {dense_text(b)} : tensor<3xi20>
      %acc = nn.conv %x, %w, %b {{strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64}} : (tensor<2x2x4x5xi8>, tensor<3x2x3x3xi8>, tensor<3xi20>) -> tensor<2x3x4x5xi20>
      %m = nn.constant {dense_text(m)} : tensor<3xi16>
      %y = nn.requant %acc, %m {{shift = 19 : i64, lo = -127 : i64, hi = 127 : i64, axis = 1 : i64}} : (tensor<2x3x4x5xi20>, tensor<3xi16>) -> tensor<2x3x4x5xi8>
      func.return %y : tensor<2x3x4x5xi8>
    }}"""
    y = run_single(text, x)
    acc = ref_conv2d(x.tolist(), w.tolist(), b.tolist(), pad=1)
    assert acc[0][0][1][1] == 127 * 127 * 18 + int(b[0])   # every tap in range: the bound
    for n, o, i, j in itertools.product(range(2), range(3), range(4), range(5)):
        assert y[n, o, i, j] == ref_requant(acc[n][o][i][j], m[o], 19, -127, 127)


def test_accumulator_wraps_to_its_declared_width():
    """Hardware of a declared width wraps (two's complement); so does the executor."""
    text = """
    func.func @main(%x: tensor<1x2xi8> {nn.name = "x"}) -> (tensor<1x1xi8> {nn.name = "y"}) {
      %w = nn.constant dense<[[100, 100]]> : tensor<1x2xi8>
      %acc = nn.dense %x, %w : (tensor<1x2xi8>, tensor<1x2xi8>) -> tensor<1x1xi8>
      func.return %acc : tensor<1x1xi8>
    }"""
    # 1*100 + 1*100 = 200 = 0b11001000 -> -56 in 8 bits
    assert run_single(text, np.array([[1, 1]])).tolist() == [[-56]]


def test_sum_pools_and_lookup():
    text = """
    func.func @main(%x: tensor<1x1x3x3xi4> {nn.name = "x"}) -> (tensor<1x1x2x2xi8> {nn.name = "y"}, tensor<1x1x1x1xi8> {nn.name = "g"}, tensor<1x1x3x3xi8> {nn.name = "t"}) {
      %s = nn.sum_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 1, 1>, ceil_mode = 0 : i64} : (tensor<1x1x3x3xi4>) -> tensor<1x1x2x2xi8>
      %g = nn.global_sum_pool %x : (tensor<1x1x3x3xi4>) -> tensor<1x1x1x1xi8>
      %table = nn.constant dense<[-80, -70, -60, -50, -40, -30, -20, -10, 0, 10, 20, 30, 40, 50, 60, 70]> : tensor<16xi8>
      %t = nn.lookup %x, %table : (tensor<1x1x3x3xi4>, tensor<16xi8>) -> tensor<1x1x3x3xi8>
      func.return %s, %g, %t : tensor<1x1x2x2xi8>, tensor<1x1x1x1xi8>, tensor<1x1x3x3xi8>
    }"""
    x = np.array([[[[1, 2, 3], [4, 5, 6], [7, -8, 7]]]])
    out = IntExecutor(parse_module(text)).run_int({"x": x})
    # windows [[1,2],[4,5]], [[3,pad],[6,pad]], [[7,-8],[pad,pad]], [[7,pad],[pad,pad]]
    assert out["y"].tolist() == [[[[12, 9], [-1, 7]]]]
    assert out["g"].tolist() == [[[[27]]]]
    assert out["t"].tolist() == [[[[10 * v for v in row] for row in x[0, 0].tolist()]]]


def test_run_quantizes_and_dequantizes_on_the_host():
    text = """
    func.func @main(%x: tensor<1x2xi8> {nn.name = "x", nn.scale = 0.5 : f64}) -> (tensor<1x2xi8> {nn.name = "y", nn.scale = 0.25 : f64, nn.host_op = "softmax"}) {
      %m = nn.constant dense<[1]> : tensor<1xi16>
      %y = nn.requant %x, %m {shift = 0 : i64, lo = -127 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x2xi8>, tensor<1xi16>) -> tensor<1x2xi8>
      func.return %y : tensor<1x2xi8>
    }"""
    executor = IntExecutor(parse_module(text))
    # 1.25 / 0.5 = 2.5 -> 3 (half up); -1.25 / 0.5 = -2.5 -> -2 (half up); 1000 clamps at 127
    q = executor.quantize_inputs({"x": np.array([[1.25, -1.25], [1000.0, -1000.0]])})["x"]
    assert q.tolist() == [[3, -2], [127, -127]]
    y = executor.run({"x": np.array([[1.25, -1.25]])})["y"]
    logits = np.array([3 * 0.25, -2 * 0.25])
    np.testing.assert_allclose(y[0], np.exp(logits) / np.exp(logits).sum(), rtol=1e-6)


def test_run_int_rejects_values_outside_the_input_type():
    with pytest.raises(HwcError, match="outside the 8-bit range"):
        run_single(requant_module((1, 1), [1], 0, -1, 1, 1, in_bits=8), np.array([[300]]))
