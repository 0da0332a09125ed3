"""`pad-neurons`: a few zero neurons in a dense layer where a folding of the padded sizes is cheaper or faster.

An MVU's folding must divide its dimensions (`pe` divides N, `simd` divides K),
so a layer of power-of-two sizes can only take power-of-two multipliers: the
16-64-32-32-5 MLP at 1 M inferences/s (200 cycles at 200 MHz) takes 8 + 16 + 8
+ 1 = 33 multipliers for 4,256 MACs, where 22 would do the work. With two zero
neurons, fc0's 66 outputs fold by 3 (6 multipliers, 176 cycles), and so on.

Where an MVU's output goes to one other MVU and nowhere else (a dense chain),
padding the producer with `a` neurons (zero weights, zero bias, a copy of its last
channel's requantization) and the consumer with `a` inputs (zero weights) leaves
every real output unchanged: a padding neuron's output is a constant that only
zero weights read. For every chain this pass picks the paddings (at most an
eighth of the padded layer and 16: `MAX_PAD_FRACTION`, `MAX_PAD`) that minimise
the multipliers of the cheapest foldings meeting the target (each MVU's cheapest
folding with ii <= clock / target, as `fold-parallelism` takes it), by a dynamic
program over the chain; fewer padding elements break ties, and a chain is padded
only where that saves multipliers.

With a multiplier budget instead (`max-multipliers`, no target), the bound is the
fewest cycles per inference whose cheapest design, chains padded, fits the budget
(a binary search; every other PE at its cheapest folding within the bound), and
the chains are padded for that bound: the design `fold-parallelism` then finds
within the budget is at least as fast as without padding.

Options: `pad-neurons{target-fps=1000000 clock-mhz=200}` (the fold target) or
`pad-neurons{max-multipliers=24}`; with neither the pass does nothing.

Requires: `map-to-spatial` has run; the MVUs' ROM contents are in the module or
its weight store. Guarantees: the graph's outputs are the same integers; a padded
MVU records its padding (`pad_in`, `pad_out`, counted out of the model's weights
and MACs in the report); streams between padded MVUs carry the padding elements;
foldings are left to `fold-parallelism`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, SymbolRefAttr, f64, i64
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from compiler.errors import HwcError
from compiler.ir import dense_to_numpy, numpy_to_dense, tensor_type
from compiler.weights import store_for
from dialects.rom import RomOp, lookup_rom
from dialects.spatial import GraphOp, MVUOp, StreamType, divisors, stream_of
from passes.fold_parallelism import is_decoder, set_timing
from passes.fold_plans import pe_choices, target_bound
from passes.spatial_mapper import rom_op

MAX_PAD_FRACTION = 8
MAX_PAD = 16
"""A layer of N neurons gets at most min(ceil(N / MAX_PAD_FRACTION), MAX_PAD) padding
neurons (the search is quadratic in that per link of a chain)."""

INFEASIBLE = (math.inf, math.inf)


def cheapest_multipliers(vectors: int, outputs: int, inputs: int, bound: int) -> float:
    """The fewest multipliers (pe·simd, pe | outputs, simd | inputs) of an MVU of
    that shape running at most `bound` cycles per inference; inf when none does."""
    best = math.inf
    for pe in divisors(outputs):
        for simd in divisors(inputs):
            if vectors * (outputs // pe) * (inputs // simd) <= bound:
                best = min(best, pe * simd)
    return best


def dense_chains(graph: GraphOp) -> list[list[MVUOp]]:
    """Maximal chains of MVUs, each one's output read by the next alone."""
    def successor(op: MVUOp) -> MVUOp | None:
        uses = list(op.output.uses)
        if len(uses) == 1 and isinstance(uses[0].operation, MVUOp):
            return uses[0].operation
        return None

    mvus = [op for op in graph.body.block.ops if isinstance(op, MVUOp)]
    followed = {id(successor(op)) for op in mvus if successor(op) is not None}
    chains = []
    for head in mvus:
        if id(head) in followed:
            continue
        chain = [head]
        while (following := successor(chain[-1])) is not None:
            chain.append(following)
        if len(chain) > 1:
            chains.append(chain)
    return chains


def best_padding(chain: Sequence[MVUOp], bound: int) -> tuple[float, list[int]]:
    """(multipliers, paddings of the chain's len-1 links) minimising the
    multipliers, then the padding elements, of the cheapest foldings within
    `bound`; the paddings are all zero unless they save multipliers (inf
    multipliers when the chain cannot meet `bound`)."""
    choices = [range(0, min(-(-op.out_features // MAX_PAD_FRACTION), MAX_PAD) + 1) for op in chain[:-1]]

    @functools.cache
    def cost(index: int, pad_in: int, pad_out: int) -> float:
        op = chain[index]
        return cheapest_multipliers(op.vectors, op.out_features + pad_out, op.in_features + pad_in, bound)

    # best[a] = (multipliers, padding, paddings so far) with the link into op i padded by a
    best = {0: (0.0, 0, [])}
    for index in range(len(chain) - 1):
        step = {}
        for pad_out in choices[index]:
            candidates = [(m + cost(index, pad_in, pad_out), padded + pad_out, pads + [pad_out])
                          for pad_in, (m, padded, pads) in best.items()]
            step[pad_out] = min(candidates, key=lambda c: (c[0], c[1]))
        best = step
    last = len(chain) - 1
    finals = [(m + cost(last, pad_in, 0), padded, pads) for pad_in, (m, padded, pads) in best.items()]
    multipliers, _, pads = min(finals, key=lambda c: (c[0], c[1]))
    unpadded = sum(cost(i, 0, 0) for i in range(len(chain)))
    return (multipliers, pads) if multipliers < unpadded else (unpadded, [0] * (len(chain) - 1))


def budget_bound(graph: GraphOp, chains: Sequence[Sequence[MVUOp]], budget: int) -> int | None:
    """The fewest cycles per inference whose cheapest design, chains padded, takes at
    most `budget` multipliers (None when even one multiplier per layer is over):
    cost is non-increasing in the bound, so a binary search."""
    in_chains = {op for chain in chains for op in chain}
    others = [pe for pe in pe_choices(graph) if pe.op not in in_chains]

    def cost(bound: int) -> float:
        total = sum(best_padding(chain, bound)[0] for chain in chains)
        for pe in others:
            folding = pe.best_within(bound)
            total += math.inf if folding is None else folding.multipliers
        return total

    slowest = max([pe.narrowest.ii for pe in pe_choices(graph)], default=1)
    if cost(slowest) > budget:
        return None
    low, high = 1, slowest
    while low < high:
        middle = (low + high) // 2
        if cost(middle) <= budget:
            high = middle
        else:
            low = middle + 1
    return low


@dataclass
class _RomPadder:
    """Replaces an MVU's ROMs by padded copies (new symbols, the old one erased
    when nothing else reads it)."""

    module: ModuleOp

    def pad(self, op: MVUOp, field: str, counts: Sequence[int], zeros: bool) -> None:
        """Pad ROM `field` of `op` by `counts[axis]` at the end of each axis, with
        zeros or copies of the last element; a ROM of one value for every channel
        (a multiplier or offset of shape [1]) stays."""
        symbol = getattr(op, field)
        if symbol is None:
            return
        rom = lookup_rom(op, symbol)
        if rom is None:
            raise HwcError(f"pad-neurons: layer '{op.layer.data}' reads a missing ROM @{symbol.string_value()}")
        store = store_for(self.module)
        # In the store's own integer type: a big layer's weights are not copied to int64.
        values = dense_to_numpy(rom.value) if rom.value is not None else np.asarray(store.get(rom.sym_name.data))
        if values.ndim != len(counts) or (field in ("multiplier", "offset") and values.shape == (1,)):
            return
        padded = np.pad(values, [(0, count) for count in counts], mode="constant" if zeros else "edge")
        name = store.unique_key(f"{rom.sym_name.data}_padded")
        if rom.value is not None:  # inline stays inline
            replacement = RomOp(name, tensor_type(padded.shape, rom.type.element_type),
                                value=numpy_to_dense(padded, rom.type.element_type))
        else:
            replacement = rom_op(name, padded, rom.width, store)
        if rom.axis is not None:
            replacement.properties["axis"] = rom.axis
        if rom.scale is not None:
            scale = dense_to_numpy(rom.scale)
            if rom.axis is not None and scale.shape == (values.shape[rom.axis.value.data],):
                scale = np.pad(scale, (0, counts[rom.axis.value.data]), mode="edge")
            replacement.properties["scale"] = numpy_to_dense(scale, f64)
        Rewriter.insert_op(replacement, InsertPoint.before(rom))
        op.properties[field] = SymbolRefAttr(name)
        if not _still_read(self.module, rom.sym_name.data):
            Rewriter.erase_op(rom)


def _still_read(module: ModuleOp, name: str) -> bool:
    for op in module.walk():
        for attr in op.properties.values():
            if isinstance(attr, SymbolRefAttr) and attr.root_reference.data == name:
                return True
    return False


def pad_mvu(op: MVUOp, pad_in: int, pad_out: int, padder: _RomPadder) -> None:
    """`pad_out` zero neurons at the end of `op` (zero weights and bias, the last
    channel's multiplier and offset) and `pad_in` zero inputs (zero weights); its
    output stream retyped. Timing is set by the caller, once every stream is."""
    padder.pad(op, "weights", (pad_out, pad_in), zeros=True)
    padder.pad(op, "bias", (pad_out,), zeros=True)
    padder.pad(op, "multiplier", (pad_out,), zeros=False)
    padder.pad(op, "offset", (pad_out,), zeros=False)
    if pad_out:
        stream = stream_of(op.output)
        frame = (*stream.frame[:-1], stream.frame[-1] + pad_out)
        Rewriter.replace_value_with_new_type(op.output, StreamType(frame, stream.element_type, stream.lanes.data))
    old_in, old_out = op.padding
    if pad_in:
        op.properties["pad_in"] = IntegerAttr(old_in + pad_in, i64)
    if pad_out:
        op.properties["pad_out"] = IntegerAttr(old_out + pad_out, i64)


def pad_neurons(module: ModuleOp, target_fps: float | None = None, clock_mhz: float = 200.0,
                max_multipliers: int | None = None) -> None:
    """Pad the dense chains of every `spatial.graph` of `module` (the pass): for
    `target_fps` the fewest multipliers meeting it; for `max_multipliers` alone the
    fewest cycles per inference within that budget. Neither: nothing."""
    if target_fps is None and max_multipliers is None:
        return
    if (target_fps is not None and not target_fps > 0) or not clock_mhz > 0:
        raise HwcError("pad-neurons: target-fps and clock-mhz must be positive")
    pads: dict[MVUOp, list[int]] = {}
    for graph in [op for op in module.walk() if isinstance(op, GraphOp)]:
        if is_decoder(graph):
            continue  # a decoder's speed is its latency per token (`target-tps`), not a frame rate
        chains = dense_chains(graph)
        if not chains:
            continue
        bound = (target_bound(target_fps, clock_mhz) if target_fps is not None
                 else budget_bound(graph, chains, max_multipliers))
        if bound is None or bound < 1:
            continue  # out of reach or over budget either way: fold-parallelism says so
        for chain in chains:
            for producer, consumer, count in zip(chain, chain[1:], best_padding(chain, bound)[1]):
                if count:
                    pads.setdefault(producer, [0, 0])[1] = count
                    pads.setdefault(consumer, [0, 0])[0] = count
    padder = _RomPadder(module)
    for op, (pad_in, pad_out) in pads.items():
        pad_mvu(op, pad_in, pad_out, padder)
    for op in pads:
        set_timing(op)


@dataclass(frozen=True)
class PadNeuronsPass(ModulePass):
    """Pad dense chains so that cheaper foldings divide them (see the module docstring)."""

    name = "pad-neurons"

    target_fps: int | float | None = None
    clock_mhz: int | float = 200.0
    max_multipliers: int | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        pad_neurons(op, self.target_fps, self.clock_mhz, self.max_multipliers)
        op.verify()
