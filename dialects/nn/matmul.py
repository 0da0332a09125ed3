"""The product of two activations: `nn.matmul` (attention scores and weighted values).

`nn.dense` stays the form of a product with a constant weight; `nn.matmul`
multiplies two tensors of rank >= 2 with numpy's rules: the last two axes are
the matrices, the leading (batch) axes broadcast. The importer reshapes 1-D
ONNX operands into matrices, so the dialect never sees them.
"""

from __future__ import annotations

from xdsl.dialects.builtin import TensorType
from xdsl.ir import SSAValue
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def, result_def, traits_def
from xdsl.traits import NoMemoryEffect
from xdsl.utils.exceptions import VerifyException

from dialects.nn.common import OPERANDS_FORMAT, check_result_shape, check_same_element_type, shape_of
from dialects.nn.indexing import broadcast_shape


@irdl_op_definition
class MatMulOp(IRDLOperation):
    """`A @ B`: A is [..., M, K], B is [..., K, N], the result [broadcast(...), M, N]."""

    name = "nn.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = OPERANDS_FORMAT

    def __init__(self, lhs: SSAValue, rhs: SSAValue, result_type: TensorType):
        super().__init__(operands=[lhs, rhs], result_types=[result_type])

    def verify_(self) -> None:
        a, b = shape_of(self.lhs), shape_of(self.rhs)
        if len(a) < 2 or len(b) < 2:
            raise VerifyException("nn.matmul: both operands must have rank >= 2")
        if a[-1] != b[-2]:
            raise VerifyException(f"nn.matmul: {list(a)} @ {list(b)}: inner dimensions {a[-1]} and {b[-2]} differ")
        check_result_shape(self, (*broadcast_shape(self, a[:-2], b[:-2]), a[-2], b[-1]))
        check_same_element_type(self, self.lhs, self.rhs)
