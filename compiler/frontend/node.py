"""What an op handler sees of the ONNX node it converts.

A handler (see `compiler/frontend/ops/`) gets a `NodeImport`: the node's
attributes (decoded, with defaults), its inputs as either activations (SSA
values already in the `nn` graph) or `Constant`s, and `emit` to append `nn` ops.
It returns one value per node output, or raises `Unsupported` with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import onnx
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue

from compiler.frontend.loader import Constant
from compiler.ir import tensor_type

Value = SSAValue | Constant
"""An ONNX tensor during import: an activation in the graph, or known at import."""


class Unsupported(Exception):
    """This node cannot be expressed in `nn`; the message says why (may be empty)."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason


class GraphBuilder(Protocol):
    def emit(self, op: Operation) -> Operation: ...
    def materialise(self, constant: Constant) -> SSAValue: ...
    def use_count(self, name: str) -> int: ...


def shape(value: Value) -> tuple[int, ...]:
    """The static shape of an activation or constant."""
    if isinstance(value, Constant):
        return value.shape
    assert isinstance(value.type, TensorType)
    return tuple(value.type.get_shape())


class NodeImport:
    """One ONNX node being converted: attributes, inputs and an op emitter."""

    def __init__(self, node: onnx.NodeProto, name: str, opset: int,
                 inputs: Sequence[Value | None], graph: GraphBuilder):
        self.node = node
        self.name = name
        self.opset = opset
        self.inputs = list(inputs)
        self.graph = graph
        self._attributes = {a.name: a for a in node.attribute}

    # ---------------------------------------------------------------- attributes

    def attr(self, name: str, default=None):
        """An attribute's value (strings decoded, lists as lists), or `default`."""
        if name not in self._attributes:
            return default
        value = onnx.helper.get_attribute_value(self._attributes[name])
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, (list, tuple)):
            return [v.decode() if isinstance(v, bytes) else v for v in value]
        return value

    def has_attr(self, name: str) -> bool:
        return name in self._attributes

    # ---------------------------------------------------------------- inputs

    def has_input(self, index: int) -> bool:
        return index < len(self.inputs) and self.inputs[index] is not None

    def is_constant(self, index: int) -> bool:
        return self.has_input(index) and isinstance(self.inputs[index], Constant)

    def constant(self, index: int, role: str) -> np.ndarray:
        """The value of input `index`, which must be known at import time."""
        if not self.has_input(index):
            raise Unsupported(f"{role} is missing")
        value = self.inputs[index]
        if not isinstance(value, Constant):
            raise Unsupported(f"{role} must be a constant")
        return value.value()

    def constant_input(self, index: int, role: str) -> Constant:
        """Input `index` as a (lazy) `Constant`, which it must be."""
        value = self.inputs[index] if self.has_input(index) else None
        if not isinstance(value, Constant):
            raise Unsupported(f"{role} must be a constant")
        return value

    def optional_constant(self, index: int, role: str) -> np.ndarray | None:
        return self.constant(index, role) if self.has_input(index) else None

    def activation(self, index: int = 0) -> SSAValue:
        """Input `index` as an SSA value in the graph (constants are materialised)."""
        value = self.inputs[index]
        if isinstance(value, Constant):
            return self.graph.materialise(value)
        assert value is not None
        return value

    def shape(self, index: int = 0) -> tuple[int, ...]:
        value = self.inputs[index]
        assert value is not None
        return shape(value)

    def rank(self, index: int = 0) -> int:
        return len(self.shape(index))

    def output_used(self, index: int) -> bool:
        return index < len(self.node.output) and bool(self.node.output[index]) \
            and self.graph.use_count(self.node.output[index]) > 0

    # ---------------------------------------------------------------- helpers

    def axis(self, axis: int, rank: int) -> int:
        """`axis` normalised to 0..rank-1 (negative counts from the end)."""
        if not -rank <= axis < rank:
            raise Unsupported(f"axis {axis} is out of range for rank {rank}")
        return axis % rank

    def emit(self, op: Operation) -> SSAValue:
        """Append `op` to the graph; its (first) result."""
        self.graph.emit(op)
        return op.results[0]

    @staticmethod
    def type(shape_: Sequence[int]) -> TensorType:
        return tensor_type(shape_)
