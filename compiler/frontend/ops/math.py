"""Element-wise math on activations: unary functions (`Exp`, `Sqrt`, `Erf`,
`Gelu`, ...), `Pow`, `PRelu`, and the variadic `Max`/`Min`/`Sum`/`Mean`, which
become chains of binary `nn` ops (`Mean` a sum divided by the count).

Attributes get ONNX's defaults written out, so the `nn` op always carries them.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import StringAttr
from xdsl.ir import SSAValue

from compiler.frontend.loader import Constant
from compiler.frontend.node import NodeImport, Unsupported
from compiler.frontend.ops.registry import handles
from compiler.frontend.ops.shared import derived, emit_binary
from dialects import nn
from dialects.nn import GELU_APPROXIMATIONS, float_attr

SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


def _plain(op_class):
    def handler(n: NodeImport):
        return [n.emit(op_class(n.activation(0)))]

    return handler


for _op_type, _op_class in {
    "Neg": nn.NegOp, "Abs": nn.AbsOp, "Sign": nn.SignOp, "Exp": nn.ExpOp, "Log": nn.LogOp,
    "Sqrt": nn.SqrtOp, "Reciprocal": nn.ReciprocalOp, "Erf": nn.ErfOp, "Sin": nn.SinOp,
    "Cos": nn.CosOp, "Softplus": nn.SoftplusOp, "Softsign": nn.SoftsignOp, "HardSwish": nn.HardSwishOp,
}.items():
    handles(_op_type, note="float level")(_plain(_op_class))


def _with_floats(op_class, **defaults: float):
    """A handler for a unary op whose float attributes default as in ONNX."""

    def handler(n: NodeImport):
        properties = {name: float_attr(n.attr(name, default)) for name, default in defaults.items()}
        return [n.emit(op_class(n.activation(0), **properties))]

    return handler


handles("Elu", note="float level; alpha (default 1)")(_with_floats(nn.EluOp, alpha=1.0))
handles("Selu", note="float level; alpha, gamma")(
    _with_floats(nn.SeluOp, alpha=SELU_ALPHA, gamma=SELU_GAMMA))
handles("HardSigmoid", note="float level; alpha (default 0.2), beta (default 0.5)")(
    _with_floats(nn.HardSigmoidOp, alpha=0.2, beta=0.5))
handles("Shrink", note="float level; bias (default 0), lambd (default 0.5)")(
    _with_floats(nn.ShrinkOp, bias=0.0, lambd=0.5))


@handles("IsNaN", note="float level; a boolean result (read by `Where`)")
def _is_nan(n: NodeImport):
    return [n.emit(nn.IsNanOp(n.activation(0)))]


@handles("Gelu", note="approximate 'none' (erf) or 'tanh' (opset 20); the integer level as a table")
def _gelu(n: NodeImport):
    approximate = n.attr("approximate", "none")
    if approximate not in GELU_APPROXIMATIONS:
        raise Unsupported(f"approximate '{approximate}'")
    return [n.emit(nn.GeluOp(n.activation(0), approximate=StringAttr(approximate)))]


def float_operand(n: NodeImport, index: int) -> SSAValue:
    """Input `index` as a float SSA value: an integer constant (Pow's exponent may
    be one) becomes a float32 constant."""
    value = n.inputs[index]
    if isinstance(value, Constant) and value.dtype.kind != "f":
        value = derived(value.name, value.shape, lambda c=value: np.asarray(c.value(), np.float32))
        return n.graph.materialise(value)
    return n.activation(index)


@handles("Pow", note="float level; numpy broadcasting (a constant exponent is the usual case)")
def _pow(n: NodeImport):
    return [emit_binary(n, nn.PowOp, n.activation(0), float_operand(n, 1))]


@handles("PRelu", note="float level; the slope broadcasts to the input (opset < 7: a [C] slope is per channel)")
def _prelu(n: NodeImport):
    x, slope = n.activation(0), n.inputs[1]
    rank, slope_shape = n.rank(0), n.shape(1)
    if n.opset < 7 and len(slope_shape) == 1 and rank > 2 and slope_shape[0] == n.shape(0)[1] > 1:
        # Opset 6: a slope of one value per channel runs along axis 1.
        shape = (slope_shape[0],) + (1,) * (rank - 2)
        if isinstance(slope, Constant):
            slope = n.graph.materialise(
                derived(slope.name, shape, lambda c=slope, s=shape: np.asarray(c.value(), np.float32).reshape(s)))
        else:
            slope = n.emit(nn.ReshapeOp(n.activation(1), n.type(shape)))
    else:
        slope = n.activation(1)
    return [emit_binary(n, nn.PReluOp, x, slope)]


def _chain(n: NodeImport, op_class) -> SSAValue:
    """`op_class` folded over the node's inputs, left to right, broadcasting."""
    present = [i for i in range(len(n.inputs)) if n.has_input(i)]
    if not present:
        raise Unsupported("no inputs")
    result = n.activation(present[0])
    for index in present[1:]:
        result = emit_binary(n, op_class, result, n.activation(index))
    return result


_VARIADIC_NOTE = "float level; any number of inputs, numpy broadcasting"
handles("Max", note=_VARIADIC_NOTE + " (a chain of nn.max)")(lambda n: [_chain(n, nn.MaxOp)])
handles("Min", note=_VARIADIC_NOTE + " (a chain of nn.min)")(lambda n: [_chain(n, nn.MinOp)])
handles("Sum", note="any number of inputs, numpy broadcasting (a chain of nn.add)")(
    lambda n: [_chain(n, nn.AddOp)])


@handles("Mean", note="any number of inputs, numpy broadcasting (a chain of nn.add, divided by the count)")
def _mean(n: NodeImport):
    total = _chain(n, nn.AddOp)
    count = sum(1 for i in range(len(n.inputs)) if n.has_input(i))
    if count == 1:
        return [total]
    divisor = n.graph.materialise(derived(f"{n.name}_count", (), lambda c=count: np.array(c, np.float32)))
    return [emit_binary(n, nn.DivOp, total, divisor)]
