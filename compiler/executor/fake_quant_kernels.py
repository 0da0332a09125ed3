"""The float kernel of `nn.fake_quant`: onnxruntime's QuantizeLinear then
DequantizeLinear, in the tensor's own float type (float32 for ONNX models):
`q = clamp(rint(x / s) + z, qmin, qmax)` (rint rounds half to even), `y = (q - z) * s`."""

from __future__ import annotations

import numpy as np

from dialects import nn


def fake_quant(op: nn.FakeQuantOp):
    scale = op.scale.value.data
    zero = float(op.zero_point.value.data)
    low, high = float(op.qmin.value.data), float(op.qmax.value.data)

    def compute(x, out):
        step = np.asarray(scale, out.dtype)
        np.divide(x, step, out=out)
        np.rint(out, out=out)
        np.add(out, zero, out=out)
        np.clip(out, low, high, out=out)
        np.subtract(out, zero, out=out)
        np.multiply(out, step, out=out)

    return compute
