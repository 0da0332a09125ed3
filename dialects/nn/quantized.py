"""The integer-only ops `quantize` introduces: requantization, table lookup, and
the transformer's softmax and reciprocal square root."""

from __future__ import annotations

from xdsl.dialects.builtin import I64, IntegerAttr, IntegerType, StringAttr, TensorType, i64
from xdsl.ir import SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import NoMemoryEffect
from xdsl.utils.exceptions import VerifyException

from dialects.nn.common import OPERANDS_FORMAT, check_result_shape, element_type_of, shape_of


REQUANT_ROUNDINGS = ("half_up", "half_even", "floor", "ceil")
"""How `nn.requant` may round (compiler.numerics.requantize); half_up is the default."""


@irdl_op_definition
class RequantOp(IRDLOperation):
    """Requantization (DESIGN.md numerics contract), exact in integers:

        y = clamp((acc * M + c + round) >> shift, lo, hi),   round = (1 << shift) >> 1

    `M` (`multiplier`) is per tensor (shape [1]) or per channel along `axis`; the
    optional `offset` `c` likewise (0 without it: a float bias the model gives, added at
    the requant's own 2^-shift precision); `>>` is an arithmetic shift (floor), so the
    rounding is half up; `rounding` (into a scale the model gives) says otherwise:
    half_even (`round = 2^(shift-1) - 1 + bit_shift(acc * M + c)`), floor (`round = 0`)
    or ceil (`round = 2^shift - 1`).
    """

    name = "nn.requant"
    input = operand_def(TensorType)
    multiplier = operand_def(TensorType)
    offset = opt_operand_def(TensorType)
    output = result_def(TensorType)
    shift = prop_def(IntegerAttr[I64])
    lo = prop_def(IntegerAttr[I64])
    hi = prop_def(IntegerAttr[I64])
    axis = prop_def(IntegerAttr[I64])
    rounding = opt_prop_def(StringAttr)
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, multiplier: SSAValue, *, shift: int, lo: int, hi: int,
                 axis: int, result_type: TensorType, offset: SSAValue | None = None, rounding: str = "half_up"):
        properties = {"shift": IntegerAttr(shift, i64), "lo": IntegerAttr(lo, i64),
                      "hi": IntegerAttr(hi, i64), "axis": IntegerAttr(axis, i64)}
        if rounding != "half_up":
            properties["rounding"] = StringAttr(rounding)
        super().__init__(operands=[x, multiplier, offset], properties=properties, result_types=[result_type])

    def verify_(self) -> None:
        x, m = shape_of(self.input), shape_of(self.multiplier)
        axis = self.axis.value.data
        if not 0 <= axis < len(x):
            raise VerifyException(f"nn.requant: axis {axis} out of range for rank {len(x)}")
        if m not in ((1,), (x[axis],)):
            raise VerifyException(f"nn.requant: multiplier must have shape [1] or [{x[axis]}]")
        if self.offset is not None and shape_of(self.offset) not in ((1,), (x[axis],)):
            raise VerifyException(f"nn.requant: offset must have shape [1] or [{x[axis]}]")
        if not 0 <= self.shift.value.data <= 62:
            raise VerifyException("nn.requant: shift must be in 0..62")
        if self.lo.value.data > self.hi.value.data:
            raise VerifyException("nn.requant: lo is greater than hi")
        if self.rounding is not None and self.rounding.data not in REQUANT_ROUNDINGS[1:]:
            raise VerifyException(f"nn.requant: rounding must be one of {', '.join(REQUANT_ROUNDINGS[1:])}")
        for value in (self.input, self.multiplier, self.output, *([self.offset] if self.offset else [])):
            if not isinstance(element_type_of(value), IntegerType):
                raise VerifyException("nn.requant: operands and result must be integer tensors")
        check_result_shape(self, x)


@irdl_op_definition
class LookupOp(IRDLOperation):
    """Element-wise table lookup: `y = table[x - min(x's type)]`.

    The input is a b-bit signed integer tensor; the table has 2**b entries,
    one per input value from -2**(b-1) up. Non-linear functions of a quantized
    input (sigmoid, tanh, ...) are such tables, computed at compile time.
    """

    name = "nn.lookup"
    input = operand_def(TensorType)
    table = operand_def(TensorType)
    output = result_def(TensorType)
    traits = traits_def(NoMemoryEffect())
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, table: SSAValue, result_type: TensorType):
        super().__init__(operands=[x, table], result_types=[result_type])

    def verify_(self) -> None:
        element = element_type_of(self.input)
        if not isinstance(element, IntegerType):
            raise VerifyException("nn.lookup: input must be an integer tensor")
        entries = 1 << element.width.data
        if shape_of(self.table) != (entries,):
            raise VerifyException(f"nn.lookup: a {element.width.data}-bit input needs a table of {entries}")
        check_result_shape(self, shape_of(self.input))


@irdl_op_definition
class IntSoftmaxOp(IRDLOperation):
    """Softmax along `axis` in integers, over the entries the i1 `mask` keeps
    (broadcast against the input); probabilities at scale 1/`out_max`:

        m   = max of the kept x              (per row)
        e_j = table[min(m - x_j, len(table) - 1)] if kept, else 0
        S   = sum of e_j                      (exact)
        R   = floor((out_max << shift) / S)   (one reciprocal per row)
        p_j = (e_j * R + (1 << shift >> 1)) >> shift

    `table[d] = round(2^F * exp(-d * s))` for an input scale s holds exp by
    lookup, `table[0] = 2^F`, so S >= 2^F and p_j is within 2^(F - shift) +
    1/2 of `out_max * e_j / S`. `quantize` writes it (docs/integer-transformers.md).
    """

    name = "nn.int_softmax"
    input = operand_def(TensorType)
    mask = operand_def(TensorType)
    table = operand_def(TensorType)
    output = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])
    shift = prop_def(IntegerAttr[I64])
    out_max = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, mask: SSAValue, table: SSAValue, *, axis: int, shift: int, out_max: int,
                 result_type: TensorType):
        super().__init__(
            operands=[x, mask, table],
            properties={"axis": IntegerAttr(axis, i64), "shift": IntegerAttr(shift, i64),
                        "out_max": IntegerAttr(out_max, i64)},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        x = shape_of(self.input)
        if not 0 <= self.axis.value.data < len(x):
            raise VerifyException(f"nn.int_softmax: axis {self.axis.value.data} out of range for rank {len(x)}")
        if len(shape_of(self.table)) != 1:
            raise VerifyException("nn.int_softmax: the exp table must be 1-D")
        if not 1 <= self.shift.value.data <= 62 or self.out_max.value.data < 1:
            raise VerifyException("nn.int_softmax: shift must be in 1..62 and out_max positive")
        for value in (self.input, self.mask, self.table, self.output):
            if not isinstance(element_type_of(value), IntegerType):
                raise VerifyException("nn.int_softmax: operands and result must be integer tensors")
        check_result_shape(self, x)


@irdl_op_definition
class InvSqrtOp(IRDLOperation):
    """Integer reciprocal square root: `y = floor(2^shift / sqrt(max(v, 1)))`,
    exactly (computed as `isqrt(floor(4^shift / max(v, 1)))`, which is the same
    integer). Element-wise; the norms' `1/sqrt(mean square + eps)`."""

    name = "nn.inv_sqrt"
    input = operand_def(TensorType)
    output = result_def(TensorType)
    shift = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, v: SSAValue, *, shift: int, result_type: TensorType):
        super().__init__(operands=[v], properties={"shift": IntegerAttr(shift, i64)}, result_types=[result_type])

    def verify_(self) -> None:
        if not 0 <= self.shift.value.data <= 62:
            raise VerifyException("nn.inv_sqrt: shift must be in 0..62")
        for value in (self.input, self.output):
            if not isinstance(element_type_of(value), IntegerType):
                raise VerifyException("nn.inv_sqrt: operand and result must be integer tensors")
        check_result_shape(self, shape_of(self.input))


@irdl_op_definition
class GroupDenseOp(IRDLOperation):
    """A dense layer whose integer weights have a small integer scale per group of
    `group_size` inputs (the last group shorter when `in` does not divide): X is
    [..., in], W is [out, in], G is [out, ceil(in/group_size)],
    b is [out], and exactly

        Y[..., c] = Σ_k G[c, k] · Σ_{i in group k} X[..., i] · W[c, i] + b[c]

    (`compiler/weight_formats.py` writes it for `--group-size`)."""

    name = "nn.group_dense"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    group_scale = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)
    group_size = prop_def(IntegerAttr[I64])
    traits = traits_def(NoMemoryEffect())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = OPERANDS_FORMAT

    def __init__(self, x: SSAValue, w: SSAValue, g: SSAValue, b: SSAValue | None, *, group_size: int,
                 result_type: TensorType):
        super().__init__(operands=[x, w, g, b], properties={"group_size": IntegerAttr(group_size, i64)},
                         result_types=[result_type])

    def verify_(self) -> None:
        x, w, g = shape_of(self.input), shape_of(self.weight), shape_of(self.group_scale)
        size = self.group_size.value.data
        if len(w) != 2 or not x or x[-1] != w[1]:
            raise VerifyException("nn.group_dense: weight must be [out, in] with in the input's last axis")
        if size < 1 or g != (w[0], -(-w[1] // size)):
            raise VerifyException(f"nn.group_dense: group scales must be [{w[0]}, ceil({w[1]}/group_size)]")
        if self.bias is not None and shape_of(self.bias) != (w[0],):
            raise VerifyException(f"nn.group_dense: bias must have shape [{w[0]}]")
        for value in (self.input, self.weight, self.group_scale, self.output):
            if not isinstance(element_type_of(value), IntegerType):
                raise VerifyException("nn.group_dense: operands and result must be integer tensors")
        check_result_shape(self, (*x[:-1], w[0]))
