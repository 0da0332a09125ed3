"""size-fifos: the computed depth runs, one beat less deadlocks, in a timed beat-level
simulation written here independently of the pass (its own PE models and scheduler)."""

from __future__ import annotations

import math

import pytest

from compiler.ir import parse_module
from dialects.spatial import DupOp, EltwiseOp, FifoOp, GraphOp, MVUOp, ResizeOp, SWUOp, stream_of
from passes.fold_parallelism import fold
from passes.size_fifos import JOIN_HANDSHAKE_BEATS, join_depths, size_fifos

RESIDUAL = """
builtin.module {
  rom.rom @conv_weight : tensor<2x18xi8> = dense<1> : tensor<2x18xi8>
  rom.rom @conv_multiplier : tensor<2xi16> = dense<1> : tensor<2xi16>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<HxWx2xi8, 1>):
    %d:2 = spatial.dup %x {layer = "dup"} : (!spatial.stream<HxWx2xi8, 1>) -> (!spatial.stream<HxWx2xi8, 1>, !spatial.stream<HxWx2xi8, 1>)
    %w = spatial.swu %d#0 {layer = "conv.swu", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, pad_value = 0 : i64} : (!spatial.stream<HxWx2xi8, 1>) -> !spatial.stream<HxWx18xi8, 1>
    %c = spatial.mvu %w {layer = "conv", weights = @conv_weight, multiplier = @conv_multiplier, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<HxWx18xi8, 1>) -> !spatial.stream<HxWx2xi8, 1>
    %y = spatial.eltwise %c, %d#1 {layer = "add", kind = "add", lhs_scale = 1 : i64, rhs_scale = 1 : i64, multiplier = 1 : i64, shift = 0 : i64, lo = -127 : i64, hi = 127 : i64} : (!spatial.stream<HxWx2xi8, 1>, !spatial.stream<HxWx2xi8, 1>) -> !spatial.stream<HxWx2xi8, 1>
    spatial.yield %y : !spatial.stream<HxWx2xi8, 1>
  }
}
"""

FRAMES = 2


def residual(h: int, w: int):
    return parse_module(RESIDUAL.replace("HxW", f"{h}x{w}"))


# --------------------------------------------------------------------------- an independent simulator


def window_needs(op: SWUOp) -> list[int]:
    """Per output window: input beats up to the last real pixel it covers (enumerated)."""
    h, w, c = stream_of(op.input).frame
    kh, kw = op.kernel.get_values()
    sh, sw = op.strides.get_values()
    top, left = op.pads.get_values()[:2]
    dh, dw = op.dilations.get_values()
    oh, ow = stream_of(op.output).frame[:2]
    needs, highest = [], 0
    for y in range(oh):
        for x in range(ow):
            pixels = [r * w + q for i in range(kh) for j in range(kw)
                      if 0 <= (r := y * sh - top + i * dh) < h and 0 <= (q := x * sw - left + j * dw) < w]
            highest = max(highest, (max(pixels) + 1) * (c // stream_of(op.input).lanes.data))
            needs.append(highest)
    return needs


def frame_need(op, operand_index: int):
    """Input beats of operand `operand_index` read before output beat m (1-based) of a frame."""
    out = stream_of(op.results[0])
    if isinstance(op, MVUOp):
        per_in, per_out = op.in_features // op.simd.value.data, op.out_features // op.pe.value.data
        return lambda m: math.ceil(m / per_out) * per_in
    if isinstance(op, SWUOp):
        needs, per_window = window_needs(op), out.frame[-1] // out.lanes.data
        return lambda m: needs[(m - 1) // per_window]
    lanes_in = stream_of(op.operands[operand_index]).lanes.data
    return lambda m: math.ceil(m * out.lanes.data / lanes_in)


class Sim:
    """Cycle by cycle: a stream holds one beat, a fifo `depth` beats; a PE reads at most one
    beat per input per cycle when its next output needs it and emits one output beat at most
    every ceil(ii / output beats) cycles; a dup emits to all outputs at once."""

    def __init__(self, module):
        graph = next(op for op in module.walk() if op.name == "spatial.graph")
        self.block = graph.body.block
        self.held: dict = {}
        self.capacity: dict = {}
        self.nodes = []
        for op in self.block.ops:
            if isinstance(op, FifoOp):
                # The fifo and the stream into it are one channel of `depth` beats.
                self.alias(op.output, op.input, op.depth.value.data)
        for op in self.block.ops:
            if op.name in ("spatial.yield",) or isinstance(op, FifoOp):
                continue
            beats_out = stream_of(op.results[0]).beats
            self.nodes.append({
                "op": op, "ins": [self.key(v) for v in op.operands], "outs": [self.key(r) for r in op.results],
                "needs": [frame_need(op, i) for i in range(len(op.operands))],
                "in_beats": [stream_of(v).beats for v in op.operands], "out_beats": beats_out,
                "pace": max(1, -(-op.ii.value.data // beats_out)), "made": 0, "read": [0] * len(op.operands),
                "ready_at": 0,
            })
        self.source = self.key(self.block.args[0])
        self.sink = self.key(self.block.last_op.operands[0])
        self.total_in = FRAMES * stream_of(self.block.args[0]).beats
        self.total_out = FRAMES * stream_of(self.block.last_op.operands[0]).beats
        self.fed = self.drained = 0

    def alias(self, value, into, depth):
        self._aliases = getattr(self, "_aliases", {})
        self._aliases[value] = into
        self.capacity[into] = depth

    def key(self, value):
        value = getattr(self, "_aliases", {}).get(value, value)
        self.held.setdefault(value, 0)
        self.capacity.setdefault(value, 1)
        return value

    def need(self, node, i, m):
        frame, within = divmod(m - 1, node["out_beats"])
        return frame * node["in_beats"][i] + node["needs"][i](within + 1)

    def cycle(self, now) -> bool:
        moved = False
        if self.held[self.sink] and self.drained < self.total_out:
            self.held[self.sink] -= 1
            self.drained += 1
            moved = True
        for node in reversed(self.nodes):
            if node["made"] >= FRAMES * node["out_beats"]:
                continue
            goal = node["made"] + 1
            for i, channel in enumerate(node["ins"]):
                if node["read"][i] < self.need(node, i, goal) and self.held[channel]:
                    self.held[channel] -= 1
                    node["read"][i] += 1
                    moved = True
            ready = all(node["read"][i] >= self.need(node, i, goal) for i in range(len(node["ins"])))
            room = all(self.held[c] < self.capacity[c] for c in node["outs"])
            if ready and room and now >= node["ready_at"]:
                for c in node["outs"]:
                    self.held[c] += 1
                node["made"] += 1
                node["ready_at"] = now + node["pace"]
                moved = True
        if self.fed < self.total_in and self.held[self.source] < self.capacity[self.source]:
            self.held[self.source] += 1
            self.fed += 1
            moved = True
        return moved

    def run(self) -> tuple[bool, int]:
        """(completed, cycles): False when nothing moved for longer than any pace."""
        idle, now = 0, 0
        patience = max(n["pace"] for n in self.nodes) + 2
        while self.drained < self.total_out:
            idle = 0 if self.cycle(now) else idle + 1
            if idle > patience:
                return False, now
            now += 1
        return True, now


def with_depth(module, depth: int):
    """A copy of `module` whose join fifo has `depth` (no fifo when depth ≤ 1)."""
    copy = module.clone()
    (fifo,) = join_fifos(copy)
    if depth <= 1:
        fifo.output.replace_all_uses_with(fifo.input)
        fifo.detach()
        fifo.erase()
    else:
        fifo.properties["depth"] = type(fifo.depth)(depth, fifo.depth.type)
    return copy


@pytest.mark.parametrize("h, w", [(4, 4), (5, 3), (3, 6)])
@pytest.mark.parametrize("folding", [{"mode": "min"}, {"mode": "full"}, {"max_multipliers": 6},
                                     {"max_multipliers": 12}])
def test_computed_depth_runs_and_one_less_deadlocks(h, w, folding):
    module = residual(h, w)
    fold(module, **folding)
    (graph,) = [op for op in module.walk() if isinstance(op, GraphOp)]
    minimum = max(join_depths(graph).values())
    size_fifos(module)
    module.verify()
    fifos = join_fifos(module)
    assert len(fifos) == 1
    (fifo,) = fifos
    # The fifo sits on the skip path, right before the join.
    assert isinstance(fifo.input.owner, DupOp) or isinstance(fifo.input.owner, ResizeOp)
    assert isinstance(next(iter(fifo.output.uses)).operation, EltwiseOp)
    # size-fifos adds throughput slack (timed_depths) on top of the deadlock-free
    # minimum (join_depths): the minimum runs, one less deadlocks.
    assert fifo.depth.value.data >= minimum
    assert Sim(with_depth(module, minimum)).run()[0], f"depth {minimum} deadlocks"
    assert not Sim(with_depth(module, minimum - 1)).run()[0], f"depth {minimum - 1} still runs"


def test_depth_grows_with_the_line_buffer():
    # At lanes 1 the first output needs pixels up to (1, 1): (W + 2)·C beats from the dup;
    # the skip path holds all but the one the eltwise has taken.
    depths = []
    for w in (4, 8, 16):
        module = residual(4, w)
        fold(module, mode="min")
        (graph,) = [op for op in module.walk() if isinstance(op, GraphOp)]
        depths.append(max(join_depths(graph).values()))
    assert depths == [(w + 2) * 2 - 1 for w in (4, 8, 16)]


def test_chain_without_joins_gets_no_fifo():
    module = parse_module("""
builtin.module {
  rom.rom @w : tensor<4x8xi8> = dense<1> : tensor<4x8xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<8xi8, 1>):
    %y = spatial.mvu %x {layer = "fc", weights = @w, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<8xi8, 1>) -> !spatial.stream<4xi32, 1>
    spatial.yield %y : !spatial.stream<4xi32, 1>
  }
}""")
    fold(module, mode="min")
    size_fifos(module)
    assert not [op for op in module.walk() if isinstance(op, FifoOp)]


def test_rerun_replaces_the_fifos():
    module = residual(4, 4)
    fold(module, mode="min")
    size_fifos(module)
    before = [(f.depth.value.data, str(f.output.type)) for f in module.walk() if isinstance(f, FifoOp)]
    size_fifos(module)
    after = [(f.depth.value.data, str(f.output.type)) for f in module.walk() if isinstance(f, FifoOp)]
    assert after == before and len(join_fifos(module)) == 1


def join_fifos(module) -> list[FifoOp]:
    """The FIFOs that feed a join (the residual eltwise)."""
    return [op for op in module.walk() if isinstance(op, FifoOp)
            and isinstance(next(iter(op.output.uses)).operation, EltwiseOp)]


def test_a_neuron_folded_mvu_buffers_what_its_schedule_holds():
    """Rate FIFO: an MVU with N/pe > 1 fed by another PE gets the beats the schedule
    holds before it reads a vector, plus the handshake's; one fed by the graph input,
    or not neuron-folded, gets none."""
    module = parse_module("""
builtin.module {
  rom.rom @w1 : tensor<8x8xi8> = dense<1> : tensor<8x8xi8>
  rom.rom @w2 : tensor<4x8xi8> = dense<1> : tensor<4x8xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<8xi8, 1>):
    %h = spatial.mvu %x {layer = "fc1", weights = @w1, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<8xi8, 1>) -> !spatial.stream<8xi8, 1>
    %y = spatial.mvu %h {layer = "fc2", weights = @w2, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<8xi8, 1>) -> !spatial.stream<4xi32, 1>
    spatial.yield %y : !spatial.stream<4xi32, 1>
  }
}""")
    fold(module, mode="min")
    size_fifos(module)
    fifos = [op for op in module.walk() if isinstance(op, FifoOp)]
    assert len(fifos) == 1
    (fifo,) = fifos
    consumer = next(iter(fifo.output.uses)).operation
    assert isinstance(consumer, MVUOp) and consumer.layer.data == "fc2"
    # fc2 at min folding: simd 1, so 8 beats per input vector. fc1 (64 cycles a vector,
    # the bottleneck) emits a beat every 8 cycles; the schedule counts a vector read
    # when its last beat arrives, so 7 beats wait at most: 7 + the handshake's 2, not
    # the two vectors (16) that are the bound.
    assert consumer.simd.value.data == 1 and fifo.depth.value.data == 7 + JOIN_HANDSHAKE_BEATS


@pytest.mark.parametrize("h, w", [(4, 4), (5, 3)])
@pytest.mark.parametrize("folding", [{"mode": "min"}, {"mode": "full"}, {"max_multipliers": 6}])
def test_chains_as_one_process_keep_the_depths(h, w, folding, monkeypatch):
    """The untimed network with its SWU → MVU chain as one process (`merge_chains`)
    settles where the network of single PEs does: the same join depths."""
    from passes import kahn_network

    module = residual(h, w)
    fold(module, **folding)
    (graph,) = [op for op in module.walk() if isinstance(op, GraphOp)]
    merged = join_depths(graph)
    assert len(kahn_network.build_network(graph).processes) < len(list(graph.body.block.ops)) + 1
    monkeypatch.setattr(kahn_network, "merge_chains", lambda processes: processes)
    assert join_depths(graph) == merged


TWO_BLOCKS = RESIDUAL.replace("""    spatial.yield %y""", """    %e:2 = spatial.dup %y {layer = "dup2"} : (!spatial.stream<HxWx2xi8, 1>) -> (!spatial.stream<HxWx2xi8, 1>, !spatial.stream<HxWx2xi8, 1>)
    %w2 = spatial.swu %e#0 {layer = "conv2.swu", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, pad_value = 0 : i64} : (!spatial.stream<HxWx2xi8, 1>) -> !spatial.stream<HxWx18xi8, 1>
    %c2 = spatial.mvu %w2 {layer = "conv2", weights = @conv_weight, multiplier = @conv_multiplier, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<HxWx18xi8, 1>) -> !spatial.stream<HxWx2xi8, 1>
    %y2 = spatial.eltwise %c2, %e#1 {layer = "add2", kind = "add", lhs_scale = 1 : i64, rhs_scale = 1 : i64, multiplier = 1 : i64, shift = 0 : i64, lo = -127 : i64, hi = 127 : i64} : (!spatial.stream<HxWx2xi8, 1>, !spatial.stream<HxWx2xi8, 1>) -> !spatial.stream<HxWx2xi8, 1>
    spatial.yield %y2""")


@pytest.mark.parametrize("text", [RESIDUAL, TWO_BLOCKS], ids=["one block", "two blocks"])
@pytest.mark.parametrize("h, w", [(4, 4), (5, 3)])
@pytest.mark.parametrize("folding", [{"mode": "min"}, {"mode": "full"}, {"max_multipliers": 6}])
def test_beats_taken_on_arrival_keep_the_depths(text, h, w, folding, monkeypatch):
    """Readers taking beats as they arrive and forks passing them on within the
    writer's visit (`room`, `deliver`) settle where the network moving beats only in
    each process's own visit does: the same join depths."""
    from passes import kahn_network

    module = parse_module(text.replace("HxW", f"{h}x{w}"))
    fold(module, **folding)
    (graph,) = [op for op in module.walk() if isinstance(op, GraphOp)]
    at_once = join_depths(graph)
    monkeypatch.setattr(kahn_network, "merge_chains", lambda processes: processes)
    unmerged = join_depths(graph)
    monkeypatch.setattr(kahn_network, "room", lambda channel: channel.capacity - channel.held)
    monkeypatch.setattr(kahn_network, "deliver", lambda channel: [])
    assert join_depths(graph) == at_once == unmerged


def test_search_from_given_depths():
    """Starting depths are kept where they suffice and raised where the network would
    still deadlock; starting from one beat is the plain search."""
    module = parse_module(TWO_BLOCKS.replace("HxW", "4x6"))
    fold(module, mode="min")
    (graph,) = [op for op in module.walk() if isinstance(op, GraphOp)]
    minimum = join_depths(graph)
    assert join_depths(graph, {value: 1 for value in minimum}) == minimum
    roomy = {value: depth + 5 for value, depth in minimum.items()}
    assert join_depths(graph, roomy) == roomy
    short = {value: max(1, depth // 2) for value, depth in minimum.items()}
    raised = join_depths(graph, short)
    assert all(raised[value] >= short[value] for value in short)
    assert raised != short  # half the minimum deadlocks somewhere: the search raised it
