"""One handler per ONNX op type: ONNX node -> `nn` ops (the dispatch table).

A handler receives a `NodeImport` (attributes, inputs as activations or
constants, `emit`) and returns one value per node output (None for an output
that nothing uses). It raises `Unsupported("reason")` when the node cannot be
expressed in `nn`; the importer collects every such node into one error.

Handlers only run for nodes that touch an activation: nodes whose inputs are
all constants were folded before (see `folding.py`). Every handler normalises
ONNX's spellings (negative axes, auto_pad, opset differences) so that the
`nn` dialect sees one form per op. `docs/operators.md` documents this table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, i64
from xdsl.ir import SSAValue

from dialects import nn
from dialects.nn import broadcast_shapes, float_attr, window_output_size

from compiler.frontend.loader import Constant
from compiler.frontend.node import NodeImport, Unsupported, Value, shape

Handler = Callable[[NodeImport], Sequence[Value | None]]

HANDLERS: dict[str, Handler] = {}
SUPPORTED_OPS: dict[str, str] = {}
"""ONNX op type -> a short note on what is supported (the contents of docs/operators.md)."""


def handles(*op_types: str, note: str):
    """Register the decorated function as the handler of `op_types`."""

    def register(handler: Handler) -> Handler:
        for op_type in op_types:
            HANDLERS[op_type] = handler
            SUPPORTED_OPS[op_type] = note
        return handler

    return register


FOLDED_ONLY = {
    op: "only on constants (evaluated at import)"
    for op in ("Constant", "ConstantOfShape", "Shape", "Size", "Gather", "Slice", "Range",
               "Expand", "Equal", "Where", "Tile", "ReduceProd", "Split", "Neg", "Sqrt",
               "Pow", "Floor", "Ceil")
}
"""Ops commonly found in shape computations: fine whenever their inputs are constants."""


def _product(values: Sequence[int]) -> int:
    return math.prod(int(v) for v in values)


def _derived(name: str, shape_: Sequence[int], load: Callable[[], np.ndarray]) -> Constant:
    """A float32 constant computed lazily from others (a transposed weight, a scaled bias)."""
    return Constant(name, tuple(int(d) for d in shape_), np.dtype(np.float32), load)


# --------------------------------------------------------------------------- no-ops


@handles("Identity", note="removed")
def _identity(n: NodeImport):
    return [n.inputs[0]]


@handles("Dropout", note="inference only (removed); the mask output must be unused")
def _dropout(n: NodeImport):
    if n.opset < 7 and n.attr("is_test", 0) == 0:
        raise Unsupported("is_test=0 (training mode)")
    if n.has_input(2) and bool(np.asarray(n.constant(2, "training_mode")).reshape(-1)[0]):
        raise Unsupported("training_mode=true")
    if n.output_used(1):
        raise Unsupported("the mask output is used")
    return [n.inputs[0], None]


@handles("Cast", note="float32 to float32 only on activations (removed)")
def _cast(n: NodeImport):
    to = n.attr("to")
    if to != 1:  # TensorProto.FLOAT
        raise Unsupported("an activation can only be cast to float")
    return [n.inputs[0]]


# --------------------------------------------------------------------------- linear layers


def dense_weight(b: Constant, transpose: bool, scale: float) -> Constant:
    """The [out, in] float32 weight of a dense layer from a Gemm/MatMul operand.

    The initializer itself when no change is needed; otherwise a lazy copy.
    """
    if not transpose and scale == 1.0 and b.dtype == np.float32:
        return b
    shape_ = b.shape[::-1] if transpose else b.shape

    def load() -> np.ndarray:
        w = b.value().T if transpose else b.value()
        if scale != 1.0:
            w = w * np.float32(scale)
        return np.ascontiguousarray(w, dtype=np.float32)

    return _derived(f"{b.name}_t" if transpose else f"{b.name}_scaled", shape_, load)


def _as_bias(c: Constant, out: int, scale: float, max_rank: int) -> Constant | None:
    """`c * scale` as an [out] vector when `c` broadcasts as one, else None."""
    if len(c.shape) > max_rank or any(d != 1 for d in c.shape[:-1]) or \
            (c.shape and c.shape[-1] not in (1, out)):
        return None
    if c.shape == (out,) and scale == 1.0 and c.dtype == np.float32:
        return c

    def load() -> np.ndarray:
        vector = np.asarray(c.value(), dtype=np.float32).reshape(-1) * np.float32(scale)
        return np.ascontiguousarray(np.broadcast_to(vector, (out,)), dtype=np.float32)

    return _derived(f"{c.name}_bias", (out,), load)


@handles("Gemm", note="B (the weight) must be a constant; transA/transB/alpha/beta folded; "
                      "C becomes the bias when it is an [N] vector, else an add")
def _gemm(n: NodeImport):
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
    bias = _as_bias(c, out, beta, 2) if isinstance(c, Constant) else None
    y = n.emit(nn.DenseOp(x, n.graph.materialise(weight),
                          n.graph.materialise(bias) if bias is not None else None,
                          n.type((rows, out))))
    if c is None or bias is not None:
        return [y]
    addend = n.activation(2)
    if beta != 1.0:
        scale = n.graph.materialise(Constant.of(f"{n.name}_beta", np.float32(beta)))
        addend = n.emit(nn.MulOp(addend, scale, addend.type))
    return [_emit_binary(n, nn.AddOp, y, addend)]


@handles("MatMul", note="the right operand must be a constant 2-D weight [in, out] "
                        "(a following Add of an [out] constant becomes the bias)")
def _matmul(n: NodeImport):
    if not n.is_constant(1):
        if n.is_constant(0):
            raise Unsupported("the constant must be the right operand")
        raise Unsupported("both operands are activations; the right one must be a constant weight")
    b = n.constant_input(1, "the weight")
    if len(b.shape) != 2:
        raise Unsupported(f"the weight must be 2-D, it is {len(b.shape)}-D")
    x = n.activation(0)
    if shape(x)[-1] != b.shape[0]:
        raise Unsupported(f"the input has {shape(x)[-1]} features but the weight has {b.shape[0]} rows")
    weight = dense_weight(b, transpose=True, scale=1.0)
    result = (*shape(x)[:-1], weight.shape[0])
    return [n.emit(nn.DenseOp(x, n.graph.materialise(weight), None, n.type(result)))]


def _fuse_dense_bias(n: NodeImport) -> SSAValue | None:
    """`dense(x) + c` as one dense with bias, when c is an [out] vector and the
    dense result feeds nothing else."""
    for act, const in ((0, 1), (1, 0)):
        a, c = n.inputs[act], n.inputs[const]
        if not (isinstance(a, SSAValue) and isinstance(a.owner, nn.DenseOp)
                and a.owner.bias is None and isinstance(c, Constant)):
            continue
        dense = a.owner
        if n.graph.use_count(n.node.input[act]) != 1 or \
                broadcast_shapes(shape(a), c.shape) != shape(a):
            continue
        bias = _as_bias(c, shape(a)[-1], 1.0, len(shape(a)))
        if bias is None:
            continue
        fused = n.emit(nn.DenseOp(dense.input, dense.weight, n.graph.materialise(bias),
                                  dense.output.type))
        dense.detach()
        dense.erase()
        return fused
    return None


# --------------------------------------------------------------------------- element-wise


def _emit_binary(n: NodeImport, op_class, a: SSAValue, b: SSAValue) -> SSAValue:
    result = broadcast_shapes(shape(a), shape(b))
    if result is None:
        raise Unsupported(f"shapes {list(shape(a))} and {list(shape(b))} do not broadcast")
    return n.emit(op_class(a, b, n.type(result)))


def _binary(op_class):
    def handler(n: NodeImport):
        if op_class is nn.AddOp:
            fused = _fuse_dense_bias(n)
            if fused is not None:
                return [fused]
        return [_emit_binary(n, op_class, n.activation(0), n.activation(1))]

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


@handles("Clip", note="min/max as attributes (opset < 11) or constant inputs (opset >= 11)")
def _clip(n: NodeImport):
    if n.opset < 11:
        bounds = {"min": n.attr("min"), "max": n.attr("max")}
    else:
        bounds = {"min": n.optional_constant(1, "min"), "max": n.optional_constant(2, "max")}
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
        if _product(dims[axis + 1:]) == 1:
            return [n.emit(op_class(x, axis=IntegerAttr(axis, i64)))]
        flat = n.emit(nn.ReshapeOp(x, n.type((_product(dims[:axis]), _product(dims[axis:])))))
        normalised = n.emit(op_class(flat, axis=IntegerAttr(1, i64)))
        return [n.emit(nn.ReshapeOp(normalised, n.type(dims)))]

    return handler


_SOFTMAX_NOTE = "any axis; opset < 13 (flatten at axis) rewritten with reshapes"
handles("Softmax", note=_SOFTMAX_NOTE)(_softmax(nn.SoftmaxOp))
handles("LogSoftmax", note=_SOFTMAX_NOTE)(_softmax(nn.LogSoftmaxOp))


# --------------------------------------------------------------------------- convolution, pooling


def resolve_pads(n: NodeImport, sizes: Sequence[int], kernel: Sequence[int],
                 strides: Sequence[int], dilations: Sequence[int]) -> list[int]:
    """Explicit `[begin..., end...]` pads, with `auto_pad` resolved (ONNX rules)."""
    rank = len(kernel)
    auto_pad = n.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad == "NOTSET":
        pads = list(n.attr("pads", [0] * 2 * rank))
        if len(pads) != 2 * rank:
            raise Unsupported(f"pads {pads} should have {2 * rank} values")
        return pads
    if auto_pad == "VALID":
        return [0] * 2 * rank
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise Unsupported(f"auto_pad '{auto_pad}'")
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def _window(n: NodeImport, kernel: Sequence[int]):
    """strides, pads, dilations and ceil_mode of a conv/pool node, auto_pad resolved."""
    rank = len(kernel)
    strides = list(n.attr("strides", [1] * rank))
    dilations = list(n.attr("dilations", [1] * rank))
    if len(strides) != rank or len(dilations) != rank:
        raise Unsupported(f"strides/dilations must have {rank} values")
    pads = resolve_pads(n, n.shape(0)[2:], kernel, strides, dilations)
    if any(p < 0 for p in pads):
        raise Unsupported(f"negative pads {pads}")
    ceil_mode = bool(n.attr("ceil_mode", 0)) and (n.attr("auto_pad", "NOTSET") or "NOTSET") == "NOTSET"
    return strides, pads, dilations, ceil_mode


def _output_spatial(n: NodeImport, kernel, strides, pads, dilations, ceil_mode) -> list[int]:
    sizes = n.shape(0)[2:]
    rank = len(kernel)
    spatial = [window_output_size(sizes[i], kernel[i], strides[i], pads[i], pads[rank + i],
                                  dilations[i], ceil_mode) for i in range(rank)]
    if any(s < 1 for s in spatial):
        raise Unsupported("the window is larger than the padded input")
    return spatial


def _check_spatial_rank(n: NodeImport, what: str) -> int:
    rank = n.rank(0) - 2
    if rank not in (1, 2):
        raise Unsupported(f"{rank}-D {what}; only 1-D and 2-D are supported")
    return rank


@handles("Conv", note="1-D and 2-D; constant weight and bias; groups, strides, pads, "
                      "dilations, auto_pad")
def _conv(n: NodeImport):
    _check_spatial_rank(n, "convolution")
    w = n.constant_input(1, "the weight")
    b = n.constant_input(2, "the bias") if n.has_input(2) else None
    kernel = list(w.shape[2:])
    if n.has_attr("kernel_shape") and list(n.attr("kernel_shape")) != kernel:
        raise Unsupported(f"kernel_shape {n.attr('kernel_shape')} differs from the weight's {kernel}")
    strides, pads, dilations, _ = _window(n, kernel)
    spatial = _output_spatial(n, kernel, strides, pads, dilations, False)
    group = n.attr("group", 1)
    x = n.activation(0)
    result = n.type((shape(x)[0], w.shape[0], *spatial))
    return [n.emit(nn.ConvOp(
        x, n.graph.materialise(w), n.graph.materialise(b) if b is not None else None,
        strides=strides, pads=pads, dilations=dilations, group=group, result_type=result,
    ))]


def _pool(op_class, n: NodeImport, **extra) -> SSAValue:
    _check_spatial_rank(n, "pooling")
    kernel = list(n.attr("kernel_shape", []))
    if len(kernel) != n.rank(0) - 2:
        raise Unsupported("kernel_shape must give one size per spatial axis")
    strides, pads, dilations, ceil_mode = _window(n, kernel)
    spatial = _output_spatial(n, kernel, strides, pads, dilations, ceil_mode)
    x = n.activation(0)
    return n.emit(op_class.make(
        x, kernel_shape=kernel, strides=strides, pads=pads, ceil_mode=ceil_mode,
        dilations=dilations, result_type=n.type((*shape(x)[:2], *spatial)), **extra,
    ))


@handles("MaxPool", note="1-D and 2-D; ceil_mode, dilations, auto_pad; not the Indices output")
def _max_pool(n: NodeImport):
    if n.output_used(1):
        raise Unsupported("the Indices output is used")
    return [_pool(nn.MaxPoolOp, n), None]


@handles("AveragePool", note="1-D and 2-D; ceil_mode, count_include_pad, dilations, auto_pad")
def _average_pool(n: NodeImport):
    count_include_pad = IntegerAttr(int(n.attr("count_include_pad", 0)), i64)
    return [_pool(nn.AveragePoolOp, n, count_include_pad=count_include_pad)]


@handles("GlobalAveragePool", note="")
def _global_average_pool(n: NodeImport):
    x = n.activation(0)
    if n.rank(0) < 3:
        raise Unsupported("the input must be [N, C, spatial...]")
    result = n.type((*shape(x)[:2], *[1] * (n.rank(0) - 2)))
    return [n.emit(nn.GlobalAveragePoolOp(x, result))]


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
        if _product(constant.shape) != channels:
            raise Unsupported(f"{role} must have {channels} values")
        parameters.append(n.graph.materialise(_as_vector(constant, channels)))
    x = n.activation(0)
    y = n.emit(nn.BatchNormOp(x, *parameters, epsilon=n.attr("epsilon", 1e-5), result_type=x.type))
    return [y] + [None] * (len(n.node.output) - 1)


def _as_vector(c: Constant, length: int) -> Constant:
    if c.shape == (length,) and c.dtype == np.float32:
        return c
    return _derived(f"{c.name}_vector", (length,),
                    lambda: np.asarray(c.value(), dtype=np.float32).reshape(length))


# --------------------------------------------------------------------------- data movement


@handles("Concat", note="any axis; constant inputs become constants")
def _concat(n: NodeImport):
    present = [i for i in range(len(n.inputs)) if n.has_input(i)]
    rank = n.rank(present[0])
    axis = n.axis(n.attr("axis"), rank)
    values = [n.activation(i) for i in present]
    result = list(shape(values[0]))
    result[axis] = sum(shape(v)[axis] for v in values)
    return [n.emit(nn.ConcatOp(values, axis, n.type(result)))]


def _reshape_to(n: NodeImport, target: Sequence[int]) -> SSAValue:
    x = n.activation(0)
    if tuple(target) == shape(x):
        return x
    return n.emit(nn.ReshapeOp(x, n.type(target)))


def reshape_target(source: Sequence[int], requested: Sequence[int], allowzero: bool) -> list[int]:
    """ONNX Reshape's output shape: 0 copies the input dimension (unless allowzero), -1 is inferred."""
    target = [source[i] if d == 0 and not allowzero else int(d) for i, d in enumerate(requested)]
    if target.count(-1) > 1 or any(d < -1 for d in target):
        raise Unsupported(f"invalid target shape {list(requested)}")
    if -1 in target:
        known = _product(d for d in target if d != -1)
        if known == 0 or _product(source) % known:
            raise Unsupported(f"cannot reshape {list(source)} to {list(requested)}")
        target[target.index(-1)] = _product(source) // known
    if _product(target) != _product(source):
        raise Unsupported(f"cannot reshape {list(source)} to {list(requested)}")
    return target


@handles("Reshape", note="constant shape (0, -1 and allowzero)")
def _reshape(n: NodeImport):
    requested = np.asarray(n.constant(1, "the target shape")).astype(np.int64).reshape(-1).tolist()
    return [_reshape_to(n, reshape_target(n.shape(0), requested, bool(n.attr("allowzero", 0))))]


@handles("Flatten", note="any axis")
def _flatten(n: NodeImport):
    dims = n.shape(0)
    axis = n.attr("axis", 1)
    if not -len(dims) <= axis <= len(dims):
        raise Unsupported(f"axis {axis} is out of range for rank {len(dims)}")
    if axis < 0:
        axis += len(dims)
    return [_reshape_to(n, (_product(dims[:axis]), _product(dims[axis:])))]


def _axes(n: NodeImport) -> list[int] | None:
    """The axes of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13."""
    if n.opset < 13:
        return n.attr("axes")
    if not n.has_input(1):
        return None
    return np.asarray(n.constant(1, "axes")).astype(np.int64).reshape(-1).tolist()


@handles("Squeeze", note="constant axes (a reshape)")
def _squeeze(n: NodeImport):
    dims = n.shape(0)
    axes = _axes(n)
    if axes is None:
        axes = [i for i, d in enumerate(dims) if d == 1]
    axes = {n.axis(a, len(dims)) for a in axes}
    if any(dims[a] != 1 for a in axes):
        raise Unsupported(f"cannot squeeze axes {sorted(axes)} of shape {list(dims)}")
    return [_reshape_to(n, [d for i, d in enumerate(dims) if i not in axes])]


@handles("Unsqueeze", note="constant axes (a reshape)")
def _unsqueeze(n: NodeImport):
    dims = list(n.shape(0))
    axes = _axes(n)
    if axes is None:
        raise Unsupported("axes are missing")
    rank = len(dims) + len(axes)
    for axis in sorted(n.axis(a, rank) for a in axes):
        dims.insert(axis, 1)
    return [_reshape_to(n, dims)]


@handles("Transpose", note="any permutation")
def _transpose(n: NodeImport):
    x, rank = n.activation(0), n.rank(0)
    perm = [n.axis(p, rank) for p in n.attr("perm", list(range(rank))[::-1])]
    if sorted(perm) != list(range(rank)):
        raise Unsupported(f"perm {perm} is not a permutation")
    if perm == list(range(rank)):
        return [x]
    return [n.emit(nn.TransposeOp(x, perm, n.type([shape(x)[p] for p in perm])))]


@handles("Pad", note="constant, reflect and edge modes; non-negative constant pads "
                     "(an input from opset 11, with optional axes from 18)")
def _pad(n: NodeImport):
    mode = n.attr("mode", "constant")
    if mode not in nn.PAD_MODES:
        raise Unsupported(f"mode '{mode}'")
    rank = n.rank(0)
    if n.opset < 11:
        pads = list(n.attr("pads", n.attr("paddings", [0] * 2 * rank)))
        value = float(n.attr("value", 0.0))
    else:
        pads = np.asarray(n.constant(1, "pads")).astype(np.int64).reshape(-1).tolist()
        fill = n.optional_constant(2, "constant_value")
        value = float(np.asarray(fill).reshape(-1)[0]) if fill is not None and np.size(fill) else 0.0
        if n.has_input(3):
            pads = _pads_for_axes(n, pads, rank)
    if len(pads) != 2 * rank:
        raise Unsupported(f"pads {pads} should have {2 * rank} values")
    if any(p < 0 for p in pads):
        raise Unsupported(f"negative pads {pads} (cropping)")
    x = n.activation(0)
    if not any(pads):
        return [x]
    result = [d + pads[i] + pads[i + rank] for i, d in enumerate(shape(x))]
    return [n.emit(nn.PadOp(x, pads, mode, value, n.type(result)))]


def _pads_for_axes(n: NodeImport, pads: list[int], rank: int) -> list[int]:
    axes = [n.axis(a, rank) for a in
            np.asarray(n.constant(3, "axes")).astype(np.int64).reshape(-1).tolist()]
    if len(pads) != 2 * len(axes):
        raise Unsupported(f"pads {pads} should have {2 * len(axes)} values")
    full = [0] * 2 * rank
    for i, axis in enumerate(axes):
        full[axis], full[axis + rank] = pads[i], pads[i + len(axes)]
    return full


for _op, _note in FOLDED_ONLY.items():
    SUPPORTED_OPS.setdefault(_op, _note)
