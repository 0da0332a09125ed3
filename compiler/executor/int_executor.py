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
from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerType, ModuleOp, StringAttr
from xdsl.ir import Attribute

from compiler.errors import HwcError
from compiler.executor.int_kernels import INT_KERNELS
from compiler.executor.plan import Binding, GraphPlan, KernelTable, PlanExecutor
from compiler.ir import main_function, rom_contents
from compiler.numerics import HOST_OPS, dequantize_output, quantize_input, signed_bounds
from compiler.weights import WeightStore, store_for
from dialects.nn import HOST_OP_ATTR, SCALE_ATTR
from dialects.rom import ReadOp



def _kernels_for(store: WeightStore) -> KernelTable:
    """The integer kernels plus `rom.read`, whose contents come from `store`."""
    table = INT_KERNELS.extended("integer executor")

    @table.register(ReadOp)
    def rom_read(op: ReadOp, constants):
        contents = rom_contents(op, store)

        def instantiate(binding: Binding):
            return lambda: contents

        return instantiate

    return table


def _attribute(attrs, index: int, name: str) -> Attribute | None:
    if attrs is None:
        return None
    entry = attrs.data[index]
    assert isinstance(entry, DictionaryAttr)
    return entry.data.get(name)


def _scale(attrs, index: int, what: str) -> float | None:
    attr = _attribute(attrs, index, SCALE_ATTR)
    if attr is None:
        return None
    if not isinstance(attr, FloatAttr) or not attr.value.data > 0:
        raise HwcError(f"{what}: nn.scale must be a positive float, got {attr}")
    return float(attr.value.data)


class IntExecutor(PlanExecutor):
    """`main` of a quantized module compiled into exact integer kernels.

    Requires a verified module whose ops are quantized nn ops on integer tensors
    (as `quantize` produces). Inputs are samples stacked on axis 0, like
    `FloatExecutor`; outputs are keyed by the results' `nn.name`.
    """

    def __init__(self, module: ModuleOp):
        store = store_for(module)
        self.plan = GraphPlan(module, _kernels_for(store))
        function = main_function(module)
        inputs, outputs = function.function_type.inputs.data, function.function_type.outputs.data
        self.input_widths = {n: self._width(t, n) for n, t in zip(self.input_names, inputs)}
        self.output_widths = {n: self._width(t, n) for n, t in zip(self.output_names, outputs)}
        self.input_scales = {n: _scale(function.arg_attrs, i, f"input {n!r}")
                             for i, n in enumerate(self.input_names)}
        self.output_scales = {n: _scale(function.res_attrs, i, f"output {n!r}")
                              for i, n in enumerate(self.output_names)}
        self.host_ops: dict[str, str | None] = {}
        for i, name in enumerate(self.output_names):
            attr = _attribute(function.res_attrs, i, HOST_OP_ATTR)
            if attr is not None and not (isinstance(attr, StringAttr) and attr.data in HOST_OPS):
                raise HwcError(f"output {name!r}: nn.host_op must be one of {', '.join(HOST_OPS)}")
            self.host_ops[name] = attr.data if attr is not None else None

    @staticmethod
    def _width(tensor_type, name: str) -> int:
        element = tensor_type.get_element_type()
        if not isinstance(element, IntegerType):
            raise HwcError(f"the integer executor needs integer graph inputs and outputs; {name!r} is {element}")
        return element.width.data

    def run_int(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw integers out for raw integers in; each input must fit its argument's type."""
        checked = {}
        for name, array in inputs.items():
            array = np.asarray(array)
            if name in self.input_widths:
                if array.dtype.kind not in "iu":
                    raise HwcError(f"input {name!r}: expected integers, got {array.dtype} data")
                lo, hi = signed_bounds(self.input_widths[name])
                if array.size and (array.min() < lo or array.max() > hi):
                    raise HwcError(f"input {name!r}: values outside the {self.input_widths[name]}-bit range [{lo}, {hi}]")
            checked[name] = array
        return self.plan.run(checked)

    def quantize_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The integers the host sends for float inputs (narrow symmetric range)."""
        result = {}
        for name, array in inputs.items():
            scale = self.input_scales.get(name)
            if scale is None:
                raise HwcError(f"input {name!r} has no nn.scale: the module is not quantized")
            result[name] = quantize_input(array, scale, self.input_widths[name])
        return result

    def dequantize_outputs(self, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Floats from the hardware's integers: `q * scale`, then the host op if any."""
        result = {}
        for name, q in outputs.items():
            scale = self.output_scales.get(name)
            if scale is None:
                raise HwcError(f"output {name!r} has no nn.scale: the module is not quantized")
            result[name] = dequantize_output(q, scale, self.host_ops.get(name))
        return result

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Float outputs for float inputs, as the host sees the hardware compute them."""
        return self.dequantize_outputs(self.run_int(self.quantize_inputs(inputs)))
