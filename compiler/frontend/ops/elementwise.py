"""Element-wise ops: binary arithmetic (an Add after a dense layer may become its
bias), activations, Clip, and Softmax/LogSoftmax along an axis.
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, i64

from compiler.frontend.node import NodeImport
from compiler.frontend.ops.layers import fuse_dense_bias
from compiler.frontend.ops.quantized import clip_integers, quantized_input
from compiler.frontend.ops.registry import handles
from compiler.frontend.ops.shared import emit_binary
from dialects import nn
from dialects.nn import float_attr


def _binary(op_class):
    def handler(n: NodeImport):
        if op_class is nn.AddOp:
            fused = fuse_dense_bias(n)
            if fused is not None:
                return [fused]
        return [emit_binary(n, op_class, n.activation(0), n.activation(1))]

    return handler


_BINARY_NOTE = "numpy broadcasting; constant operands become constants"
handles("Add", note=_BINARY_NOTE + "; after a dense layer an [out] constant becomes its bias")(
    _binary(nn.AddOp))
handles("Sub", note=_BINARY_NOTE)(_binary(nn.SubOp))
handles("Mul", note=_BINARY_NOTE)(_binary(nn.MulOp))
handles("Div", note=_BINARY_NOTE)(_binary(nn.DivOp))


def _unary(op_class):
    def handler(n: NodeImport):
        return [n.emit(op_class(n.activation(0)))]

    return handler


handles("Relu", note="")(_unary(nn.ReluOp))
handles("Sigmoid", note="")(_unary(nn.SigmoidOp))
handles("Tanh", note="")(_unary(nn.TanhOp))


@handles("LeakyRelu", note="alpha (default 0.01)")
def _leaky_relu(n: NodeImport):
    return [n.emit(nn.LeakyReluOp(n.activation(0), alpha=float_attr(n.attr("alpha", 0.01))))]


@handles("Clip", note="min/max as attributes (opset < 11) or constant inputs (opset >= 11); of a "
                      "QuantizeLinear's integers (QCDQ): narrows that quantizer's range")
def _clip(n: NodeImport):
    if n.opset < 11:
        bounds = {"min": n.attr("min"), "max": n.attr("max")}
    else:
        bounds = {"min": n.optional_constant(1, "min"), "max": n.optional_constant(2, "max")}
    if quantized_input(n):
        low, high = (None if b is None else float(np.asarray(b).reshape(-1)[0]) for b in bounds.values())
        return clip_integers(n, low, high)
    properties = {}
    for name, bound in bounds.items():
        if bound is not None:
            value = float(np.asarray(bound).reshape(-1)[0])
            if math.isfinite(value) and abs(value) < 3.4e38:
                properties[name] = float_attr(value)
    return [n.emit(nn.ClipOp(n.activation(0), **properties))]


def _softmax(op_class):
    def handler(n: NodeImport):
        x, rank = n.activation(0), n.rank(0)
        dims = n.shape(0)
        if n.opset >= 13:
            axis = n.axis(n.attr("axis", -1), rank)
            return [n.emit(op_class(x, axis=IntegerAttr(axis, i64)))]
        # Before opset 13: the input is flattened to 2-D at `axis` and normalised per row.
        axis = n.axis(n.attr("axis", 1), rank)
        if math.prod(dims[axis + 1:]) == 1:
            return [n.emit(op_class(x, axis=IntegerAttr(axis, i64)))]
        flat = n.emit(nn.ReshapeOp(x, n.type((math.prod(dims[:axis]), math.prod(dims[axis:])))))
        normalised = n.emit(op_class(flat, axis=IntegerAttr(1, i64)))
        return [n.emit(nn.ReshapeOp(normalised, n.type(dims)))]

    return handler


_SOFTMAX_NOTE = "any axis; opset < 13 (flatten at axis) rewritten with reshapes"
handles("Softmax", note=_SOFTMAX_NOTE)(_softmax(nn.SoftmaxOp))
handles("LogSoftmax", note=_SOFTMAX_NOTE)(_softmax(nn.LogSoftmaxOp))
