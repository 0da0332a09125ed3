"""Quantization the model states itself (docs/prequantized.md): ONNX's
QuantizeLinear / DequantizeLinear (QDQ, as onnxruntime's `quantize_static`
writes it; QCDQ, with a Clip of the integers between them, as Brevitas'
`export_onnx_qcdq` writes it).

* `QuantizeLinear -> DequantizeLinear` on an activation becomes one
  `nn.fake_quant` (scale, zero point, the integer type's range, int4 to int16):
  QuantizeLinear emits it, and the DequantizeLinear reading it returns the same
  value. A `Clip` of the integers (QCDQ) narrows that range (`clip_integers`). A
  QuantizeLinear whose integers anything else reads is refused.
* `DequantizeLinear` of an integer initializer (a quantized weight or bias) is
  evaluated at import exactly as onnxruntime does, `float32(q - z) * scale`, into
  a `GivenConstant` that remembers the scales; materialised as a layer's weight,
  it carries them as `nn.given_scale` (per output channel) for `quantize`, or,
  with opset 21's `block_size` along the inputs, as `nn.given_block_scale`
  (the form of MatMulNBits). FLOAT4E2M1 values (MXFP4, with FLOAT8E8M0 or
  float power-of-two block scales) are twice-integers: they become the integers
  `2·e2m1` under half the scales, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from compiler.frontend.loader import Constant
from compiler.frontend.node import NodeImport, Unsupported
from compiler.frontend.ops.matmul_nbits import GivenBlocks
from compiler.frontend.ops.registry import handles
from compiler.ir import numpy_to_dense
from dialects import nn
from xdsl.dialects.builtin import IntegerAttr, f64, i64
from xdsl.ir import Operation

INTEGER_RANGES = {
    np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255),
    np.dtype(np.int16): (-32768, 32767), np.dtype(np.uint16): (0, 65535),
}
"""The integer types a QuantizeLinear may produce on an activation, and their ranges."""
ONNX_RANGES = {
    onnx.TensorProto.INT8: (-128, 127), onnx.TensorProto.UINT8: (0, 255),
    onnx.TensorProto.INT16: (-32768, 32767), onnx.TensorProto.UINT16: (0, 65535),
    onnx.TensorProto.INT4: (-8, 7), onnx.TensorProto.UINT4: (0, 15),
}


@dataclass
class GivenConstant(Constant):
    """A float constant the model gave as integers times scales: `value = float32(q - z) * scale`.
    `scale` has the constant's rank (size 1 on every axis but `axis`, or all 1 per tensor)."""

    scale: np.ndarray | None = None
    symmetric: bool = True
    """False when a zero point is not 0 (hwc cannot keep such weights as they are)."""
    origin: str = ""
    """The model's name for the tensor this one was derived from (a transposed weight)."""
    block_size: int = 0
    """Nonzero when the scales come in blocks of this many along `block_axis` (opset 21's
    blocked DequantizeLinear); `scale` then has ceil(length / block_size) entries there."""
    block_axis: int = 0

    def transposed(self, name: str, load) -> GivenConstant:
        """The 2-D constant transposed (a MatMul weight [in, out] as [out, in])."""
        return GivenConstant(name, self.shape[::-1], np.dtype(np.float32), load, scale=self.scale.T,
                             symmetric=self.symmetric, origin=self.origin or self.name, block_size=self.block_size,
                             block_axis=1 - self.block_axis)

    def output_channel_scales(self) -> np.ndarray | None:
        """One scale per row (axis 0), or None when the scales vary along another axis."""
        scale = np.asarray(self.scale, np.float64)
        if any(d != 1 for d in scale.shape[1:]):
            return None
        return np.broadcast_to(scale.reshape(-1), (self.shape[0],)).copy()


def annotate_given(constant: Constant, op: Operation, role: str) -> None:
    """Put `nn.given_scale` on the materialised `op` when `constant` is a given
    weight; Unsupported when its scales do not run along the output channels."""
    if isinstance(constant, GivenBlocks):
        op.attributes[nn.GIVEN_BLOCK_SCALE_ATTR] = numpy_to_dense(constant.block_scales, f64)
        op.attributes[nn.GIVEN_BLOCK_SIZE_ATTR] = IntegerAttr(constant.block_size, i64)
        return
    if not isinstance(constant, GivenConstant):
        return
    if constant.block_size:
        _annotate_blocks(constant, op, role)
        return
    if not constant.symmetric:
        raise Unsupported(f"{role} '{constant.origin or constant.name}' has a nonzero zero point; hwc keeps weights "
                          "symmetric (zero point 0)")
    scales = constant.output_channel_scales()
    if scales is None:
        raise Unsupported(f"{role} '{constant.origin or constant.name}' is quantized along an axis other than its output "
                          "channels; hwc keeps one scale per output channel")
    op.attributes[nn.GIVEN_SCALE_ATTR] = numpy_to_dense(scales, f64)


def _annotate_blocks(constant: GivenConstant, op: Operation, role: str) -> None:
    """`nn.given_block_scale` for a 2-D weight [out, in] whose scales come in blocks of inputs."""
    scale = np.asarray(constant.scale, np.float64)
    rows = constant.shape[0]
    if len(constant.shape) != 2 or constant.block_axis != 1:
        raise Unsupported(f"{role} '{constant.origin or constant.name}' has blocked scales along its output "
                          "channels or on more than two axes; hwc keeps blocks of a dense layer's inputs")
    op.attributes[nn.GIVEN_BLOCK_SCALE_ATTR] = numpy_to_dense(np.broadcast_to(scale, (rows, scale.shape[1])), f64)
    op.attributes[nn.GIVEN_BLOCK_SIZE_ATTR] = IntegerAttr(constant.block_size, i64)


def _scale_and_zero(n: NodeImport, what: str) -> tuple[np.ndarray, Constant | None]:
    """The scale (positive finite floats) and the zero point's constant, if any."""
    if n.has_attr("block_size") and n.attr("block_size") and what != "a constant":
        raise Unsupported(f"blocked scales (block_size {n.attr('block_size')}) on {what} are not supported")
    scale = np.asarray(n.constant(1, "the scale"))
    if what == "a constant":  # onnxruntime's symmetric block quantizer writes negative scales
        if scale.dtype.kind != "f" or not np.all(np.isfinite(scale)) or np.any(scale == 0):
            raise Unsupported("the scale must hold nonzero finite numbers")
    elif scale.dtype.kind != "f" or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise Unsupported("the scale must hold positive finite numbers")
    zero = n.constant_input(2, "the zero point") if n.has_input(2) else None
    return scale, zero


def _readers(n: NodeImport, tensor: str) -> list[onnx.NodeProto]:
    graph = n.graph.model.graph
    return [node for node in graph.node if tensor in node.input]


def _is_graph_output(n: NodeImport, tensor: str) -> bool:
    return any(output.name == tensor for output in n.graph.model.graph.output)


def _integer_range(n: NodeImport, zero: Constant | None) -> tuple[int, int]:
    """The range of QuantizeLinear's output type: the zero point's type, or `output_dtype`, or uint8."""
    if zero is not None:
        if zero.element_range is not None:
            return zero.element_range
        if zero.dtype not in INTEGER_RANGES:
            raise Unsupported(f"zero point of type {zero.dtype} (supported: int4, uint4, int8, uint8, int16, uint16)")
        return INTEGER_RANGES[zero.dtype]
    output_type = n.attr("output_dtype", 0)
    if output_type and output_type not in ONNX_RANGES:
        raise Unsupported(f"output_dtype {onnx.TensorProto.DataType.Name(output_type)}")
    return ONNX_RANGES.get(output_type, ONNX_RANGES[onnx.TensorProto.UINT8]) if output_type else (0, 255)


@handles("QuantizeLinear", note="on an activation, read only by DequantizeLinear with the same scale and "
                                "zero point, directly or through one Clip (QCDQ): one `nn.fake_quant` (per-tensor "
                                "scale; int4, uint4, int8, uint8, int16, uint16); on constants evaluated at import")
def _quantize_linear(n: NodeImport):
    scale, zero = _scale_and_zero(n, "an activation")
    if scale.size != 1 or (zero is not None and zero.size != 1):
        raise Unsupported("per-axis scales on an activation are not supported (one scale per tensor)")
    qmin, qmax = _integer_range(n, zero)
    _check_integer_readers(n, n.node.output[0])
    zero_point = _zero_point(zero)
    return [n.emit(nn.FakeQuantOp(n.activation(0), scale=float(np.float32(scale.reshape(-1)[0])),
                                  zero_point=zero_point, qmin=qmin, qmax=qmax))]


def _zero_point(zero: Constant | None) -> int:
    return int(np.asarray(zero.value()).reshape(-1)[0]) if zero is not None else 0


def _check_integer_readers(n: NodeImport, tensor: str) -> None:
    """Unsupported unless the integers of a QuantizeLinear on an activation reach only
    DequantizeLinear, directly or through one Clip (QCDQ)."""
    for reader in _readers(n, tensor):
        if reader.op_type == "Clip" and not _is_graph_output(n, reader.output[0]) and \
                all(r.op_type == "DequantizeLinear" for r in _readers(n, reader.output[0])):
            continue
        if reader.op_type != "DequantizeLinear":
            raise Unsupported(f"its integers are read by {reader.op_type} '{reader.name}'; hwc reads a QuantizeLinear "
                              "on an activation only through DequantizeLinear, or a Clip and DequantizeLinear")
    if _is_graph_output(n, tensor):
        raise Unsupported("its integers are read by the graph output; hwc reads a QuantizeLinear on an activation "
                          "only through DequantizeLinear")


def quantized_input(n: NodeImport) -> bool:
    """True when input 0 of `n` is the integer output of a QuantizeLinear (a Clip in QCDQ)."""
    graph = n.graph.model.graph
    return any(node.op_type == "QuantizeLinear" and n.node.input[0] in node.output for node in graph.node)


def clip_integers(n: NodeImport, low: float | None, high: float | None):
    """QCDQ's Clip of a QuantizeLinear's integers: the fake quant with its range narrowed
    to [ceil(low), floor(high)] (the Clip keeps the integer type)."""
    source = n.activation(0).owner
    assert isinstance(source, nn.FakeQuantOp)
    qmin, qmax = source.qmin.value.data, source.qmax.value.data
    qmin = max(qmin, int(np.ceil(low))) if low is not None else qmin
    qmax = min(qmax, int(np.floor(high))) if high is not None else qmax
    if not qmin <= source.zero_point.value.data <= qmax or qmin >= qmax:
        raise Unsupported(f"the clip [{qmin}, {qmax}] leaves out the zero point or all but one integer")
    clipped = n.emit(nn.FakeQuantOp(source.input, scale=source.scale.value.data, zero_point=source.zero_point.value.data,
                                    qmin=qmin, qmax=qmax))
    if not source.output.uses and all(r.op_type == "Clip" for r in _readers(n, n.node.input[0])):
        source.detach()
        source.erase()
    return [clipped]


@handles("DequantizeLinear", note="of an integer initializer (a quantized weight or bias; per-tensor, per-axis "
                                  "or opset 21 blocked scales, int4/uint4 too) or of FLOAT4E2M1 values under "
                                  "power-of-two block scales (MXFP4): its float value, the scales kept for "
                                  "`quantize`; of a QuantizeLinear's output with the same scale and zero point: "
                                  "the pair is one `nn.fake_quant`")
def _dequantize_linear(n: NodeImport):
    if n.is_constant(0):
        return [_given_constant(n)]
    scale, zero = _scale_and_zero(n, "an activation")
    source = n.activation(0).owner
    if not isinstance(source, nn.FakeQuantOp):
        raise Unsupported("its input is neither a constant nor the output of a QuantizeLinear")
    zero_point = _zero_point(zero)
    if scale.size != 1 or float(np.float32(scale.reshape(-1)[0])) != source.scale.value.data \
            or zero_point != source.zero_point.value.data:
        raise Unsupported("its scale or zero point differs from its QuantizeLinear's")
    return [source.output]


def _given_constant(n: NodeImport) -> GivenConstant:
    codes = n.constant_input(0, "the integers")
    if codes.dtype.kind not in "iu" and codes.element_format != "e2m1":
        raise Unsupported(f"input of type {codes.dtype} (an integer or FLOAT4E2M1 initializer is expected)")
    scale, zero = _scale_and_zero(n, "a constant")
    if codes.element_format == "e2m1":
        if zero is not None:
            raise Unsupported("a zero point beside FLOAT4E2M1 values")
        codes, scale = _e2m1_as_integers(codes), scale / 2
    rank, block = len(codes.shape), int(n.attr("block_size", 0) or 0)
    axis = n.axis(n.attr("axis", 1), rank) if scale.size > 1 or block else 0
    shape = _scale_shape(codes.shape, scale.shape, axis, block)
    scale32 = scale.astype(np.float32).reshape(shape)
    zero_ = np.zeros(shape, np.int64) if zero is None else np.asarray(zero.value()).astype(np.int64).reshape(shape)

    def expand(values: np.ndarray) -> np.ndarray:
        return np.repeat(values, block, axis=axis).take(range(codes.shape[axis]), axis=axis) if block else values

    def load() -> np.ndarray:
        return ((codes.value().astype(np.int64) - expand(zero_)).astype(np.float32) * expand(scale32)).astype(np.float32)

    kept = scale32.astype(np.float64) if block else np.abs(scale32.astype(np.float64))  # a sign flips the integers
    return GivenConstant(n.node.output[0], tuple(codes.shape), np.dtype(np.float32), load,
                         scale=kept, symmetric=bool(np.all(zero_ == 0)), block_size=block,
                         block_axis=axis)


def _e2m1_as_integers(codes: Constant) -> Constant:
    """FLOAT4E2M1 values (0, ±0.5, ±1, ±1.5, ±2, ±3, ±4, ±6) as the integers twice them, in
    [-12, 12] (the scale halves): MXFP4's elements times a power of two, exactly."""
    return Constant(codes.name, codes.shape, np.dtype(np.int8), lambda: (codes.value() * 2).astype(np.int8),
                    element_range=(-12, 12))


def _scale_shape(codes: tuple[int, ...], scales: tuple[int, ...], axis: int, block: int) -> list[int]:
    """The scale's shape at the constant's rank: per tensor, per `axis`, or (opset 21's
    `block_size`) the constant's shape with ceil(length / block) along `axis`."""
    if block:
        expected = [-(-d // block) if i == axis else d for i, d in enumerate(codes)]
        if list(scales) != expected:
            raise Unsupported(f"blocked scales of shape {list(scales)} for {list(codes)} in blocks of {block} "
                              f"along axis {axis} (expected {expected})")
        return expected
    shape = [1] * len(codes)
    size = int(np.prod(scales, dtype=np.int64))
    if size > 1:
        if size != codes[axis]:
            raise Unsupported(f"{size} scales for axis {axis} of length {codes[axis]}")
        shape[axis] = size
    return shape
