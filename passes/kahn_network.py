"""The untimed network `size-fifos` runs to find the join inputs' minimal depths
(the argument is in `passes/size_fifos.py`'s docstring): PEs as Kahn processes
that read what their next output beat needs and emit when their outputs have
room, join inputs unbounded, a beat raising a join input's high-water mark only
when no other beat can move. A process moves as many beats per visit as its
inputs and output room allow, counting as room the beats its readers take as they
arrive, and those a fork takes to pass on at once (`room`); a chain of
one-input PEs joined by one-beat streams (the last may be a fork) is one process
(`merge_chains`), so that beats do not cross it one visit at a time.

The search may start from given depths (`join_depths(graph, start)`: size-fifos
gives the depths the timed schedule needs): join inputs then hold that many beats
from the start and grow past them only where the network still deadlocks. With
the timed depths, which are usually enough, the network runs through in one
settle instead of growing each join input one beat (and one cascade through
every fork upstream of it) at a time.

Requires: a folded `spatial.graph` (its PEs' `needs()` final), no `spatial.fifo`.
Guarantees: `join_depths` is, for every join input, the larger of its starting
depth (1 without one) and its high-water mark at the end of `FRAMES` frames:
depths with which the network completes, hence never deadlocks; a graph that
deadlocks whatever the depths is a one-line error.
"""

from __future__ import annotations

import bisect
from array import array
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
    reader_index: int = 0
    """Which of `reader`'s inputs this channel is."""

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
    ahead: list[np.ndarray] | None = None
    """Per input, the beats read once e output beats are out, e = 0..limit, as far as
    they have arrived: a PE reads what its next beat needs (`needs`); a chain of PEs
    reads further (`chain_process`)."""
    produced: int = 0
    consumed: list[int] = field(default_factory=list)

    forwards: bool = False
    """A fork (or any one-input PE that passes each beat on): output beat m needs input beat m."""

    def __post_init__(self) -> None:
        self.consumed = [0] * len(self.inputs)
        self.forwards = (len(self.inputs) == 1 and bool(self.outputs) and self.ahead is None
                         and np.array_equal(np.asarray(self.needs[0])[:self.limit], np.arange(1, self.limit + 1)))
        # Python-level int arrays: fast to index and to bisect beat by beat
        same = self.ahead is None
        self.needs = [array("q", np.asarray(table, np.int64).tobytes()) for table in self.needs]
        self.ahead = self.needs if same else [array("q", np.asarray(t, np.int64).tobytes()) for t in self.ahead]

    def wanted(self, i: int) -> int:
        """Beats of input `i` read before the next output beat (a sink: all of them)."""
        return self.needs[i][self.produced] if self.outputs else self.limit

    def target(self, i: int) -> int:
        """Beats of input `i` this process reads, as far as they arrive, before it
        emits again (a sink: all of them)."""
        return self.ahead[i][self.produced] if self.outputs else self.limit

    def advance(self) -> tuple[list[Channel], bool, list[Process]]:
        """Emit as many beats as inputs and output room allow, one at a time as a
        process does, then read what the next output beat needs as far as it has
        arrived; the channels read from, whether it emitted, and the processes
        further down that received beats. (All of it at once: while it moves, its
        inputs only fill and its outputs only empty elsewhere.) An output's room
        counts the beats its reader takes as they arrive and a fork passes on
        (`room`), which they take at once (`deliver`): what alternating visits do."""
        produced = self.produced
        touched: list[Process] = []
        arrived = [consumed + channel.written - channel.read for consumed, channel in zip(self.consumed, self.inputs)]
        emitted = 0
        if self.outputs:
            emitted = self.limit - produced
            for channel in self.outputs:
                emitted = min(emitted, room(channel))
            for need, total in zip(self.needs, arrived):
                if emitted <= 0 or need[produced] > total:
                    emitted = 0
                    break
                emitted = bisect.bisect_right(need, total, produced, produced + emitted) - produced
            self.produced = produced + emitted
            if emitted > 0:
                for channel in self.outputs:
                    channel.written += emitted
                    touched += deliver(channel)
            produced = self.produced
        freed = []
        for i, channel in enumerate(self.inputs):
            take = min(self.target(i), arrived[i]) - self.consumed[i]
            if take > 0:
                channel.read += take
                self.consumed[i] += take
                freed.append(channel)
        return freed, emitted > 0, touched

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


def room(channel: Channel) -> int:
    """Beats the writer of `channel` may emit now: its free places, plus the beats its
    reader would take from it as they arrive without emitting first, or, for a
    fork, pass on as far as its own outputs have room (and read one ahead)."""
    free = channel.capacity - channel.held
    reader = channel.reader
    if reader is None:
        return free
    i = channel.reader_index
    if reader.forwards:
        passed = reader.limit - reader.produced
        for output in reader.outputs:
            passed = min(passed, room(output))
        wanted = reader.ahead[0][reader.produced + max(0, passed)] - reader.consumed[0] - channel.held
    else:
        wanted = reader.target(i) - reader.consumed[i] - channel.held
    return free + max(0, wanted)


def deliver(channel: Channel) -> list[Process]:
    """The reader of `channel` takes the beats it reads as they arrive; a fork also
    passes them on (`room`). The processes to visit again: those that received beats
    on the way, and the writer when the fork made room in `channel`."""
    reader = channel.reader
    if reader is None:
        return []
    if reader.forwards:
        read, emitted, touched = reader.advance()
        if read:  # room again for the writer, which is moving now: visit it again
            touched = touched + [channel.writer]
        return touched + [output.reader for output in reader.outputs] if emitted else touched
    i = channel.reader_index
    take = min(reader.target(i), reader.consumed[i] + channel.held) - reader.consumed[i]
    if take > 0:
        channel.read += take
        reader.consumed[i] += take
    return []


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
            read, emitted, further = process.advance()
            touched = [channel.writer for channel in read] + further
            if emitted:
                touched += [channel.reader for channel in process.outputs]
            for other in touched:
                if other is not None and other not in waiting:
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


def build_network(graph: GraphOp, start: dict[SSAValue, int] | None = None) -> Network:
    """The untimed network of `graph`: join inputs unbounded, their capacity starting
    at `start`'s depth (at least 1)."""
    block = graph.body.block
    start = start or {}
    channels: dict[SSAValue, Channel] = {}
    joins: dict[SSAValue, Channel] = {}
    for op in block.ops:
        if isinstance(op, PE_OPS) and len(op.operands) > 1:
            for value in op.operands:
                joins[value] = Channel(capacity=max(1, start.get(value, 1)), unbounded=True)
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
        for index, stream in enumerate(process.inputs):
            stream.reader, stream.reader_index = process, index
        for stream in process.outputs:
            stream.writer = process
    # Downstream first, so that beats drain before new ones enter.
    return Network(merge_chains(processes)[::-1], joins)


def _is_link(process: Process) -> bool:
    """A one-input PE whose only output is a plain stream to a PE with that one input."""
    if len(process.inputs) != 1 or len(process.outputs) != 1 or process.outputs[0].unbounded:
        return False
    reader = process.outputs[0].reader
    return reader is not None and len(reader.inputs) == 1 and bool(reader.outputs)


def merge_chains(processes: list[Process]) -> list[Process]:
    """`processes` (in graph order) with every chain of one-input PEs joined by plain
    streams, each but the last with one output (the last may be a fork), replaced by one process
    (`chain_process`), placed where the chain's last PE was. The untimed network's
    settled states, seen from the other processes, do not change: a chain only
    moves beats through one-beat streams, which is what made the network move one
    beat per visit."""
    heads = [p for p in processes if _is_link(p) and not (p.inputs[0].writer and _is_link(p.inputs[0].writer))]
    replaced: dict[Process, Process | None] = {}
    for head in heads:
        chain = [head]
        while _is_link(chain[-1]):
            chain.append(chain[-1].outputs[0].reader)
        merged = chain_process(chain)
        replaced.update({stage: None for stage in chain[:-1]})
        replaced[chain[-1]] = merged
    return [replaced.get(p, p) for p in processes if replaced.get(p, p) is not None]


def _at(table: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """need(x) for the counts x (need(0) = 0; past the table's end, its last entry)."""
    return np.where(beats > 0, table[np.clip(beats, 1, len(table)) - 1], 0)


def chain_process(chain: list[Process]) -> Process:
    """One process that behaves as the chain P1 → … → Pk of one-input processes
    seen from outside (Pk may have several outputs, the others have one): output
    beat m needs N(m) = need1(need2(…needk(m))) input beats, and with e beats out
    it has read (as far as they arrived) R(e): Pk
    reads needk(e + 1), and each P_j before it has emitted one beat more than
    P_j+1 read (the stream between them holds one) and reads what its next beat needs."""
    last = chain[-1]
    need = np.frombuffer(last.needs[0], np.int64)
    read = need[:last.limit + 1]
    for stage in reversed(chain[:-1]):
        table = np.frombuffer(stage.needs[0], np.int64)
        need = _at(table, need)
        read = table[np.minimum(read + 1, stage.limit)]
    merged = Process([chain[0].inputs[0]], list(last.outputs), [need], last.limit, ahead=[read])
    merged.inputs[0].reader = merged
    for channel in merged.outputs:
        channel.writer = merged
    return merged


def join_depths(graph: GraphOp, start: dict[SSAValue, int] | None = None) -> dict[SSAValue, int]:
    """The beats each join input must hold for `graph` never to deadlock, at least its
    `start` depth (see the docstring)."""
    network = build_network(graph, start)
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
