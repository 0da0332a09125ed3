"""`spatial.vector`: a vector unit running a small integer `nn` graph on whole frames,
with state that persists from one frame to the next (a decoder's K/V caches).

A decoder's step graph (one token in, its logits out; `sequence-to-stream`) is
matrix-vector products with hardwired weights (the MVUs, which hold almost all
of the model) joined by *glue*: norms (sums of squares, inverse square roots),
RoPE (position-indexed tables, a half rotation), residual adds, attention
against the K/V caches (act×act products, the integer softmax), SiLU tables,
gated products. The glue of one stage between MVUs becomes one `spatial.vector`:

* operands: its input streams (one frame each per token); results: its output
  streams. Every stream holds its nn value flattened in row-major order.
* a region whose block arguments are the nn values of the operands (nn shapes,
  batch 1), then the unit's state (`state` names them, e.g. `cache.3`), and whose
  `spatial.vector_return` gives the results' nn values, then the next state. Its
  ops are integer `nn` ops and `rom.read`s of the module's ROMs: the unit
  computes exactly what the integer executor computes for them.

The unit's microarchitecture, which its timing model states and
`compiler/hw/vector.py` builds: one ALU (`VECTOR_ALUS`) runs the region's ops one
after another, each op taking the cycles of `op_cycles` (one a result element;
an act×act matmul or a sum one a multiply-accumulate; a softmax row three passes
and a restoring division, one quotient bit a cycle; an inverse square root one
cycle per result bit; reshapes, transposes, slices, concatenations and
broadcasts none: they are the next op's addressing). A frame is taken from
every input side by side, computed, then the results are written one after
another in operand order, one beat a cycle. The state is on-chip memory (its
bits are `state_bits()`): a K/V cache of `context` positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import ArrayAttr, IntegerType, StringAttr, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    opt_prop_def,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import IsTerminator
from xdsl.utils.exceptions import VerifyException

from dialects import nn
from dialects.nn.state import CacheWriteOp
from dialects.rom import ReadOp
from dialects.spatial.model import Folding, NeedFunction, PEOp, divisors, layer_of
from dialects.spatial.stream import StreamType, stream_of

SOFTMAX_PASSES = 3
"""Passes of the integer softmax over a row: maximum, exponentials and their sum, products."""
VECTOR_ALUS = 1
"""ALUs of a vector unit: one element (or one multiply-accumulate) a cycle, for now."""


@irdl_op_definition
class VectorReturnOp(IRDLOperation):
    """The vector unit's result values, then its next state (see module doc)."""

    name = "spatial.vector_return"
    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator())
    assembly_format = "($values^ `:` type($values))? attr-dict"


def _elements(value: SSAValue) -> int:
    return math.prod(nn.shape_of(value))


ADDRESSING_OPS = (ReadOp, nn.WeightOp, nn.ConstantOp, nn.ReshapeOp, nn.TransposeOp, nn.ExpandOp, nn.SliceOp,
                  nn.ConcatOp)
"""Ops that only choose which stored elements the next op reads: the unit's address
generation does them, in no cycles of their own."""


def op_cycles(op: Operation, lanes: int) -> int:
    """Cycles the vector unit spends on `op` with `lanes` ALUs (see module doc)."""
    if isinstance(op, ADDRESSING_OPS):
        return 0
    if isinstance(op, nn.MatMulOp):
        return _elements(op.output) * -(-nn.shape_of(op.lhs)[-1] // lanes)
    if isinstance(op, nn.IntSoftmaxOp):
        shape = nn.shape_of(op.input)
        row = shape[op.axis.value.data]
        rows = _elements(op.input) // row
        return rows * (SOFTMAX_PASSES * -(-row // lanes) + divider_bits(op))
    if isinstance(op, nn.InvSqrtOp):
        element = nn.element_type_of(op.output)
        assert isinstance(element, IntegerType)
        return -(-_elements(op.output) // lanes) * element.width.data
    if isinstance(op, nn.ReduceSumOp):
        return -(-_elements(op.input) // lanes)
    if isinstance(op, CacheWriteOp):
        return -(-_elements(op.value) // lanes)
    return -(-max((_elements(r) for r in op.results), default=0) // lanes)


def divider_bits(op: nn.IntSoftmaxOp) -> int:
    """Quotient bits of the softmax's reciprocal `(out_max << shift) // S`, one a cycle."""
    return op.out_max.value.data.bit_length() + op.shift.value.data


def region_cycles(ops: Sequence[Operation], lanes: int) -> int:
    """Cycles of a frame's computation: the region's ops one after another."""
    return sum(op_cycles(op, lanes) for op in ops)


def multiplies(op: Operation) -> bool:
    """Whether `op` multiplies two variables (an act×act product or a norm's scaling)."""
    return isinstance(op, nn.MatMulOp | nn.MulOp | nn.RequantOp | nn.IntSoftmaxOp | nn.InvSqrtOp)


@irdl_op_definition
class VectorOp(PEOp):
    """A vector unit: integer nn ops on whole frames, with persistent state (module doc)."""

    name = "spatial.vector"
    inputs = var_operand_def(StreamType)
    outputs = var_result_def(StreamType)
    state = opt_prop_def(ArrayAttr[StringAttr])
    body = region_def("single_block")
    assembly_format = "$inputs attr-dict-with-keyword `:` functional-type($inputs, $outputs) $body"

    # ------------------------------------------------------------------ structure

    @property
    def state_names(self) -> list[str]:
        return [name.data for name in self.state.data] if self.state is not None else []

    def ops(self) -> list[Operation]:
        """The region's ops but its terminator."""
        return [op for op in self.body.block.ops if not isinstance(op, VectorReturnOp)]

    def state_args(self) -> list[SSAValue]:
        return list(self.body.block.args[len(self.inputs):])

    def rom_symbols(self) -> list[str]:
        """The module ROMs the region reads (tables, RoPE rows, softmax exponentials)."""
        return list(dict.fromkeys(op.rom.root_reference.data for op in self.ops() if isinstance(op, ReadOp)))

    def macs(self) -> int:
        """Multiply-accumulates of the act×act products per frame."""
        return sum(_elements(op.output) * nn.shape_of(op.lhs)[-1] for op in self.ops() if isinstance(op, nn.MatMulOp))

    def state_bits(self) -> int:
        """Bits of on-chip memory the state takes."""
        total = 0
        for arg in self.state_args():
            element = nn.element_type_of(arg)
            assert isinstance(element, IntegerType)
            total += _elements(arg) * element.width.data
        return total

    # ------------------------------------------------------------------ timing

    def lanes(self) -> int:
        """The unit's ALUs (`VECTOR_ALUS`); its ports' lanes only set how fast frames move in and out."""
        return VECTOR_ALUS

    def compute_cycles(self) -> int:
        return region_cycles(self.ops(), self.lanes())

    def input_beats(self) -> int:
        """Cycles to take a frame from every input: they arrive side by side."""
        return max((stream_of(v).beats for v in self.inputs), default=0)

    def output_beats(self) -> int:
        return sum(stream_of(v).beats for v in self.outputs)

    def nominal_ii(self) -> int:
        """Take every input frame (side by side), compute, write the results one after
        another: no overlap between frames."""
        return self.input_beats() + self.compute_cycles() + self.output_beats()

    def pipeline_depth(self) -> int:
        """From the last input beat to the first output beat: the computation and one register."""
        return self.compute_cycles() + 1

    def nominal_latency(self) -> int:
        return self.input_beats() + self.pipeline_depth()

    def beat_interval(self) -> float:
        return 1

    def frame_needs(self) -> list[NeedFunction]:
        """Every output beat needs every input's whole frame."""
        return [(lambda beats: lambda m: beats if m > 0 else 0)(stream_of(v).beats) for v in self.inputs]

    def result_times(self, emitted: list[float], frames: int) -> list[list[float]]:
        """Per result, its beats' cycles within the unit's output sequence (results one
        after another in each frame)."""
        beats = [stream_of(v).beats for v in self.outputs]
        per_frame, offsets = sum(beats), [sum(beats[:i]) for i in range(len(beats))]
        return [[emitted[f * per_frame + offset + b] for f in range(frames) for b in range(count)
                 if f * per_frame + offset + b < len(emitted)]
                for offset, count in zip(offsets, beats)]

    def multipliers_per_lane(self) -> int:
        return 1 if any(multiplies(op) for op in self.ops()) else 0

    def multipliers(self) -> int:
        return self.multipliers_per_lane() * self.lanes()

    def foldings(self) -> list[Folding]:
        """Port lanes L dividing the widest port (each port gcd(L, its size)); the
        computation is the same at every folding (`VECTOR_ALUS`)."""
        ports = [*self.inputs, *self.outputs]
        widest = max(math.prod(stream_of(v).frame) for v in ports)
        compute, cost = self.compute_cycles(), self.multipliers()
        foldings = []
        for lanes in divisors(widest):
            inputs = tuple(math.gcd(lanes, math.prod(stream_of(v).frame)) for v in self.inputs)
            outputs = tuple(math.gcd(lanes, math.prod(stream_of(v).frame)) for v in self.outputs)
            taken = max((math.prod(stream_of(v).frame) // n for v, n in zip(self.inputs, inputs)), default=0)
            given = sum(math.prod(stream_of(v).frame) // n for v, n in zip(self.outputs, outputs))
            foldings.append(Folding(inputs, outputs, taken + compute + given, cost))
        return foldings

    # ------------------------------------------------------------------ verification

    def verify_(self) -> None:
        block = self.body.block
        streams, state = len(self.inputs), self.state_names
        if len(block.args) != streams + len(state):
            raise VerifyException(f"spatial.vector '{layer_of(self)}': {len(block.args)} block arguments for "
                                  f"{streams} inputs and {len(state)} state values")
        for arg, stream in zip(block.args, self.inputs):
            _check_flat(self, arg, stream, "input")
        terminator = block.last_op
        if not isinstance(terminator, VectorReturnOp):
            raise VerifyException(f"spatial.vector '{layer_of(self)}': the region must end in spatial.vector_return")
        if len(terminator.values) != len(self.outputs) + len(state):
            raise VerifyException(f"spatial.vector '{layer_of(self)}': it returns {len(terminator.values)} values "
                                  f"for {len(self.outputs)} results and {len(state)} state values")
        for value, stream in zip(terminator.values, self.outputs):
            _check_flat(self, value, stream, "result")
        for value, arg in zip(terminator.values[len(self.outputs):], self.state_args()):
            if value.type != arg.type:
                raise VerifyException(f"spatial.vector '{layer_of(self)}': next state {value.type} differs "
                                      f"from the state {arg.type}")
        self.verify_timing()


def _check_flat(op: VectorOp, value: SSAValue, stream: SSAValue, which: str) -> None:
    """A port's stream holds its nn value flattened: the same elements and element type."""
    frame = stream_of(stream)
    if math.prod(frame.frame) != _elements(value) or frame.element_type != nn.element_type_of(value):
        raise VerifyException(f"spatial.vector '{layer_of(op)}': {which} stream {stream.type} does not hold "
                              f"{value.type}")
