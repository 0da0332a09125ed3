"""Constant sub-graph folding at import time.

A node whose inputs are all known at import time (initializers, Constant
nodes, results of other folded nodes, or the shape of a statically shaped
activation) is evaluated right away with ONNX's own reference implementation
(`onnx.reference.ReferenceEvaluator` on a one-node model at the model's
opset), so torch's `Shape -> Gather -> Unsqueeze -> Concat -> Reshape` chains
and the like never reach the `nn` dialect.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import helper

from compiler.frontend.loader import Constant

SHAPE_OPS = frozenset({"Shape", "Size"})
"""Ops that only look at the shape of their input, so they fold even on activations."""

NON_DETERMINISTIC = frozenset({
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
    "Multinomial", "Bernoulli",
})


IMPORTED_BY_HANDLER = frozenset({"DequantizeLinear"})
"""Ops whose handler evaluates them on constants itself, keeping what folding would
lose (a quantized weight's integers and scales)."""


class FoldingError(Exception):
    """The reference evaluator could not evaluate a node."""


def is_foldable(node: onnx.NodeProto) -> bool:
    """Whether a node may be evaluated at import when its inputs are constant.

    Requires a standard-domain, deterministic op without sub-graphs, which its
    handler does not evaluate itself (`IMPORTED_BY_HANDLER`).
    """
    if node.domain not in ("", "ai.onnx") or node.op_type in NON_DETERMINISTIC | IMPORTED_BY_HANDLER:
        return False
    return not any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                   for a in node.attribute)


def shape_stand_in(shape: Sequence[int], dtype=np.float32) -> np.ndarray:
    """An array of `shape` that takes no memory, for ops that only read shapes."""
    return np.broadcast_to(np.zeros((), dtype), tuple(shape))


def evaluate_node(node: onnx.NodeProto, inputs: Sequence[np.ndarray | None],
                  opsets: Sequence[onnx.OperatorSetIdProto]) -> list[np.ndarray]:
    """The outputs of `node` on constant `inputs` (None for an omitted optional input)."""
    feeds = {name: value for name, value in zip(node.input, inputs) if name}
    graph = helper.make_graph(
        [node], "fold",
        [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), None)
         for name, v in feeds.items()],
        [helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)
         for name in node.output if name],
    )
    model = helper.make_model(graph, opset_imports=list(opsets))
    try:
        from onnx.reference import ReferenceEvaluator

        results = ReferenceEvaluator(model).run(None, feeds)
    except Exception as error:  # the reference evaluator raises many kinds
        message = str(error).strip().splitlines()
        raise FoldingError(message[0][:200] if message else type(error).__name__) from None
    return [np.asarray(r) for r in results]


def fold(node: onnx.NodeProto, inputs: Sequence[Constant | None],
         opsets: Sequence[onnx.OperatorSetIdProto]) -> list[Constant | None]:
    """Evaluate `node` on constants; results are `Constant`s named after the outputs."""
    values = evaluate_node(node, [c.value() if c is not None else None for c in inputs], opsets)
    produced = iter(values)
    return [Constant.of(name, next(produced)) if name else None for name in node.output]
