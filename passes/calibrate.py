"""`calibrate{calib="data.npz" samples=N}`: record the float range of every
activation on the IR, for `quantize` to choose its scales from.

The float model (`compiler.executor.FloatExecutor`) runs on the calibration
samples, in chunks; for every graph input and every activation (an op result
that depends on a graph input) the largest |value| over all samples is written
as `nn.absmax` (an f64): on `main`'s argument attributes for the inputs, on the
producing op for the activations.

Options: `calib` is an `.npz` of inputs (keys = graph input names, samples on
axis 0; relative paths against the current directory). Without it, random
normal samples stand in and a warning is printed on stderr, unless the model
quantizes its inputs and outputs itself (QDQ, QONNX: its scales need no
calibration); such a model given `calib` gets a warning that it is not needed. `samples` keeps the
first N samples of the file (all when omitted) or draws N random ones (64 when
omitted).

Requires: a verified float nn module (`main` with float inputs) that the float
executor runs; every op that produces an activation has one result.
Guarantees: every graph input and activation of `main` carries `nn.absmax`
(finite, >= 0); the IR is otherwise unchanged. HwcError (one line) for an
unreadable or mismatched `.npz`, or NaN/infinity in the float model.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from compiler.calibration import (
    activation_absmax, calibration_samples, graph_input_shapes, record_ranges, token_vocabularies,
)
from compiler.diagnostics import warn
from compiler.ir import main_function
from passes.quantize_given import states_its_quantization


@dataclass(frozen=True)
class CalibratePass(ModulePass):
    """Record `nn.absmax` on every activation (see the module docstring)."""

    name = "calibrate"

    calib: str | None = None
    samples: int | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        function = main_function(op)
        quantized = states_its_quantization(function)
        if quantized and self.calib:
            warn("calibrate: the model quantizes its inputs and outputs itself; the calibration data only "
                 "sets the scales of values it leaves in float, if any")
        inputs = calibration_samples(self.calib, graph_input_shapes(function), self.samples,
                                     token_vocabularies(function), quiet=quantized)
        record_ranges(op, activation_absmax(op, inputs))
