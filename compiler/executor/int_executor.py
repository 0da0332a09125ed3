"""The integer executor: the bit-exact specification of what the hardware computes.

It runs a quantized module (the output of the `quantize` pass, optionally with
weights in `rom.read`s) with the exact integer semantics of `int_kernels.py`.
Compilation happens once, in the constructor (`plan.GraphPlan`).

Two entry points:

* `run_int({name: ints})` — the raw integers in and out, what the hardware's
  streams carry;
* `run({name: floats})` — the host's view: each input is quantized with its
  argument's `nn.scale` (`q = clamp(floor(x / s + 0.5), -(2^(b-1)-1), 2^(b-1)-1)`),
  the graph runs, each output is dequantized with its result's `nn.scale`
  (`y = q * s`) and the result's `nn.host_op` (softmax / log_softmax over the
  last axis) is applied in float.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.executor.host import HostInterface, function_ports
from compiler.executor.int_kernels import INT_KERNELS
from compiler.executor.kernel_table import Binding, KernelTable
from compiler.executor.plan import GraphPlan, PlanExecutor
from compiler.ir import main_function, rom_contents
from compiler.weights import WeightStore, store_for
from dialects.rom import ReadOp


def int_kernels_for(store: WeightStore) -> KernelTable:
    """The integer kernels plus `rom.read`, whose contents come from `store`."""
    table = INT_KERNELS.extended("integer executor")

    @table.register(ReadOp)
    def rom_read(op: ReadOp, constants):
        contents = rom_contents(op, store)

        def instantiate(binding: Binding):
            return lambda: contents

        return instantiate

    return table


class IntExecutor(PlanExecutor):
    """`main` of a quantized module compiled into exact integer kernels.

    Requires a verified module whose ops are quantized nn ops on integer tensors
    (as `quantize` produces). Inputs are samples stacked on axis 0, like
    `FloatExecutor`; outputs are keyed by the results' `nn.name`. The host side
    (checks, scales, host ops) is `self.host` (`host.py`).
    """

    def __init__(self, module: ModuleOp):
        store = store_for(module)
        self.plan = GraphPlan(module, int_kernels_for(store))
        self.host = HostInterface(*function_ports(main_function(module)), what="module")

    @property
    def input_widths(self) -> dict[str, int]:
        return {p.name: p.width for p in self.host.inputs}

    @property
    def output_widths(self) -> dict[str, int]:
        return {p.name: p.width for p in self.host.outputs}

    @property
    def input_scales(self) -> dict[str, float | None]:
        return {p.name: p.scale for p in self.host.inputs}

    @property
    def output_scales(self) -> dict[str, float | None]:
        return {p.name: p.scale for p in self.host.outputs}

    @property
    def host_ops(self) -> dict[str, str | None]:
        return {p.name: p.host_op for p in self.host.outputs}

    def run_int(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw integers out for raw integers in; each input must fit its argument's type."""
        return self.plan.run(self.host.check_ints(inputs))

    def quantize_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The integers the host sends for float inputs (narrow symmetric range)."""
        return self.host.quantize_inputs(inputs)

    def dequantize_outputs(self, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Floats from the hardware's integers: `q * scale`, then the host op if any."""
        return self.host.dequantize_outputs(outputs)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Float outputs for float inputs, as the host sees the hardware compute them."""
        return self.dequantize_outputs(self.run_int(self.quantize_inputs(inputs)))
