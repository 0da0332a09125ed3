"""The PEs that map elements one to one: `spatial.requant`, `spatial.eltwise`,
`spatial.lookup` (with their performance models, see `dialects.spatial.model`)."""

from __future__ import annotations

from xdsl.dialects.builtin import I64, IntegerAttr, StringAttr, SymbolRefAttr
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, prop_def, result_def, traits_def
from xdsl.utils.exceptions import VerifyException

from dialects.spatial.model import PEOp, RomUser, StreamPEOp, beats_ii, check_frame, check_lanes
from dialects.spatial.stream import StreamType, stream_of


@irdl_op_definition
class RequantOp(StreamPEOp):
    """`y = clamp((x * M[c] + offset[c] + round) >> shift, lo, hi)`, c the innermost index
    (as nn.requant; `offset` optional, 0 without it; `rounding` as nn.requant's)."""

    name = "spatial.requant"
    multiplier = prop_def(SymbolRefAttr)
    offset = opt_prop_def(SymbolRefAttr)
    rounding = opt_prop_def(StringAttr)
    shift = prop_def(IntegerAttr[I64])
    lo = prop_def(IntegerAttr[I64])
    hi = prop_def(IntegerAttr[I64])
    traits = traits_def(RomUser(("multiplier", "offset")))

    def nominal_latency(self) -> int:
        """One register: `STREAM_PIPELINE_DEPTH`."""
        return self.pipeline_depth()

    def multipliers_per_lane(self) -> int:
        """One: `x * M[c]` is a variable product."""
        return 1

    def verify_(self) -> None:
        check_frame(self, self.output, stream_of(self.input).frame, "output")
        self.verify_timing()


ELTWISE_KINDS = ("add", "sub", "mul")


@irdl_op_definition
class EltwiseOp(PEOp):
    """Two streams combined element by element, then requantized:

    add/sub: `acc = lhs * lhs_scale ± rhs * rhs_scale`; mul: `acc = lhs * rhs`;
    `y = clamp((acc * multiplier + round) >> shift, lo, hi)` (`rounding`: as nn.requant's).
    """

    name = "spatial.eltwise"
    lhs = operand_def(StreamType)
    rhs = operand_def(StreamType)
    output = result_def(StreamType)
    kind = prop_def(StringAttr)
    lhs_scale = prop_def(IntegerAttr[I64])
    rhs_scale = prop_def(IntegerAttr[I64])
    multiplier = prop_def(IntegerAttr[I64])
    shift = prop_def(IntegerAttr[I64])
    lo = prop_def(IntegerAttr[I64])
    hi = prop_def(IntegerAttr[I64])
    rounding = opt_prop_def(StringAttr)

    def nominal_ii(self) -> int:
        return beats_ii(self.lhs, self.rhs, self.output)

    def nominal_latency(self) -> int:
        """One register: `STREAM_PIPELINE_DEPTH`."""
        return self.pipeline_depth()

    def multipliers_per_lane(self) -> int:
        """One for `mul` (a variable product); add/sub scales are constant coefficients."""
        return 1 if self.kind.data == "mul" else 0

    def verify_(self) -> None:
        if self.kind.data not in ELTWISE_KINDS:
            raise VerifyException(f"spatial.eltwise: kind must be one of {ELTWISE_KINDS}")
        frame = stream_of(self.lhs).frame
        lanes = stream_of(self.lhs).lanes.data
        check_frame(self, self.rhs, frame, "rhs")
        check_frame(self, self.output, frame, "output")
        check_lanes(self, self.rhs, lanes, "rhs")
        check_lanes(self, self.output, lanes, "output")
        self.verify_timing()


@irdl_op_definition
class LookupOp(StreamPEOp):
    """`y = table[x - min]` per element (as nn.lookup)."""

    name = "spatial.lookup"
    table = prop_def(SymbolRefAttr)
    traits = traits_def(RomUser(("table",)))

    def nominal_latency(self) -> int:
        """One register (the table read): `STREAM_PIPELINE_DEPTH`."""
        return self.pipeline_depth()

    def verify_(self) -> None:
        check_frame(self, self.output, stream_of(self.input).frame, "output")
        self.verify_timing()
