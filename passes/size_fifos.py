"""`size-fifos`: put a `spatial.fifo` where re-joining branches need one, as deep as needed.

Where a stream forks (`spatial.dup`) and its branches meet again (the residual
`spatial.eltwise`, a `spatial.concat`), the short branch must hold the beats the
dup sends it while the long branch is still filling (an SWU's line buffer, an
MVU's input vector): the dup gives each beat to all of its consumers at once,
so if the short branch is full, the dup stops, the long branch starves and the
join waits forever. This pass computes, for every input of every join, the
capacity that branch needs, and inserts a FIFO of that depth right before the join.

The beat model (the PE models of `dialects.spatial.model`, at their folding):

* every stream holds one beat (its producer's output register); a
  `spatial.fifo` of depth d in its place holds d beats;
* a PE emits its output beats in order; before emitting its m-th beat it must
  have read `need(m)` beats of each input (`PEOp.needs()`, documented per PE
  kind by its `frame_needs`: an MVU a whole input vector per output vector, an
  SWU the window's last real pixel, a concat its channel blocks, an element-wise
  unit the same elements). It reads an input beat only when its next output
  needs it (reads on demand) and a `spatial.dup` emits a beat on all outputs at once.

Argument. These PEs are deterministic processes that block on empty inputs and
full outputs: a Kahn process network with bounded channels, which is itself a
Kahn network (a full channel is an empty channel of "free slots" running
backwards). A Kahn network's behaviour does not depend on the schedule, so
whether it deadlocks with given capacities is the same under every timing:
latencies and initiation intervals only decide *when* beats move, never
*whether*. The depths therefore follow from the `need` functions alone. The
pass executes the network untimed for `FRAMES` frames, join inputs unbounded,
with one rule: a beat may enter a join input beyond its current high-water
mark only when no other beat can move anywhere. The high-water mark of each
join input at the end is its depth. Sufficient: that execution is a valid
execution of the network with those capacities, and it completes, so every
execution completes. Minimal, when the graph has one fork/join: each time a
mark was raised, nothing else could move, so with one beat less the network is
in a reachable deadlock. The depth, measured in the join's beats, is exactly
"the beats the long path's latency and rate differences accumulate before the
join consumes them": e.g. a 3×3 SWU on the long path of a [H, W, C] residual
at lanes 1 needs about (W + 2)·C beats, the line buffer's fill.

FRAMES = 3 covers the first frame (filling), a steady frame and a frame boundary
in between; the need functions repeat per frame.

Throughput: deadlock freedom is not speed. A join input of exactly the minimum
depth makes the fork wait for the join on every beat, paying the long branch's
pipeline each time; `timed_depths` schedules the graph in time at the
bottleneck's rate and gives each join input the most beats it holds there.
The untimed search starts from those depths (join inputs hold that many beats
from the start) and raises one only where the network still deadlocks, so a
join input gets its timed depth, or more where deadlock freedom needs more (the
search then grows it as above; with the timed depths usually enough, the network
runs through at once instead of growing every join input beat by beat). A neuron-folded MVU reads its input
vector in a burst, so its input also gets a FIFO of the beats the schedule holds
before it (`rate_depths`, at most two vectors), which lets producer and MVU overlap their periods; the design then runs at the
bottleneck's `ii` (checked against the RTL's measured cycles).

Requires: `fold-parallelism` has run (foldings final). Existing `spatial.fifo`
ops are removed first (the pass can be re-run). Guarantees: the network is
deadlock-free in this model; a fifo is inserted only where a join input needs
more than the one beat a stream holds, or before a neuron-folded MVU fed by
another PE; ii/latency of PEs are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from compiler.schedule import need_tables, schedule, timed_beats
from dialects.spatial import PE_OPS, FifoOp, GraphOp, MVUOp, ReshapeOp, ResizeOp, SWUOp, stream_of
from passes.kahn_network import FRAMES, join_depths

__all__ = ["FRAMES", "join_depths", "size_fifos", "SizeFifosPass"]


# --------------------------------------------------------------------------- the pass


def remove_fifos(graph: GraphOp) -> None:
    for op in list(graph.body.block.ops):
        if isinstance(op, FifoOp):
            op.output.replace_all_uses_with(op.input)
            Rewriter.erase_op(op)


def insert_fifo(value: SSAValue, depth: int) -> FifoOp:
    """A fifo of `depth` beats between `value` and its only consumer."""
    (use,) = value.uses
    fifo = FifoOp.create(operands=[value], result_types=[value.type],
                         properties={"depth": IntegerAttr(depth, i64)})
    Rewriter.insert_op(fifo, InsertPoint.before(use.operation))
    use.operation.operands[use.index] = fifo.output
    return fifo


VECTORS_BUFFERED = 2
"""The most input vectors a neuron-folded MVU's input FIFO holds (see `rate_depths`)."""


def rate_depths(graph: GraphOp, times: dict[SSAValue, Sequence[float]]) -> dict[SSAValue, int]:
    """FIFOs that keep bursty readers at their nominal rate.

    A neuron-folded MVU (N/pe > 1) reads a whole input vector (K/simd beats) in
    the first K/simd cycles of its (N/pe)·(K/simd)-cycle period and none in the
    rest, while its producer emits those beats spread over its own period. With
    only a stream register between them the MVU waits for the producer in every
    period, and the two periods add up instead of overlapping. A FIFO lets the
    producer deliver the next vector while the MVU still folds over the current
    one, so each runs at its own `ii` and the design at the bottleneck's. Its
    depth is the most beats the schedule (`times`, the host at the bottleneck's
    rate) ever holds between the producer's emitting a beat and the MVU's
    reading it, counted as read only when the whole vector is (`_read_times`:
    an upper bound of what the MVU holds back), plus `JOIN_HANDSHAKE_BEATS`;
    at most `VECTORS_BUFFERED` vectors, which always suffice (the producer then
    delivers the next vector and starts the one after while the MVU folds).
    """
    depths: dict[SSAValue, int] = {}
    for op in graph.body.block.ops:
        if not isinstance(op, MVUOp) or op.out_features // op.pe.value.data <= 1:
            continue
        if not isinstance(op.input.owner, Operation):
            continue  # the graph input: the host streams it at full rate
        arrivals = times[op.input]
        held = _most_held(arrivals, _read_times(op, 0, times[op.results[0]], len(arrivals)))
        most = VECTORS_BUFFERED * (op.in_features // op.simd.value.data)
        if held > 1:
            depths[op.input] = min(held + JOIN_HANDSHAKE_BEATS, most)
    return depths


JOIN_HANDSHAKE_BEATS = 2
"""Beats a join input holds beyond the timed occupancy: the FIFO's count register
and the join's output register delay a freed slot's return to the fork."""

TIMED_FRAMES = 4
"""Frames the timed schedule of `timed_depths` runs (the first fills the pipeline)."""


def fluid_schedule(graph: GraphOp) -> dict[SSAValue, Sequence[float]]:
    """The schedule `timed_depths` and `window_depths` read: fractional cycles,
    `TIMED_FRAMES` frames, the host offering input at the bottleneck's rate."""
    design_ii = max(op.nominal_ii() for op in graph.body.block.ops if isinstance(op, PE_OPS))
    return schedule(graph, frames=TIMED_FRAMES, host_period=design_ii, whole_cycles=False)


def timed_depths(graph: GraphOp, times: dict[SSAValue, Sequence[float]] | None = None) -> dict[SSAValue, int]:
    """Beats each join input must hold for the design to run at its bottleneck's ii.

    `join_depths` makes the network deadlock-free, but a join input of exactly
    that depth lets the fork send a beat only when the join has taken one, so
    the long branch's pipeline registers and rate differences (cycles, not
    beats) are paid on every beat and the design runs slower than its ii. Here
    the graph is scheduled in time with unbounded streams, the host offering
    input at the bottleneck's rate (`beats / ii`), every PE emitting at its own
    rate, each output `pipeline_depth()` cycles after the input it needs (the
    scheduler `compiler.schedule`, in fractional cycles over `TIMED_FRAMES` frames). A join input's depth is
    the most beats it ever holds in that schedule (produced, not yet read by the
    join, which reads them as its `need` functions say), plus
    `JOIN_HANDSHAKE_BEATS`. With that capacity no producer of a join input is
    ever held back by it, so the schedule — and the bottleneck's ii — is met."""
    block = graph.body.block
    pes = [op for op in block.ops if isinstance(op, PE_OPS)]
    joins = [op for op in pes if len(op.operands) > 1]
    if not joins:
        return {}
    times = times if times is not None else fluid_schedule(graph)
    depths: dict[SSAValue, int] = {}
    for join in joins:
        out_times = np.asarray(times[join.results[0]])
        tables = need_tables(join, len(out_times))
        for index, value in enumerate(join.operands):
            # +1 when a beat arrives, -1 when the join has read it (beats read for
            # output m leave when m is emitted)
            left = _first_reading_beat(tables[index], len(times[value]))
            highest = _most_held(times[value], np.where(left < len(out_times),
                                                        out_times[np.minimum(left, len(out_times) - 1)], np.inf))
            # A branch that is never early (the long one) holds one beat at most: no FIFO.
            depths[value] = highest + JOIN_HANDSHAKE_BEATS if highest > 1 else highest
    return depths


def _first_reading_beat(need: np.ndarray, beats: int) -> np.ndarray:
    """Per input beat j < `beats`: the output beat (0-based) whose `need` first covers
    it (the reader reads on demand), or len(need) when none does."""
    covered = np.maximum.accumulate(np.minimum(need, beats))
    return np.searchsorted(covered, np.arange(beats), side="right")


PASS_THROUGH = (ResizeOp, ReshapeOp)
"""PEs that pass beats on in order without buffering a window or a vector."""


def _reader(value: SSAValue) -> tuple[Operation, int, float] | None:
    """The PE that really reads `value` (past resizes and reshapes), which of its
    operands the beats arrive on, and the elements of `value` per beat of that operand
    divided by those of `value`'s beats (1 when the lanes match)."""
    lanes = stream_of(value).lanes.data
    while True:
        uses = list(value.uses)
        if len(uses) != 1:
            return None
        op = uses[0].operation
        if not isinstance(op, PE_OPS):
            return None
        if not isinstance(op, PASS_THROUGH):
            return op, uses[0].index, stream_of(op.operands[uses[0].index]).lanes.data / lanes
        value = op.results[0]


def _read_times(op: Operation, index: int, emitted: Sequence[float], beats: int) -> np.ndarray:
    """When PE `op` reads beats 1..`beats` of operand `index`: with the output beat
    that first needs each (it reads on demand), as the schedule runs it."""
    emitted = np.asarray(emitted, np.float64)
    reader = _first_reading_beat(need_tables(op, len(emitted))[index], beats)
    return np.where(reader < len(emitted), emitted[np.minimum(reader, len(emitted) - 1)] - op.pipeline_depth(),
                    np.inf)


def _most_held(arrivals: Sequence[float], departures: Sequence[float]) -> int:
    """The most beats ever between arriving and departing (a departure at the same
    instant as an arrival counts first)."""
    times = np.concatenate([np.asarray(arrivals, np.float64), np.asarray(departures, np.float64)])
    changes = np.concatenate([np.ones(len(arrivals), np.int64), -np.ones(len(departures), np.int64)])
    held = np.cumsum(changes[np.lexsort((changes, times))])
    return int(max(held.max(initial=0), 0))


def window_depths(graph: GraphOp, rate: dict[SSAValue, int],
                  times: dict[SSAValue, Sequence[float]] | None = None) -> dict[SSAValue, int]:
    """FIFOs around sliding-window units, so that the line buffer's back-pressure
    never holds the producer back (when the producer is a PE; the host waits at no
    cost) and the reader never holds the SWU back.

    An SWU accepts input pixel p only when its output side has moved on to a window
    row whose rows leave p a free slot (`SWUOp.input_release`); the output side in
    turn moves at the pace its reader takes the windows (a folded MVU: a window per
    fold period). The producer meanwhile delivers rows at its own pace, so without
    a buffer the two patterns stall each other and both lose cycles that a
    bottleneck near them cannot make up (LeNet-5: 2,332 cycles for 2,000
    predicted). Here the schedule (`compiler.schedule`, the host at the
    bottleneck's rate, `TIMED_FRAMES` frames) gives when the producer emits each
    beat and when the reader reads each window beat. An MVU reader's FIFO holds the
    most window beats the SWU ever emits ahead of the reads (the SWU emits a window
    row at one beat a cycle, then pauses at the frame boundary: the reader must not
    starve in the pause nor hold the SWU back before it), plus
    `JOIN_HANDSHAKE_BEATS`; the SWU may then emit a beat that many beats before it
    is read. The SWU accepts an input beat one a cycle, not before its arrival and
    its release (`compiler.schedule.accept_up_to`); the FIFO before it holds the
    most beats ever produced and not yet accepted, plus `JOIN_HANDSHAKE_BEATS`,
    when that is more than one beat."""
    block = graph.body.block
    swus = [op for op in block.ops if isinstance(op, SWUOp)]
    if not swus:
        return {}
    times = times if times is not None else fluid_schedule(graph)
    depths: dict[SSAValue, int] = {}
    for swu in swus:
        arrivals = times[swu.input]
        held_back = None
        reader = _reader(swu.output)
        if reader is not None and isinstance(reader[0], MVUOp):
            op, index, ratio = reader
            operand = op.operands[index]
            reads = _read_times(op, index, times[op.results[0]], len(times[operand]))
            beat_of = np.ceil((np.arange(len(times[swu.output])) + 1) / ratio).astype(np.int64) - 1
            floor = rate.get(operand, 0)
            depth = _reader_fifo_depth(swu, arrivals, reads, beat_of, floor)
            if depth > floor:
                depths[operand] = depth
            held_back = _held_back(reads, beat_of, max(depth, floor) + STREAM_REGISTERS)
        if isinstance(swu.input.owner, PE_OPS):  # the host waits for the line buffer at no cost
            accepts, _ = timed_beats(swu, [arrivals], TIMED_FRAMES, whole_cycles=False, not_before=held_back)
            highest = _most_held(arrivals[:len(accepts)], accepts)
            if highest > 1:
                depths[swu.input] = highest + JOIN_HANDSHAKE_BEATS
    return depths


TIME_EPSILON = 1e-6
"""Fractional cycles that differ by less than this are the same instant (the fluid
schedule's rates are not exact binary fractions)."""

STREAM_REGISTERS = 2
"""Beats held between an SWU and its reader besides a FIFO: the output registers
of the SWU and of a resize or reshape between them."""


def _held_back(reads: np.ndarray, beat_of: np.ndarray, capacity: int) -> np.ndarray:
    """Per SWU output beat m: the cycle its reader has read the beat `capacity`
    beats before the one holding m (the SWU cannot emit m before there is room)."""
    return np.where(beat_of >= capacity, reads[np.maximum(beat_of - capacity, 0)], -np.inf)


def _reader_fifo_depth(swu: SWUOp, arrivals: Sequence[float], reads: np.ndarray, beat_of: np.ndarray,
                       floor: int) -> int:
    """The smallest FIFO depth (at least `floor`, in the reader's beats) before the
    SWU's reader with which the SWU, held back by the FIFO being full, still emits
    every beat by the time the reader reads it; plus `JOIN_HANDSHAKE_BEATS` when
    more than `floor` is needed."""

    deadline = reads[beat_of] + TIME_EPSILON

    def on_time(depth: int) -> bool:
        held_back = _held_back(reads, beat_of, depth + STREAM_REGISTERS)
        _, emitted = timed_beats(swu, [arrivals], TIMED_FRAMES, whole_cycles=False, not_before=held_back,
                                 deadline=deadline)
        return bool(np.all(emitted <= deadline[:len(emitted)]))

    if on_time(floor):
        return floor
    low, high = floor, max(floor, 1)
    while not on_time(high):
        low, high = high, 2 * high
        if high > len(reads):
            return len(reads) + JOIN_HANDSHAKE_BEATS  # whole frames: the SWU runs free
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if on_time(middle) else (middle, high)
    return high + JOIN_HANDSHAKE_BEATS


def size_fifos(module: ModuleOp) -> None:
    """Size the FIFOs of every `spatial.graph` of `module` in place."""
    for graph in [op for op in module.walk() if isinstance(op, GraphOp)]:
        remove_fifos(graph)
        block = graph.body.block
        needs_schedule = any(isinstance(op, (SWUOp, MVUOp)) or (isinstance(op, PE_OPS) and len(op.operands) > 1)
                             for op in block.ops)
        times = fluid_schedule(graph) if needs_schedule else None
        depths = rate_depths(graph, times) if times is not None else {}
        for value, depth in window_depths(graph, depths, times).items():
            depths[value] = max(depth, depths.get(value, 0))
        timed = timed_depths(graph, times)
        del times
        start = {value: max(depth, depths.get(value, 0)) for value, depth in timed.items()}
        depths.update(join_depths(graph, start))
        for value, depth in depths.items():
            if depth > 1:
                insert_fifo(value, depth)


class SizeFifosPass(ModulePass):
    """Insert and size the FIFOs that keep re-joining branches from deadlocking."""

    name = "size-fifos"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        size_fifos(op)
        op.verify()
