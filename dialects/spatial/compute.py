"""The PEs that compute over windows and vectors: `spatial.mvu`, `spatial.swu`,
`spatial.pool`, `spatial.global_pool` (with their performance models, see
`dialects.spatial.model`)."""

from __future__ import annotations

from collections.abc import Callable
import math

import numpy as np

from xdsl.dialects.builtin import I64, DenseArrayBase, IntegerAttr, StringAttr, SymbolRefAttr
from xdsl.irdl import irdl_op_definition, operand_def, opt_prop_def, prop_def, result_def, traits_def
from xdsl.utils.exceptions import VerifyException

from dialects.spatial.model import (
    MVU_PIPELINE_DEPTH,
    Folding,
    IndependentLanesPEOp,
    NeedFunction,
    PEOp,
    RomUser,
    beats_at,
    check_divides,
    check_frame,
    check_lanes,
    divisors,
    layer_of,
    vector_need,
)
from dialects.rom import RomOp, lookup_rom
from dialects.spatial.line_buffer import LineBuffer, line_buffer_of
from dialects.spatial.stream import StreamType, stream_of


@irdl_op_definition
class MVUOp(PEOp):
    """Matrix-vector unit: `y[v, n] = requant(sum_k x[v, k] * W[n, k] + b[n])`.

    `weights` is a [N, K] ROM in the order of the input vector's elements;
    `bias` [N], `multiplier` [N] or [1] (with `shift`, `lo`, `hi`) are optional:
    without `multiplier` the output is the exact accumulator; `offset` [N] or [1] (with
    `multiplier`) is the requant's offset, `rounding` its rounding (`nn.requant`).
    Folding: `pe` outputs and `simd` inputs per cycle, (N/pe)·(K/simd) cycles per vector.
    `pad_in` / `pad_out` (set by `pad-neurons`): the last inputs / outputs are
    padding, there only so that a folding divides K / N (zero weights, and a padding
    output is read by no real weight); the model's own MVU is [N - pad_out, K - pad_in].
    """

    name = "spatial.mvu"
    input = operand_def(StreamType)
    output = result_def(StreamType)
    weights = prop_def(SymbolRefAttr)
    bias = opt_prop_def(SymbolRefAttr)
    multiplier = opt_prop_def(SymbolRefAttr)
    offset = opt_prop_def(SymbolRefAttr)
    rounding = opt_prop_def(StringAttr)
    shift = opt_prop_def(IntegerAttr[I64])
    lo = opt_prop_def(IntegerAttr[I64])
    hi = opt_prop_def(IntegerAttr[I64])
    pe = prop_def(IntegerAttr[I64])
    simd = prop_def(IntegerAttr[I64])
    pad_in = opt_prop_def(IntegerAttr[I64])
    pad_out = opt_prop_def(IntegerAttr[I64])
    traits = traits_def(RomUser(("weights", "bias", "multiplier", "offset")))

    @property
    def in_features(self) -> int:
        return stream_of(self.input).frame[-1]

    @property
    def out_features(self) -> int:
        return stream_of(self.output).frame[-1]

    @property
    def vectors(self) -> int:
        return math.prod(stream_of(self.input).frame[:-1])

    @property
    def padding(self) -> tuple[int, int]:
        """(inputs, outputs) of padding at the end of K and N (`pad_in`, `pad_out`)."""
        return (self.pad_in.value.data if self.pad_in is not None else 0,
                self.pad_out.value.data if self.pad_out is not None else 0)

    def model_weights(self) -> int:
        """The model's weights this MVU holds, padding not counted."""
        pad_in, pad_out = self.padding
        return (self.out_features - pad_out) * (self.in_features - pad_in)

    def nominal_ii(self) -> int:
        pe, simd = self.pe.value.data, self.simd.value.data
        return self.vectors * (self.out_features // pe) * (self.in_features // simd)

    def nominal_latency(self) -> int:
        """`K/simd + MVU_PIPELINE_DEPTH`: the first `pe` outputs accumulate over the
        first input vector's K/simd beats, then pass the multiply, adder-tree and
        requantization registers."""
        return self.in_features // self.simd.value.data + self.pipeline_depth()

    def pipeline_depth(self) -> int:
        """`MVU_PIPELINE_DEPTH`: product, adder tree, requantization; with shared or
        multi-cycle requantization (`requant_sharing`), the cycles a unit takes for
        its lanes more."""
        sharing = self.requant_sharing()
        if sharing is None:
            return MVU_PIPELINE_DEPTH
        units, cycles = sharing
        return MVU_PIPELINE_DEPTH + math.ceil(self.pe.value.data / units) * cycles

    def requant_sharing(self) -> tuple[int, int] | None:
        """(units, cycles) when the lanes' requantization is shared, else None (one
        single-cycle unit per lane).

        It is shared when each lane's multiplier changes between neuron folds (a
        per-channel multiplier and N/pe > 1: a multiplier of a value, not of a
        constant): the accumulators of a vector fold are final once every K/simd
        cycles, so ceil(pe / (K/simd)) units take the lanes in turn, each lane for
        `cycles` = min((K/simd) // lanes per unit, the multiplier's bits) cycles
        (its multiplier a chunk of bits a cycle), all done before the next fold's
        accumulators are final. None when that is a unit per lane and one cycle."""
        pe, synapse_folds = self.pe.value.data, self.in_features // self.simd.value.data
        if self.multiplier is None or self.out_features == pe:
            return None
        rom = lookup_rom(self, self.multiplier)
        if rom is None or not self._lanes_change_multiplier(rom):
            return None
        units = math.ceil(pe / synapse_folds)
        per_unit = math.ceil(pe / units)
        cycles = min(synapse_folds // per_unit, rom.type.element_type.width.data)
        return None if units == pe and cycles == 1 else (units, cycles)

    def _lanes_change_multiplier(self, rom: RomOp) -> bool:
        """Whether some lane's multiplier (channel nf·pe + p of fold nf) differs
        between neuron folds; when the ROM's values are not in the IR, whether it
        has one per channel."""
        if math.prod(rom.type.get_shape()) <= 1:
            return False
        if rom.value is None:
            return True
        pe = self.pe.value.data
        values = rom.value.get_values()
        return any(len(set(values[p::pe])) > 1 for p in range(pe))

    def frame_needs(self) -> list[NeedFunction]:
        """A whole input vector (K/simd beats) before each output vector (N/pe beats):
        `ceil(m / (N/pe)) · (K/simd)`."""
        return [vector_need(self.in_features // self.simd.value.data,
                            self.out_features // self.pe.value.data)]

    def multipliers(self) -> int:
        """`pe · simd`."""
        return self.pe.value.data * self.simd.value.data

    def foldings(self) -> list[Folding]:
        """Every (pe, simd): pe divides N, simd divides K; input lanes simd, output pe."""
        n, k, vectors = self.out_features, self.in_features, self.vectors
        return [Folding((simd,), (pe,), vectors * (n // pe) * (k // simd), pe * simd)
                for pe in divisors(n) for simd in divisors(k)]

    def verify_(self) -> None:
        pe, simd = self.pe.value.data, self.simd.value.data
        check_divides(self, "pe", pe, self.out_features, "outputs")
        check_divides(self, "simd", simd, self.in_features, "inputs")
        check_lanes(self, self.input, simd, "input")
        check_lanes(self, self.output, pe, "output")
        check_frame(self, self.output, (*stream_of(self.input).frame[:-1], self.out_features), "output")
        pad_in, pad_out = self.padding
        if not (0 <= pad_in < self.in_features and 0 <= pad_out < self.out_features):
            raise VerifyException(f"spatial.mvu '{layer_of(self)}': padding ({pad_in}, {pad_out}) must leave "
                                  f"some of the {self.in_features} inputs and {self.out_features} outputs")
        requant = (self.multiplier, self.shift, self.lo, self.hi)
        if any(p is None for p in requant) and any(p is not None for p in requant):
            raise VerifyException(f"spatial.mvu '{layer_of(self)}': multiplier, shift, lo, hi go together")
        if self.offset is not None and self.multiplier is None:
            raise VerifyException(f"spatial.mvu '{layer_of(self)}': an offset needs a multiplier")
        self.verify_timing()


@irdl_op_definition
class SWUOp(IndependentLanesPEOp):
    """Sliding-window unit: [H, W, C] pixels → [OH, OW, KH·KW·C] windows, (kh, kw, c) order.

    Positions in the padding read `pad_value`. 1-D streams are [W, C] → [OW, KW·C].
    """

    name = "spatial.swu"
    kernel = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    pad_value = prop_def(IntegerAttr[I64])

    def nominal_latency(self) -> int:
        """Input beats up to the last real pixel of the first window, plus one register:
        `(r·W + c + 1)·C/lanes_in + 1` with r = clamp((KH-1)·dil_h - pad_top, 0, H-1),
        c = clamp((KW-1)·dil_w - pad_left, 0, W-1) (1-D: r = 0, W = 1 row)."""
        first_window = self.line_buffer().window_pixels[0][0]
        return first_window * stream_of(self.input).beats_per_vector + self.pipeline_depth()

    def nominal_ii(self) -> int:
        """The larger of its input and output beats per frame, or the line buffer's
        period when that is longer (`LineBuffer.period`: at frame boundaries the
        next frame's first window row waits for rows the buffer cannot yet take)."""
        return self.ii_at(stream_of(self.input).lanes.data, stream_of(self.output).lanes.data)

    def ii_at(self, lanes_in: int, lanes_out: int) -> int:
        """`nominal_ii` at `lanes_in` input and `lanes_out` output lanes."""
        source, target = stream_of(self.input), stream_of(self.output)
        beats_per_pixel, beats_per_window = source.frame[-1] // lanes_in, target.frame[-1] // lanes_out
        period = self.line_buffer().period(beats_per_pixel, beats_per_window, self.pipeline_depth())
        return max(beats_at(self.input, lanes_in), beats_at(self.output, lanes_out), period)

    def foldings(self) -> list[Folding]:
        """Every (lanes in, lanes out) pair, each dividing its stream's innermost
        dimension, at the ii the line buffer allows (`ii_at`)."""
        return [Folding(f.inputs, f.outputs, self.ii_at(f.inputs[0], f.outputs[0]), 0)
                for f in super().foldings()]

    def line_buffer(self) -> LineBuffer:
        """The line buffer's pixel-level geometry (`dialects.spatial.line_buffer`)."""
        return line_buffer_of(tuple(stream_of(self.input).frame[:-1]), tuple(self.kernel.get_values()),
                              tuple(self.strides.get_values()), tuple(self.pads.get_values()),
                              tuple(self.dilations.get_values()))

    def beat_interval(self) -> float:
        """One beat a cycle: the SWU emits a window's beats as soon as its pixels are
        in and the line buffer's timing (`input_release`, `frame_needs`) is the rest."""
        return 1

    def input_release(self) -> Callable[[int], int]:
        """The line buffer's back-pressure: input beat i (0-based, over any number of
        frames) is accepted only once this many output beats have left (the output
        side has then moved on to a window row that frees the pixel's slot)."""
        buffer = self.line_buffer()
        per_row = stream_of(self.output).beats // buffer.out_rows
        return buffer.input_release(stream_of(self.input).beats_per_vector, per_row)

    def input_release_table(self, count: int) -> np.ndarray:
        buffer = self.line_buffer()
        per_row = stream_of(self.output).beats // buffer.out_rows
        return buffer.release_table(stream_of(self.input).beats_per_vector, per_row, count)

    def frame_needs(self) -> list[NeedFunction]:
        """All input beats up to the last real pixel of the window output beat m belongs
        to, `(r·W + c + 1)·C/lanes_in` as in `nominal_latency` (running maximum over
        the windows; a frame's last window needs the whole frame)."""
        per_window = stream_of(self.output).beats_per_vector
        per_pixel = stream_of(self.input).beats_per_vector
        needs = np.array([pixels * per_pixel for row in self.line_buffer().window_pixels for pixels in row],
                         np.int64)
        return [lambda m: needs[(m - 1) // per_window]]  # also on an array of m

    def verify_(self) -> None:
        from dialects.nn import window_output_size

        frame = stream_of(self.input).frame
        rank = len(frame) - 1
        kernel, strides = self.kernel.get_values(), self.strides.get_values()
        pads, dilations = self.pads.get_values(), self.dilations.get_values()
        if rank < 1 or len(kernel) != rank or len(strides) != rank or len(dilations) != rank \
                or len(pads) != 2 * rank:
            raise VerifyException(f"spatial.swu '{layer_of(self)}': window attributes need rank {rank}")
        out = [window_output_size(frame[i], kernel[i], strides[i], pads[i], pads[rank + i], dilations[i])
               for i in range(rank)]
        check_frame(self, self.output, (*out, math.prod(kernel) * frame[-1]), "output")
        self.verify_timing()


POOL_KINDS = ("max", "sum")


@irdl_op_definition
class PoolOp(IndependentLanesPEOp):
    """Max or sum over each window of an SWU stream: [..., window·C] → [..., C].

    A sum pool with `factors` (a ROM of one integer per output pixel, raster order)
    multiplies every channel of pixel p's sums by factors[p] (`nn.sum_pool`'s
    `average_times`: an average pool whose border windows divide by fewer taps)."""

    name = "spatial.pool"
    kind = prop_def(StringAttr)
    window = prop_def(IntegerAttr[I64])
    factors = opt_prop_def(SymbolRefAttr)
    traits = traits_def(RomUser(("factors",)))

    def nominal_latency(self) -> int:
        """One whole window vector (window·C / lanes_in beats), plus one register."""
        return stream_of(self.input).beats_per_vector + self.pipeline_depth()

    def frame_needs(self) -> list[NeedFunction]:
        """A whole window vector before each output vector:
        `ceil(m / (C/lanes_out)) · (window·C/lanes_in)`."""
        return [vector_need(stream_of(self.input).beats_per_vector,
                            stream_of(self.output).beats_per_vector)]

    def verify_(self) -> None:
        if self.kind.data not in POOL_KINDS:
            raise VerifyException(f"spatial.pool: kind must be one of {POOL_KINDS}")
        if self.factors is not None and self.kind.data != "sum":
            raise VerifyException(f"spatial.pool '{layer_of(self)}': only a sum pool has factors")
        frame = stream_of(self.input).frame
        window = self.window.value.data
        if window < 1 or frame[-1] % window:
            raise VerifyException(f"spatial.pool '{layer_of(self)}': window {window} does not divide {frame[-1]}")
        check_frame(self, self.output, (*frame[:-1], frame[-1] // window), "output")
        self.verify_timing()


@irdl_op_definition
class GlobalPoolOp(IndependentLanesPEOp):
    """Sum over every pixel: [..., C] → [1, ..., 1, C]."""

    name = "spatial.global_pool"

    def nominal_latency(self) -> int:
        """The whole input frame (every pixel adds to the sums), plus one register."""
        return stream_of(self.input).beats + self.pipeline_depth()

    def frame_needs(self) -> list[NeedFunction]:
        """The whole input frame before any output beat."""
        total = stream_of(self.input).beats
        return [lambda m: total]

    def verify_(self) -> None:
        frame = stream_of(self.input).frame
        check_frame(self, self.output, (*[1] * (len(frame) - 1), frame[-1]), "output")
        self.verify_timing()
