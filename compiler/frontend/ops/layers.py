"""Layers with constant parameters: Gemm and MatMul (as `nn.dense`), Conv, and
inference BatchNormalization. (MatMul and Gemm of two activations: `matmul`.)
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontend.loader import Constant
from compiler.frontend.node import NodeImport, Unsupported, shape
from compiler.frontend.ops.quantized import GivenConstant
from compiler.frontend.ops.matmul import gemm_of_activations, matmul_of_activations
from compiler.frontend.ops.registry import handles
from compiler.frontend.ops.shared import broadcasts_into, derived, emit_binary
from compiler.frontend.ops.windows import check_spatial_rank, output_spatial, window_attributes
from dialects import nn


def dense_weight(b: Constant, transpose: bool, scale: float) -> Constant:
    """The [out, in] float32 weight of a dense layer from a Gemm/MatMul operand.

    The initializer itself when no change is needed; a float32 weight that only
    needs transposing is a lazy transposed view of it (no copy: a memory-mapped
    MatMul weight [in, out] stays in its file, and the float executor's GEMM reads
    it in that layout); otherwise a lazy copy (a transposed quantized weight keeps
    its scales).
    """
    if not transpose and scale == 1.0 and b.dtype == np.float32:
        return b
    shape_ = b.shape[::-1] if transpose else b.shape

    def load() -> np.ndarray:
        w = b.value().T if transpose else b.value()
        if scale == 1.0 and w.dtype == np.float32:
            return w
        if scale != 1.0:
            w = w * np.float32(scale)
        return np.ascontiguousarray(w, dtype=np.float32)

    name = f"{b.name}_t" if transpose else f"{b.name}_scaled"
    if isinstance(b, GivenConstant) and scale == 1.0:
        return b.transposed(name, load)
    return derived(name, shape_, load)


def as_bias(c: Constant, out: int, scale: float, max_rank: int) -> Constant | None:
    """`c * scale` as an [out] vector when `c` broadcasts as one, else None."""
    if len(c.shape) > max_rank or any(d != 1 for d in c.shape[:-1]) or \
            (c.shape and c.shape[-1] not in (1, out)):
        return None
    if c.shape == (out,) and scale == 1.0 and c.dtype == np.float32:
        return c

    def load() -> np.ndarray:
        vector = np.asarray(c.value(), dtype=np.float32).reshape(-1) * np.float32(scale)
        return np.ascontiguousarray(np.broadcast_to(vector, (out,)), dtype=np.float32)

    return derived(f"{c.name}_bias", (out,), load)


@handles("Gemm", note="a constant B (the weight): transA/transB/alpha/beta folded, C becomes "
                      "the bias when it is an [N] vector, else an add; an activation B: a matmul")
def _gemm(n: NodeImport):
    if n.has_input(1) and not n.is_constant(1):
        return [gemm_of_activations(n)]
    b = n.constant_input(1, "B (the weight)")
    if len(b.shape) != 2 or n.rank(0) != 2:
        raise Unsupported("A and B must be 2-D")
    x = n.activation(0)
    if n.attr("transA", 0):
        x = n.emit(nn.TransposeOp(x, [1, 0], n.type(shape(x)[::-1])))
    weight = dense_weight(b, transpose=not n.attr("transB", 0), scale=n.attr("alpha", 1.0))
    rows, out = shape(x)[0], weight.shape[0]
    if shape(x)[1] != weight.shape[1]:
        raise Unsupported(f"A has {shape(x)[1]} columns but B has {weight.shape[1]} rows")
    beta = n.attr("beta", 1.0)
    c = n.inputs[2] if n.has_input(2) else None
    bias = as_bias(c, out, beta, 2) if isinstance(c, Constant) else None
    y = n.emit(nn.DenseOp(x, n.graph.materialise(weight),
                          n.graph.materialise(bias) if bias is not None else None,
                          n.type((rows, out))))
    if c is None or bias is not None:
        return [y]
    addend = n.activation(2)
    if beta != 1.0:
        scale = n.graph.materialise(Constant.of(f"{n.name}_beta", np.float32(beta)))
        addend = n.emit(nn.MulOp(addend, scale, addend.type))
    return [emit_binary(n, nn.AddOp, y, addend)]


@handles("MatMul", note="a constant 2-D right operand is a dense weight [in, out] (a following "
                        "Add of an [out] constant becomes the bias); otherwise a matmul of two "
                        "tensors (numpy broadcasting of batch axes, 1-D operands)")
def _matmul(n: NodeImport):
    if not n.is_constant(1) or len(n.shape(1)) != 2:
        return [matmul_of_activations(n)]
    b = n.constant_input(1, "the weight")
    x = n.activation(0)
    if shape(x)[-1] != b.shape[0]:
        raise Unsupported(f"the input has {shape(x)[-1]} features but the weight has {b.shape[0]} rows")
    weight = dense_weight(b, transpose=True, scale=1.0)
    result = (*shape(x)[:-1], weight.shape[0])
    return [n.emit(nn.DenseOp(x, n.graph.materialise(weight), None, n.type(result)))]


def fuse_dense_bias(n: NodeImport) -> SSAValue | None:
    """`dense(x) + c` as one dense with bias, when c is an [out] vector and the
    dense result feeds nothing else."""
    for act, const in ((0, 1), (1, 0)):
        a, c = n.inputs[act], n.inputs[const]
        if not (isinstance(a, SSAValue) and isinstance(a.owner, nn.DenseOp)
                and a.owner.bias is None and isinstance(c, Constant)):
            continue
        dense = a.owner
        if n.graph.use_count(n.node.input[act]) != 1 or not broadcasts_into(c.shape, shape(a)):
            continue
        bias = as_bias(c, shape(a)[-1], 1.0, len(shape(a)))
        if bias is None:
            continue
        fused = n.emit(nn.DenseOp(dense.input, dense.weight, n.graph.materialise(bias),
                                  dense.output.type))
        dense.detach()
        dense.erase()
        return fused
    return None


@handles("Conv", note="1-D and 2-D; constant weight and bias; groups, strides, pads, "
                      "dilations, auto_pad")
def _conv(n: NodeImport):
    check_spatial_rank(n, "convolution")
    w = n.constant_input(1, "the weight")
    b = n.constant_input(2, "the bias") if n.has_input(2) else None
    kernel = list(w.shape[2:])
    if n.has_attr("kernel_shape") and list(n.attr("kernel_shape")) != kernel:
        raise Unsupported(f"kernel_shape {n.attr('kernel_shape')} differs from the weight's {kernel}")
    strides, pads, dilations, _ = window_attributes(n, kernel)
    spatial = output_spatial(n, kernel, strides, pads, dilations, False)
    group = n.attr("group", 1)
    x = n.activation(0)
    result = n.type((shape(x)[0], w.shape[0], *spatial))
    return [n.emit(nn.ConvOp(
        x, n.graph.materialise(w), n.graph.materialise(b) if b is not None else None,
        strides=strides, pads=pads, dilations=dilations, group=group, result_type=result,
    ))]


@handles("BatchNormalization", note="inference only; scale, bias, mean and var constant")
def _batch_norm(n: NodeImport):
    if n.attr("training_mode", 0):
        raise Unsupported("training_mode=1")
    if n.opset < 7 and n.attr("is_test", 0) == 0:
        raise Unsupported("is_test=0 (training mode)")
    if n.opset < 9 and n.attr("spatial", 1) == 0:
        raise Unsupported("spatial=0")
    if any(n.output_used(i) for i in range(1, len(n.node.output))):
        raise Unsupported("the running statistics outputs are used (training mode)")
    if n.rank(0) < 2:
        raise Unsupported("the input must be at least [N, C]")
    channels = n.shape(0)[1]
    parameters = []
    for index, role in enumerate(("scale", "bias", "mean", "var"), start=1):
        constant = n.constant_input(index, role)
        if math.prod(constant.shape) != channels:
            raise Unsupported(f"{role} must have {channels} values")
        parameters.append(n.graph.materialise(_as_vector(constant, channels)))
    x = n.activation(0)
    y = n.emit(nn.BatchNormOp(x, *parameters, epsilon=n.attr("epsilon", 1e-5), result_type=x.type))
    return [y] + [None] * (len(n.node.output) - 1)


def _as_vector(c: Constant, length: int) -> Constant:
    if c.shape == (length,) and c.dtype == np.float32:
        return c
    return derived(f"{c.name}_vector", (length,),
                    lambda: np.asarray(c.value(), dtype=np.float32).reshape(length))
