"""The float executor: runs an nn module (float32) with ONNX semantics.

It is the oracle for every level below it and is itself checked against
onnxruntime (rtol 1e-4, atol 1e-5). Compilation happens once, in the
constructor; `run` only executes the prepared steps (see `plan.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from compiler.executor.float_kernels import FLOAT_KERNELS
from compiler.executor.kernel_table import evaluate
from compiler.executor.plan import GraphPlan, PlanExecutor


class FloatExecutor(PlanExecutor):
    """`main` of `module` compiled into numpy kernels.

    Requires a verified module whose ops are nn ops on static shapes, with
    constant conv/dense/batch-norm parameters. `run` takes any number of samples
    stacked on axis 0 of each input (the IR batch is usually 1) and returns the
    outputs stacked the same way, keyed by the `nn.name` of `main`'s results.
    """

    def __init__(self, module: ModuleOp):
        self.plan = GraphPlan(module, FLOAT_KERNELS)

    @property
    def batch_separable(self) -> bool:
        """True when all samples of a run go through the kernels as one batch."""
        return self.plan.batch_separable

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name; raises HwcError naming the input on a wrong shape or dtype."""
        return self.plan.run(inputs)


def evaluate_op(op: Operation, operand_arrays: Sequence[np.ndarray]) -> np.ndarray:
    """The result of one nn op on concrete operand arrays (for constant folding).

    Requires arrays of the op's operand shapes; returns a new array of the op's
    result shape and dtype.
    """
    return evaluate(FLOAT_KERNELS, op, operand_arrays)
