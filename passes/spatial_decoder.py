"""How a decoder's step graph becomes a `spatial.graph`: MVUs for its hardwired
matrix-vector products and a `spatial.vector` unit for each stage of glue between
them (`dialects/spatial/vector.py`), the K/V caches as the units' state.

Used by `map-to-spatial` when the module has a step graph (`func.func @step`,
written by `sequence-to-stream`): the chip is the step graph, one token a frame.

The partition:

* a *matrix op* is an `nn.dense` / `nn.group_dense` with a constant weight; with
  the `nn.requant` that is its only use (per tensor, or per channel along the
  last axis) it becomes one MVU;
* every other op gets a *stage*: the most matrix ops on a path from a graph input
  to it. The glue ops of one stage that share values form one vector unit; units
  of different stages are joined by streams (a residual from stage 0 to stage 2,
  the position to every attention unit), so the graph stays acyclic;
* constants (`rom.read`, `nn.weight`, `nn.constant`) are copied into every unit
  that reads them; a cache (`cache.N` input) lives in the unit that writes it, the
  step graph's `cache.N` output being that unit's next state.

Every stream holds its nn value flattened in row-major order (an MVU's vector is
the last axis; every other axis of its input is 1).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, StringAttr, SymbolRefAttr, i64
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from compiler.errors import HwcError
from compiler.executor.host import port_names
from compiler.ir import is_constant
from dialects import nn, spatial
from dialects.nn.state import CACHE_PREFIX
from dialects.rom import ReadOp
from dialects.stream_layout import Layout
from passes.spatial_handlers import grouped_weights
from passes.spatial_mapper import GraphMapper, Stream, element_width, per_sample, stream_type
from passes.weights_to_rom import sanitize


def flat_layout(value: SSAValue) -> Layout:
    """A value's elements in nn row-major order, as one flat frame."""
    shape = per_sample(value) or (1,)
    return Layout(tuple(shape), tuple(range(len(shape))), (int(np.prod(shape)),))


def is_matrix_op(op: Operation) -> bool:
    return isinstance(op, nn.DenseOp | nn.GroupDenseOp) and isinstance(op.weight.owner, ReadOp)


def fused_requant(op: Operation) -> nn.RequantOp | None:
    """The requant a matrix op's MVU takes: its result's only use, per tensor or per
    channel along the last axis."""
    uses = list(op.results[0].uses)
    if len(uses) != 1 or not isinstance(requant := uses[0].operation, nn.RequantOp):
        return None
    per_tensor = nn.shape_of(requant.multiplier) == (1,)
    if not per_tensor and requant.axis.value.data != len(nn.shape_of(requant.input)) - 1:
        return None
    return requant


# --------------------------------------------------------------------------- partition


@dataclass
class Unit:
    """An MVU (`matrix`) or a vector unit (`ops`, in program order)."""

    ops: list[Operation]
    matrix: Operation | None = None
    requant: nn.RequantOp | None = None
    first: int = 0
    """Program index of its first op (the tie-break of the emission order)."""

    @property
    def results(self) -> list[SSAValue]:
        if self.matrix is not None:
            return [(self.requant or self.matrix).results[0]]
        return [r for op in self.ops for r in op.results]


@dataclass
class Partition:
    units: list[Unit] = field(default_factory=list)
    unit_of: dict[SSAValue, Unit] = field(default_factory=dict)


def partition(function: FuncOp, state: set[SSAValue]) -> Partition:
    """The step graph's ops as MVUs and vector units (module doc), in a valid order."""
    block = function.body.block
    stage: dict[SSAValue, int] = {arg: 0 for arg in block.args}
    parent: dict[Operation, Operation] = {}

    def root(op: Operation) -> Operation:
        while parent[op] is not op:
            parent[op] = parent[parent[op]]
            op = parent[op]
        return op

    matrix_units: list[Unit] = []
    absorbed: set[Operation] = set()
    glue: list[Operation] = []
    index = {op: i for i, op in enumerate(block.ops)}
    for op in block.ops:
        if isinstance(op, ReturnOp) or is_constant(op) or op in absorbed:
            continue
        level = max((stage[v] for v in op.operands if v in stage and v not in state), default=0)
        if is_matrix_op(op):
            requant = fused_requant(op)
            matrix_units.append(Unit([], op, requant, index[op]))
            for result in (op.results[0], *(requant.results if requant else ())):
                stage[result] = level + 1
            if requant is not None:
                absorbed.add(requant)
            continue
        for result in op.results:
            stage[result] = level
        parent[op] = op
        glue.append(op)
        for value in op.operands:
            producer = value.owner
            if isinstance(producer, Operation) and producer in parent and stage[value] == level:
                parent[root(producer)] = root(op)
    groups: dict[Operation, list[Operation]] = {}
    for op in glue:
        groups.setdefault(root(op), []).append(op)
    units = matrix_units + [Unit(ops, first=index[ops[0]]) for ops in groups.values()]
    result = Partition()
    for unit in units:
        for value in unit.results:
            result.unit_of[value] = unit
    result.units = topological(units, result.unit_of)
    return result


def unit_inputs(unit: Unit) -> list[SSAValue]:
    """Values a unit reads that it does not compute (constants included), in first-use order."""
    if unit.matrix is not None:
        return [unit.matrix.operands[0]]
    inside = {r for op in unit.ops for r in op.results}
    seen: dict[SSAValue, None] = {}
    for op in unit.ops:
        for value in op.operands:
            if value not in inside:
                seen.setdefault(value)
    return list(seen)


def topological(units: list[Unit], unit_of: dict[SSAValue, Unit]) -> list[Unit]:
    """Units ordered so that each comes after the units it reads (earliest op first)."""
    waiting = {id(u): {id(unit_of[v]) for v in unit_inputs(u) if v in unit_of} - {id(u)} for u in units}
    readers: dict[int, list[Unit]] = {}
    for unit in units:
        for producer in waiting[id(unit)]:
            readers.setdefault(producer, []).append(unit)
    ready = [(u.first, id(u), u) for u in units if not waiting[id(u)]]
    heapq.heapify(ready)
    order: list[Unit] = []
    while ready:
        _, key, unit = heapq.heappop(ready)
        order.append(unit)
        for reader in readers.get(key, []):
            waiting[id(reader)].discard(key)
            if not waiting[id(reader)]:
                heapq.heappush(ready, (reader.first, id(reader), reader))
    if len(order) != len(units):
        raise HwcError("map-to-spatial: the step graph's stages form a cycle (a matrix op feeding its own input)")
    return order


# --------------------------------------------------------------------------- emission


@dataclass
class DecoderMapper:
    """Emits the units of a partition into `m.block`."""

    m: GraphMapper
    state_in: dict[SSAValue, str]
    """Cache inputs → their name (`cache.N`)."""
    state_out: dict[str, SSAValue]
    """`cache.N` → the step graph's next value of it."""
    state_returns: set[int]
    """Indices of the step graph's return operands that are next state."""
    tables: dict[Operation, str] = field(default_factory=dict)
    """The ROM each `nn.weight` table became."""

    def emit(self, unit: Unit) -> None:
        if unit.matrix is not None:
            self.emit_mvu(unit)
        else:
            self.emit_vector(unit)

    def emit_mvu(self, unit: Unit) -> None:
        m, op = self.m, unit.matrix
        assert op is not None
        shape = nn.shape_of(op.input)
        if any(d != 1 for d in shape[:-1]):
            raise m.fail(op, f"a matrix-vector product on {list(shape)}: every axis but the last must be 1")
        source = m.input_stream(op, op.input)
        properties: dict[str, Attribute] = {
            "weights": SymbolRefAttr(self.weights(op)), "pe": IntegerAttr(1, i64), "simd": IntegerAttr(1, i64),
        }
        if op.bias is not None:
            properties["bias"] = SymbolRefAttr(m.rom_symbol(op.bias, op))
        result = op.results[0]
        if unit.requant is not None:
            properties.update(m.requant_properties(unit.requant))
            result = unit.requant.output
        layer = m.unique_layer(m.layer_of(op))
        stream = m.emit(spatial.MVUOp, layer, [source.value], (nn.shape_of(result)[-1],), result, properties)
        m.bind(result, stream, flat_layout(result))

    def weights(self, op: nn.DenseOp | nn.GroupDenseOp) -> str:
        """The MVU's [N, K] ROM: the dense weight, or a grouped weight's exact products."""
        m = self.m
        if isinstance(op, nn.DenseOp):
            return m.rom_symbol(op.weight, op)
        effective, width = grouped_weights(m, op)
        return m.new_rom(f"{m.layer_of(op)}_weight_grouped", effective, width)

    def emit_vector(self, unit: Unit) -> None:
        m = self.m
        inputs = unit_inputs(unit)
        streamed = [v for v in inputs if not is_constant_value(v) and v not in self.state_in]
        constants = [v for v in inputs if is_constant_value(v)]
        caches = [v for v in inputs if v in self.state_in]
        inside = {r for op in unit.ops for r in op.results}
        outputs = [r for r in sorted(inside, key=lambda r: result_order(unit, r))
                   if any(use.operation not in unit.ops and not self.is_state_return(use) for use in r.uses)]
        block = Block(arg_types=[v.type for v in (*streamed, *caches)])
        mapping: dict[SSAValue, SSAValue] = dict(zip((*streamed, *caches), block.args))
        for value in constants:
            clone = self.constant_in_rom(value.owner)
            block.add_op(clone)
            mapping[value] = clone.results[0]
        for op in unit.ops:
            clone = op.clone(value_mapper=mapping)
            block.add_op(clone)
            mapping.update(zip(op.results, clone.results))
        names = [self.state_in[c] for c in caches]
        next_state = [self.state_out[n] for n in names]
        block.add_op(spatial.VectorReturnOp.create(operands=[mapping[v] for v in (*outputs, *next_state)]))
        layer = m.unique_layer(self.vector_name(unit))
        properties: dict[str, Attribute] = {"layer": StringAttr(layer)}
        if names:
            properties["state"] = ArrayAttr([StringAttr(n) for n in names])
        sources = [m.input_stream(unit.ops[0], v).value for v in streamed]
        op = spatial.VectorOp.create(operands=sources, result_types=[stream_type(v, flat_layout(v).frame) for v in outputs],
                                     properties=properties, regions=[Region(block)])
        m.block.add_op(op)
        for value, stream in zip(outputs, op.outputs):
            m.bind(value, stream, flat_layout(value))

    def constant_in_rom(self, op: Operation) -> Operation:
        """A copy of a constant for a vector unit: a table the step graph added
        (`nn.weight`, e.g. RoPE's rows by position) becomes a ROM of the module."""
        if not isinstance(op, nn.WeightOp):
            return op.clone()
        m = self.m
        if op not in self.tables:
            array = np.asarray(m.store.get(op.key.data)).astype(np.int64)
            symbol = m.new_rom(sanitize(op.key.data), array, element_width(op.output))
            self.tables[op] = symbol
        return ReadOp(self.tables[op], op.output.type)

    def is_state_return(self, use) -> bool:
        """A use by the step graph's return as a cache's next value (not a port)."""
        return isinstance(use.operation, ReturnOp) and use.index in self.state_returns

    def vector_name(self, unit: Unit) -> str:
        kinds = {type(op) for op in unit.ops}
        if nn.IntSoftmaxOp in kinds:
            return "attention"
        if nn.InvSqrtOp in kinds:
            return "norm"
        if nn.LookupOp in kinds:
            return "activation"
        return "glue"


def is_constant_value(value: SSAValue) -> bool:
    return isinstance(value.owner, Operation) and is_constant(value.owner)


def result_order(unit: Unit, value: SSAValue) -> int:
    for i, op in enumerate(unit.ops):
        if value in op.results:
            return i
    return len(unit.ops)


# --------------------------------------------------------------------------- the step graph


def state_of(function: FuncOp) -> tuple[dict[SSAValue, str], dict[str, SSAValue], list[int]]:
    """The cache inputs (→ name), the next value of each cache, and the indices of the
    outputs that are not state (the logits)."""
    block = function.body.block
    terminator = block.last_op
    assert isinstance(terminator, ReturnOp)
    in_names = port_names(function.arg_attrs, len(block.args), "input")
    out_names = port_names(function.res_attrs, len(terminator.arguments), "output")
    state_in = {arg: name for arg, name in zip(block.args, in_names) if name.startswith(CACHE_PREFIX)}
    state_out = {name: value for name, value in zip(out_names, terminator.arguments) if name.startswith(CACHE_PREFIX)}
    if set(state_in.values()) != set(state_out):
        raise HwcError("map-to-spatial: the step graph's cache inputs and outputs differ")
    kept = [i for i, name in enumerate(out_names) if not name.startswith(CACHE_PREFIX)]
    return state_in, state_out, kept


def map_step_ops(m: GraphMapper) -> tuple[list[SSAValue], list[int], list[int]]:
    """Map the step graph (module doc): the nn values the graph returns, and the
    indices of the step function's inputs and outputs that are ports (not state)."""
    block = m.function.body.block
    state_in, state_out, kept_outputs = state_of(m.function)
    ports = [i for i, arg in enumerate(block.args) if arg not in state_in]
    for i in ports:
        arg = block.args[i]
        layout = flat_layout(arg)
        m.streams[arg] = Stream(m.block.insert_arg(stream_type(arg, layout.frame), len(m.block.args)), layout)
    returned = len(block.last_op.operands)
    mapper = DecoderMapper(m, state_in, state_out, set(range(returned)) - set(kept_outputs))
    for unit in partition(m.function, set(state_in)).units:
        mapper.emit(unit)
    terminator = block.last_op
    outputs = [terminator.operands[i] for i in kept_outputs]
    m.block.add_op(spatial.YieldOp.create(operands=[m.stream(v, "graph output").value for v in outputs]))
    return outputs, ports, kept_outputs
