"""Compile-once execution plans for a module's `main` function.

An executor is a `KernelTable` (op class → kernel factory) plus this module's
`GraphPlan`, which walks `main` once and turns it into a list of steps over
numbered slots. Nothing here knows what a kernel computes: the float executor
and the integer executor share the machinery and differ only in their tables.

The life of a kernel has three stages, so that each piece of work happens as
rarely as it can:

1. `factory(op, constants)` — once per op, at plan time. Reads the op's
   attributes and pre-transforms constant operands (e.g. packs conv weights for
   a GEMM). `constants[i]` is the operand's value when it is a constant, else
   None. Returns an *instantiate* function.
2. `instantiate(binding)` — once per runtime batch size. `binding` gives the
   concrete operand and result shapes; the kernel allocates its buffers here.
   Returns the *kernel*.
3. `kernel(*operands)` — once per run. Returns the result; it may return one of
   its own buffers (overwritten by the next run) or a view of an operand, and
   may write into operand `i` when `binding.overwritable[i]`.

Epilogues: an element-wise op whose only operand that is not a constant is the
sole use of a *head* kernel's result (a table registers conv and dense as heads,
batch norm and activations as epilogues) is not a step of its own. Its
instantiated form, `fn(piece)` computing in place, is handed to the head in
`binding.epilogue`, and the head applies it to each piece of its result while
the piece is still in cache.

Batching: the IR's batch (axis 0 of every activation, usually 1) is fixed, but
`GraphPlan.run` takes any number of samples stacked on axis 0. When the graph is
*batch-separable* (every activation keeps axis 0 as the batch, checked per op
by a `BatchRule`), all samples run as one batch; otherwise the samples run in
chunks of the IR's batch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import DictionaryAttr, ModuleOp, StringAttr, TensorType
from xdsl.dialects.func import ReturnOp
from xdsl.ir import Operation, SSAValue

from compiler.errors import HwcError
from compiler.ir import CONSTANT_OPS, constant_value, main_function, numpy_dtype
from compiler.weights import store_for
from dialects import nn

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Binding:
    """The concrete shapes one kernel instance runs on."""

    operand_shapes: tuple[Shape, ...]
    result_shape: Shape
    dtype: np.dtype
    """The result's numpy dtype."""
    operand_dtypes: tuple[np.dtype, ...]
    overwritable: tuple[bool, ...]
    """`overwritable[i]`: operand i's buffer is dead after this op, so the kernel may write into it."""
    epilogue: tuple[Callable[[np.ndarray], None], ...] = ()
    """In-place functions a head kernel must apply, in order, to every piece of its result
    (each piece a view with the result's rank, e.g. a block of samples or rows)."""


Kernel = Callable[..., np.ndarray]
Instantiate = Callable[[Binding], Kernel]
KernelFactory = Callable[[Operation, Sequence["np.ndarray | None"]], Instantiate]
EpilogueFactory = Callable[
    [Operation, Sequence["np.ndarray | None"]], Callable[[Binding], Callable[[np.ndarray], None]]
]
"""Like a kernel factory, but the instantiated function computes in place on a piece
of the head's result: `fn(piece) -> None`."""
BatchRule = Callable[[Operation, Sequence[bool]], bool]
"""`rule(op, batched)`: True when running `op` on R stacked batches (axis 0) equals
running it on each batch apart. `batched[i]` tells whether operand i is an activation
(depends on a graph input) rather than a constant. Axis 0 of every activation being
the IR batch is checked by the planner, not by rules."""


# --------------------------------------------------------------------------- batch rules


def _shape(value: SSAValue) -> Shape:
    return nn.shape_of(value)


def batch_axis_is_batch(op: Operation, batched: Sequence[bool]) -> bool:
    """Ops that treat axis 0 as the batch by definition (conv, pools, unary element-wise)."""
    return all(not b for b in batched[1:])


def broadcast_rule(op: Operation, batched: Sequence[bool]) -> bool:
    """Binary element-wise: activations span every axis; constants must not vary along axis 0."""
    rank = len(_shape(op.results[0]))
    for value, is_batched in zip(op.operands, batched):
        shape = _shape(value)
        if is_batched and len(shape) != rank:
            return False
        if not is_batched and len(shape) == rank and shape[0] != 1:
            return False
    return True


def dense_rule(op: Operation, batched: Sequence[bool]) -> bool:
    return len(_shape(op.operands[0])) >= 2 and not any(batched[1:])


def transpose_rule(op: Operation, batched: Sequence[bool]) -> bool:
    return op.perm.get_values()[0] == 0


def axis_rule(op: Operation, batched: Sequence[bool]) -> bool:
    """Softmax, log-softmax: the axis must not be the batch."""
    return op.axis.value.data != 0


def concat_rule(op: Operation, batched: Sequence[bool]) -> bool:
    """Concat off axis 0; a constant input is repeated per batch, so it must have batch 1."""
    if op.axis.value.data == 0:
        return False
    return all(b or _shape(v)[0] == 1 for v, b in zip(op.operands, batched))


def pad_rule(op: Operation, batched: Sequence[bool]) -> bool:
    pads = op.pads.get_values()
    return pads[0] == 0 and pads[len(pads) // 2] == 0


def reshape_rule(op: Operation, batched: Sequence[bool]) -> bool:
    """Row-major reshape keeping the leading dimension keeps every batch's block intact."""
    return True


NN_BATCH_RULES: dict[type[Operation], BatchRule] = {
    nn.AddOp: broadcast_rule, nn.SubOp: broadcast_rule,
    nn.MulOp: broadcast_rule, nn.DivOp: broadcast_rule,
    nn.DenseOp: dense_rule, nn.TransposeOp: transpose_rule,
    nn.SoftmaxOp: axis_rule, nn.LogSoftmaxOp: axis_rule,
    nn.ConcatOp: concat_rule, nn.PadOp: pad_rule, nn.ReshapeOp: reshape_rule,
}
"""Batch rules of the nn ops; ops not listed use `batch_axis_is_batch`."""


# --------------------------------------------------------------------------- kernel tables


@dataclass
class KernelTable:
    """Kernel factories and batch rules by op class; one table per executor."""

    name: str
    factories: dict[type[Operation], KernelFactory] = field(default_factory=dict)
    batch_rules: dict[type[Operation], BatchRule] = field(default_factory=dict)
    heads: set[type[Operation]] = field(default_factory=set)
    """Ops whose kernels apply `binding.epilogue`."""
    epilogues: dict[type[Operation], EpilogueFactory] = field(default_factory=dict)

    def register(self, *op_types: type[Operation], batch_rule: BatchRule | None = None,
                 head: bool = False):
        """Decorator: `factory` computes every op in `op_types` (and applies epilogues if `head`)."""

        def decorate(factory: KernelFactory) -> KernelFactory:
            for op_type in op_types:
                self.factories[op_type] = factory
                rule = batch_rule or NN_BATCH_RULES.get(op_type, batch_axis_is_batch)
                self.batch_rules[op_type] = rule
                if head:
                    self.heads.add(op_type)
            return factory

        return decorate

    def register_epilogue(self, *op_types: type[Operation]):
        """Decorator: `factory` computes the ops in `op_types` in place when fused into a head.

        The ops must be element-wise on operand 0 (result shape = operand 0's shape),
        their other operands constants, and they must also have a regular kernel.
        """

        def decorate(factory: EpilogueFactory) -> EpilogueFactory:
            for op_type in op_types:
                self.epilogues[op_type] = factory
            return factory

        return decorate

    def extended(self, name: str) -> KernelTable:
        """A copy to add or replace kernels in (e.g. an integer table built on this one)."""
        return KernelTable(name, dict(self.factories), dict(self.batch_rules),
                           set(self.heads), dict(self.epilogues))

    def factory(self, op: Operation) -> KernelFactory:
        try:
            return self.factories[type(op)]
        except KeyError:
            raise HwcError(f"the {self.name} does not support {op.name}") from None

    def check_supported(self, ops: Sequence[Operation]) -> None:
        """Raise one HwcError listing every unsupported op kind at once."""
        missing = sorted({op.name for op in ops if type(op) not in self.factories})
        if missing:
            supported = ", ".join(sorted(t.name for t in self.factories))
            raise HwcError(
                f"the {self.name} does not support {', '.join(missing)} (supported: {supported})"
            )


def evaluate(table: KernelTable, op: Operation, operands: Sequence[np.ndarray]) -> np.ndarray:
    """Compute one op on concrete arrays (all operands treated as constants).

    Requires the arrays to have the op's operand shapes. Returns a fresh array of the
    op's result shape and element type.
    """
    result_type = op.results[0].type
    assert isinstance(result_type, TensorType)
    dtype = numpy_dtype(result_type.get_element_type())
    arrays = [np.asarray(a) for a in operands]
    binding = Binding(
        operand_shapes=tuple(a.shape for a in arrays),
        result_shape=tuple(result_type.get_shape()),
        dtype=dtype,
        operand_dtypes=tuple(a.dtype for a in arrays),
        overwritable=(False,) * len(arrays),
    )
    kernel = table.factory(op)(op, arrays)(binding)
    return np.array(kernel(*arrays), dtype=dtype, copy=True).reshape(binding.result_shape)


# --------------------------------------------------------------------------- the plan


@dataclass
class _Node:
    """One op of the graph, prepared once."""

    op_name: str
    instantiate: Instantiate
    operand_slots: tuple[int, ...]
    result_slot: int
    dtype: np.dtype
    overwritable: tuple[bool, ...]
    operand_dtypes: tuple[np.dtype, ...]
    is_head: bool = False
    epilogue: list[tuple[Callable, tuple[int, ...]]] = field(default_factory=list)
    """Fused ops: (instantiate, operand slots) each."""


@dataclass
class _Program:
    """The steps and slots of a plan, instantiated for one runtime batch size."""

    slots: list
    steps: list[Callable[[list], None]]


def _step(kernel: Kernel, operand_slots: tuple[int, ...], result_slot: int):
    """A closure running `kernel` on slots; unrolled for the common arities."""
    if len(operand_slots) == 1:
        (a,) = operand_slots

        def step(slots: list) -> None:
            slots[result_slot] = kernel(slots[a])
    elif len(operand_slots) == 2:
        a, b = operand_slots

        def step(slots: list) -> None:
            slots[result_slot] = kernel(slots[a], slots[b])
    else:

        def step(slots: list) -> None:
            slots[result_slot] = kernel(*[slots[i] for i in operand_slots])

    return step


def _name_of(attrs, index: int, default: str) -> str:
    if attrs is None:
        return default
    entry = attrs.data[index]
    assert isinstance(entry, DictionaryAttr)
    name = entry.data.get("nn.name")
    return name.data if isinstance(name, StringAttr) else default


class GraphPlan:
    """`main` of a module compiled into kernels over slots, runnable on batches.

    Requires every op of `main` to be in `table` (or be a constant) and every
    value to be a statically shaped tensor. Guarantees that `run` never touches
    the IR: it only executes steps (instantiated once per runtime batch size and
    cached).
    """

    MAX_CACHED_PROGRAMS = 4
    MAX_BATCH_BYTES = 256 << 20
    """Samples of one batched run are split into chunks whose activations stay below this."""

    def __init__(self, module: ModuleOp, table: KernelTable):
        self.table = table
        function = main_function(module)
        store = store_for(module)
        block = function.body.block
        arg_types = [arg.type for arg in block.args]
        for t in arg_types:
            if not isinstance(t, TensorType) or len(t.get_shape()) < 1:
                raise HwcError(f"{table.name}: every graph input must be a tensor of rank >= 1")
        self.input_names = [_name_of(function.arg_attrs, i, f"input{i}") for i in range(len(arg_types))]
        self.ir_input_shapes = {n: tuple(t.get_shape()) for n, t in zip(self.input_names, arg_types)}
        self.input_dtypes = {n: numpy_dtype(t.get_element_type()) for n, t in zip(self.input_names, arg_types)}
        self.batch = self.ir_input_shapes[self.input_names[0]][0] if self.input_names else 1

        self._slot_of: dict[SSAValue, int] = {}
        self._constants: dict[int, np.ndarray] = {}
        self._shapes: list[Shape] = []
        self._batched: list[bool] = []
        self._input_slots = [self._new_slot(arg, batched=True) for arg in block.args]
        ops = [op for op in block.ops if not isinstance(op, (ReturnOp, *CONSTANT_OPS))]
        table.check_supported(ops)

        self._nodes: list[_Node] = []
        self._producer: dict[int, _Node] = {}
        self._separable = all(self._ir_shape_ok(s) for s in self._input_slots)
        self._view_of: dict[int, int] = {}
        returns: list[SSAValue] = []
        for op in block.ops:
            if isinstance(op, ReturnOp):
                returns = list(op.arguments)
            else:
                self._plan_op(op, store)
        self.output_names = [_name_of(function.res_attrs, i, f"output{i}") for i in range(len(returns))]
        self._output_slots = [self._slot_of[v] for v in returns]
        if any(not self._batched[s] for s in self._output_slots):
            self._separable = False
        self._mark_overwritable()
        self._programs: OrderedDict[int, _Program] = OrderedDict()

    # ------------------------------------------------------------------ planning

    def _new_slot(self, value: SSAValue, batched: bool) -> int:
        slot = len(self._shapes)
        self._slot_of[value] = slot
        self._shapes.append(nn.shape_of(value))
        self._batched.append(batched)
        return slot

    def _ir_shape_ok(self, slot: int) -> bool:
        """An activation must have the IR batch as its leading dimension."""
        shape = self._shapes[slot]
        return len(shape) >= 1 and shape[0] == self.batch

    def _plan_op(self, op: Operation, store) -> None:
        if len(op.results) != 1:
            raise HwcError(f"{self.table.name}: {op.name} must have exactly one result")
        value = constant_value(op, store) if isinstance(op, CONSTANT_OPS) else None
        if value is not None:
            slot = self._new_slot(op.results[0], batched=False)
            self._constants[slot] = value
            return
        operand_slots = tuple(self._slot_of[v] for v in op.operands)
        batched = [self._batched[s] for s in operand_slots]
        constants = [None if b else self._constants[s] for s, b in zip(operand_slots, batched)]
        if not any(batched):
            slot = self._new_slot(op.results[0], batched=False)
            self._constants[slot] = evaluate(self.table, op, constants)
            return
        if self._fuse_into_head(op, operand_slots, batched, constants):
            return
        instantiate = self.table.factory(op)(op, constants)
        slot = self._new_slot(op.results[0], batched=True)
        self._check_separable(op, operand_slots, batched, slot)
        if isinstance(op, (nn.ReshapeOp, nn.TransposeOp)):
            self._view_of[slot] = self._view_of.get(operand_slots[0], operand_slots[0])
        result_type = op.results[0].type
        self._nodes.append(_Node(
            op.name, instantiate, operand_slots, slot,
            numpy_dtype(result_type.get_element_type()), (),
            tuple(numpy_dtype(v.type.get_element_type()) for v in op.operands),
            is_head=type(op) in self.table.heads,
        ))
        self._producer[slot] = self._nodes[-1]

    def _check_separable(self, op: Operation, operand_slots, batched, result_slot: int) -> None:
        if self._separable:
            rule = self.table.batch_rules[type(op)]
            shapes_ok = all(self._ir_shape_ok(s) for s, b in zip(operand_slots, batched) if b)
            self._separable = shapes_ok and self._ir_shape_ok(result_slot) and rule(op, batched)

    def _fuse_into_head(self, op: Operation, operand_slots, batched, constants) -> bool:
        """Make `op` an epilogue of the head producing its operand 0, when allowed."""
        factory = self.table.epilogues.get(type(op))
        head = self._producer.get(operand_slots[0])
        if (factory is None or head is None or not head.is_head or any(batched[1:])
                or not op.operands[0].has_one_use()
                or nn.shape_of(op.results[0]) != nn.shape_of(op.operands[0])
                or op.results[0].type != op.operands[0].type):
            return False
        head.epilogue.append((factory(op, constants), operand_slots))
        self._slot_of[op.results[0]] = head.result_slot
        self._check_separable(op, operand_slots, batched, head.result_slot)
        return True

    def _mark_overwritable(self) -> None:
        """Operand i of node k is overwritable when its buffer (through views) dies at k.

        Graph inputs, constants and graph outputs are never overwritten.
        """
        root = lambda slot: self._view_of.get(slot, slot)  # noqa: E731
        last_use: dict[int, int] = {}
        for index, node in enumerate(self._nodes):
            for slot in node.operand_slots:
                last_use[root(slot)] = index
        protected = {root(s) for s in self._output_slots} | set(self._input_slots)
        protected |= set(self._constants)
        for index, node in enumerate(self._nodes):
            node.overwritable = tuple(
                root(s) not in protected and last_use.get(root(s)) == index
                and node.operand_slots.count(s) == 1
                for s in node.operand_slots
            )

    # ------------------------------------------------------------------ properties

    @property
    def batch_separable(self) -> bool:
        """True when any number of samples runs as one batch."""
        return self._separable

    @property
    def input_shapes(self) -> dict[str, Shape]:
        """Per-sample input shapes: the IR shapes without the batch axis."""
        return {n: s[1:] for n, s in self.ir_input_shapes.items()}

    # ------------------------------------------------------------------ running

    def _program(self, rows: int) -> _Program:
        """The plan instantiated for activations whose axis 0 has `rows` rows (cached)."""
        if rows in self._programs:
            self._programs.move_to_end(rows)
            return self._programs[rows]
        shapes = [
            (rows, *shape[1:]) if batched and rows != self.batch else shape
            for shape, batched in zip(self._shapes, self._batched)
        ]
        slots: list = [None] * len(shapes)
        for slot, value in self._constants.items():
            slots[slot] = value
        steps = []
        for node in self._nodes:
            epilogue = tuple(
                instantiate(Binding(
                    tuple(shapes[s] for s in slots), shapes[node.result_slot], node.dtype,
                    (node.dtype,) * len(slots), (False,) * len(slots),
                ))
                for instantiate, slots in node.epilogue
            )
            binding = Binding(
                tuple(shapes[s] for s in node.operand_slots), shapes[node.result_slot],
                node.dtype, node.operand_dtypes, node.overwritable, epilogue,
            )
            steps.append(_step(node.instantiate(binding), node.operand_slots, node.result_slot))
        program = _Program(slots, steps)
        self._programs[rows] = program
        if len(self._programs) > self.MAX_CACHED_PROGRAMS:
            self._programs.popitem(last=False)
        return program

    def _check_inputs(self, inputs: Mapping[str, np.ndarray]) -> tuple[list[np.ndarray], int]:
        """The inputs in argument order, as arrays of the IR dtype, and the sample count."""
        unknown = sorted(set(inputs) - set(self.input_names))
        if unknown:
            raise HwcError(f"unknown input {unknown[0]!r} (the graph's inputs: {', '.join(self.input_names)})")
        arrays, count = [], None
        for name in self.input_names:
            if name not in inputs:
                raise HwcError(f"missing input {name!r}")
            array = np.asarray(inputs[name])
            expected, dtype = self.input_shapes[name], self.input_dtypes[name]
            if array.ndim != len(expected) + 1 or array.shape[1:] != expected or array.shape[0] == 0:
                raise HwcError(
                    f"input {name!r}: expected samples of shape {list(expected)} stacked on axis 0 "
                    f"(IR shape {list(self.ir_input_shapes[name])}), got shape {list(array.shape)}"
                )
            if array.dtype.kind != dtype.kind:
                raise HwcError(f"input {name!r}: expected {dtype} data, got {array.dtype}")
            if count is not None and array.shape[0] != count:
                raise HwcError(f"input {name!r} has {array.shape[0]} samples, other inputs have {count}")
            count = array.shape[0]
            arrays.append(np.ascontiguousarray(array, dtype=dtype))
        return arrays, count or 0

    def _chunk_rows(self) -> int:
        """Rows per batched run, bounded by MAX_BATCH_BYTES of activations."""
        per_row = sum(
            int(np.prod(shape[1:])) * 8 for shape, b in zip(self._shapes, self._batched) if b
        )
        return max(1, self.MAX_BATCH_BYTES // max(per_row, 1))

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for samples stacked on axis 0 of every input.

        In batched mode any sample count works; otherwise it must be a multiple of
        the IR batch. Returned arrays are fresh (not the plan's buffers).
        """
        arrays, count = self._check_inputs(inputs)
        if not arrays:
            return dict(zip(self.output_names, self._run_rows([])))
        if self._separable:
            step = self._chunk_rows()
        else:
            if count % self.batch:
                raise HwcError(
                    f"this graph runs in batches of {self.batch}: got {count} samples, "
                    f"not a multiple of {self.batch}"
                )
            step = self.batch
        pieces: list[list[np.ndarray]] = [[] for _ in self._output_slots]
        for begin in range(0, count, step):
            chunk = [a[begin:begin + step] for a in arrays]
            for out, piece in zip(pieces, self._run_rows(chunk)):
                out.append(piece)
        return {
            name: parts[0] if len(parts) == 1 else np.concatenate(parts)
            for name, parts in zip(self.output_names, pieces)
        }

    def _run_rows(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        program = self._program(arrays[0].shape[0] if arrays else self.batch)
        slots = program.slots
        for slot, array in zip(self._input_slots, arrays):
            slots[slot] = array
        for step in program.steps:
            step(slots)
        results = [np.array(slots[s], copy=True) for s in self._output_slots]
        for slot in self._input_slots:
            slots[slot] = None
        return results


class PlanExecutor:
    """What every executor built on a `GraphPlan` shows of it: the graph's input and
    output names and the per-sample input shapes. Subclasses set `self.plan`."""

    plan: GraphPlan

    @property
    def input_names(self) -> list[str]:
        return self.plan.input_names

    @property
    def output_names(self) -> list[str]:
        return self.plan.output_names

    @property
    def input_shapes(self) -> dict[str, Shape]:
        """Per-sample shape of each input: its IR shape without the batch axis."""
        return self.plan.input_shapes
