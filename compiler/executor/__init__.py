"""Executors: compile a module once into a plan of numpy kernels, then run it on batches.

`FloatExecutor` runs float nn modules with ONNX semantics; `evaluate_op` computes
one nn op on concrete arrays. `plan.GraphPlan` and `kernel_table.KernelTable` are the
shared machinery other executors plug their own kernels into.
"""

from compiler.executor.float_executor import FloatExecutor, evaluate_op
from compiler.executor.int_executor import IntExecutor
from compiler.executor.kernel_table import Binding, KernelTable
from compiler.executor.plan import GraphPlan
from compiler.executor.spatial_executor import SpatialExecutor

__all__ = ["Binding", "FloatExecutor", "GraphPlan", "IntExecutor", "KernelTable", "SpatialExecutor", "evaluate_op"]
