"""The spatial executor's kernel of a `spatial.vector` unit: its region run by the
integer executor's kernels (so it computes exactly what the integer step graph
computes), its state (the K/V caches) kept between runs in `VectorStates`.

The state of a unit is an array per state value, in its IR shape: a unit with
state runs one sequence, one sample a run (the chip's one user). It starts at
zeros (an empty cache) and is replaced by the unit's next state after every run;
`VectorStates.reset` empties every cache (a new prompt).
"""

from __future__ import annotations

import numpy as np

from compiler.errors import HwcError
from compiler.executor.int_executor import int_kernels_for
from compiler.executor.kernel_table import Kernel
from compiler.executor.plan import Body, GraphPlan
from compiler.ir import numpy_dtype
from dialects import nn, spatial


class VectorStates:
    """The state of every vector unit of a graph, by layer, between runs."""

    def __init__(self) -> None:
        self.values: dict[str, list[np.ndarray]] = {}

    def reset(self) -> None:
        """Every unit's state back to zeros (empty caches) at its next run."""
        self.values.clear()

    def current(self, layer: str, shapes: list[tuple[int, ...]], dtypes: list[np.dtype]) -> list[np.ndarray]:
        held = self.values.get(layer)
        if held is None:
            return [np.zeros(shape, dtype) for shape, dtype in zip(shapes, dtypes)]
        return held


def region_body(op: spatial.VectorOp) -> Body:
    """The unit's region as a plan body: arguments `arg<i>`, results `result<i>`."""
    block = op.body.block
    terminator = block.last_op
    assert isinstance(terminator, spatial.VectorReturnOp)
    return Body(
        ops=op.ops(),
        inputs=list(block.args),
        outputs=list(terminator.values),
        input_names=[f"arg{i}" for i in range(len(block.args))],
        output_names=[f"result{i}" for i in range(len(terminator.values))],
        shape_of=nn.shape_of,
        dtype_of=lambda value: numpy_dtype(value.type.get_element_type()),
    )


def vector_kernel(op: spatial.VectorOp, module, store, states: VectorStates) -> Kernel:
    """Frames [samples, N] of each input in, of each result out (a tuple when several)."""
    body = region_body(op)
    plan = GraphPlan(module, int_kernels_for(store), body)
    layer, streamed, results = op.layer.data, len(op.inputs), len(op.outputs)
    arg_shapes = [body.shape_of(v) for v in body.inputs]
    state_names = body.input_names[streamed:]
    state_shapes = arg_shapes[streamed:]
    state_dtypes = [body.dtype_of(v) for v in body.inputs[streamed:]]
    input_dtypes = [body.dtype_of(v) for v in body.inputs[:streamed]]

    def run(*frames: np.ndarray):
        samples = frames[0].shape[0] if frames else 1
        if state_names and samples != 1:
            raise HwcError(f"vector unit '{layer}' keeps the K/V caches of one sequence: run one token of one "
                           f"sequence at a time, not {samples} samples")
        inputs = {name: frame.reshape(samples, *shape[1:]).astype(dtype)
                  for name, frame, shape, dtype in zip(body.input_names, frames, arg_shapes, input_dtypes)}
        inputs.update(zip(state_names, states.current(layer, state_shapes, state_dtypes)))
        outputs = plan.run(inputs)
        values = [outputs[name] for name in body.output_names]
        if state_names:
            states.values[layer] = values[results:]
        flat = tuple(v.reshape(samples, -1).astype(np.int64) for v in values[:results])
        return flat if results > 1 else flat[0]

    return run
