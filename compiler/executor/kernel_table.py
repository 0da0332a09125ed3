"""Kernel tables: which kernel factory computes which op, and whether running the
op on stacked samples equals running it on each (its batch rule).

The kernel protocol (three stages, so that each piece of work happens as rarely
as it can):

1. `factory(op, constants)` — once per op, at plan time. Reads the op's
   attributes and pre-transforms constant operands (e.g. packs conv weights for
   a GEMM). `constants[i]` is the operand's value when it is a constant, else
   None. Returns an *instantiate* function.
2. `instantiate(binding)` — once per runtime batch size. `binding` gives the
   concrete operand and result shapes; the kernel allocates its buffers here.
   Returns the *kernel*.
3. `kernel(*operands)` — once per run. Returns the result (a tuple of results
   for an op with several); it may return one of its own buffers (overwritten by
   the next run) or a view of an operand, and may write into operand `i` when
   `binding.overwritable[i]`.

Epilogues: an element-wise op whose only operand that is not a constant is the
sole use of a *head* kernel's result (a table registers conv and dense as heads,
batch norm and activations as epilogues) is not a step of its own. Its
instantiated form, `fn(piece)` computing in place, is handed to the head in
`binding.epilogue`, and the head applies it to each piece of its result while
the piece is still in cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue

from compiler.errors import HwcError
from compiler.ir import numpy_dtype
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
    result_shapes: tuple[Shape, ...] = ()
    """Every result's shape (`result_shape` is the first's), for ops with several results."""


Kernel = Callable[..., "np.ndarray | tuple[np.ndarray, ...]"]
"""One result, or a tuple of them for an op with several results."""
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


def per_sample_rule(op: Operation, batched: Sequence[bool]) -> bool:
    """Ops that compute each sample on its own by definition (every op of a dataflow graph)."""
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
