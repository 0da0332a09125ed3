"""Element-wise math: unary functions (exp, sqrt, erf, GELU, ...) and the binary
ops beyond the four arithmetic ones (pow, max, min, prelu), with numpy/ONNX
broadcasting. Float-level ops: `quantize` does not handle them.

Each op computes exactly its ONNX namesake (same attributes, same defaults); the
importer turns variadic ONNX ops (`Max`, `Min`, `Sum`, `Mean`) into chains of
the binary ones.
"""

from __future__ import annotations

from xdsl.dialects.builtin import FloatAttr, IntegerType, StringAttr, TensorType
from xdsl.ir import SSAValue
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def, prop_def, result_def, traits_def
from xdsl.traits import NoMemoryEffect
from xdsl.utils.exceptions import VerifyException

from dialects.nn.common import OPERANDS_FORMAT, check_result_shape, element_type_of, shape_of
from dialects.nn.elementwise import BinaryOp, UnaryOp


@irdl_op_definition
class NegOp(UnaryOp):
    name = "nn.neg"


@irdl_op_definition
class AbsOp(UnaryOp):
    name = "nn.abs"


@irdl_op_definition
class SignOp(UnaryOp):
    """-1, 0 or 1."""

    name = "nn.sign"


@irdl_op_definition
class ExpOp(UnaryOp):
    name = "nn.exp"


@irdl_op_definition
class LogOp(UnaryOp):
    """Natural logarithm."""

    name = "nn.log"


@irdl_op_definition
class SqrtOp(UnaryOp):
    name = "nn.sqrt"


@irdl_op_definition
class ReciprocalOp(UnaryOp):
    """`1 / x`."""

    name = "nn.reciprocal"


@irdl_op_definition
class ErfOp(UnaryOp):
    name = "nn.erf"


@irdl_op_definition
class SinOp(UnaryOp):
    name = "nn.sin"


@irdl_op_definition
class CosOp(UnaryOp):
    name = "nn.cos"


@irdl_op_definition
class SoftplusOp(UnaryOp):
    """`log(1 + exp(x))`."""

    name = "nn.softplus"


@irdl_op_definition
class SoftsignOp(UnaryOp):
    """`x / (1 + |x|)`."""

    name = "nn.softsign"


@irdl_op_definition
class EluOp(UnaryOp):
    """`x if x >= 0 else alpha * (exp(x) - 1)`."""

    name = "nn.elu"
    alpha = prop_def(FloatAttr)


@irdl_op_definition
class SeluOp(UnaryOp):
    """`gamma * (x if x > 0 else alpha * (exp(x) - 1))`."""

    name = "nn.selu"
    alpha = prop_def(FloatAttr)
    gamma = prop_def(FloatAttr)


@irdl_op_definition
class HardSigmoidOp(UnaryOp):
    """`max(0, min(1, alpha * x + beta))`."""

    name = "nn.hard_sigmoid"
    alpha = prop_def(FloatAttr)
    beta = prop_def(FloatAttr)


@irdl_op_definition
class HardSwishOp(UnaryOp):
    """`x * max(0, min(1, x / 6 + 1 / 2))`."""

    name = "nn.hard_swish"


@irdl_op_definition
class ShrinkOp(UnaryOp):
    """`x - bias if x > lambd; x + bias if x < -lambd; else 0`."""

    name = "nn.shrink"
    bias = prop_def(FloatAttr)
    lambd = prop_def(FloatAttr)


GELU_APPROXIMATIONS = ("none", "tanh")


@irdl_op_definition
class GeluOp(UnaryOp):
    """`x * Φ(x)` (`approximate = "none"`, with erf) or its tanh approximation
    `0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³)))` (`"tanh"`)."""

    name = "nn.gelu"
    approximate = prop_def(StringAttr)

    def verify_(self) -> None:
        if self.approximate.data not in GELU_APPROXIMATIONS:
            raise VerifyException(
                f"nn.gelu: approximate must be one of {', '.join(GELU_APPROXIMATIONS)}, "
                f"got '{self.approximate.data}'"
            )


@irdl_op_definition
class SiluOp(UnaryOp):
    """`x * sigmoid(x)` (SiLU, "swish"), which exporters write as two ops
    (`recognise-silu` names it)."""

    name = "nn.silu"


@irdl_op_definition
class IsNanOp(IRDLOperation):
    """True (i1) where the float operand is NaN, element-wise; the result has the
    operand's shape (the usual reader is `nn.where`)."""

    name = "nn.is_nan"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue):
        super().__init__(operands=[x], result_types=[TensorType(IntegerType(1), shape_of(x))])

    def verify_(self) -> None:
        result = element_type_of(self.output)
        if not (isinstance(result, IntegerType) and result.width.data == 1):
            raise VerifyException("nn.is_nan: the result must be i1")
        check_result_shape(self, shape_of(self.input))


@irdl_op_definition
class PowOp(BinaryOp):
    """`lhs ** rhs` element-wise (the exponent is usually a constant scalar)."""

    name = "nn.pow"


@irdl_op_definition
class MaxOp(BinaryOp):
    name = "nn.max"


@irdl_op_definition
class MinOp(BinaryOp):
    name = "nn.min"


@irdl_op_definition
class PReluOp(BinaryOp):
    """`lhs if lhs >= 0 else slope * lhs`, the slope (rhs) broadcast to lhs's shape."""

    name = "nn.prelu"

    def verify_(self) -> None:
        super().verify_()
        if self.output.type != self.lhs.type:
            raise VerifyException("nn.prelu: the slope must broadcast to the input's shape")
