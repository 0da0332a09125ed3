"""Quantization a model states itself, at the float level: `nn.fake_quant` (a
QuantizeLinear -> DequantizeLinear pair, or a QONNX `Quant`, on an activation),
and the attributes that say a float weight was given as integers times scales.
`quantize` honours both instead of choosing its own scales
(docs/prequantized.md)."""

from __future__ import annotations

from xdsl.dialects.builtin import I64, FloatAttr, IntegerAttr, f64, i64
from xdsl.ir import SSAValue
from xdsl.irdl import irdl_op_definition, prop_def
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


@irdl_op_definition
class FakeQuantOp(UnaryOp):
    """`y = (clamp(round_half_even(x / scale) + zero_point, qmin, qmax) - zero_point) * scale`,
    computed in the input's float type (onnxruntime's QuantizeLinear followed by
    DequantizeLinear, per tensor). The value it stands for in integers is
    `q - zero_point`, in [qmin - zero_point, qmax - zero_point]."""

    name = "nn.fake_quant"
    scale = prop_def(FloatAttr)
    zero_point = prop_def(IntegerAttr[I64])
    qmin = prop_def(IntegerAttr[I64])
    qmax = prop_def(IntegerAttr[I64])

    def __init__(self, x: SSAValue, *, scale: float, zero_point: int, qmin: int, qmax: int):
        super().__init__(x, scale=FloatAttr(float(scale), f64), zero_point=IntegerAttr(zero_point, i64),
                         qmin=IntegerAttr(qmin, i64), qmax=IntegerAttr(qmax, i64))

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
