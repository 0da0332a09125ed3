"""The numerics contract (DESIGN.md, "Numerics"): the one home of every rule that
says which integers stand for which real numbers.

`quantize` chooses scales and integers with these functions, the integer and
spatial executors compute with them, the hardware generators size their
signals with them, and the host side of every executor converts floats with
them. Nothing here knows about the IR: inputs and outputs are numbers and numpy
arrays.

* Rounding at compile time is half up: `floor(x + 0.5)`.
* Activations are symmetric, narrow range: a `bits`-bit value lies in
  `[-(2^(bits-1)-1), 2^(bits-1)-1]`; `s = absmax / (2^(bits-1)-1)`.
* Weights are symmetric per output channel with `wbits`.
* Requantization is `clamp((acc * M + c + 2^(S-1)) >> S, lo, hi)` with integer
  `M < 2^15` and one shift `S <= 62`, round half up, arithmetic shift; the offset
  `c` (per channel, at 2^-S of an output step) is 0 except where the model's float
  bias is added at the requant's own precision; into a scale the model gives, it
  rounds as the model does: half to even, floor or ceil (docs/prequantized.md).
* A signed value's width is the fewest two's-complement bits holding its range;
  accumulators and quantized tensors are at least 2 bits wide.
"""

from __future__ import annotations

import math

import numpy as np

from compiler.errors import HwcError
from dialects.rom import signed_range

OUTPUT_BITS = 16
"""Graph outputs are requantized to max(abits, OUTPUT_BITS) bits."""
MULTIPLIER_LIMIT = 1 << 15
"""Requant multipliers are below this (they fit a signed 16-bit constant)."""
MULTIPLIER_BITS = 16
"""Width of the constants holding requant multipliers."""
GIVEN_MULTIPLIER_LIMIT = 1 << 24
"""Requant multipliers into a scale the model gives (QDQ, QONNX) are below this: as
many significant bits as float32, so that the integer requant rounds like the
model's own float32 arithmetic except within ~2^-24 of a rounding boundary
(docs/prequantized.md)."""
MAX_SHIFT = 62
MAX_ACC_BITS = 48
"""Widest accumulator accepted: acc * M (M < 2^15) then stays within 64 bits."""
WEIGHT_BLOCK_ELEMENTS = 1 << 20
"""Weights are quantized in blocks of rows of about this many elements."""
FLOAT64_EXACT_BOUND = 1 << 52
"""Integers (and all partial sums) below this are exact in float64."""


# --------------------------------------------------------------------------- ranges and widths


BITS_RANGES = {"wbits": (2, 8), "abits": (2, 16)}
"""The supported weight and activation widths (inclusive)."""


def check_bits(wbits: int, abits: int, pass_name: str | None = None) -> None:
    """HwcError (one line) unless `wbits` and `abits` are supported widths. The
    message names the option as a command-line flag (`--wbits 9: ...`), or as an
    option of `pass_name` (`quantize: wbits=9: ...`)."""
    for option, value in (("wbits", wbits), ("abits", abits)):
        lo, hi = BITS_RANGES[option]
        if not isinstance(value, int) or not lo <= value <= hi:
            where = f"{pass_name}: {option}={value}" if pass_name else f"--{option} {value}"
            raise HwcError(f"{where}: must be an integer from {lo} to {hi}")


def round_half_up(x):
    """`floor(x + 0.5)` in float64, the one rounding used at compile time."""
    return np.floor(np.asarray(x, np.float64) + 0.5)


MODEL_ROUNDINGS = {"ROUND": "half_even", "FLOOR": "floor", "CEIL": "ceil"}
"""A model's rounding modes (QONNX's rounding_mode; QuantizeLinear rounds half to even)
as requant roundings."""


def requant_rounding(rounding: str) -> str:
    """The requant rounding of a model's rounding mode (ROUND, FLOOR or CEIL)."""
    return MODEL_ROUNDINGS[rounding]


def rounding_constant(rounding: str, shift: int) -> int:
    """What the requant adds before its shift, besides the half-even tie bit:
    `2^(S-1)` (half up), `2^(S-1) - 1` (half even, plus bit S of p), 0 (floor),
    `2^S - 1` (ceil); 0 at shift 0."""
    if not shift:
        return 0
    return {"half_up": 1 << (shift - 1), "half_even": (1 << (shift - 1)) - 1, "floor": 0,
            "ceil": (1 << shift) - 1}[rounding]


def narrow_limit(bits: int) -> int:
    """The largest magnitude of a `bits`-bit narrow-range symmetric value: 2^(bits-1) - 1."""
    return (1 << (bits - 1)) - 1


signed_bounds = signed_range
"""The full two's-complement range of a `bits`-bit value (the rom dialect's rule)."""


def signed_bits(lo: int, hi: int) -> int:
    """The fewest two's-complement bits holding every integer in [lo, hi] (at least 1)."""
    magnitude = max(int(hi), -int(lo) - 1, 0)
    return magnitude.bit_length() + 1


def width_for(bound: int) -> int:
    """Bits of the narrowest value type hwc gives a quantity in [-bound, bound]:
    `signed_bits(-bound, bound)`, but at least 2 (no 1-bit tensors)."""
    return max(2, signed_bits(-int(bound), int(bound)))


def scale_from_absmax(absmax: float, bits: int) -> float:
    """The symmetric scale that maps ±absmax onto the narrow `bits`-bit range (1 for 0)."""
    return absmax / narrow_limit(bits) if absmax > 0 else 1.0


# --------------------------------------------------------------------------- weights


def quantize_weight(weight: np.ndarray, wbits: int, scales: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric quantization of `weight` ([C, ...]), at
    `scales` when given (each at least the channel's absmax scale), else at
    absmax / limit.

    Returns (integers as int8 of `weight`'s shape, scales float64 [C]). Works in
    blocks of rows so that a memory-mapped weight is never held whole in float64.
    """
    channels = weight.shape[0]
    rows = weight.reshape(channels, -1)
    limit = narrow_limit(wbits)
    quantized = np.empty(rows.shape, np.int8)
    chosen = np.empty(channels, np.float64) if scales is None else np.asarray(scales, np.float64)
    step = max(1, WEIGHT_BLOCK_ELEMENTS // max(1, rows.shape[1]))
    for begin in range(0, channels, step):
        block = np.array(rows[begin:begin + step], np.float64)
        absmax = np.maximum(block.max(axis=1, initial=-np.inf), -block.min(axis=1, initial=np.inf))
        if not np.all(np.isfinite(absmax)):
            raise HwcError("quantize: a weight holds NaN or infinite values")
        block_scales = np.where(absmax > 0, absmax / limit, 1.0) if scales is None else chosen[begin:begin + step]
        if scales is None:
            chosen[begin:begin + step] = block_scales
        # round_half_up(block / scale), clamped, computed in place
        np.divide(block, block_scales[:, None], out=block)
        np.add(block, 0.5, out=block)
        np.floor(block, out=block)
        np.clip(block, -limit, limit, out=block)
        quantized[begin:begin + step] = block
    return quantized.reshape(weight.shape), chosen


def quantize_tensor(constant: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    """Per-tensor symmetric quantization of a constant: (integers as float64, scale)."""
    limit = narrow_limit(bits)
    absmax = float(np.abs(constant).max(initial=0.0))
    scale = absmax / limit if absmax > 0 else 1.0
    return np.clip(round_half_up(constant / scale), -limit, limit), scale


FINE_SCALE_BITS = 6
"""An add's common scale is this many bits finer than the activations it adds."""


def common_scale(scales: list[float], bits: int) -> tuple[float, list[int]]:
    """A common scale `s_c` and integers `m_i >= 1` without a common factor, with
    `scales[i] ≈ m_i * s_c`: `max(scales) / 2^(bits + FINE_SCALE_BITS)`, times the
    gcd of the rounded ratios (how `quantize` adds `bits`-bit activations)."""
    fine = max(scales) / 2.0 ** (bits + FINE_SCALE_BITS)
    multipliers = [max(1, int(round_half_up(s / fine))) for s in scales]
    common = math.gcd(*multipliers)
    return fine * common, [m // common for m in multipliers]


def dot_bounds(weight_q: np.ndarray, input_bound: int, bias_q: np.ndarray | None = None) -> np.ndarray:
    """Per output row, the largest |accumulator| of `W x + b` with |x| <= input_bound."""
    row_sums = np.abs(weight_q.reshape(weight_q.shape[0], -1)).sum(axis=1, dtype=np.int64)
    return row_sums * input_bound + (np.abs(bias_q) if bias_q is not None else 0)


def batch_norm_factor(scale: np.ndarray, var: np.ndarray, epsilon: float) -> np.ndarray:
    """`a = scale / sqrt(var + eps)` in float64: batch_norm(x) = (x - mean) * a + bias."""
    return np.asarray(scale, np.float64) / np.sqrt(np.asarray(var, np.float64) + epsilon)


def batch_norm_affine(scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray,
                      epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """`(a, b)` per channel with batch_norm(x) = x * a + b, in float64."""
    factor = batch_norm_factor(scale, var, epsilon)
    return factor, np.asarray(bias, np.float64) - np.asarray(mean, np.float64) * factor


# --------------------------------------------------------------------------- requantization


def requant_parameters(ratio: np.ndarray, what: str, limit: int = MULTIPLIER_LIMIT) -> tuple[np.ndarray, int]:
    """Integer multipliers M and one shift S with `M / 2^S ≈ ratio`.

    S is the largest value <= 62 such that max M < `limit` (2^15 unless the
    scales are the model's own), `M = floor(ratio * 2^S + 0.5)`.
    HwcError when the ratios cannot be represented (not finite or positive, too
    large even at S = 0, or all rounding to zero).
    """
    ratio = np.atleast_1d(np.asarray(ratio, np.float64))
    if not np.all(np.isfinite(ratio)) or np.any(ratio <= 0):
        raise HwcError(f"quantize: {what}: degenerate scale ratio {ratio.min()} (not a positive number)")
    for shift in range(MAX_SHIFT, -1, -1):
        multipliers = round_half_up(ratio * 2.0 ** shift)
        if multipliers.max() < limit:
            break
    else:
        raise HwcError(
            f"quantize: {what}: scale ratio {ratio.max():.6g} is too large for a requant "
            f"multiplier below 2^{limit.bit_length() - 1} (the calibration ranges are degenerate)"
        )
    if multipliers.max() == 0:
        raise HwcError(f"quantize: {what}: scale ratio {ratio.max():.3g} rounds to zero even at shift {MAX_SHIFT}")
    return multipliers.astype(np.int64), shift


REQUANT_DIGITS_MAX = 8
"""The most signed digits `--requant-digits` may ask a requant multiplier for."""


def check_requant_digits(digits: int) -> None:
    """HwcError unless `digits` is 0 (no limit) or 1..REQUANT_DIGITS_MAX."""
    if not 0 <= digits <= REQUANT_DIGITS_MAX:
        raise HwcError(f"--requant-digits {digits}: must be 0 (no limit) or 1..{REQUANT_DIGITS_MAX}")


WEIGHT_SCALES = ("channel", "tensor")
"""One weight scale per output channel (the default) or one per layer."""


def check_weight_scales(mode: str) -> None:
    """HwcError unless `mode` is one of WEIGHT_SCALES."""
    if mode not in WEIGHT_SCALES:
        raise HwcError(f"--weight-scales {mode}: must be one of {', '.join(WEIGHT_SCALES)}")


def signed_digit_count(value: int) -> int:
    """The nonzero digits of |value| in canonical signed digits (the fewest signed
    powers of two that sum to it): the adders a constant product costs, plus one."""
    value = abs(int(value))
    return bin(((3 * value) ^ value) >> 1).count("1")


def few_digit_ratios(ratio: np.ndarray, digits: int, what: str) -> np.ndarray:
    """Per channel, the smallest ratio' >= ratio whose requant multiplier has at
    most `digits` signed digits: ratio' = M / 2^S with S as `requant_parameters`
    picks it with one bit of headroom (so every such M stays below the limit)."""
    ratio = np.atleast_1d(np.asarray(ratio, np.float64))
    _, shift = requant_parameters(ratio, what, MULTIPLIER_LIMIT >> 1)
    exact = ratio * 2.0 ** shift
    chosen = [_next_with_digits(float(target), digits) for target in exact]
    return np.array(chosen, np.float64) / 2.0 ** shift


def _next_with_digits(target: float, digits: int) -> int:
    """The smallest integer >= target (> 0) with at most `digits` signed digits."""
    value = max(1, math.ceil(target))
    while signed_digit_count(value) > digits:
        # the lowest nonzero bit can only be rounded up: clear it by adding it
        value += value & -value
    return value


def as_int64(array: np.ndarray) -> np.ndarray:
    """`array` as int64 (no copy when it already is)."""
    return np.asarray(array).astype(np.int64, copy=False)


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: int, lo: int, hi: int,
               offset: np.ndarray | None = None, rounding: str = "half_up") -> np.ndarray:
    """`clamp((p + 2^(shift-1)) >> shift, lo, hi)` for `p = acc * M + offset` exactly (int64
    result): round half up; `rounding` half_even adds `2^(shift-1) - 1 + bit_shift(p)`
    instead (ties to even), floor 0, ceil `2^shift - 1` (`rounding_constant`).

    Requires `multiplier` (and `offset`, default 0) broadcastable against `acc`. Uses
    int64 when the sum provably fits, Python integers otherwise.
    """
    acc = as_int64(acc)
    multiplier = as_int64(multiplier)
    constant = rounding_constant(rounding, shift)
    tie_bit = rounding == "half_even" and shift > 0
    offset = as_int64(offset) if offset is not None else np.zeros(1, np.int64)
    largest = int(np.abs(acc).max(initial=0)) * int(np.abs(multiplier).max(initial=0)) + (1 << shift) \
        + int(np.abs(offset).max(initial=0))
    if largest < (1 << 63):
        scaled = acc * multiplier
        scaled += offset
        scaled += constant + ((scaled >> shift) & 1) if tie_bit else constant
        np.right_shift(scaled, shift, out=scaled)
    else:
        wide = acc.astype(object) * multiplier.astype(object) + offset.astype(object)
        wide = wide + constant + ((wide >> shift) & 1) if tie_bit else wide + constant
        scaled = np.asarray(np.clip(wide >> shift, lo, hi), dtype=np.int64)
    return np.clip(scaled, lo, hi, out=scaled)


def wrap(array: np.ndarray, width: int) -> np.ndarray:
    """`array` (int64) reduced to `width`-bit two's complement, in place when possible."""
    if width >= 64:
        return array
    shift = 64 - width
    np.left_shift(array, shift, out=array)
    np.right_shift(array, shift, out=array)
    return array


# --------------------------------------------------------------------------- the host side


HOST_OPS = ("softmax", "log_softmax")
"""Final ops a quantized graph leaves to the host, applied in float after dequantization."""


def quantize_input(array: np.ndarray, scale: float, bits: int, bounds: tuple[int, int] | None = None) -> np.ndarray:
    """What the host sends for float inputs: `clamp(floor(x / s + 0.5), ±(2^(bits-1)-1))`, int64
    (also how `quantize` turns any real number into a `bits`-bit activation value).

    With `bounds` (an input the model quantizes itself: QuantizeLinear, QONNX Quant), the
    model's own arithmetic instead: `clamp(round_half_even(float32(x) / float32(s)), lo, hi)`,
    the division in float32 as onnxruntime and qonnx compute it."""
    if bounds is not None:
        q = np.rint(np.asarray(array, np.float32) / np.float32(scale))
        return np.clip(q, *bounds).astype(np.int64)
    limit = narrow_limit(bits)
    q = np.floor(np.asarray(array, np.float64) / scale + 0.5)
    return np.clip(q, -limit, limit).astype(np.int64)


def host_softmax_axis(shape: tuple[int, ...]) -> int:
    """The axis a host softmax runs over in a tensor of `shape` (samples on axis 0):
    the last axis, trailing axes of size 1 aside ("last in substance": a Caffe-era
    classifier's softmax over axis 1 of [N, 1000, 1, 1]). When no axis after the
    first has more than one element, the last axis."""
    for axis in range(len(shape) - 1, 0, -1):
        if shape[axis] != 1:
            return axis
    return len(shape) - 1


def softmax(x: np.ndarray, log: bool) -> np.ndarray:
    """Numerically stable (log-)softmax over `host_softmax_axis`, in the dtype of `x`."""
    axis = host_softmax_axis(x.shape)
    shifted = x - x.max(axis=axis, keepdims=True)
    if log:
        return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def dequantize_output(q: np.ndarray, scale: float, host_op: str | None) -> np.ndarray:
    """Floats from the hardware's integers: `q * scale` then the host op, as float32."""
    y = np.asarray(q, np.float64) * scale
    if host_op is not None:
        y = softmax(y, log=host_op == "log_softmax")
    return y.astype(np.float32)
