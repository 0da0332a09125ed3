"""When the beats of one inference move: the first frame's schedule of a spatial graph.

Cycles per inference is the bottleneck's `ii` (the pipeline overlaps
inferences). The latency of one inference is not a sum of per-PE latencies: a
folded MVU emits its first output vector only after its whole input vector has
arrived, which its producer spreads over its own period, so the latency is a
property of the whole schedule. This module computes it from the PE models:

* the host offers one input beat per cycle, from cycle 0;
* a PE emits its output beats of a frame in order, at most one every
  `ii / beats` cycles (its rate), and output beat m no earlier than `depth`
  cycles after the last input beat it needs (`need_functions` of
  `passes/size_fifos.py`: an MVU needs the whole input vector, an SWU the
  window's last real pixel, an element-wise unit the same element);
* FIFOs and reshapes pass beats on without delay.

`frame_schedule` gives, per stream, the cycle each beat of frame 0 leaves its
producer; `latency` is the cycle after the last output beat of frame 0, the
quantity the RTL simulation measures (`compiler.rtl.RtlRun.latency`).
"""

from __future__ import annotations

import math

from xdsl.ir import SSAValue

from dialects.spatial import (
    MVU_PIPELINE_DEPTH,
    PE_OPS,
    STREAM_PIPELINE_DEPTH,
    FifoOp,
    GraphOp,
    MVUOp,
    ReshapeOp,
    stream_of,
)


def _depth(op) -> int:
    """Cycles from a PE's last needed input beat to the output beat it enables."""
    if isinstance(op, MVUOp):
        return MVU_PIPELINE_DEPTH
    if isinstance(op, ReshapeOp):
        return 0
    return STREAM_PIPELINE_DEPTH


def _ii(op) -> int:
    return op.ii.value.data if op.ii is not None else op.nominal_ii()


def _emit(op, operand_times: list[list[int]]) -> list[int]:
    """The cycles at which `op` emits the beats of its first output frame."""
    from passes.size_fifos import need_functions

    beats = stream_of(op.results[0]).beats
    interval = _ii(op) / beats
    needs = need_functions(op)
    depth = _depth(op)
    times: list[int] = []
    earliest = -math.inf
    for m in range(1, beats + 1):
        ready = max((arrivals[need(m) - 1] for need, arrivals in zip(needs, operand_times) if need(m) > 0),
                    default=0)
        earliest = max(earliest + interval, ready + depth)
        times.append(math.ceil(earliest))
    return times


def frame_schedule(graph: GraphOp) -> dict[SSAValue, list[int]]:
    """Per stream of `graph`, the cycle each beat of the first frame leaves its producer."""
    times: dict[SSAValue, list[int]] = {
        arg: list(range(stream_of(arg).beats)) for arg in graph.body.block.args
    }
    for op in graph.body.block.ops:
        if isinstance(op, FifoOp):
            times[op.output] = times[op.input]
        elif isinstance(op, PE_OPS):
            emitted = _emit(op, [times[v] for v in op.operands])
            for result in op.results:
                times[result] = emitted
    return times


def latency(graph: GraphOp) -> int:
    """Cycles until the first inference's last output beat has left the design."""
    times = frame_schedule(graph)
    outputs = graph.body.block.last_op.operands
    return max((times[v][-1] + 1 for v in outputs), default=0)
