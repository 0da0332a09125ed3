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

from collections.abc import Callable, Sequence

import numpy as np

from xdsl.ir import SSAValue

from dialects.spatial import PE_OPS, FifoOp, GraphOp, PEOp, stream_of
from dialects.spatial.line_buffer import RELEASE_DELAY


def emit_times(op: PEOp, operand_times: list[Sequence[float]], frames: int = 1,
               whole_cycles: bool = True) -> Sequence[float]:
    """The cycles at which PE `op` emits the beats of its first `frames` output frames,
    given the cycles its operands' beats arrive: in order, at most one per
    `beat_interval()` cycles, each `pipeline_depth()` after the last input beat it
    needs has been accepted (on arrival, or for a PE with an `input_release` once
    the output beats that free its slot have left); rounded up to whole cycles
    when `whole_cycles`."""
    return timed_beats(op, operand_times, frames, whole_cycles)[1]


def timed_beats(op: PEOp, operand_times: list[Sequence[float]], frames: int = 1, whole_cycles: bool = True,
                not_before: Sequence[float] | None = None,
                deadline: Sequence[float] | None = None) -> tuple[np.ndarray, Sequence[float]]:
    """When PE `op` accepts the beats of its first operand and when it emits its
    output beats (as `emit_times`); output beat m (0-based) also no earlier than
    `not_before[m]` when given (a reader that holds the PE back). With `deadline`,
    the emission times stop at the first beat m later than `deadline[m]` (that
    beat is the last one given). Fractional times come as a float64 array, whole
    cycles as a list of ints.

    Beat m leaves at e(m) = max(e(m-1) + interval, start(m)), start(m) the time its
    inputs allow; that recurrence is a running maximum (`_chain`), so whole runs of
    beats are timed at once: all of them for a PE that accepts beats on arrival,
    and for an SWU each run of output beats whose inputs the beats already emitted
    have released (about a window row; `_released_runs`)."""
    count = frames * op.output_beats()
    arrivals = [np.asarray(times, np.float64) for times in operand_times]
    needs = need_tables(op, count)
    floor = np.full(count, -np.inf)
    if not_before is not None:
        held = min(len(not_before), count)
        floor[:held] = np.asarray(not_before[:held], np.float64)
    release = op.input_release_table(len(arrivals[0]))
    if release is None:
        starts = np.maximum(_ready(needs, arrivals, 0, count) + op.pipeline_depth(), floor)
        accepted, emitted = arrivals[0], _chain(starts, op.beat_interval(), -np.inf, 0)
        if deadline is not None:
            emitted = _until_late(emitted, deadline, whole_cycles)
    else:
        accepted, emitted = _released_runs(op, arrivals, needs, release, floor, deadline, whole_cycles)
    if whole_cycles:
        return accepted, np.ceil(emitted).astype(np.int64).tolist()
    return accepted, emitted


def _ready(needs: list[np.ndarray], arrivals: list[np.ndarray], begin: int, end: int) -> np.ndarray:
    """Per output beat begin..end-1: the latest arrival among the input beats it needs (0 when none)."""
    ready = np.full(end - begin, -np.inf)
    for table, times in zip(needs, arrivals):
        wanted = table[begin:end]
        needed = wanted > 0
        ready[needed] = np.maximum(ready[needed], times[wanted[needed] - 1])
    ready[ready == -np.inf] = 0.0
    return ready


def _chain(starts: np.ndarray, interval: float, previous: float, first: int) -> np.ndarray:
    """e(first + j) = max(e(first + j - 1) + interval, starts[j]), e(first - 1) = `previous`:
    `(first + j)·interval + max(previous - (first - 1)·interval, max_{k ≤ j} starts[k] - (first + k)·interval)`."""
    steps = (first + np.arange(len(starts), dtype=np.float64)) * interval
    running = np.maximum.accumulate(starts - steps)
    return steps + np.maximum(running, previous - (first - 1) * interval)


def _until_late(emitted: np.ndarray, deadline: Sequence[float], whole_cycles: bool) -> np.ndarray:
    """`emitted` up to and including the first beat later than its deadline."""
    times = np.ceil(emitted) if whole_cycles else emitted
    limit = np.asarray(deadline[:len(times)], np.float64)
    late = np.flatnonzero(times[:len(limit)] > limit)
    return emitted[:late[0] + 1] if len(late) else emitted


def _released_runs(op: PEOp, arrivals: list[np.ndarray], needs: list[np.ndarray], release: np.ndarray,
                   floor: np.ndarray, deadline: Sequence[float] | None,
                   whole_cycles: bool) -> tuple[np.ndarray, np.ndarray]:
    """`timed_beats` for a PE whose first operand waits for `release`: input beat i is
    accepted one a cycle, not before its arrival nor `RELEASE_DELAY` after output beat
    `release[i] - 1` has left. Each round times the output beats whose needed input
    beats are all released by the output beats already timed."""
    count, interval, depth = len(floor), op.beat_interval(), op.pipeline_depth()
    incoming = arrivals[0]
    latest_release = np.maximum.accumulate(release) if len(release) else release
    accepted = np.empty(len(incoming))
    emitted = np.empty(count)
    taken = done = 0
    while done < count:
        released = int(np.searchsorted(latest_release, done, side="right"))
        end = int(np.searchsorted(needs[0], released, side="right"))
        if end <= done:
            raise ValueError("line buffer deadlock: an input beat waits for output beats that need it")
        wanted = min(int(needs[0][end - 1]), len(incoming))
        _accept(accepted, taken, wanted, incoming, release, emitted, whole_cycles)
        taken = max(taken, wanted)
        starts = np.maximum(_ready(needs, [accepted, *arrivals[1:]], done, end) + depth, floor[done:end])
        previous = emitted[done - 1] if done else -np.inf
        emitted[done:end] = _chain(starts, interval, previous, done)
        if deadline is not None:
            kept = len(_until_late(emitted[done:end], deadline[done:end], whole_cycles))
            if kept < end - done:
                return accepted[:taken], emitted[:done + kept]
        done = end
    wanted = int(np.searchsorted(latest_release, done, side="right"))
    _accept(accepted, taken, min(wanted, len(incoming)), incoming, release, emitted, whole_cycles)
    return accepted[:max(taken, min(wanted, len(incoming)))], emitted


def _accept(accepted: np.ndarray, begin: int, end: int, incoming: np.ndarray, release: np.ndarray,
            emitted: np.ndarray, whole_cycles: bool) -> None:
    """Fill `accepted[begin:end]`: one beat a cycle, none before its arrival, none
    before `RELEASE_DELAY` after the output beat its release waits for has left
    (in whole cycles, when that beat leaves rounded up)."""
    if end <= begin:
        return
    freed = release[begin:end]
    left = emitted[np.maximum(freed, 1) - 1]
    after = np.where(freed > 0, (np.ceil(left) if whole_cycles else left) + RELEASE_DELAY, -np.inf)
    previous = accepted[begin - 1] if begin else -np.inf
    accepted[begin:end] = _chain(np.maximum(incoming[begin:end], after), 1, previous, begin)


def need_tables(op: PEOp, count: int) -> list[np.ndarray]:
    """Per operand of `op`, `needs()[i](m)` for m = 1..`count` (int64). `PEOp.needs` repeats
    one frame's `frame_needs` with the earlier frames' beats added, so one frame is
    evaluated and the rest tiled (a PE kind that overrides `needs` is evaluated beat by beat)."""
    if type(op).needs is not PEOp.needs:
        return [np.array([need(m) for m in range(1, count + 1)], np.int64) for need in op.needs()]
    out_beats = op.output_beats()
    frames = -(-count // out_beats)
    tables = []
    for frame_need, operand in zip(op.frame_needs(), op.operands):
        base = frame_table(frame_need, out_beats)
        offsets = np.arange(frames, dtype=np.int64)[:, None] * stream_of(operand).beats
        tables.append((offsets + base[None, :]).ravel()[:count])
    return tables


def frame_table(frame_need: Callable[[int], int], beats: int) -> np.ndarray:
    """`frame_need(m)` for m = 1..`beats`: on an array of m at once when the need
    function computes element-wise on arrays (checked at three beats), else beat by beat."""
    m = np.arange(1, beats + 1, dtype=np.int64)
    try:
        table = np.broadcast_to(np.asarray(frame_need(m), np.int64), m.shape)
    except (TypeError, ValueError, IndexError):
        table = None
    if table is None or any(int(table[k]) != int(frame_need(k + 1)) for k in {0, beats // 2, beats - 1}):
        table = np.array([frame_need(k) for k in range(1, beats + 1)], np.int64)
    return np.ascontiguousarray(table)


def schedule(graph: GraphOp, frames: int = 1, host_period: float | None = None,
             whole_cycles: bool = True) -> dict[SSAValue, Sequence[float]]:
    """Per stream of `graph`, the cycle each beat of the first `frames` frames leaves
    its producer (whole cycles: lists of ints; fractional: float64 arrays). The host offers one input beat per cycle, or with `host_period`
    each input's frame spread evenly over that many cycles."""
    times: dict[SSAValue, Sequence[float]] = {}
    for arg in graph.body.block.args:
        beats = stream_of(arg).beats
        interval = 1 if host_period is None else host_period / beats
        times[arg] = list(range(frames * beats)) if host_period is None else np.arange(frames * beats) * interval
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
