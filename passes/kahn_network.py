"""The untimed network `size-fifos` runs to find the join inputs' minimal depths
(the argument is in `passes/size_fifos.py`'s docstring): PEs as Kahn processes
that read what their next output beat needs and emit when their outputs have
room, join inputs unbounded, a beat raising a join input's high-water mark only
when no other beat can move.

Requires: a folded `spatial.graph` (its PEs' `needs()` final), no `spatial.fifo`.
Guarantees: `join_depths` is the high-water mark of every join input at the end
of `FRAMES` frames; a graph that deadlocks whatever the depths is a one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.ir import SSAValue

from compiler.errors import HwcError
from compiler.schedule import need_tables
from dialects.spatial import PE_OPS, GraphOp, YieldOp, stream_of

FRAMES = 3
"""Frames the untimed execution runs."""


def _beats(value: SSAValue) -> int:
    return stream_of(value).beats


@dataclass(eq=False)
class Channel:
    """A stream: beats written and read so far, how many it may hold, and the
    processes at its two ends (set by `build_network`)."""

    capacity: int = 1
    written: int = 0
    read: int = 0
    unbounded: bool = False
    writer: Process | None = None
    reader: Process | None = None

    @property
    def held(self) -> int:
        return self.written - self.read


@dataclass(eq=False)
class Process:
    """A PE (or the graph's source / sinks) in the untimed network."""

    inputs: list[Channel]
    outputs: list[Channel]
    needs: list[np.ndarray]
    """Per input, `need(m)` for m = 1..limit + 1 (running maximum; a sink: unused)."""
    limit: int
    """Output beats to produce in total (inputs: FRAMES frames; sinks read all)."""
    produced: int = 0
    consumed: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.consumed = [0] * len(self.inputs)

    def wanted(self, i: int) -> int:
        """Beats of input `i` read before the next output beat (a sink: all of them)."""
        return int(self.needs[i][self.produced]) if self.outputs else self.limit

    def advance(self) -> tuple[list[Channel], bool]:
        """Emit as many beats as inputs and output room allow, one at a time as a
        process does, then read what the next output beat needs as far as it has
        arrived; the channels read from, and whether it emitted. (All of it at once:
        while it moves, its inputs only fill and its outputs only empty elsewhere.)"""
        arrived = [consumed + channel.held for consumed, channel in zip(self.consumed, self.inputs)]
        emitted = 0
        if self.outputs:
            emitted = min([self.limit - self.produced] + [c.capacity - c.held for c in self.outputs]
                          + [int(np.searchsorted(need, total, side="right")) - self.produced
                             for need, total in zip(self.needs, arrived)])
            emitted = max(emitted, 0)
            for channel in self.outputs:
                channel.written += emitted
            self.produced += emitted
        freed = []
        for i, channel in enumerate(self.inputs):
            take = min(self.wanted(i), arrived[i]) - self.consumed[i]
            if take > 0:
                channel.read += take
                self.consumed[i] += take
                freed.append(channel)
        return freed, emitted > 0

    def can_emit(self, may_grow: bool) -> bool:
        """The next output beat's inputs are read and every output has room (with
        `may_grow`, a full join input counts as having room)."""
        if not self.outputs or self.produced >= self.limit:
            return False
        if any(self.consumed[i] < self.wanted(i) for i in range(len(self.inputs))):
            return False
        return all(channel.held < channel.capacity or (may_grow and channel.unbounded)
                   for channel in self.outputs)

    def emit(self) -> None:
        """One output beat on every output (a full join input grows by one)."""
        for channel in self.outputs:
            if channel.held >= channel.capacity:
                channel.capacity += 1
            channel.written += 1
        self.produced += 1


@dataclass
class Network:
    """The untimed network. Its state once no beat can move is the same whatever
    the order in which the processes moved (a Kahn network), so `settle` moves
    them from a work list: only a process whose input gained a beat or whose
    output lost one can have become able to move."""

    processes: list[Process]
    """Downstream first: `grow` takes the first process in this order that can move."""
    joins: dict[SSAValue, Channel]

    def settle(self, woken: list[Process]) -> None:
        """Move beats, without raising a high-water mark, until none can move."""
        pending, waiting = list(woken), set(woken)
        while pending:
            process = pending.pop()
            waiting.discard(process)
            read, emitted = process.advance()
            touched = [channel.writer for channel in read]
            if emitted:
                touched += [channel.reader for channel in process.outputs]
            for other in touched:
                if other is not None and other is not process and other not in waiting:
                    waiting.add(other)
                    pending.append(other)

    def grow(self, growers: list[Process]) -> Process | None:
        """In a settled network: the first of `growers` (processes in `processes`
        order that write a join input) that can emit if a join input grows, after
        it has emitted that one beat; None when there is none."""
        for process in growers:
            if process.can_emit(may_grow=True):
                process.emit()
                return process
        return None


def build_network(graph: GraphOp) -> Network:
    """The untimed network of `graph`: join inputs unbounded (capacity starts at 1)."""
    block = graph.body.block
    channels: dict[SSAValue, Channel] = {}
    joins: dict[SSAValue, Channel] = {}
    for op in block.ops:
        if isinstance(op, PE_OPS) and len(op.operands) > 1:
            for value in op.operands:
                joins[value] = Channel(unbounded=True)
    channel = lambda v: channels.setdefault(v, joins.get(v) or Channel())  # noqa: E731
    processes: list[Process] = []
    for arg in block.args:
        processes.append(Process([], [channel(arg)], [], FRAMES * _beats(arg)))
    for op in block.ops:
        if isinstance(op, YieldOp):
            for value in op.operands:
                processes.append(Process([channel(value)], [], [], FRAMES * _beats(value)))
        elif isinstance(op, PE_OPS):
            limit = FRAMES * _beats(op.results[0])
            needs = [np.maximum.accumulate(table) for table in need_tables(op, limit + 1)]
            processes.append(Process([channel(v) for v in op.operands],
                                     [channel(r) for r in op.results], needs, limit))
        else:
            raise HwcError(f"size-fifos: unexpected {op.name} in a spatial.graph")
    for process in processes:
        for stream in process.inputs:
            stream.reader = process
        for stream in process.outputs:
            stream.writer = process
    # Downstream first, so that beats drain before new ones enter.
    return Network(processes[::-1], joins)


def join_depths(graph: GraphOp) -> dict[SSAValue, int]:
    """The beats each join input must hold for `graph` never to deadlock (see the docstring)."""
    network = build_network(graph)
    if not network.joins:
        return {}
    growers = [p for p in network.processes if any(channel.unbounded for channel in p.outputs)]
    network.settle(network.processes)
    while (grown := network.grow(growers)) is not None:
        network.settle([grown, *(channel.reader for channel in grown.outputs)])
    sinks = [p for p in network.processes if not p.outputs]
    if any(sink.consumed[0] < sink.limit for sink in sinks):
        raise HwcError(f"size-fifos: graph @{graph.sym_name.data} deadlocks whatever the FIFO depths")
    return {value: channel.capacity for value, channel in network.joins.items()}
