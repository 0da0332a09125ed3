"""The PE fusions of `map-to-spatial`: `RewritePattern`s over a `spatial.graph`
that merge two PEs into one with the same integer result. Each is named in
`FUSIONS` (the pass's `fusions` option selects them, so that a lit test shows
one at a time):

* `requant-into-mvu` — a `spatial.requant` after an MVU that has no
  requantization becomes the MVU's `multiplier`/`shift`/`lo`/`hi`;
* `requant-into-eltwise` — a per-tensor `spatial.requant` after an eltwise that
  requantizes by exactly 1 (M = 1, shift 0, the full range of its type) becomes
  the eltwise's requantization;
* `scale-into-eltwise` — an MVU multiplying each channel by the same integer f
  (diagonal weights, no bias, no requantization) in front of an eltwise add/sub
  becomes that operand's scale (× f);
* `diagonal-mvus` — a diagonal MVU (no bias, no requantization) in front of
  another diagonal MVU: one MVU whose diagonal is the product (its ROM keeps the
  second one's symbol);
* `pad-into-swu` — a padding-only SWU (1x1 windows, stride 1) in front of an
  SWU: its pads add to the SWU's (the values must agree where both pad).

Requires: the producer's stream has no other consumer (except for
`pad-into-swu`, which folds the padding into every SWU it feeds and removes the
padding SWU once nothing reads it); ROMs are the module's `rom.rom` symbols.
Guarantees: the graph computes the same integers; the fused PE keeps the
surviving PE's layer and, when the consumer is replaced, the consumer's
attributes (`spatial.probe`); `ii`/`latency` are recomputed if the PE had them.
ROMs nothing reads any more are left for the caller to remove.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, SymbolRefAttr, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern
from xdsl.rewriter import InsertPoint

from compiler.numerics import width_for
from compiler.weights import WeightStore
from dialects import nn, spatial
from dialects.rom import signed_range
from passes.spatial_mapper import find_rom, rom_op, rom_values


def single_use(value: SSAValue) -> bool:
    return len(list(value.uses)) == 1


def rebuilt(like: Operation, op_type: type[Operation], operands: Sequence[SSAValue], result: Attribute,
            properties: dict[str, Attribute], attributes: dict[str, Attribute]) -> Operation:
    """A new PE of `op_type`; with `ii`/`latency` recomputed when `like` had them."""
    properties = {k: v for k, v in properties.items() if k not in ("ii", "latency")}
    op = op_type.create(operands=list(operands), result_types=[result], properties=properties,
                        attributes=dict(attributes))
    if "ii" in like.properties:
        op.ii = IntegerAttr(op.nominal_ii(), i64)
        op.latency = IntegerAttr(op.nominal_latency(), i64)
    return op


def fuse_into_producer(rewriter: PatternRewriter, producer: Operation, consumer: Operation,
                       fused: Operation) -> None:
    """`fused` takes the producer's place and the consumer's result."""
    rewriter.insert(fused, InsertPoint.before(producer))
    rewriter.replace(consumer, [], [fused.results[0]])
    rewriter.erase(producer)


def requant_of(op: spatial.RequantOp) -> dict[str, Attribute]:
    extra = {name: value for name, value in (("offset", op.offset), ("rounding", op.rounding)) if value is not None}
    return {"multiplier": op.multiplier, "shift": op.shift, "lo": op.lo, "hi": op.hi, **extra}


@dataclass
class RomReader:
    """Reads the ROMs the PEs of a graph name."""

    store: WeightStore

    def values(self, op: Operation, symbol: SymbolRefAttr) -> np.ndarray | None:
        rom = find_rom(op, symbol)
        return None if rom is None else rom_values(rom, self.store)

    def diagonal(self, mvu: Operation) -> np.ndarray | None:
        """The diagonal of `mvu`'s weights if they are a square diagonal matrix."""
        if not isinstance(mvu, spatial.MVUOp):
            return None
        weights = self.values(mvu, mvu.weights)
        if weights is None or weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
            return None
        diagonal = np.diag(weights)
        return diagonal if np.array_equal(weights, np.diag(diagonal)) else None

    def plain_diagonal(self, mvu: Operation) -> np.ndarray | None:
        """The diagonal of an MVU that only scales its channels (no bias, no
        requantization) and feeds one consumer."""
        if not isinstance(mvu, spatial.MVUOp) or mvu.bias is not None or mvu.multiplier is not None:
            return None
        if not single_use(mvu.output):
            return None
        return self.diagonal(mvu)


class RequantIntoMVU(RewritePattern):
    """`requant-into-mvu` (module docstring)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spatial.RequantOp, rewriter: PatternRewriter) -> None:
        mvu = op.input.owner
        if not isinstance(mvu, spatial.MVUOp) or mvu.multiplier is not None or not single_use(mvu.output):
            return
        fused = rebuilt(mvu, spatial.MVUOp, [mvu.input], op.output.type,
                        {**mvu.properties, **requant_of(op)}, op.attributes)
        fuse_into_producer(rewriter, mvu, op, fused)


def requantizes_by_one(op: spatial.EltwiseOp) -> bool:
    full_range = signed_range(spatial.stream_of(op.output).width)
    return (op.multiplier.value.data == 1 and op.shift.value.data == 0
            and (op.lo.value.data, op.hi.value.data) == full_range)


@dataclass
class RequantIntoEltwise(RewritePattern):
    """`requant-into-eltwise` (module docstring)."""

    roms: RomReader

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spatial.RequantOp, rewriter: PatternRewriter) -> None:
        eltwise = op.input.owner
        if not isinstance(eltwise, spatial.EltwiseOp) or not single_use(eltwise.output) \
                or not requantizes_by_one(eltwise) or op.offset is not None:
            return
        multiplier = self.roms.values(op, op.multiplier)
        if multiplier is None or multiplier.size != 1:
            return
        properties = {**eltwise.properties, **requant_of(op),
                      "multiplier": IntegerAttr(int(multiplier.reshape(-1)[0]), i64)}
        fused = rebuilt(eltwise, spatial.EltwiseOp, eltwise.operands, op.output.type, properties,
                        op.attributes)
        fuse_into_producer(rewriter, eltwise, op, fused)


@dataclass
class ScaleIntoEltwise(RewritePattern):
    """`scale-into-eltwise` (module docstring)."""

    roms: RomReader

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spatial.EltwiseOp, rewriter: PatternRewriter) -> None:
        if op.kind.data not in ("add", "sub"):
            return
        for index, key in enumerate(("lhs_scale", "rhs_scale")):
            scaling = op.operands[index].owner
            diagonal = self.roms.plain_diagonal(scaling)
            if diagonal is None or diagonal.size == 0 or not np.all(diagonal == diagonal[0]):
                continue
            operands = list(op.operands)
            operands[index] = scaling.input
            scale = op.properties[key].value.data * int(diagonal[0])
            properties = {**op.properties, key: IntegerAttr(scale, i64)}
            rewriter.replace(op, rebuilt(op, spatial.EltwiseOp, operands, op.output.type, properties,
                                         op.attributes))
            rewriter.erase(scaling)
            return


def readers(graph: Operation, symbol: SymbolRefAttr) -> int:
    """How many ops of `graph` name `symbol` in a property."""
    return sum(1 for op in graph.walk() for attr in op.properties.values() if attr == symbol)


@dataclass
class DiagonalMVUs(RewritePattern):
    """`diagonal-mvus` (module docstring)."""

    roms: RomReader

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spatial.MVUOp, rewriter: PatternRewriter) -> None:
        first = op.input.owner
        inner = self.roms.plain_diagonal(first)
        outer = self.roms.diagonal(op) if inner is not None else None
        graph = op.parent_op()
        if outer is None or graph is None or readers(graph, op.weights) != 1:
            return
        product = inner * outer
        rom = find_rom(op, op.weights)
        assert rom is not None
        width = width_for(int(np.abs(product).max(initial=1)))
        rewriter.insert(rom_op(rom.sym_name.data, np.diag(product), width, self.roms.store),
                        InsertPoint.before(rom))
        rewriter.erase(rom)
        rewriter.replace(op, rebuilt(op, spatial.MVUOp, [first.input], op.output.type, op.properties,
                                     op.attributes))
        rewriter.erase(first)


def pads_only(swu: Operation) -> bool:
    """A padding-only SWU: 1x1 windows, stride 1."""
    return isinstance(swu, spatial.SWUOp) and all(
        v == 1 for v in (*swu.kernel.get_values(), *swu.strides.get_values(), *swu.dilations.get_values()))


class PadIntoSWU(RewritePattern):
    """`pad-into-swu` (module docstring)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: spatial.SWUOp, rewriter: PatternRewriter) -> None:
        pad = op.input.owner
        if not pads_only(pad):
            return
        outer, own = pad.pads.get_values(), op.pads.get_values()
        value, own_value = pad.pad_value.value.data, op.pad_value.value.data
        if any(outer) and any(own) and value != own_value:
            return
        properties = {**op.properties, "pads": nn.i64_array([a + b for a, b in zip(outer, own)]),
                      "pad_value": IntegerAttr(value if any(outer) else own_value, i64)}
        rewriter.replace(op, rebuilt(op, spatial.SWUOp, [pad.input], op.output.type, properties,
                                     op.attributes))
        if not list(pad.output.uses):
            rewriter.erase(pad)


FUSIONS = {
    "pad-into-swu": lambda roms: PadIntoSWU(),
    "requant-into-mvu": lambda roms: RequantIntoMVU(),
    "requant-into-eltwise": RequantIntoEltwise,
    "scale-into-eltwise": ScaleIntoEltwise,
    "diagonal-mvus": DiagonalMVUs,
}
"""Fusion name -> factory(RomReader) of its pattern."""


def fusion_patterns(names: Sequence[str], store: WeightStore) -> list[RewritePattern]:
    roms = RomReader(store)
    return [FUSIONS[name](roms) for name in names]
