"""A `spatial.vector` unit's region as a program for its one-ALU sequencer: where
every tensor lives and, for every op, what each of its cycles reads and writes.
`compiler/hw/vector.py` builds the hardware from it; this module is numpy only.

* Storage: the unit's inputs, its state (the K/V caches) and the result of every
  computing op are tensors held element by element (`Storage`); a *tag* names one
  element of one storage (`storage << TAG_BITS | element`).
* Addressing ops (reshape, transpose, expand, slice, concat, and the broadcast of
  a binary op's operands) compute nothing: they rearrange the tags of their
  operands, so that every computing op knows, for each element it reads, which
  stored element that is. Constants (ROMs) are rearranged the same way as values.
* A computing op is a `Step` of `cycles` cycles (`dialects.spatial.vector.op_cycles`
  at one ALU), with one table per per-cycle quantity, indexed by the cycle: the tags
  it reads, the element it writes, the flags that start and end an accumulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import IntegerType, ModuleOp
from xdsl.ir import Operation, SSAValue

from compiler.errors import HwcError
from compiler.ir import dense_to_numpy, rom_contents
from compiler.weights import WeightStore
from dialects import nn, spatial
from dialects.nn.state import CacheWriteOp
from dialects.rom import ReadOp
from dialects.spatial.vector import ADDRESSING_OPS, divider_bits, op_cycles

TAG_BITS = 32
"""Bits of a tag's element index (a storage holds fewer elements)."""


def width_of_value(value: SSAValue) -> int:
    element = nn.element_type_of(value)
    assert isinstance(element, IntegerType)
    return element.width.data


@dataclass
class Storage:
    """A tensor held element by element: an input, the state, or an op's result."""

    name: str
    size: int
    width: int
    state: bool = False


@dataclass
class Step:
    """One computing op: `kind`, its cycles and its per-cycle tables (see module doc)."""

    kind: str
    op: Operation
    cycles: int
    target: int
    """The storage it writes."""
    tables: dict[str, np.ndarray] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-cycle constants (a requant's multiplier, a constant operand) or whole tables (exp, lookup)."""


@dataclass
class Program:
    storages: list[Storage]
    inputs: list[int]
    """The storage of each streamed input, in operand order."""
    steps: list[Step]
    outputs: list[np.ndarray]
    """Each result's tags, flattened in row-major order."""


def tags_of(storage: int, shape: tuple[int, ...]) -> np.ndarray:
    return (np.int64(storage) << TAG_BITS) + np.arange(math.prod(shape), dtype=np.int64).reshape(shape)


def storage_of(tags: np.ndarray) -> np.ndarray:
    return np.asarray(tags) >> TAG_BITS


def element_of(tags: np.ndarray) -> np.ndarray:
    return np.asarray(tags) & ((1 << TAG_BITS) - 1)


# --------------------------------------------------------------------------- addressing


def rearrange(op: Operation, operands: list[np.ndarray]) -> np.ndarray:
    """What addressing op `op` does to arrays (tags or constants) of its operands."""
    shape = nn.shape_of(op.results[0])
    if isinstance(op, nn.ReshapeOp):
        return operands[0].reshape(shape)
    if isinstance(op, nn.TransposeOp):
        return np.transpose(operands[0], op.perm.get_values())
    if isinstance(op, nn.ExpandOp):
        return np.broadcast_to(operands[0], shape)
    if isinstance(op, nn.SliceOp):
        index = tuple(slice(start, start + step * count if start + step * count >= 0 else None, step)
                      for start, step, count in zip(op.starts.get_values(), op.steps.get_values(), shape))
        return operands[0][index]
    if isinstance(op, nn.ConcatOp):
        return np.concatenate(operands, axis=op.axis.value.data)
    raise HwcError(f"vector unit: {op.name} is not an addressing op")


# --------------------------------------------------------------------------- the compiler


class ProgramBuilder:
    """Walks a vector unit's region once (see module doc)."""

    def __init__(self, unit: spatial.VectorOp, module: ModuleOp, store: WeightStore):
        self.unit, self.module, self.store = unit, module, store
        self.storages: list[Storage] = []
        self.tags: dict[SSAValue, np.ndarray] = {}
        self.constants: dict[SSAValue, np.ndarray] = {}
        self.steps: list[Step] = []

    def store_value(self, value: SSAValue, name: str, state: bool = False) -> int:
        shape = nn.shape_of(value)
        self.storages.append(Storage(name, math.prod(shape), width_of_value(value), state))
        index = len(self.storages) - 1
        self.tags[value] = tags_of(index, shape)
        return index

    def build(self) -> Program:
        args = self.unit.body.block.args
        streamed = len(self.unit.inputs)
        inputs = [self.store_value(arg, f"in{i}") for i, arg in enumerate(args[:streamed])]
        for i, arg in enumerate(args[streamed:]):
            self.store_value(arg, f"state{i}", state=True)
        for op in self.unit.ops():
            self.visit(op)
        terminator = self.unit.body.block.last_op
        results = list(terminator.values)[:len(self.unit.outputs)]
        for value, arg in zip(list(terminator.values)[len(self.unit.outputs):], args[streamed:]):
            if not np.array_equal(self.tags[value], self.tags[arg]):
                raise HwcError(f"vector unit '{self.unit.layer.data}': its next state is not its cache written "
                               "in place")
        outputs = [self.tags_or_fail(v).reshape(-1) for v in results]
        return Program(self.storages, inputs, self.steps, outputs)

    def tags_or_fail(self, value: SSAValue) -> np.ndarray:
        if value not in self.tags:
            raise HwcError(f"vector unit '{self.unit.layer.data}': a result is a constant, not a computed value")
        return self.tags[value]

    def visit(self, op: Operation) -> None:
        if isinstance(op, ReadOp):
            self.constants[op.results[0]] = np.asarray(rom_contents(op, self.store)).astype(np.int64)
        elif isinstance(op, nn.ConstantOp):
            self.constants[op.results[0]] = dense_to_numpy(op.value).astype(np.int64)
        elif isinstance(op, ADDRESSING_OPS):
            self.visit_addressing(op)
        elif isinstance(op, CacheWriteOp):
            self.visit_cache_write(op)
        else:
            self.visit_compute(op)

    def visit_addressing(self, op: Operation) -> None:
        operands = list(op.operands)
        if all(v in self.constants for v in operands):
            self.constants[op.results[0]] = rearrange(op, [self.constants[v] for v in operands])
        elif all(v in self.tags for v in operands):
            self.tags[op.results[0]] = rearrange(op, [self.tags[v] for v in operands])
        else:
            raise HwcError(f"vector unit '{self.unit.layer.data}': {op.name} mixes constants and values")

    def visit_cache_write(self, op: CacheWriteOp) -> None:
        """The value written into the cache's storage at `position` along the axis: for
        value element e the cache element `base[e] + position · stride`."""
        cache = self.tags[op.cache]
        if not np.all(storage_of(cache) == storage_of(cache).flat[0]) or \
                not self.storages[int(storage_of(cache).flat[0])].state:
            raise HwcError(f"vector unit '{self.unit.layer.data}': nn.cache_write must write a state tensor")
        axis = op.axis.value.data
        shape = nn.shape_of(op.cache)
        stride = math.prod(shape[axis + 1:])
        base = np.take(element_of(cache), [0], axis=axis)
        value = np.broadcast_to(self.tags[op.value], base.shape)
        step = Step("cache_write", op, op_cycles(op, 1), int(storage_of(cache).flat[0]))
        step.tables.update(value=value.reshape(-1), base=base.reshape(-1),
                           position=self.tags[op.position].reshape(-1)[:1].repeat(step.cycles))
        step.constants["stride"] = np.array([stride])
        self.steps.append(step)
        self.tags[op.output] = cache

    def operand(self, value: SSAValue, shape: tuple[int, ...]) -> tuple[str, np.ndarray]:
        """('tags' | 'constant', the operand broadcast to `shape`, flattened)."""
        if value in self.tags:
            return "tags", np.broadcast_to(self.tags[value], shape).reshape(-1)
        return "constant", np.broadcast_to(self.constants[value], shape).reshape(-1)

    def visit_compute(self, op: Operation) -> None:
        result = op.results[0]
        shape = nn.shape_of(result)
        name = f"{op.name.split('.')[-1]}{len(self.steps)}"
        if isinstance(op, nn.MatMulOp | nn.ReduceSumOp):
            self.visit_accumulation(op, shape, name)
            return
        if isinstance(op, nn.IntSoftmaxOp):
            self.visit_softmax(op, shape, name)
            return
        target = self.store_value(result, name)
        step = Step(KINDS.get(type(op), ""), op, op_cycles(op, 1), target)
        if not step.kind:
            raise HwcError(f"vector unit '{self.unit.layer.data}': {op.name} has no hardware yet")
        if isinstance(op, nn.AddOp | nn.SubOp | nn.MulOp):
            for key, value in (("lhs", op.lhs), ("rhs", op.rhs)):
                form, array = self.operand(value, shape)
                (step.tables if form == "tags" else step.constants)[key] = array
        elif isinstance(op, nn.NegOp | nn.ReluOp):
            step.tables["x"] = self.operand(op.input, shape)[1]
        elif isinstance(op, nn.RequantOp):
            step.tables["x"] = self.operand(op.input, shape)[1]
            rank, axis = len(nn.shape_of(op.input)), op.axis.value.data
            multiplier = self.constants[op.multiplier].reshape(-1)
            shaped = multiplier.reshape((multiplier.size,) + (1,) * (rank - 1 - axis)) if multiplier.size > 1 \
                else multiplier
            step.constants["multiplier"] = np.broadcast_to(shaped, shape).reshape(-1)
        elif isinstance(op, nn.LookupOp):
            step.tables["x"] = self.operand(op.input, shape)[1]
            step.constants["table"] = self.constants[op.table].reshape(-1)
        elif isinstance(op, nn.EmbeddingOp):
            self.embedding_tables(op, step)
        elif isinstance(op, nn.InvSqrtOp):
            width = width_of_value(result)
            elements = self.operand(op.input, shape)[1]
            step.tables.update(x=np.repeat(elements, width), out=np.repeat(np.arange(elements.size), width),
                               bit=np.tile(np.arange(width - 1, -1, -1), elements.size),
                               first=np.tile(np.arange(width) == 0, elements.size),
                               last=np.tile(np.arange(width) == width - 1, elements.size))
        self.steps.append(step)

    def embedding_tables(self, op: nn.EmbeddingOp, step: Step) -> None:
        """Element e of `table[ids]`: row ids[e // D], column e % D of the table."""
        table = self.constants[op.table]
        columns = math.prod(table.shape[1:])
        ids = self.tags[op.ids].reshape(-1)
        count = ids.size * columns
        step.tables.update(ids=np.repeat(ids, columns), column=np.tile(np.arange(columns), ids.size))
        step.constants.update(table=table.reshape(-1), columns=np.array([columns]))
        assert count == step.cycles

    def visit_accumulation(self, op: Operation, shape: tuple[int, ...], name: str) -> None:
        """matmul: out[..., m, n] = Σ_k a[..., m, k] b[..., k, n]; reduce_sum: Σ over the axes.
        One multiply-accumulate a cycle, output element by output element."""
        target = self.store_value(op.results[0], name)
        if isinstance(op, nn.MatMulOp):
            a, b = self.tags_or_constant(op.lhs), self.tags_or_constant(op.rhs)
            depth = a.shape[-1]
            batch = shape[:-2]
            a = np.broadcast_to(a, (*batch, shape[-2], depth))
            b = np.broadcast_to(b, (*batch, depth, shape[-1]))
            lhs = np.broadcast_to(a[..., :, None, :], (*batch, shape[-2], shape[-1], depth))
            rhs = np.broadcast_to(np.swapaxes(b, -1, -2)[..., None, :, :], (*batch, shape[-2], shape[-1], depth))
            step = Step("matmul", op, op_cycles(op, 1), target)
            step.tables.update(lhs=lhs.reshape(-1), rhs=rhs.reshape(-1))
        else:
            x = self.tags[op.input]
            axes = op.axis_list()
            kept = [d for d in range(x.ndim) if d not in axes]
            moved = np.transpose(x, (*kept, *axes))
            depth = math.prod(x.shape[d] for d in axes)
            step = Step("reduce_sum", op, op_cycles(op, 1), target)
            step.tables["lhs"] = moved.reshape(-1)
        outputs = math.prod(shape)
        step.tables.update(out=np.repeat(np.arange(outputs), depth), first=np.tile(np.arange(depth) == 0, outputs),
                           last=np.tile(np.arange(depth) == depth - 1, outputs))
        assert step.cycles == outputs * depth, (step.cycles, outputs, depth)
        self.steps.append(step)

    def tags_or_constant(self, value: SSAValue) -> np.ndarray:
        if value in self.tags:
            return self.tags[value]
        raise HwcError(f"vector unit '{self.unit.layer.data}': a matrix product of a constant belongs in an MVU")

    def visit_softmax(self, op: nn.IntSoftmaxOp, shape: tuple[int, ...], name: str) -> None:
        """Per row: a pass for the maximum, a pass for the exponentials (kept in a row
        buffer) and their sum, a restoring division, a pass for the products."""
        target = self.store_value(op.output, name)
        row_buffer = len(self.storages)
        axis = op.axis.value.data
        length = shape[axis]
        table = self.constants[op.table].reshape(-1)
        self.storages.append(Storage(f"{name}_exp", length, int(table.max()).bit_length() + 1))
        x = np.moveaxis(self.tags[op.input], axis, -1).reshape(-1, length)
        keep = np.moveaxis(np.broadcast_to(self.tags_or_constant(op.mask), shape), axis, -1).reshape(-1, length)
        out = np.moveaxis(element_of(tags_of(0, shape)), axis, -1).reshape(-1, length)
        bits = divider_bits(op)
        numerator = op.out_max.value.data << op.shift.value.data
        per_row = 3 * length + bits
        phase = np.concatenate([np.zeros(length), np.ones(length), np.full(bits, 2), np.full(length, 3)])
        j = np.concatenate([np.arange(length)] * 2 + [np.zeros(bits, np.int64), np.arange(length)])
        rows = x.shape[0]
        step = Step("softmax", op, op_cycles(op, 1), target)
        assert step.cycles == rows * per_row
        row_of = np.repeat(np.arange(rows), per_row)
        j_all = np.tile(j, rows)
        step.tables.update(
            phase=np.tile(phase, rows).astype(np.int64),
            x=x[row_of, j_all], keep=keep[row_of, j_all], out=out[row_of, j_all],
            buffer=(np.int64(row_buffer) << TAG_BITS) + j_all,
            first=np.tile(np.concatenate([[1] + [0] * (length - 1)] * 2 + [[1] + [0] * (bits - 1)]
                                         + [[0] * length]), rows).astype(bool),
            numerator_bit=np.tile(np.concatenate([np.zeros(2 * length, np.int64),
                                                  [(numerator >> (bits - 1 - i)) & 1 for i in range(bits)],
                                                  np.zeros(length, np.int64)]), rows),
        )
        step.constants["table"] = table
        self.steps.append(step)


KINDS: dict[type[Operation], str] = {
    nn.AddOp: "add", nn.SubOp: "sub", nn.MulOp: "mul", nn.NegOp: "neg", nn.ReluOp: "relu",
    nn.RequantOp: "requant", nn.LookupOp: "lookup", nn.EmbeddingOp: "embedding", nn.InvSqrtOp: "inv_sqrt",
}
"""The computing ops of one result element a cycle (matmul, reduce_sum, softmax and
cache_write have steps of their own)."""


def vector_program(unit: spatial.VectorOp, module: ModuleOp, store: WeightStore) -> Program:
    """The program of `unit` (see module doc); HwcError for an op with no hardware."""
    return ProgramBuilder(unit, module, store).build()
