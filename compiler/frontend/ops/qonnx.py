"""QONNX quantizers (domain `qonnx.custom_op.general`, as Brevitas' `export_qonnx`
and hls4ml/FINN tools write them), per qonnx's op definitions:

* `Quant` (also `IntQuant`): `y = (round(clamp(x / s + z, min, max)) - z) · s`, the
  integer range from `bitwidth`, `signed` and `narrow`, `rounding_mode` ROUND (half
  to even), CEIL or FLOOR. On a constant (a weight) it is evaluated at import in
  float32 as qonnx does, into a `GivenConstant` that keeps the scales; on an
  activation it is an `nn.fake_quant` (per-tensor scale, zero point 0; FLOOR and
  CEIL become the requant's offset, so not on a graph input, which the host rounds).
* `BipolarQuant`: `y = (x >= 0 ? 1 : -1) · s`, on a constant (binary weights).
* `Trunc` (qonnx opset 2, as Brevitas' `TruncAvgPool2d` exports it): an activation's
  integers at `scale` lose their low bits, `y = R(clamp(round(x / s) / 2^k)) · s_out`
  with `2^k = s_out / s`; an `nn.trunc_quant` (zero point 0).

* `FloatQuant`: on a constant (a weight), evaluated at import as qonnx does: each value
  `v = x / s` becomes a float with `m` mantissa bits, exponent bias `b`, subnormals below
  2^(1 - b) and saturation at the format's largest value. Every such value is an integer
  times `2^(1 - b - m)`, so the weight keeps those integers under the scales
  `s · 2^(1 - b - m)` (E2M1: `2·v` in [-12, 12]; E4M3: up to 19 bits), as a `Quant`
  weight does. Not on an activation (docs/prequantized.md).
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import BlockArgument

from compiler.frontend.node import NodeImport, Unsupported
from compiler.frontend.ops.quantized import GivenConstant
from compiler.frontend.ops.registry import handles
from compiler.numerics import signed_bits
from dialects import nn

DOMAIN = "qonnx.custom_op.general"
ROUNDINGS = {"ROUND": np.round, "CEIL": np.ceil, "FLOOR": np.floor}


def integer_range(signed: bool, narrow: bool, bits: int) -> tuple[int, int]:
    """qonnx's [min_int, max_int] of a `bits`-bit integer."""
    if signed:
        return -(1 << (bits - 1)) + (1 if narrow else 0), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - (2 if narrow else 1)


def _bits(n: NodeImport) -> int:
    """The bit width: up to 32 on a constant (Brevitas' Int32Bias), 16 on an activation."""
    bitwidth = np.asarray(n.constant(3, "the bit width"))
    if bitwidth.size != 1 or float(bitwidth.reshape(-1)[0]) != int(bitwidth.reshape(-1)[0]):
        raise Unsupported("the bit width must be one integer")
    bits, widest = int(bitwidth.reshape(-1)[0]), 32 if n.is_constant(0) else 16
    if not 1 <= bits <= widest:
        raise Unsupported(f"bit width {bits} (supported: 1..{widest})")
    return bits


def _scale_shape(scale: np.ndarray, rank: int) -> np.ndarray:
    if scale.dtype.kind != "f" or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise Unsupported("the scale must hold positive finite numbers")
    return scale.astype(np.float32).reshape((1,) * (rank - scale.ndim) + scale.shape)


@handles("Quant", "IntQuant", domain=DOMAIN,
         note="qonnx.custom_op.general; any bit width 2..16 (1: bipolar; up to 32 on a constant), signed/narrow; "
              "on a constant (a weight or a bias): "
              "per-tensor or per-channel scales, zero point 0 for a layer's weight, rounding ROUND/CEIL/FLOOR; on "
              "an activation: one `nn.fake_quant` (per-tensor scale, zero point 0; FLOOR/CEIL not on a graph input)")
def _quant(n: NodeImport):
    bits = _bits(n)
    signed, narrow = bool(n.attr("signed", 1)), bool(n.attr("narrow", 0))
    rounding = str(n.attr("rounding_mode", "ROUND")).upper()
    if rounding not in ROUNDINGS:
        raise Unsupported(f"rounding_mode {rounding} (supported: {', '.join(ROUNDINGS)})")
    scale, zero = np.asarray(n.constant(1, "the scale")), np.asarray(n.constant(2, "the zero point"))
    if n.is_constant(0):
        return [_quantized_constant(n, bits, signed, narrow, rounding, scale, zero)]
    if scale.size != 1 or zero.size != 1:
        raise Unsupported("per-channel scales or zero points on an activation are not supported (one per tensor)")
    if float(zero.reshape(-1)[0]) != 0:
        raise Unsupported("a nonzero zero point on an activation is not supported")
    if bits < 2:
        raise Unsupported("a 1-bit (bipolar) quantizer on an activation is not supported")
    source = n.activation(0)
    if rounding != "ROUND" and isinstance(source, BlockArgument):
        raise Unsupported(f"rounding_mode {rounding} on a graph input is not supported (the host rounds inputs "
                          "half to even)")
    qmin, qmax = integer_range(signed, narrow, bits)
    step = float(_scale_shape(scale, 1).reshape(-1)[0])
    return [n.emit(nn.FakeQuantOp(source, scale=step, zero_point=0, qmin=qmin, qmax=qmax, rounding=rounding))]


def _quantized_constant(n: NodeImport, bits: int, signed: bool, narrow: bool, rounding: str,
                        scale: np.ndarray, zero: np.ndarray) -> GivenConstant:
    source = n.constant_input(0, "the input")
    rank = len(source.shape)
    steps = _scale_shape(scale, rank)
    zeros = np.asarray(zero, np.float32).reshape((1,) * (rank - zero.ndim) + zero.shape)
    if not np.all(zeros == np.round(zeros)):
        raise Unsupported("the zero point must hold integers")

    def load() -> np.ndarray:
        scaled = source.value().astype(np.float32) / steps + zeros
        if bits == 1 and signed:  # qonnx: a 1-bit signed Quant is bipolar
            levels = np.where(scaled >= 0, np.float32(1), np.float32(-1))
        else:
            low, high = integer_range(signed, narrow, bits)
            levels = ROUNDINGS[rounding](np.clip(scaled, low, high))
        return ((levels - zeros) * steps).astype(np.float32)

    return GivenConstant(n.node.output[0], source.shape, np.dtype(np.float32), load,
                         scale=steps.astype(np.float64), symmetric=bool(np.all(zeros == 0)))


@handles("BipolarQuant", domain=DOMAIN,
         note="qonnx.custom_op.general; on a constant (binary weights ±scale, per-tensor or per-channel scale)")
def _bipolar_quant(n: NodeImport):
    if not n.is_constant(0):
        raise Unsupported("on an activation (a sign function) is not supported")
    source = n.constant_input(0, "the input")
    steps = _scale_shape(np.asarray(n.constant(1, "the scale")), len(source.shape))

    def load() -> np.ndarray:
        return (np.where(source.value() >= 0, np.float32(1), np.float32(-1)) * steps).astype(np.float32)

    return [GivenConstant(n.node.output[0], source.shape, np.dtype(np.float32), load,
                          scale=steps.astype(np.float64))]


@handles("Trunc", domain=DOMAIN,
         note="qonnx.custom_op.general (opset 2: scale, zero point, input bit width, output scale, output bit "
              "width); on an activation, per-tensor scales, zero point 0, rounding ROUND (half to even), FLOOR "
              "or CEIL: one `nn.trunc_quant`")
def _trunc(n: NodeImport):
    if len(n.node.input) != 6:
        raise Unsupported(f"{len(n.node.input)} inputs (supported: qonnx opset 2's six: x, scale, zero point, "
                          "input bit width, output scale, output bit width)")
    if n.is_constant(0):
        raise Unsupported("on a constant is not supported")
    scale, zero = _one_number(n, 1, "the scale"), _one_number(n, 2, "the zero point")
    in_bits, out_scale, out_bits = (_one_number(n, i, what) for i, what in
                                    ((3, "the input bit width"), (4, "the output scale"), (5, "the output bit width")))
    if zero != 0:
        raise Unsupported("a nonzero zero point is not supported")
    if not (scale > 0 and out_scale > 0) or not np.isfinite(scale * out_scale):
        raise Unsupported("the scales must be positive finite numbers")
    for bits in (in_bits, out_bits):
        if bits != int(bits) or not 1 <= bits <= 32:
            raise Unsupported(f"bit width {bits} (supported: integers 1..32)")
    shift = int(np.round(np.log2(np.float32(out_scale) / np.float32(scale))))  # qonnx: a power of two
    if shift < 0:
        raise Unsupported("an output scale finer than the input's is not supported")
    rounding = str(n.attr("rounding_mode", "FLOOR")).upper()
    if rounding not in ROUNDINGS:
        raise Unsupported(f"rounding_mode {rounding} (supported: {', '.join(ROUNDINGS)})")
    signed, narrow = bool(n.attr("signed", 1)), bool(n.attr("narrow", 0))
    return [n.emit(nn.TruncQuantOp(
        n.activation(0), in_scale=scale, scale=out_scale, shift=shift,
        in_range=integer_range(signed, False, int(in_bits)), levels=integer_range(signed, narrow, int(out_bits)),
        rounding=rounding))]


def _one_number(n: NodeImport, index: int, role: str) -> float:
    value = np.asarray(n.constant(index, role))
    if value.size != 1:
        raise Unsupported(f"{role} must be one number (per tensor)")
    return float(np.float32(value.reshape(-1)[0]))


FLOAT_CODE_BITS = 24
"""A FloatQuant weight's integers (the values over their finest step) are at most this wide."""


@handles("FloatQuant", domain=DOMAIN,
         note="qonnx.custom_op.general; on a constant (a weight): per-tensor or per-channel scale, saturating, "
              "rounding ROUND/CEIL/FLOOR, integers of at most 24 bits over the format's finest step (E2M1, E4M3, "
              "E5M2 ...); not on an activation")
def _float_quant(n: NodeImport):
    if not n.is_constant(0):
        raise Unsupported("on an activation is not supported (hwc's activations are integers; a FloatQuant "
                          "weight is kept as integers times a power of two)")
    if len(n.node.input) not in (5, 6):
        raise Unsupported(f"{len(n.node.input)} inputs (supported: x, scale, exponent bits, mantissa bits, "
                          "exponent bias, max value)")
    exponent_bits, mantissa_bits, bias = (_one_number(n, i, role) for i, role in
                                          ((2, "the exponent bit width"), (3, "the mantissa bit width"),
                                           (4, "the exponent bias")))
    if exponent_bits != int(exponent_bits) or mantissa_bits != int(mantissa_bits) or bias != int(bias) \
            or exponent_bits < 1 or mantissa_bits < 0:
        raise Unsupported("the exponent and mantissa bit widths and the exponent bias must be integers")
    if not n.attr("saturation", 1):
        raise Unsupported("saturation 0 (values beyond the format's range become inf or nan) is not supported")
    rounding = str(n.attr("rounding_mode", "ROUND")).upper()
    if rounding not in ROUNDINGS:
        raise Unsupported(f"rounding_mode {rounding} (supported: {', '.join(ROUNDINGS)})")
    largest = _float_format_max(int(exponent_bits), int(mantissa_bits), bias)
    if len(n.node.input) == 6 and n.node.input[5]:
        largest = min(largest, _one_number(n, 5, "the max value"))
    finest = 1.0 - bias - mantissa_bits
    code_bits = signed_bits(-int(largest * 2.0 ** -finest), int(largest * 2.0 ** -finest))
    if code_bits > FLOAT_CODE_BITS:
        raise Unsupported(f"its values are integers of {code_bits} bits times 2^{int(finest)} (at most "
                          f"{FLOAT_CODE_BITS} bits)")
    source = n.constant_input(0, "the input")
    steps = _scale_shape(np.asarray(n.constant(1, "the scale")), len(source.shape))

    def load() -> np.ndarray:
        values = float_format_values(source.value().astype(np.float32) / steps, mantissa_bits, finest, largest,
                                     ROUNDINGS[rounding])
        return (values.astype(np.float64) * steps).astype(np.float32)

    return [GivenConstant(n.node.output[0], source.shape, np.dtype(np.float32), load,
                          scale=steps.astype(np.float64) * 2.0 ** finest)]


def _float_format_max(exponent_bits: int, mantissa_bits: int, bias: float) -> float:
    """qonnx's largest value of the format: all exponent codes in use (no inf or nan codes)."""
    return (2.0 - 2.0 ** -mantissa_bits) * 2.0 ** ((1 << exponent_bits) - 1 - bias)


def float_format_values(v: np.ndarray, mantissa_bits: float, finest: float, largest: float, rounding) -> np.ndarray:
    """qonnx's FloatQuant of `v` (already divided by the scale) in float32: each value rounded
    at its own exponent's step `2^(floor(log2 |v|) - m)`, no finer than `2^finest`, then
    clamped to +-`largest`."""
    tiny = np.finfo(np.float32).tiny
    exponent = np.maximum(np.floor(np.log2(np.abs(v) + tiny)) - np.float32(mantissa_bits), np.float32(finest))
    step = np.exp2(exponent)
    return np.clip((step * rounding(v / step)).astype(np.float64), -largest, largest)
