"""Products of two activations: MatMul and Gemm whose right operand is not a
constant weight become `nn.matmul` (the weight case stays `nn.dense`, in
`layers`).

Normal form: both operands of `nn.matmul` have rank >= 2. A 1-D left operand
becomes a [1, K] row and a 1-D right operand a [K, 1] column, and the added
axis is reshaped away after the product (numpy/ONNX MatMul semantics). Gemm's
transA/transB become transposes, alpha a multiplication, beta·C an addition.
"""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from compiler.frontend.loader import Constant
from compiler.frontend.node import NodeImport, Unsupported, Value, shape
from compiler.frontend.ops.indexing import emit_reshape
from compiler.frontend.ops.shared import derived, emit_binary, typed
from dialects import nn


def as_matrix(n: NodeImport, value: Value, matrix: tuple[int, int]) -> SSAValue:
    """A 1-D operand as the `matrix` shape (a constant is reshaped at import)."""
    if isinstance(value, Constant):
        return n.graph.materialise(Constant(f"{value.name}_matrix", matrix, value.dtype,
                                            lambda: np.asarray(value.value()).reshape(matrix)))
    return emit_reshape(n, value, matrix)


def emit_matmul(n: NodeImport, a: Value, b: Value) -> SSAValue:
    """`a @ b` with numpy's rules (1-D operands, broadcast batch axes) as `nn.matmul`."""
    a_shape, b_shape = shape(a), shape(b)
    if not a_shape or not b_shape:
        raise Unsupported("MatMul of a scalar")
    a = as_matrix(n, a, (1, a_shape[0])) if len(a_shape) == 1 else _value(n, a)
    b = as_matrix(n, b, (b_shape[0], 1)) if len(b_shape) == 1 else _value(n, b)
    (*a_batch, m, k), (*b_batch, k_b, cols) = shape(a), shape(b)
    if k != k_b:
        raise Unsupported(f"{list(a_shape)} @ {list(b_shape)}: inner dimensions {k} and {k_b} differ")
    try:
        batch = np.broadcast_shapes(tuple(a_batch), tuple(b_batch))
    except ValueError:
        raise Unsupported(f"batch dimensions of {list(a_shape)} and {list(b_shape)} do not broadcast") from None
    product = n.emit(nn.MatMulOp(a, b, typed((*batch, m, cols), a)))
    result = [*batch, *([m] if len(a_shape) > 1 else []), *([cols] if len(b_shape) > 1 else [])]
    return emit_reshape(n, product, result)


def _value(n: NodeImport, value: Value) -> SSAValue:
    return n.graph.materialise(value) if isinstance(value, Constant) else value


def matmul_of_activations(n: NodeImport) -> SSAValue:
    """ONNX MatMul whose right operand is an activation (or a constant of rank != 2)."""
    return emit_matmul(n, n.inputs[0], n.inputs[1])


def _scaled(n: NodeImport, x: SSAValue, factor: float, what: str) -> SSAValue:
    if factor == 1.0:
        return x
    scale = n.graph.materialise(Constant.of(f"{n.name}_{what}", np.float32(factor)))
    return n.emit(nn.MulOp(x, scale, x.type))


def gemm_of_activations(n: NodeImport) -> SSAValue:
    """ONNX Gemm whose B is an activation: `alpha · A' @ B' + beta · C`."""
    if n.rank(0) != 2 or n.rank(1) != 2:
        raise Unsupported("A and B must be 2-D")
    a, b = n.activation(0), n.activation(1)
    if n.attr("transA", 0):
        a = n.emit(nn.TransposeOp(a, [1, 0], typed(shape(a)[::-1], a)))
    if n.attr("transB", 0):
        b = n.emit(nn.TransposeOp(b, [1, 0], typed(shape(b)[::-1], b)))
    y = _scaled(n, emit_matmul(n, a, b), float(n.attr("alpha", 1.0)), "alpha")
    beta = float(n.attr("beta", 1.0))
    if not n.has_input(2) or beta == 0.0:
        return y
    c = n.inputs[2]
    if isinstance(c, Constant):
        addend = n.graph.materialise(c if beta == 1.0 else derived(
            f"{c.name}_beta", c.shape, lambda: np.asarray(c.value(), np.float32) * np.float32(beta)))
    else:
        addend = _scaled(n, c, beta, "beta")
    return emit_binary(n, nn.AddOp, y, addend)
