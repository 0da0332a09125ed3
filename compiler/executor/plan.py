"""Compile-once execution plans for a graph body: `main` of an nn module or a
`spatial.graph`.

An executor is a `KernelTable` (op class → kernel factory, `kernel_table.py`)
plus this module's `GraphPlan`, which walks the body once and turns it into a
list of steps over numbered slots. Nothing here knows what a kernel computes:
the float, integer and spatial executors share the machinery and differ only in
their tables and in how their body names and shapes its values (`Body`).

Batching: the IR's batch (axis 0 of every activation, usually 1) is fixed, but
`GraphPlan.run` takes any number of samples stacked on axis 0. When the graph is
*batch-separable* (every activation keeps axis 0 as the batch, checked per op
by a `BatchRule`), all samples run as one batch; otherwise the samples run in
chunks of the IR's batch.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.dialects.func import FuncOp
from xdsl.ir import Operation, SSAValue

from compiler.boundary import check_input_dtype
from compiler.errors import HwcError
from compiler.executor.host import port_names
from compiler.executor.kernel_table import Binding, Instantiate, Kernel, KernelTable, Shape, evaluate
from compiler.ir import constant_value, is_constant, main_function, numpy_dtype
from compiler.weights import store_for
from dialects import nn


@dataclass
class Body:
    """What a plan runs: the ops of a block, its inputs and returned values, their
    names, and the shape (batch axis first) and numpy dtype of each value."""

    ops: list[Operation]
    """The block's ops but its terminator, in order."""
    inputs: list[SSAValue]
    outputs: list[SSAValue]
    input_names: list[str]
    output_names: list[str]
    shape_of: Callable[[SSAValue], Shape]
    dtype_of: Callable[[SSAValue], np.dtype]


def function_body(module: ModuleOp, function: FuncOp | None = None) -> Body:
    """`function` (default `main`) of an nn module: tensors named by the arguments'
    and results' `nn.name`."""
    function = function or main_function(module)
    block = function.body.block
    terminator = block.last_op
    for arg in block.args:
        if not isinstance(arg.type, TensorType) or len(arg.type.get_shape()) < 1:
            raise HwcError("every graph input must be a tensor of rank >= 1")
    outputs = list(terminator.operands) if terminator is not None else []
    return Body(
        ops=[op for op in block.ops if op is not terminator],
        inputs=list(block.args),
        outputs=outputs,
        input_names=port_names(function.arg_attrs, len(block.args), "input"),
        output_names=port_names(function.res_attrs, len(outputs), "output"),
        shape_of=nn.shape_of,
        dtype_of=lambda value: numpy_dtype(value.type.get_element_type()),
    )


# --------------------------------------------------------------------------- the plan


@dataclass
class _Node:
    """One op of the graph, prepared once."""

    op_name: str
    instantiate: Instantiate
    operand_slots: tuple[int, ...]
    result_slots: tuple[int, ...]
    dtype: np.dtype
    overwritable: tuple[bool, ...]
    operand_dtypes: tuple[np.dtype, ...]
    is_head: bool = False
    epilogue: list[tuple[Callable, tuple[int, ...]]] = field(default_factory=list)
    """Fused ops: (instantiate, operand slots) each."""

    @property
    def result_slot(self) -> int:
        return self.result_slots[0]


@dataclass
class _Program:
    """The steps and slots of a plan, instantiated for one runtime batch size."""

    slots: list
    steps: list[Callable[[list], None]]
    results: list[tuple[int, ...]]
    """The slots each step writes."""


def _step(kernel: Kernel, operand_slots: tuple[int, ...], result_slots: tuple[int, ...]):
    """A closure running `kernel` on slots; unrolled for the common arities."""
    if len(result_slots) > 1:

        def step(slots: list) -> None:
            for slot, value in zip(result_slots, kernel(*[slots[i] for i in operand_slots])):
                slots[slot] = value

        return step
    (result_slot,) = result_slots
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


class GraphPlan:
    """A graph body (`main` of `module` unless `body` is given) compiled into kernels
    over slots, runnable on batches.

    Requires every op of the body to be in `table` (or be a constant) and every
    value to be statically shaped. Guarantees that `run` never touches
    the IR: it only executes steps (instantiated once per runtime batch size and
    cached).
    """

    MAX_CACHED_PROGRAMS = 4
    MAX_BATCH_BYTES = 256 << 20
    """Samples of one batched run are split into chunks whose activations stay below this."""

    def __init__(self, module: ModuleOp, table: KernelTable, body: Body | None = None):
        self.table = table
        body = body or function_body(module)
        store = store_for(module)
        self._body = body
        self.input_names, self.output_names = body.input_names, body.output_names
        self.ir_input_shapes = {n: body.shape_of(v) for n, v in zip(self.input_names, body.inputs)}
        self.input_dtypes = {n: body.dtype_of(v) for n, v in zip(self.input_names, body.inputs)}
        self.batch = self.ir_input_shapes[self.input_names[0]][0] if self.input_names else 1

        self._slot_of: dict[SSAValue, int] = {}
        self._constants: dict[int, np.ndarray] = {}
        self._shapes: list[Shape] = []
        self._batched: list[bool] = []
        self._superseded: set[SSAValue] = set()  # head results whose slot holds their epilogue's value
        self._input_slots = [self._new_slot(arg, batched=True) for arg in body.inputs]
        table.check_supported([op for op in body.ops if not is_constant(op)])

        self._nodes: list[_Node] = []
        self._producer: dict[int, _Node] = {}
        self._separable = all(self._ir_shape_ok(s) for s in self._input_slots)
        self._view_of: dict[int, int] = {}
        for op in body.ops:
            self._plan_op(op, store)
        self._output_slots = [self._slot_of[v] for v in body.outputs]
        if any(not self._batched[s] for s in self._output_slots):
            self._separable = False
        self._mark_overwritable()
        self._programs: OrderedDict[int, _Program] = OrderedDict()

    # ------------------------------------------------------------------ planning

    def _new_slot(self, value: SSAValue, batched: bool) -> int:
        slot = len(self._shapes)
        self._slot_of[value] = slot
        self._shapes.append(self._body.shape_of(value))
        self._batched.append(batched)
        return slot

    def _ir_shape_ok(self, slot: int) -> bool:
        """An activation must have the IR batch as its leading dimension."""
        shape = self._shapes[slot]
        return len(shape) >= 1 and shape[0] == self.batch

    def _plan_op(self, op: Operation, store) -> None:
        if not op.results:
            raise HwcError(f"{self.table.name}: {op.name} must have a result")
        value = constant_value(op, store) if is_constant(op) else None
        if value is not None:
            slot = self._new_slot(op.results[0], batched=False)
            self._constants[slot] = value
            return
        operand_slots = tuple(self._slot_of[v] for v in op.operands)
        batched = [self._batched[s] for s in operand_slots]
        constants = [None if b else self._constants[s] for s, b in zip(operand_slots, batched)]
        if not any(batched):
            if len(op.results) != 1:
                raise HwcError(f"{self.table.name}: {op.name} on constants must have one result to fold")
            slot = self._new_slot(op.results[0], batched=False)
            self._constants[slot] = evaluate(self.table, op, constants)
            return
        if self._fuse_into_head(op, operand_slots, batched, constants):
            return
        instantiate = self.table.factory(op)(op, constants)
        slots = tuple(self._new_slot(result, batched=True) for result in op.results)
        for slot in slots:
            self._check_separable(op, operand_slots, batched, slot)
        if isinstance(op, (nn.ReshapeOp, nn.TransposeOp)):
            self._view_of[slots[0]] = self._view_of.get(operand_slots[0], operand_slots[0])
        dtype_of = self._body.dtype_of
        self._nodes.append(_Node(
            op.name, instantiate, operand_slots, slots, dtype_of(op.results[0]), (),
            tuple(dtype_of(v) for v in op.operands), is_head=type(op) in self.table.heads,
        ))
        self._producer[slots[0]] = self._nodes[-1]

    def _check_separable(self, op: Operation, operand_slots, batched, result_slot: int) -> None:
        if self._separable:
            rule = self.table.batch_rules[type(op)]
            shapes_ok = all(self._ir_shape_ok(s) for s, b in zip(operand_slots, batched) if b)
            self._separable = shapes_ok and self._ir_shape_ok(result_slot) and rule(op, batched)

    def _fuse_into_head(self, op: Operation, operand_slots, batched, constants) -> bool:
        """Make `op` an epilogue of the head producing its operand 0, when allowed."""
        factory = self.table.epilogues.get(type(op))
        head = self._producer.get(operand_slots[0])
        if (factory is None or head is None or not head.is_head or len(op.results) != 1 or any(batched[1:])
                or not op.operands[0].has_one_use()
                or nn.shape_of(op.results[0]) != nn.shape_of(op.operands[0])
                or op.results[0].type != op.operands[0].type):
            return False
        head.epilogue.append((factory(op, constants), operand_slots))
        self._superseded.add(op.operands[0])
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
        steps, results = [], []
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
                tuple(shapes[s] for s in node.result_slots),
            )
            steps.append(_step(node.instantiate(binding), node.operand_slots, node.result_slots))
            results.append(node.result_slots)
        program = _Program(slots, steps, results)
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
            check_input_dtype(name, array, dtype)
            if count is not None and array.shape[0] != count and not self._at_ir_shapes(inputs):
                raise HwcError(f"input {name!r} has {array.shape[0]} samples, other inputs have {count}")
            count = array.shape[0] if count is None else count
            arrays.append(np.ascontiguousarray(array, dtype=dtype))
        return arrays, count or 0

    def _at_ir_shapes(self, inputs: Mapping[str, np.ndarray]) -> bool:
        """Every input given exactly at its IR shape: one run of the IR batch, even when
        the inputs' leading dimensions differ (a graph whose axis 0 is not a batch)."""
        return all(np.shape(inputs.get(n)) == self.ir_input_shapes[n] for n in self.input_names)

    def _chunk_rows(self) -> int:
        """Rows per batched run, bounded by MAX_BATCH_BYTES of activations."""
        per_row = sum(
            math.prod(shape[1:]) * 8 for shape, b in zip(self._shapes, self._batched) if b
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
        if count <= step:
            return dict(zip(self.output_names, self._run_rows(arrays)))
        pieces: list[list[np.ndarray]] = [[] for _ in self._output_slots]
        for begin in range(0, count, step):
            chunk = [a[begin:begin + step] for a in arrays]
            for out, piece in zip(pieces, self._run_rows(chunk)):
                out.append(piece)
        return {
            name: parts[0] if len(parts) == 1 else np.concatenate(parts)
            for name, parts in zip(self.output_names, pieces)
        }

    def trace(self, inputs: Mapping[str, np.ndarray]) -> dict[SSAValue, np.ndarray]:
        """Every value of the body (inputs, constants, each op's results) for one run on
        `inputs`, as fresh arrays: what each op reads and writes, to test ops one at a
        time. A head's result fused with an epilogue is left out (only the fused value
        exists). All samples run as one batch (or one IR batch when not separable)."""
        arrays, count = self._check_inputs(inputs)
        if not self._separable and count != self.batch:
            raise HwcError(f"tracing runs one batch of {self.batch} samples, got {count}")
        program = self._program(count if arrays else self.batch)
        slots = program.slots
        for slot, array in zip(self._input_slots, arrays):
            slots[slot] = array
        values = {slot: np.array(slots[slot], copy=True) for slot in (*self._input_slots, *self._constants)}
        for step, written in zip(program.steps, program.results):
            step(slots)
            values.update((slot, np.array(slots[slot], copy=True)) for slot in written)
        for slot in self._input_slots:
            slots[slot] = None
        return {value: values[slot] for value, slot in self._slot_of.items() if value not in self._superseded}

    def _run_rows(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        program = self._program(arrays[0].shape[0] if arrays else self.batch)
        slots = program.slots
        for slot, array in zip(self._input_slots, arrays):
            slots[slot] = array
        with np.errstate(all="ignore"):  # IEEE semantics (sqrt(-1) is NaN, as in ONNX): no warnings
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
