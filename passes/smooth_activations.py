"""`smooth-activations{alpha=0.5 calib="data.npz"}`: move range from activations
into weights before quantization (SmoothQuant's migration), without changing the
function.

A per-tensor activation scale is set by the activation's widest channel; when a
few channels are much wider than the rest, the others lose bits. Where an
activation is made by a per-channel scaling and read only by dense layers, each
channel j can be divided by s_j where it is made and multiplied back by s_j in
every reader's weight column j:

* a norm (`nn.rms_norm`, `nn.layer_norm` with constant weight, and bias) read
  only by dense layers: γ_j and β_j divided by s_j;
* a gated product `a * up` (SwiGLU's `silu(gate) * up`) read only by dense layers,
  `up` an `nn.dense` read only by the product: up's weight row j and bias j
  divided by s_j.

`s_j = max|X_j|^α / max|W[:, j]|^(1-α)` over the readers' weights, with `max|X_j|`
the channel's range on the calibration samples (1 where either is 0). α = 0
leaves the activations as they are, α = 1 moves all their range into the weights.

Requires: a float nn module the float executor runs; `calib` as `calibrate`
takes it (random inputs with a warning when empty). Guarantees: the same
function up to float rounding (every rewritten weight is a new constant, so a
weight shared with another op is untouched); the sites' channel ranges are
evened out by s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from compiler.calibration import calibration_samples, graph_input_shapes, probe_module, token_vocabularies
from compiler.errors import HwcError
from compiler.ir import constant_value, is_constant, main_function, make_constant, numpy_dtype
from compiler.weights import WeightStore, store_for
from dialects import nn


@dataclass(frozen=True)
class Site:
    """An activation that can be smoothed: `value`, where its channels are scaled
    (`source`: a norm or a dense), and the dense layers that read it."""

    value: SSAValue
    source: Operation
    readers: tuple[nn.DenseOp, ...]


def dense_readers(value: SSAValue) -> tuple[nn.DenseOp, ...] | None:
    readers = tuple(use.operation for use in value.uses)
    if not readers or not all(isinstance(r, nn.DenseOp) and r.input is value and is_constant(r.weight.owner)
                              for r in readers):
        return None
    return readers


def find_sites(function) -> list[Site]:
    sites = []
    for op in function.body.block.ops:
        readers = dense_readers(op.results[0]) if op.results else None
        if readers is None:
            continue
        if isinstance(op, (nn.RmsNormOp, nn.LayerNormOp)) and _trailing(op) and len(op.operands) > 1 \
                and all(is_constant(v.owner) for v in op.operands[1:]):
            sites.append(Site(op.results[0], op, readers))
        elif isinstance(op, nn.MulOp):
            for up in (op.rhs, op.lhs):
                owner = up.owner
                if isinstance(owner, nn.DenseOp) and up.has_one_use() and is_constant(owner.weight.owner) \
                        and nn.shape_of(up) == nn.shape_of(op.output):
                    sites.append(Site(op.output, owner, readers))
                    break
    return sites


def _trailing(op: nn.RmsNormOp | nn.LayerNormOp) -> bool:
    return op.axis.value.data == len(nn.shape_of(op.input)) - 1


def channel_ranges(module: ModuleOp, values: list[SSAValue], samples: dict[str, np.ndarray]) -> list[np.ndarray]:
    """max |value| per channel (last axis) over the samples, for each of `values` (of `module`'s main)."""
    from compiler.calibration import activations
    from compiler.executor import FloatExecutor

    all_values = activations(module)
    index = {v: i for i, v in enumerate(all_values)}
    executor = FloatExecutor(probe_module(module))
    ranges = [np.zeros(nn.shape_of(v)[-1]) for v in values]
    count = next(iter(samples.values())).shape[0]
    for begin in range(0, count, 8):
        outputs = executor.run({k: v[begin:begin + 8] for k, v in samples.items()})
        for slot, value in enumerate(values):
            data = np.abs(outputs[executor.output_names[index[value]]])
            ranges[slot] = np.maximum(ranges[slot], data.reshape(-1, data.shape[-1]).max(axis=0))
    return ranges


def smoothing_factors(activation: np.ndarray, weights: list[np.ndarray], alpha: float) -> np.ndarray:
    """s_j = max|X_j|^α / max|W[:, j]|^(1-α), 1 where either range is 0, within [1e-4, 1e4]."""
    weight = np.max([np.abs(w).max(axis=0) for w in weights], axis=0)
    usable = (activation > 0) & (weight > 0)
    factors = np.ones_like(activation)
    factors[usable] = activation[usable] ** alpha / weight[usable] ** (1 - alpha)
    return np.clip(factors, 1e-4, 1e4)


@dataclass
class Smoother:
    store: WeightStore
    rewriter: Rewriter

    def replace_constant(self, op: Operation, index: int, data: np.ndarray) -> None:
        """Operand `index` of `op` becomes a new constant holding `data` (in its element type)."""
        old = op.operands[index]
        element = old.type.get_element_type()
        new = make_constant(data.astype(numpy_dtype(element)), self.store, "smoothed", element)
        self.rewriter.insert_op(new, InsertPoint.before(op))
        op.operands[index] = new.results[0]

    def apply(self, site: Site, factors: np.ndarray) -> None:
        source = site.source
        if isinstance(source, nn.DenseOp):
            weight = np.asarray(constant_value(source.weight, self.store), np.float64)
            self.replace_constant(source, 1, weight / factors[:, None])
            if source.bias is not None:
                self.replace_constant(source, 2, np.asarray(constant_value(source.bias, self.store)) / factors)
        else:
            for index in range(1, len(source.operands)):
                data = np.asarray(constant_value(source.operands[index], self.store), np.float64)
                self.replace_constant(source, index, np.broadcast_to(data, factors.shape) / factors)
        for reader in site.readers:
            weight = np.asarray(constant_value(reader.weight, self.store), np.float64)
            self.replace_constant(reader, 1, weight * factors[None, :])


def smooth_activations(module: ModuleOp, alpha: float, calib: str | None) -> int:
    """Apply the migration at every site; the number of sites smoothed."""
    if not 0 <= alpha <= 1:
        raise HwcError(f"smooth-activations: alpha {alpha} must be in 0..1")
    function = main_function(module)
    sites = find_sites(function)
    if not sites:
        return 0
    store = store_for(module)
    samples = calibration_samples(calib, graph_input_shapes(function), None, token_vocabularies(function))
    ranges = channel_ranges(module, [s.value for s in sites], samples)
    smoother = Smoother(store, Rewriter())
    for site, activation in zip(sites, ranges):
        weights = [np.asarray(constant_value(r.weight, store), np.float64) for r in site.readers]
        smoother.apply(site, smoothing_factors(activation, weights, alpha))
    from xdsl.transforms.dead_code_elimination import region_dce

    region_dce(function.body)
    return len(sites)


@dataclass(frozen=True)
class SmoothActivationsPass(ModulePass):
    """Migrate activation range into the weights (see the module docstring)."""

    name = "smooth-activations"

    alpha: float = 0.5
    calib: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        smooth_activations(op, self.alpha, self.calib)
