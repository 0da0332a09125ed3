"""The PEs and buffers that move beats without arithmetic: `spatial.concat`,
`spatial.dup`, `spatial.resize`, `spatial.reshape`, `spatial.fifo`."""

from __future__ import annotations

import math

import numpy as np

from xdsl.dialects.builtin import I64, IntegerAttr
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    var_operand_def,
    var_result_def,
)
from xdsl.utils.exceptions import VerifyException

from dialects.spatial.model import (
    ASSEMBLY_FORMAT,
    NeedFunction,
    PEOp,
    StreamPEOp,
    beats_ii,
    check_frame,
    layer_of,
)
from dialects.spatial.stream import StreamType, stream_of


@irdl_op_definition
class ConcatOp(PEOp):
    """Frames joined along the innermost (channel) axis."""

    name = "spatial.concat"
    inputs = var_operand_def(StreamType)
    output = result_def(StreamType)

    def nominal_ii(self) -> int:
        return beats_ii(*self.inputs, self.output)

    def nominal_latency(self) -> int:
        """One register: the first output beat is the first input's first beat."""
        return self.pipeline_depth()

    def frame_needs(self) -> list[NeedFunction]:
        """Per input: its beats contained in the first m output beats of a frame
        (channel blocks in operand order)."""
        channels = [stream_of(v).frame[-1] for v in self.inputs]
        total, lanes = sum(channels), stream_of(self.output).lanes.data
        offsets = [sum(channels[:i]) for i in range(len(channels))]

        def input_need(i: int) -> NeedFunction:
            lanes_in = stream_of(self.inputs[i]).lanes.data

            def need(m: int) -> int:
                pixel, rest = divmod(m * lanes, total)
                elements = pixel * channels[i] + np.clip(rest - offsets[i], 0, channels[i])  # m: int or array
                return -(-elements // lanes_in)
            return need

        return [input_need(i) for i in range(len(channels))]

    def verify_(self) -> None:
        frames = [stream_of(v).frame for v in self.inputs]
        if not frames or any(f[:-1] != frames[0][:-1] for f in frames):
            raise VerifyException(f"spatial.concat '{layer_of(self)}': inputs differ outside the channels")
        check_frame(self, self.output, (*frames[0][:-1], sum(f[-1] for f in frames)), "output")
        self.verify_timing()


@irdl_op_definition
class DupOp(PEOp):
    """One stream to several consumers: each output beat waits for every consumer."""

    name = "spatial.dup"
    input = operand_def(StreamType)
    outputs = var_result_def(StreamType)

    def nominal_ii(self) -> int:
        return stream_of(self.input).beats

    def nominal_latency(self) -> int:
        """One register: `STREAM_PIPELINE_DEPTH`."""
        return self.pipeline_depth()

    def verify_(self) -> None:
        if len(self.outputs) < 2:
            raise VerifyException("spatial.dup needs at least two outputs")
        for out in self.outputs:
            if out.type != self.input.type:
                raise VerifyException("spatial.dup: outputs must have the input's stream type")
        self.verify_timing()


@irdl_op_definition
class ResizeOp(StreamPEOp):
    """The same frame with another number of lanes per beat (a width converter)."""

    name = "spatial.resize"

    def nominal_latency(self) -> int:
        """The input beats filling one output beat, `ceil(lanes_out / lanes_in)`, plus one register."""
        lanes_in, lanes_out = stream_of(self.input).lanes.data, stream_of(self.output).lanes.data
        return -(-lanes_out // lanes_in) + self.pipeline_depth()

    def verify_(self) -> None:
        check_frame(self, self.output, stream_of(self.input).frame, "output")
        if stream_of(self.input).element_type != stream_of(self.output).element_type:
            raise VerifyException("spatial.resize keeps the element type")
        self.verify_timing()


@irdl_op_definition
class ReshapeOp(StreamPEOp):
    """The same elements in the same order, framed as another shape (wires only),
    e.g. [H, W, C] pixels as one [H·W·C] vector for a dense layer."""

    name = "spatial.reshape"

    def nominal_latency(self) -> int:
        """Zero: a reshape is wires."""
        return self.pipeline_depth()

    def pipeline_depth(self) -> int:
        """Zero: a reshape is wires."""
        return 0

    def verify_(self) -> None:
        source, target = stream_of(self.input), stream_of(self.output)
        if math.prod(source.frame) != math.prod(target.frame):
            raise VerifyException(f"spatial.reshape '{layer_of(self)}': frame sizes differ")
        if source.element_type != target.element_type or source.lanes != target.lanes:
            raise VerifyException("spatial.reshape keeps the element type and the lanes")
        self.verify_timing()


@irdl_op_definition
class FifoOp(IRDLOperation):
    """A first-in first-out buffer of `depth` beats (not a PE: it passes beats on
    without delay in the schedule)."""

    name = "spatial.fifo"
    input = operand_def(StreamType)
    output = result_def(StreamType)
    depth = prop_def(IntegerAttr[I64])
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = ASSEMBLY_FORMAT

    def verify_(self) -> None:
        if self.depth.value.data < 1:
            raise VerifyException("spatial.fifo: depth must be at least 1")
        if self.input.type != self.output.type:
            raise VerifyException("spatial.fifo: output must have the input's stream type")
