"""The float kernel of `nn.fake_quant`: onnxruntime's QuantizeLinear then
DequantizeLinear, in the tensor's own float type (float32 for ONNX models):
`q = clamp(rint(x / s) + z, qmin, qmax)` (rint rounds half to even; floor or ceil for
a QONNX Quant that says so), `y = (q - z) * s`; and of `nn.trunc_quant`: qonnx's `Trunc`
in the same float type."""

from __future__ import annotations

import numpy as np

from dialects import nn

ROUNDINGS = {"ROUND": np.rint, "FLOOR": np.floor, "CEIL": np.ceil}
"""A model's rounding modes as numpy functions (ROUND: half to even)."""


def fake_quant(op: nn.FakeQuantOp):
    scale = op.scale.value.data
    zero = float(op.zero_point.value.data)
    low, high = float(op.qmin.value.data), float(op.qmax.value.data)
    rounding = ROUNDINGS[op.rounding_mode]

    def compute(x, out):
        step = np.asarray(scale, out.dtype)
        np.divide(x, step, out=out)
        rounding(out, out=out)
        np.add(out, zero, out=out)
        np.clip(out, low, high, out=out)
        np.subtract(out, zero, out=out)
        np.multiply(out, step, out=out)

    return compute



def trunc_quant(op: nn.TruncQuantOp):
    """qonnx's order of float operations: `x / in_scale`, rint, `/ 2^shift`, clamp, the
    rounding, `* scale`."""
    in_scale, scale = op.in_scale.value.data, op.scale.value.data
    divisor = float(2 ** op.shift.value.data)
    low, high = (float(v) for v in op.levels)
    rounding = ROUNDINGS[op.rounding.data]

    def compute(x, out):
        np.divide(x, np.asarray(in_scale, out.dtype), out=out)
        np.rint(out, out=out)
        np.divide(out, np.asarray(divisor, out.dtype), out=out)
        np.clip(out, low, high, out=out)
        rounding(out, out=out)
        np.multiply(out, np.asarray(scale, out.dtype), out=out)

    return compute
