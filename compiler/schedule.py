"""When the beats move: the one scheduler of a spatial graph, from the PE models.

Cycles per inference is the bottleneck's `ii` (the pipeline overlaps
inferences). The latency of one inference is not a sum of per-PE latencies: a
folded MVU emits its first output vector only after its whole input vector has
arrived, which its producer spreads over its own period, so the latency is a
property of the whole schedule. The model (the methods of
`dialects.spatial.model.PEOp`):

* the host offers the input beats at a fixed rate (one per cycle, or a frame per
  `host_period` cycles), from cycle 0;
* a PE emits its output beats in order, at most one every `beat_interval()`
  cycles (`ii / beats`, its rate; an SWU one a cycle), and output beat m no
  earlier than `pipeline_depth()` cycles after the last input beat it needs
  (`needs()`: an MVU needs the whole input vector, an SWU the window's last real
  pixel, an element-wise unit the same element);
* a PE accepts input beats as they arrive, except an SWU, whose line buffer takes
  a beat only once the window row that frees its slot has left (`input_release`);
* FIFOs pass beats on without delay; streams are unbounded.

`schedule` gives, per stream, the cycle each beat leaves its producer, over any
number of frames: whole cycles (what the RTL does; `frame_schedule`, `latency`)
or fractional ones (the rates as a fluid, as `size-fifos` uses to size the
FIFOs of re-joining branches). `latency` is the cycle after the last output beat
of frame 0, the quantity the RTL simulation measures (`compiler.rtl.RtlRun.latency`).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable

import numpy as np

from xdsl.ir import SSAValue

from dialects.spatial import PE_OPS, FifoOp, GraphOp, PEOp, stream_of
from dialects.spatial.line_buffer import RELEASE_DELAY


def emit_times(op: PEOp, operand_times: list[list[float]], frames: int = 1,
               whole_cycles: bool = True) -> list[float]:
    """The cycles at which PE `op` emits the beats of its first `frames` output frames,
    given the cycles its operands' beats arrive: in order, at most one per
    `beat_interval()` cycles, each `pipeline_depth()` after the last input beat it
    needs has been accepted (on arrival, or for a PE with an `input_release` once
    the output beats that free its slot have left); rounded up to whole cycles
    when `whole_cycles`."""
    return timed_beats(op, operand_times, frames, whole_cycles)[1]


def timed_beats(op: PEOp, operand_times: list[list[float]], frames: int = 1, whole_cycles: bool = True,
                not_before: list[float] | None = None,
                deadline: list[float] | None = None) -> tuple[list[float], list[float]]:
    """When PE `op` accepts the beats of its first operand and when it emits its
    output beats (as `emit_times`); output beat m (0-based) also no earlier than
    `not_before[m]` when given (a reader that holds the PE back). With `deadline`,
    the emission times stop at the first beat m later than `deadline[m]` (that
    beat is the last one given). Fractional times come as an `array('d')` (8 bytes
    a beat), whole cycles as a list of ints."""
    count = frames * op.output_beats()
    interval = op.beat_interval()
    needs = need_tables(op, count)
    depth = op.pipeline_depth()
    release = op.input_release()
    accepted: list[list[float]] = [[] if release is not None else operand_times[0], *operand_times[1:]]
    times: list[float] = [] if whole_cycles else array("d")
    pairs = list(zip(needs, accepted))
    earliest = -math.inf
    held_back = len(not_before) if not_before is not None else 0
    for i in range(count):
        if release is not None:
            accept_up_to(accepted[0], needs[0][i], operand_times[0], release, times)
        ready = 0
        found = False
        for values, arrivals in pairs:  # the first of the latest needed arrivals, as max() picks
            n = values[i]
            if n > 0 and (not found or arrivals[n - 1] > ready):
                ready, found = arrivals[n - 1], True
        earliest = max(earliest + interval, ready + depth)
        if i < held_back:
            earliest = max(earliest, not_before[i])
        times.append(math.ceil(earliest) if whole_cycles else earliest)
        if deadline is not None and times[-1] > deadline[i]:
            return accepted[0], times
    if release is not None:
        accept_up_to(accepted[0], len(operand_times[0]), operand_times[0], release, times, partial=True)
    return accepted[0], times


def need_tables(op: PEOp, count: int) -> list[list[int]]:
    """Per operand of `op`, `needs()[i](m)` for m = 1..`count`. `PEOp.needs` repeats
    one frame's `frame_needs` with the earlier frames' beats added, so one frame is
    evaluated and the rest tiled (a PE kind that overrides `needs` is evaluated beat by beat)."""
    if type(op).needs is not PEOp.needs:
        return [[need(m) for m in range(1, count + 1)] for need in op.needs()]
    out_beats = op.output_beats()
    frames = -(-count // out_beats)
    tables = []
    for frame_need, operand in zip(op.frame_needs(), op.operands):
        base = np.array([frame_need(m) for m in range(1, out_beats + 1)], np.int64)
        offsets = np.arange(frames, dtype=np.int64)[:, None] * stream_of(operand).beats
        tables.append((offsets + base[None, :]).ravel()[:count].tolist())
    return tables


def accept_up_to(accepted: list[float], count: int, arrivals: list[float],
                 release: Callable[[int], int], emitted: list[float], partial: bool = False) -> list[float]:
    """Extend `accepted` (when a PE took each input beat) to the first `count` beats
    that have arrived: one a cycle, none before its arrival, none before the output
    beats `release` names have left (+`RELEASE_DELAY`, the registered credit).
    With `partial`, stop at the first beat whose release lies past `emitted`."""
    for i in range(len(accepted), min(count, len(arrivals))):
        time = arrivals[i] if not accepted else max(arrivals[i], accepted[-1] + 1)
        freed = release(i)
        if freed > len(emitted):
            if partial:
                break
            raise ValueError("line buffer deadlock: an input beat waits for output beats that need it")
        if freed > 0:
            time = max(time, emitted[freed - 1] + RELEASE_DELAY)
        accepted.append(time)
    return accepted


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
            times.update(zip(op.results, op.result_times(emitted, frames)))
    return times


def frame_schedule(graph: GraphOp) -> dict[SSAValue, list[int]]:
    """Per stream of `graph`, the cycle each beat of the first frame leaves its producer."""
    return schedule(graph)  # type: ignore[return-value]  # whole cycles: ints


def latency(graph: GraphOp) -> int:
    """Cycles until the first inference's last output beat has left the design."""
    times = frame_schedule(graph)
    outputs = graph.body.block.last_op.operands
    return max((times[v][-1] + 1 for v in outputs), default=0)
