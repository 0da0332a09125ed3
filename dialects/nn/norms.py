"""Normalisations computed from the activation itself (float-level ops):
layer norm and RMS norm over the trailing axes, and local response
normalisation across channels (ONNX `LRN`).

`nn.layer_norm` and `nn.rms_norm` name a computation that the graph may also
spell out element by element; each is equal to its decomposition:

* layer_norm(x, scale, bias) = (x - mean(x)) / sqrt(var(x) + epsilon) * scale + bias
* rms_norm(x, weight) = x / sqrt(mean(x²) + epsilon) * weight

with mean and (biased) variance over axes `axis..rank-1`; `scale`, `weight` and
`bias` broadcast over those axes (their shape is a suffix of the normalised
shape, after dropping leading ones).
"""

from __future__ import annotations

from xdsl.dialects.builtin import I64, FloatAttr, IntegerAttr, TensorType, i64
from xdsl.ir import SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import NoMemoryEffect
from xdsl.utils.exceptions import VerifyException

from dialects.nn.common import (
    OPERANDS_FORMAT,
    check_result_shape,
    check_same_element_type,
    float_attr,
    shape_of,
)


def _check_broadcasts_over(op: IRDLOperation, name: str, value: SSAValue | None, normalised: tuple) -> None:
    if value is None:
        return
    shape = shape_of(value)
    trimmed = shape
    while trimmed and trimmed[0] == 1 and len(trimmed) > len(normalised):
        trimmed = trimmed[1:]
    if len(trimmed) > len(normalised) or any(
        d not in (1, n) for d, n in zip(reversed(trimmed), reversed(normalised))
    ):
        raise VerifyException(
            f"{op.name}: {name} of shape {list(shape)} does not broadcast over the "
            f"normalised shape {list(normalised)}"
        )


class _TrailingNormOp(IRDLOperation):
    """The base of layer and RMS norm; each declares its operands (`input` first)."""

    axis = prop_def(IntegerAttr[I64])
    epsilon = prop_def(FloatAttr)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def normalised_shape(self) -> tuple[int, ...]:
        shape = shape_of(self.input)
        axis = self.axis.value.data
        if not 0 <= axis < len(shape):
            raise VerifyException(f"{self.name}: axis {axis} out of range for rank {len(shape)}")
        return shape[axis:]

    def check_affine(self, *named: tuple[str, SSAValue | None]) -> None:
        normalised = self.normalised_shape()
        for name, value in named:
            _check_broadcasts_over(self, name, value, normalised)
        check_result_shape(self, shape_of(self.input))
        check_same_element_type(self, self.input, *(v for _, v in named))


@irdl_op_definition
class LayerNormOp(_TrailingNormOp):
    """`(x - mean) / sqrt(var + epsilon) * scale + bias` over axes `axis..` (ONNX
    LayerNormalization's first output)."""

    name = "nn.layer_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)

    def __init__(self, x: SSAValue, scale: SSAValue, bias: SSAValue | None, *,
                 axis: int, epsilon: float):
        super().__init__(
            operands=[x, scale, bias],
            properties={"axis": IntegerAttr(axis, i64), "epsilon": float_attr(epsilon)},
            result_types=[x.type],
        )

    def verify_(self) -> None:
        self.check_affine(("scale", self.scale), ("bias", self.bias))


@irdl_op_definition
class RmsNormOp(_TrailingNormOp):
    """`x / sqrt(mean(x²) + epsilon) * weight` over axes `axis..`."""

    name = "nn.rms_norm"
    input = operand_def(TensorType)
    weight = opt_operand_def(TensorType)
    output = result_def(TensorType)

    def __init__(self, x: SSAValue, weight: SSAValue | None, *, axis: int, epsilon: float):
        super().__init__(
            operands=[x, weight],
            properties={"axis": IntegerAttr(axis, i64), "epsilon": float_attr(epsilon)},
            result_types=[x.type],
        )

    def verify_(self) -> None:
        self.check_affine(("weight", self.weight))


@irdl_op_definition
class LrnOp(IRDLOperation):
    """ONNX LRN across channels (axis 1):
    `y = x / (bias + alpha / size * Σ x²)^beta`, the sum over channels
    `c - floor((size-1)/2) .. c + ceil((size-1)/2)` (clipped to the tensor)."""

    name = "nn.lrn"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    size = prop_def(IntegerAttr[I64])
    alpha = prop_def(FloatAttr)
    beta = prop_def(FloatAttr)
    bias = prop_def(FloatAttr)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, *, size: int, alpha: float, beta: float, bias: float):
        super().__init__(
            operands=[x],
            properties={"size": IntegerAttr(size, i64), "alpha": float_attr(alpha),
                        "beta": float_attr(beta), "bias": float_attr(bias)},
            result_types=[x.type],
        )

    def verify_(self) -> None:
        if len(shape_of(self.input)) < 2:
            raise VerifyException("nn.lrn: input must be at least [N, C]")
        if self.size.value.data < 1:
            raise VerifyException("nn.lrn: size must be >= 1")
        check_result_shape(self, shape_of(self.input))
