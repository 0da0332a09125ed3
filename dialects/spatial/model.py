"""What every processing element (PE) of the spatial dialect is and costs: the base
op and its performance model, read by `fold-parallelism` (foldings, multipliers),
`size-fifos` and `compiler.schedule` (need functions, pipeline depth, ii) and the
report (multipliers, ROM references).

The model, one method of `PEOp` per concept (each PE kind overrides what differs):

* `nominal_ii()` — cycles per frame at the PE's folding when never stalled;
* `nominal_latency()` — cycles from its first input beat to its first output beat;
* `beat_interval()` — cycles between output beats when never stalled;
* `input_release()` — back-pressure from inside the PE (the SWU's line buffer);
* `pipeline_depth()` — register stages between the last input beat an output beat
  needs and that output beat;
* `frame_needs()` / `needs()` — per operand, the input beats the PE must have read
  before it emits its m-th output beat (of a frame / over all frames);
* `multipliers_per_lane()` / `multipliers()` — the multipliers it spends, the cost
  `fold-parallelism` minimises;
* `foldings()` — every folding (lanes per port, ii, multipliers) it may take;
* `rom_references()` (the `RomUser` trait) — the properties naming the `rom.rom`
  symbols it reads, verified to resolve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from xdsl.dialects.builtin import I64, IntegerAttr, StringAttr, SymbolRefAttr
from xdsl.ir import Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import SymbolUserOpInterface
from xdsl.utils.exceptions import VerifyException

from dialects.rom import lookup_rom
from dialects.spatial.stream import StreamType, stream_of

ASSEMBLY_FORMAT = "operands attr-dict `:` functional-type(operands, results)"

STREAM_PIPELINE_DEPTH = 1
"""Register stages of an element-wise stream unit (requant, eltwise, lookup, dup, ...)."""
MVU_PIPELINE_DEPTH = 3
"""Register stages of an MVU after its last input beat: product, adder tree, requant."""

NeedFunction = Callable[[int], int]
"""m (1-based output beat) → input beats of one operand read before emitting it."""


# --------------------------------------------------------------------------- foldings


@dataclass(frozen=True)
class Folding:
    """One way to fold a PE: its lanes per port (MVU: input = simd, output = pe).

    `inputs[i]` / `outputs[j]` are the lanes of operand i / result j.
    """

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    ii: int
    multipliers: int


def divisors(n: int) -> list[int]:
    """The positive divisors of `n` (n ≥ 1), ascending."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def beats_at(value: SSAValue, lanes: int) -> int:
    """Beats per frame of stream `value` if it had `lanes` lanes."""
    return math.prod(stream_of(value).frame) // lanes


# --------------------------------------------------------------------------- need functions


def per_frame(frame_need: NeedFunction, in_beats: int, out_beats: int) -> NeedFunction:
    """Extend a one-frame need (m in 1..O) to all frames: frame f needs the frames before it."""

    def need(m: int) -> int:
        if m <= 0:
            return 0
        frame, within = divmod(m - 1, out_beats)
        return frame * in_beats + frame_need(within + 1)

    return need


def vector_need(in_per_vector: int, out_per_vector: int) -> NeedFunction:
    """A whole input vector before each output vector."""
    return lambda m: -(-m // out_per_vector) * in_per_vector


def order_need(lanes_in: int, lanes_out: int) -> NeedFunction:
    """Element order kept: the input beats holding the first m output beats' elements."""
    return lambda m: -(-m * lanes_out // lanes_in)


# --------------------------------------------------------------------------- verification helpers


def layer_of(op: Operation) -> str:
    layer = op.properties.get("layer")
    return layer.data if isinstance(layer, StringAttr) else "?"


def check_divides(op: Operation, factor_name: str, factor: int, dim: int, what: str) -> None:
    if factor < 1 or dim % factor:
        raise VerifyException(
            f"{op.name} '{layer_of(op)}': {factor_name} {factor} does not divide {what} {dim}"
        )


def check_lanes(op: Operation, value: SSAValue, lanes: int, which: str) -> None:
    actual = stream_of(value).lanes.data
    if actual != lanes:
        raise VerifyException(
            f"{op.name} '{layer_of(op)}': {which} stream has {actual} lanes, the PE expects {lanes}"
        )


def check_frame(op: Operation, value: SSAValue, frame: Sequence[int], which: str) -> None:
    actual = stream_of(value).frame
    if tuple(actual) != tuple(frame):
        raise VerifyException(
            f"{op.name} '{layer_of(op)}': {which} frame is {list(actual)}, expected {list(frame)}"
        )


# --------------------------------------------------------------------------- ROM references


@dataclass(frozen=True)
class RomUser(SymbolUserOpInterface):
    """A PE reading `rom.rom` symbols through the given properties (in this order).

    Verifies that every reference that is set names a `rom.rom` of the enclosing
    symbol table (the module): a dangling reference is a verifier error."""

    properties: tuple[str, ...] = ()

    def verify(self, op: Operation) -> None:
        for key, ref in rom_references(op):
            try:
                target = lookup_rom(op, ref)
            except ValueError:
                target = None
            if target is None:
                raise VerifyException(
                    f"{op.name} '{layer_of(op)}': {key} {ref} names no rom.rom of the module"
                )


def rom_references(op: Operation) -> list[tuple[str, SymbolRefAttr]]:
    """(property, symbol) of every ROM `op` reads, in its `RomUser` order ([] if none)."""
    trait = op.get_trait(RomUser)
    if trait is None:
        return []
    return [(key, ref) for key in trait.properties
            if isinstance(ref := op.properties.get(key), SymbolRefAttr)]


# --------------------------------------------------------------------------- the base ops


class PEOp(IRDLOperation):
    """Common to every processing element: its layer name, timing and performance model."""

    layer = prop_def(StringAttr)
    ii = opt_prop_def(IntegerAttr[I64])
    latency = opt_prop_def(IntegerAttr[I64])
    traits = traits_def()
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = ASSEMBLY_FORMAT

    def nominal_ii(self) -> int:
        """Cycles per frame at this folding when never stalled."""
        raise NotImplementedError

    def nominal_latency(self) -> int:
        """Cycles from this PE's first input beat to its first output beat at its
        folding, when never stalled (each PE kind documents its formula)."""
        raise NotImplementedError

    def effective_ii(self) -> int:
        """The `ii` property, or `nominal_ii()` while it is not set."""
        return self.ii.value.data if self.ii is not None else self.nominal_ii()

    def effective_latency(self) -> int:
        """The `latency` property, or `nominal_latency()` while it is not set."""
        return self.latency.value.data if self.latency is not None else self.nominal_latency()

    def beat_interval(self) -> float:
        """Cycles between two output beats when never stalled: a PE spreads a frame
        over its `ii` (`effective_ii() / beats`) unless its kind says otherwise."""
        return self.effective_ii() / self.output_beats()

    def output_beats(self) -> int:
        """Output beats per frame, in emission order: the result stream's (every result
        of a PE with several carries the same beats unless its kind says otherwise)."""
        return stream_of(self.results[0]).beats

    def result_times(self, emitted: list[float], frames: int) -> list[list[float]]:
        """Per result, the cycles its beats leave, given the cycles of the PE's output
        beats (`output_beats()` a frame): every result carries them all by default."""
        return [emitted] * len(self.results)

    def input_release(self) -> Callable[[int], int] | None:
        """Back-pressure from inside the PE on its first operand: input beat i
        (0-based, over all frames) is accepted only once this many output beats have
        left; None when the PE accepts whatever its output needs (every PE but the
        SWU, whose line buffer has room for a few rows only)."""
        return None

    def input_release_table(self, count: int) -> np.ndarray | None:
        """`input_release()` for input beats 0..`count`-1 as one array (None without one)."""
        release = self.input_release()
        return None if release is None else np.array([release(i) for i in range(count)], np.int64)

    def pipeline_depth(self) -> int:
        """Cycles from the last input beat an output beat needs to that output beat:
        one register (`STREAM_PIPELINE_DEPTH`) unless the PE kind says otherwise."""
        return STREAM_PIPELINE_DEPTH

    def frame_needs(self) -> list[NeedFunction]:
        """Per operand, the input beats of a frame read before output beat m (1..O) of
        that frame. Default, for units that keep element order:
        `ceil(m·lanes_out / lanes_in)`."""
        lanes_out = stream_of(self.results[0]).lanes.data
        return [order_need(stream_of(v).lanes.data, lanes_out) for v in self.operands]

    def needs(self) -> list[NeedFunction]:
        """Per operand, the input beats read before output beat m (m ≥ 1, over all
        frames: from the first beat of frame f on, the whole of frames < f)."""
        out_beats = self.output_beats()
        return [per_frame(need, stream_of(v).beats, out_beats)
                for need, v in zip(self.frame_needs(), self.operands)]

    def multipliers_per_lane(self) -> int:
        """Multipliers a stream unit spends per lane: 0 unless it multiplies by a
        variable (adders, comparators, tables and constant coefficients are free)."""
        return 0

    def multipliers(self) -> int:
        """Multipliers at the current folding (the cost `fold-parallelism` minimises)."""
        return self.multipliers_per_lane() * stream_of(self.results[0]).lanes.data

    def foldings(self) -> list[Folding]:
        """Every folding this PE may take. Default: one lanes value on every stream,
        dividing every innermost dimension; ii = beats of the busiest stream."""
        ports = [*self.operands, *self.results]
        common = math.gcd(*(stream_of(v).frame[-1] for v in ports))
        cost = self.multipliers_per_lane()
        return [Folding((lanes,) * len(self.operands), (lanes,) * len(self.results),
                        max(beats_at(v, lanes) for v in ports), cost * lanes)
                for lanes in divisors(common)]

    def verify_timing(self) -> None:
        if self.ii is not None and self.ii.value.data != self.nominal_ii():
            raise VerifyException(
                f"{self.name} '{layer_of(self)}': ii {self.ii.value.data} differs from its "
                f"folding's {self.nominal_ii()}"
            )


def beats_ii(*values: SSAValue) -> int:
    """The most beats per frame among `values`: a stream unit's ii at one beat per cycle."""
    return max(stream_of(v).beats for v in values)


class StreamPEOp(PEOp):
    """A PE with one input and one output stream, at one beat per cycle on its
    busier side: `ii` is the larger of its input and output beats per frame."""

    input = operand_def(StreamType)
    output = result_def(StreamType)

    def nominal_ii(self) -> int:
        return beats_ii(self.input, self.output)


class IndependentLanesPEOp(StreamPEOp):
    """A one-input, one-output PE whose input and output lanes are chosen separately
    (SWU, pools: e.g. an SWU may emit a whole window per beat); no multipliers."""

    def foldings(self) -> list[Folding]:
        """Every (lanes in, lanes out) pair, each dividing its stream's innermost dimension."""
        (source,), (target,) = self.operands, self.results
        return [Folding((lin,), (lout,), max(beats_at(source, lin), beats_at(target, lout)), 0)
                for lin in divisors(stream_of(source).frame[-1])
                for lout in divisors(stream_of(target).frame[-1])]
