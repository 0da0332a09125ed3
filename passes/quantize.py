"""`quantize{wbits=8 abits=8}`: turn a float nn graph into the integer graph
the hardware computes (DESIGN.md, "Numerics"), with the scales of the ranges
`calibrate` recorded.

Scales (all chosen at compile time, rounding half up: `floor(x + 0.5)`):

* activations: symmetric per tensor, narrow range `[-(2^(abits-1)-1), 2^(abits-1)-1]`,
  `s = absmax / (2^(abits-1)-1)` with the recorded `nn.absmax` (0 -> s = 1);
* weights: symmetric per output channel with `wbits`, `s_w[c] = max|W[c]| / (2^(wbits-1)-1)`;
  with `group_size` (dense layers), per group of inputs under one channel scale
  (`compiler/weight_formats.py`, `nn.group_dense`); `layer_wbits`
  (`"last=8,dense0=6:64"`) gives named layers another format; with
  `requant_digits=N` (N >= 1) each channel's scale is raised to the smallest
  one whose requant multiplier `M[c]` has at most N signed digits
  (`numerics.few_digit_ratios`: at most 2x coarser for N = 1, ~1.2x for N = 2),
  so that a hardwired requant costs N - 1 adders per channel; with
  `weight_scales="tensor"` every channel of a layer takes the largest channel
  scale, so the layer's requant has one multiplier (a constant in hardware);
* accumulators and biases: exact integers at scale `s_x * s_w[c]`, their width
  computed from the value bounds so that overflow is impossible.

A model that states its own quantization (QDQ, QONNX, MatMulNBits: `nn.fake_quant`
and weights with `nn.given_scale` / `nn.given_block_scale`) keeps it: those
activations and weights take the model's scales and integers, not the ones
above, and need no calibrated range (`passes/quantize_given.py`,
docs/prequantized.md); hwc warns once when it chose scales for the rest.

Rewrites, in program order:

* `nn.dense` / `nn.conv` -> the same op on integers (the exact accumulator,
  `nn.acc_bits`) + `nn.requant` (per-channel multiplier M < 2^15, one shift
  <= 62);
* `nn.add` / `nn.sub` of two activations -> both multiplied by integers to a
  common fine scale, exact add, requant; with a constant the constant is
  quantized at that fine scale. `nn.mul` -> exact product + requant (a constant
  factor is quantized per tensor with `wbits`); `nn.div` by a constant is a mul;
* `nn.max_pool`, `nn.relu`, `nn.reshape`, `nn.transpose`, `nn.pad` (its value
  quantized) -> unchanged on integers, same scale; `nn.clip` -> requant by 1;
* `nn.average_pool` -> `nn.sum_pool` + requant by 1/window; when the windows
  divide by different counts n (count_include_pad = 0 with padding), the sum pool
  has `average_times` L = lcm of the counts (each sum times L/n, exact) and the
  requant divides by L; `nn.global_average_pool` -> `nn.global_sum_pool` + requant;
* `nn.sigmoid`, `nn.tanh`, `nn.leaky_relu` -> `nn.lookup` with a 2^abits-entry table;
* `nn.concat` -> every input requantized to the output scale, then concat;
* `nn.batch_norm` (one fold-batchnorm could not fold) -> per-channel integer
  mul and add + requant;
* `nn.lrn` over [N, C, H, W] -> the sum of squares over the channel window (mul,
  1×1 conv with a 0/1 band), requant, a lookup of `(bias + alpha/size·Σ)^(-beta)`,
  mul with the input, requant (docs/operators.md, "LRN on integers");
* `nn.softmax` inside the graph -> `nn.int_softmax` (docs/integer-transformers.md);
  `nn.log_softmax`: refused (see below for the final one); the transformer ops
  (embeddings, act x act matmuls, masked softmaxes, norms, SiLU/GELU tables) in
  `passes/quantize_transformer.py`.

In three steps: the `softmax-to-host` pattern first removes a final softmax
over the last axis (trailing axes of size 1 aside) and records it on the result as `nn.host_op` (the host
applies it in float); the graph quantizer (`passes/quantize_graph.py`, with one
handler per op family in `passes/quantize_ops.py`) then builds the integer body;
last, the `absorb-clamps` patterns fold each relu or clip into the requant
before it (lo/hi). Such a requant already has the scale and width of the value
after the relu or clip.

Graph inputs become `i{abits}` tensors with `nn.scale` on the argument (the host
quantizes `q = clamp(floor(x / s + 0.5), lo, hi)`); results carry `nn.scale`
(the host dequantizes `y = q * s`). A graph output produced by a requant is
`max(abits, 16)` bits wide: a classifier's 8-bit logits often tie at the top,
which alone costs ~2% top-1 agreement, while 16-bit outputs cost nothing inside. Every op producing a quantized activation
carries `nn.scale`; every accumulator-producing op carries `nn.acc_bits`.

Requires: a verified float nn module (`main` with float inputs), ideally after
`fold-batchnorm` and `fold-constants`; conv/dense weights constant; every graph
input and activation carries its range `nn.absmax` (run `calibrate` first; one
HwcError line names the first value without). `wbits` in 2..8, `abits` in 2..16.
Guarantees: `main` is entirely integer; weights are `i{wbits}` constants
(inline when small, else new entries of the module's weight store, quantized
one layer at a time in row blocks); no `nn.absmax` is left;
`compiler.executor.IntExecutor` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import AnyFloat, ModuleOp, TensorType
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.passes import ModulePass

from compiler.calibration import activation_absmax, record_ranges, recorded_ranges
from compiler.errors import HwcError
from compiler.ir import is_constant, main_function
from compiler.numerics import check_bits, check_requant_digits, check_weight_scales
from compiler.weight_formats import WeightFormat, parse_overrides
from compiler.weights import forget_unused_memory_store, store_for
from passes.absorb_clamps import absorb_clamps
from dialects import nn
from passes.quantize_given import given_activations, report_chosen
from passes.quantize_graph import GraphQuantizer, is_index_input
from passes.quantize_ops import HANDLERS
from passes.softmax_to_host import softmax_to_host


# --------------------------------------------------------------------------- the pass


def check_quantizable(function: FuncOp) -> None:
    """HwcError (one line) unless every input of `function` is a float tensor and
    every op has a handler."""
    block = function.body.block
    unsupported = sorted({
        op.name for op in block.ops
        if not isinstance(op, ReturnOp) and not is_constant(op) and type(op) not in HANDLERS
    })
    if unsupported:
        supported = ", ".join(sorted(t.name for t in HANDLERS))
        raise HwcError(f"quantize: unsupported ops {', '.join(unsupported)} (supported: {supported})")
    for arg in block.args:
        if is_index_input(arg) and arg.uses and all(isinstance(u.operation, nn.EmbeddingOp) for u in arg.uses):
            continue
        if not isinstance(arg.type, TensorType) or not isinstance(arg.type.get_element_type(), AnyFloat):
            raise HwcError(f"quantize: graph input {arg.type} is not a float tensor (already quantized?)")


@dataclass(frozen=True)
class QuantizePass(ModulePass):
    """Quantize `main` to integers with the calibrated scales (see the module docstring)."""

    name = "quantize"

    wbits: int = 8
    abits: int = 8
    group_size: int = 0
    layer_wbits: str = ""
    requant_digits: int = 0
    weight_scales: str = "channel"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        check_bits(self.wbits, self.abits, self.name)
        check_requant_digits(self.requant_digits)
        check_weight_scales(self.weight_scales)
        WeightFormat(self.wbits, self.group_size).check(self.name)
        overrides = parse_overrides(self.layer_wbits)
        function = main_function(op)
        check_quantizable(function)
        softmax_to_host(op)
        given = given_activations(function)
        quantizer = GraphQuantizer(function, store_for(op), recorded_ranges(op, missing_ok=bool(given)), self.wbits,
                                   self.abits, HANDLERS, self.group_size, overrides, given=given,
                                   requant_digits=self.requant_digits, weight_scales=self.weight_scales)
        quantizer.run()
        report_chosen(quantizer)
        absorb_clamps(op)
        forget_unused_memory_store(op)


def quantize_with_samples(module: ModuleOp, samples: Mapping[str, np.ndarray],
                          wbits: int = 8, abits: int = 8) -> ModuleOp:
    """`calibrate` on `samples` (keyed by graph input name, samples on axis 0, as
    `compiler.calibration.calibration_samples` gives) then `quantize`, in place;
    the plain Python form of the two passes. Returns `module`."""
    check_bits(wbits, abits, QuantizePass.name)
    record_ranges(module, activation_absmax(module, samples))
    QuantizePass(wbits, abits).apply(Context(), module)
    return module
