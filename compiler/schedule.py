"""When the beats move: the one scheduler of a spatial graph, from the PE models.

Cycles per inference is the bottleneck's `ii` (the pipeline overlaps
inferences). The latency of one inference is not a sum of per-PE latencies: a
folded MVU emits its first output vector only after its whole input vector has
arrived, which its producer spreads over its own period, so the latency is a
property of the whole schedule. The model (the methods of
`dialects.spatial.model.PEOp`):

* the host offers the input beats at a fixed rate (one per cycle, or a frame per
  `host_period` cycles), from cycle 0;
* a PE emits its output beats in order, at most one every `ii / beats` cycles
  (its rate), and output beat m no earlier than `pipeline_depth()` cycles after
  the last input beat it needs (`needs()`: an MVU needs the whole input vector,
  an SWU the window's last real pixel, an element-wise unit the same element);
* FIFOs pass beats on without delay; streams are unbounded.

`schedule` gives, per stream, the cycle each beat leaves its producer, over any
number of frames: whole cycles (what the RTL does; `frame_schedule`, `latency`)
or fractional ones (the rates as a fluid, as `size-fifos` uses to size the
FIFOs of re-joining branches). `latency` is the cycle after the last output beat
of frame 0, the quantity the RTL simulation measures (`compiler.rtl.RtlRun.latency`).
"""

from __future__ import annotations

import math

from xdsl.ir import SSAValue

from dialects.spatial import PE_OPS, FifoOp, GraphOp, PEOp, stream_of


def emit_times(op: PEOp, operand_times: list[list[float]], frames: int = 1,
               whole_cycles: bool = True) -> list[float]:
    """The cycles at which PE `op` emits the beats of its first `frames` output frames,
    given the cycles its operands' beats arrive: in order, at most one per
    `ii / beats` cycles, each `pipeline_depth()` after the last input beat it needs;
    rounded up to whole cycles when `whole_cycles`."""
    beats = stream_of(op.results[0]).beats
    interval = op.effective_ii() / beats
    needs = op.needs()
    depth = op.pipeline_depth()
    times: list[float] = []
    earliest = -math.inf
    for m in range(1, frames * beats + 1):
        ready = max((arrivals[need(m) - 1] for need, arrivals in zip(needs, operand_times) if need(m) > 0),
                    default=0)
        earliest = max(earliest + interval, ready + depth)
        times.append(math.ceil(earliest) if whole_cycles else earliest)
    return times


def schedule(graph: GraphOp, frames: int = 1, host_period: float | None = None,
             whole_cycles: bool = True) -> dict[SSAValue, list[float]]:
    """Per stream of `graph`, the cycle each beat of the first `frames` frames leaves
    its producer. The host offers one input beat per cycle, or with `host_period`
    each input's frame spread evenly over that many cycles."""
    times: dict[SSAValue, list[float]] = {}
    for arg in graph.body.block.args:
        beats = stream_of(arg).beats
        interval = 1 if host_period is None else host_period / beats
        times[arg] = [i * interval for i in range(frames * beats)]
    for op in graph.body.block.ops:
        if isinstance(op, FifoOp):
            times[op.output] = times[op.input]
        elif isinstance(op, PE_OPS):
            emitted = emit_times(op, [times[v] for v in op.operands], frames, whole_cycles)
            for result in op.results:
                times[result] = emitted
    return times


def frame_schedule(graph: GraphOp) -> dict[SSAValue, list[int]]:
    """Per stream of `graph`, the cycle each beat of the first frame leaves its producer."""
    return schedule(graph)  # type: ignore[return-value]  # whole cycles: ints


def latency(graph: GraphOp) -> int:
    """Cycles until the first inference's last output beat has left the design."""
    times = frame_schedule(graph)
    outputs = graph.body.block.last_op.operands
    return max((times[v][-1] + 1 for v in outputs), default=0)
