"""`sequence-to-stream`: add to a whole-sequence transformer graph the step graph
that runs it one token at a time, with its key/value caches as explicit state.

Requires: an nn module (float, or integer after `quantize` / `weights-to-rom`)
whose `@main` has one integer input `[1, T]` (the
token ids, the sequence along axis 1) and is causal in the sense of
`passes.sequence_axes` (position-wise ops, constants indexed by position, causal
attention). `context` (default T, at most T) is the capacity of the caches.

Guarantees: `@main` is unchanged; a new `func.func @step` takes the token `[1, 1]`
(named as `@main`'s input), its position (`position`, `tensor<1xi64>`) and one cache
per attention operand (`cache.N`, the operand's value before the movement ops that
lead to the product, `context` long along its sequence axis), and returns `@main`'s
outputs for that token (`[.., 1, ..]` along the sequence) and the caches with the
token's entries written at `position` (`nn.cache_write`), under the same names.
Run on positions 0, 1, 2... with the caches fed back (zeros at first), its outputs
equal `@main`'s at those positions: entries the caches do not hold yet are masked
exactly as the whole sequence masks future positions. A constant that is T long on
a query axis becomes an `nn.embedding` of its rows by `position`. `@step` carries
`nn.context` (the capacity). A graph that is not causal raises HwcError naming the
op, and the module is left unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, IntegerAttr, IntegerType, ModuleOp, StringAttr, TensorType, i64
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.transforms.dead_code_elimination import region_dce

from compiler.errors import HwcError
from compiler.ir import constant_value, is_constant, main_function, make_constant
from compiler.weights import WeightStore, store_for
from dialects import nn
from dialects.nn.state import CACHE_PREFIX, CONTEXT_ATTR, POSITION_INPUT, STEP_FUNCTION
from passes.sequence_axes import KEY, MOVEMENT, QUERY, Analysis, NotCausal, analyse, reads_by_position



def token_input(function: FuncOp) -> SSAValue:
    """The graph's token-id input: its only integer input, of shape [1, T]."""
    candidates = [a for a in function.body.block.args
                  if isinstance(a.type.get_element_type(), IntegerType) and len(nn.shape_of(a)) == 2]
    if len(candidates) != 1 or len(function.body.block.args) != 1:
        raise HwcError("the graph does not run token by token: it needs exactly one input, "
                       "integer token ids of shape [1, T]")
    return candidates[0]


def add_step_function(module: ModuleOp, context: int = 0) -> FuncOp:
    """Build `@step` (see module doc) into `module` and return it."""
    main = main_function(module)
    token = token_input(main)
    store = store_for(module)
    try:
        analysis = analyse(main, token, store)
        builder = StepBuilder(main, analysis, store, _capacity(context, analysis.length))
        step = builder.build(token)
    except NotCausal as error:
        raise HwcError(f"the graph does not run token by token: {error}") from None
    module.body.block.add_op(step)
    return step


def _capacity(context: int, length: int) -> int:
    if context < 0 or context > length:
        raise HwcError(f"--context {context}: the exported sequence length {length} is the most "
                       "the graph's position tables allow")
    return context or length


@dataclass
class StepBuilder:
    """Copies `@main` op by op into the step graph (see module doc)."""

    main: FuncOp
    analysis: Analysis
    store: WeightStore
    capacity: int
    block: Block = field(default_factory=Block)
    values: dict[SSAValue, SSAValue] = field(default_factory=dict)
    full: dict[SSAValue, SSAValue] = field(default_factory=dict)
    positioned: dict[tuple, SSAValue] = field(default_factory=dict)
    caches: list[tuple[SSAValue, SSAValue]] = field(default_factory=list)
    position: SSAValue | None = None

    def build(self, token: SSAValue) -> FuncOp:
        self.values[token] = self.block.insert_arg(self.step_type(token), 0)
        self.position = self.block.insert_arg(TensorType(i64, [1]), 1)
        for op in self.main.body.block.ops:
            if isinstance(op, ReturnOp):
                outputs = [self.output(v, op) for v in op.operands]
            else:
                self.copy(op)
        cache_outputs = [written for _, written in self.caches]
        self.block.add_op(ReturnOp(*outputs, *cache_outputs))
        main_inputs = _names(self.main.arg_attrs)
        main_outputs = _names(self.main.res_attrs)
        cache_names = [f"{CACHE_PREFIX}{n}" for n in range(len(self.caches))]
        function = FuncOp(
            STEP_FUNCTION,
            ([a.type for a in self.block.args], [v.type for v in (*outputs, *cache_outputs)]),
            Region(self.block),
            arg_attrs=_name_attrs([*main_inputs, POSITION_INPUT, *cache_names]),
            res_attrs=_name_attrs([*main_outputs, *cache_names]),
        )
        function.attributes[CONTEXT_ATTR] = IntegerAttr(self.capacity, i64)
        region_dce(function.body)  # the copied constants nothing reads any more
        return function

    # ------------------------------------------------------------------ types

    def step_type(self, value: SSAValue, length_for_query: int = 1) -> TensorType:
        """`value`'s type in the step graph: 1 (or `length_for_query`) along a query
        axis, the capacity along a key axis."""
        shape = list(nn.shape_of(value))
        axes = self.analysis.axes.get(value)
        for axis, role in (axes.roles.items() if axes else ()):
            shape[axis] = length_for_query if role == QUERY else self.capacity
        return TensorType(value.type.get_element_type(), shape)

    # ------------------------------------------------------------------ ops

    def copy(self, op: Operation) -> None:
        if not any(v in self.analysis.axes for v in op.operands) or is_constant(op):
            self.append(op, [self.values.get(v, v) for v in op.operands], [r.type for r in op.results])
            return
        operands = [self.operand(op, index, value) for index, value in enumerate(op.operands)]
        self.append(op, operands, [self.step_type(r) for r in op.results])

    def append(self, op: Operation, operands: list[SSAValue], types: list) -> Operation:
        new = type(op).create(operands=operands, result_types=types,
                              properties=dict(op.properties), attributes=dict(op.attributes))
        self.block.add_op(new)
        for old, result in zip(op.results, new.results):
            self.values[old] = result
        return new

    def operand(self, op: Operation, index: int, value: SSAValue) -> SSAValue:
        if (op, index) in self.analysis.cached_operands:
            return self.cached(value)
        if value in self.analysis.axes:
            return self.values[value]
        if is_constant(value.owner) and reads_by_position(op, index):
            return self.position_indexed(value, op)
        return self.values[value]

    def output(self, value: SSAValue, op: Operation) -> SSAValue:
        axes = self.analysis.axes.get(value)
        if axes is None or KEY in axes.roles.values():
            raise NotCausal(op, "returns a value that does not hold one entry per position")
        return self.values[value]

    # ------------------------------------------------------------------ caches

    def cached(self, value: SSAValue) -> SSAValue:
        """`value` at every position up to the capacity: the earliest value of the
        movement ops leading to it is kept in a cache, and those ops are replayed on
        the whole cache."""
        if value in self.full:
            return self.full[value]
        chain: list[Operation] = []
        start = value
        while isinstance(start.owner, MOVEMENT) and start.owner.operands[0] in self.analysis.axes:
            chain.insert(0, start.owner)
            start = start.owner.operands[0]
        (axis,) = self.analysis.axes[start].axes(QUERY)
        cache = self.block.insert_arg(self.step_type(start, self.capacity), len(self.block.args))
        write = nn.CacheWriteOp(cache, self.values[start], self.position, axis)
        self.block.add_op(write)
        self.caches.append((cache, write.output))
        current = write.output
        for op in chain:
            operands = [current, *[self.values.get(v, v) for v in op.operands[1:]]]
            replayed = type(op).create(operands=operands, result_types=[self.step_type(op.results[0], self.capacity)],
                                       properties=dict(op.properties), attributes=dict(op.attributes))
            self.block.add_op(replayed)
            current = replayed.results[0]
        self.full[value] = current
        return current

    # ------------------------------------------------------------------ constants by position

    def position_indexed(self, value: SSAValue, op: Operation) -> SSAValue:
        """A constant operand of element-wise `op` (broadcast against the others) as
        the step graph needs it: its row at `position`
        along a query axis it is T long on, the first `capacity` entries along a key
        axis, itself otherwise."""
        shape = nn.shape_of(value)
        result_axes = self.analysis.axes[op.results[0]]
        shift = len(nn.shape_of(op.results[0])) - len(shape)
        length = self.analysis.length
        query = [a - shift for a in result_axes.axes(QUERY) if a - shift >= 0 and shape[a - shift] == length > 1]
        key = [a - shift for a in result_axes.axes(KEY) if a - shift >= 0 and shape[a - shift] == length > 1]
        if not query and not (key and self.capacity < length):
            return self.values[value]
        signature = (value, tuple(query), tuple(key))
        if signature not in self.positioned:
            self.positioned[signature] = self._rows_at_position(value, query, key)
        return self.positioned[signature]

    def _rows_at_position(self, value: SSAValue, query: list[int], key: list[int]) -> SSAValue:
        data = np.asarray(constant_value(value, self.store))
        for axis in key:
            data = np.take(data, np.arange(self.capacity), axis=axis)
        element = value.type.get_element_type()
        if not query:
            return self._constant(data, element)
        (axis,) = query
        step_shape = [1 if a == axis else size for a, size in enumerate(data.shape)]
        table = np.ascontiguousarray(np.moveaxis(data, axis, 0)).reshape(data.shape[axis], -1)
        table_value = self._constant(table, element)
        row = nn.EmbeddingOp(self.position, table_value, TensorType(element, [1, table.shape[1]]))
        shaped = nn.ReshapeOp(row.output, TensorType(element, step_shape))
        self.block.add_ops([row, shaped])
        return shaped.output

    def _constant(self, data: np.ndarray, element) -> SSAValue:
        op = make_constant(np.ascontiguousarray(data), self.store, "step.position_table", element)
        self.block.add_op(op)
        return op.results[0]


def _names(attrs: ArrayAttr | None) -> list[str]:
    return [d.data[nn.NAME_ATTR].data for d in attrs.data] if attrs else []


def _name_attrs(names: list[str]) -> ArrayAttr:
    return ArrayAttr([DictionaryAttr({nn.NAME_ATTR: StringAttr(n)}) for n in names])


@dataclass(frozen=True)
class SequenceToStream(ModulePass):
    """Add `@step`, the token-by-token form of `@main` (see module doc)."""

    name = "sequence-to-stream"
    context: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        add_step_function(op, self.context)
