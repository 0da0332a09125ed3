"""Quantization a model states itself, at the float level: `nn.fake_quant` (a
QuantizeLinear -> DequantizeLinear pair, or a QONNX `Quant`, on an activation),
`nn.trunc_quant` (QONNX's `Trunc`: an integer activation losing its low bits),
and the attributes that say a float weight was given as integers times scales.
`quantize` honours both instead of choosing its own scales
(docs/prequantized.md)."""

from __future__ import annotations

from xdsl.dialects.builtin import I64, FloatAttr, IntegerAttr, StringAttr, f64, i64
from xdsl.ir import SSAValue
from xdsl.irdl import irdl_op_definition, opt_prop_def, prop_def
from xdsl.utils.exceptions import VerifyException

from dialects.nn.elementwise import UnaryOp

GIVEN_SCALE_ATTR = "nn.given_scale"
"""On a float weight constant (import): the model gave it as integers times these
scales, one per output channel (axis 0 of the dense/conv weight), dense f64."""


GIVEN_BLOCK_SCALE_ATTR = "nn.given_block_scale"
"""On a float dense weight [N, K] (import): the model gave it as integers times one
scale per block of `nn.given_block_size` inputs, dense f64 [N, blocks]."""
GIVEN_BLOCK_SIZE_ATTR = "nn.given_block_size"

INPUT_RANGE_ATTR = "nn.input_range"
"""On a quantized graph input whose range the model gives (a QuantizeLinear's integer
type, a QONNX Quant's bit width): [lo, hi], the integers the host sends (it clamps to
them instead of hwc's symmetric narrow range), dense i64."""


ROUNDINGS = ("ROUND", "FLOOR", "CEIL")
"""A model's roundings: ROUND (half to even), FLOOR, CEIL."""


@irdl_op_definition
class FakeQuantOp(UnaryOp):
    """`y = (clamp(round_half_even(x / scale) + zero_point, qmin, qmax) - zero_point) * scale`,
    computed in the input's float type (onnxruntime's QuantizeLinear followed by
    DequantizeLinear, per tensor); `rounding` FLOOR or CEIL (a QONNX Quant's, zero point
    0) rounds down or up instead. The value it stands for in integers is
    `q - zero_point`, in [qmin - zero_point, qmax - zero_point]."""

    name = "nn.fake_quant"
    scale = prop_def(FloatAttr)
    zero_point = prop_def(IntegerAttr[I64])
    qmin = prop_def(IntegerAttr[I64])
    qmax = prop_def(IntegerAttr[I64])
    rounding = opt_prop_def(StringAttr)

    def __init__(self, x: SSAValue, *, scale: float, zero_point: int, qmin: int, qmax: int, rounding: str = "ROUND"):
        extra = {"rounding": StringAttr(rounding)} if rounding != "ROUND" else {}
        super().__init__(x, scale=FloatAttr(float(scale), f64), zero_point=IntegerAttr(zero_point, i64),
                         qmin=IntegerAttr(qmin, i64), qmax=IntegerAttr(qmax, i64), **extra)

    @property
    def rounding_mode(self) -> str:
        """ROUND (half to even), FLOOR or CEIL."""
        return self.rounding.data if self.rounding is not None else "ROUND"

    @property
    def levels(self) -> tuple[int, int]:
        """[lo, hi] of the integer `q - zero_point` this op's result stands for."""
        zero = self.zero_point.value.data
        return self.qmin.value.data - zero, self.qmax.value.data - zero

    def verify_(self) -> None:
        scale = self.scale.value.data
        if not scale > 0 or scale == float("inf"):
            raise VerifyException(f"nn.fake_quant: scale must be a positive number, not {scale}")
        if self.qmin.value.data >= self.qmax.value.data:
            raise VerifyException("nn.fake_quant: qmin must be less than qmax")
        if not self.qmin.value.data <= self.zero_point.value.data <= self.qmax.value.data:
            raise VerifyException("nn.fake_quant: the zero point must lie in [qmin, qmax]")
        if self.rounding_mode not in ROUNDINGS:
            raise VerifyException(f"nn.fake_quant: rounding must be one of {', '.join(ROUNDINGS)}")



@irdl_op_definition
class TruncQuantOp(UnaryOp):
    """QONNX's `Trunc` with zero point 0 (Brevitas' truncating average pool), as qonnx
    computes it in the input's float type: the input's integers at `in_scale`,
    `t = round_half_even(x / in_scale)`, lose their `shift` low bits,
    `y = R(clamp(t / 2^shift, qmin, qmax)) * scale` with `R` the `rounding` (ROUND: half
    to even, FLOOR, CEIL). `scale` is `in_scale * 2^shift` as the model states it; the
    integer `t` lies in [`in_lo`, `in_hi`] (the model's input bit width)."""

    name = "nn.trunc_quant"
    in_scale = prop_def(FloatAttr)
    scale = prop_def(FloatAttr)
    shift = prop_def(IntegerAttr[I64])
    in_lo = prop_def(IntegerAttr[I64])
    in_hi = prop_def(IntegerAttr[I64])
    qmin = prop_def(IntegerAttr[I64])
    qmax = prop_def(IntegerAttr[I64])
    rounding = prop_def(StringAttr)

    def __init__(self, x: SSAValue, *, in_scale: float, scale: float, shift: int, in_range: tuple[int, int],
                 levels: tuple[int, int], rounding: str):
        super().__init__(x, in_scale=FloatAttr(float(in_scale), f64), scale=FloatAttr(float(scale), f64),
                         shift=IntegerAttr(shift, i64), in_lo=IntegerAttr(in_range[0], i64),
                         in_hi=IntegerAttr(in_range[1], i64), qmin=IntegerAttr(levels[0], i64),
                         qmax=IntegerAttr(levels[1], i64), rounding=StringAttr(rounding))

    @property
    def levels(self) -> tuple[int, int]:
        """[lo, hi] of the integer this op's result stands for (at `scale`)."""
        return self.qmin.value.data, self.qmax.value.data

    @property
    def in_levels(self) -> tuple[int, int]:
        """[lo, hi] of the integer `t` its input stands for (at `in_scale`)."""
        return self.in_lo.value.data, self.in_hi.value.data

    def verify_(self) -> None:
        for what in (self.in_scale, self.scale):
            if not what.value.data > 0 or what.value.data == float("inf"):
                raise VerifyException(f"nn.trunc_quant: scales must be positive numbers, not {what.value.data}")
        if self.shift.value.data < 0:
            raise VerifyException("nn.trunc_quant: shift must not be negative")
        if self.qmin.value.data >= self.qmax.value.data or self.in_lo.value.data >= self.in_hi.value.data:
            raise VerifyException("nn.trunc_quant: each range's low end must be below its high end")
        if self.rounding.data not in ROUNDINGS:
            raise VerifyException(f"nn.trunc_quant: rounding must be one of {', '.join(ROUNDINGS)}")
