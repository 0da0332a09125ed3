"""
The `spatial` dialect: the model as a dataflow machine.

A `spatial.graph` holds one processing element (PE) per layer, joined by
streams. A stream (`!spatial.stream<8x8x16xi8, 4>`) carries one *frame* per
inference — a tensor in NHWC order without the batch axis, channel innermost —
as beats of `lanes` elements (lanes divide the innermost dimension), with
valid/ready handshaking. Every PE op reads its operands' frames and produces
one frame per inference; its folding decides how many cycles that takes:

* `spatial.mvu` — matrix-vector unit: every innermost vector of K inputs is
  multiplied by a [N, K] ROM matrix (+ bias, + optional fused requantization).
  `pe` outputs and `simd` inputs per cycle: (N/pe)·(K/simd) cycles per vector.
* `spatial.swu` — sliding-window unit: an [H, W, C] pixel stream becomes an
  [OH, OW, KH·KW·C] stream of windows, ordered (kh, kw, c).
* `spatial.pool` — max or sum over each window of an SWU stream; `spatial.global_pool`
  — sum over all pixels.
* `spatial.requant`, `spatial.eltwise` (add/sub/mul of two streams, each scaled
  by an integer, then requantized), `spatial.lookup` (a ROM table per element),
  `spatial.concat` (along channels), `spatial.dup` (one stream to several
  consumers), `spatial.resize` (change lanes), `spatial.reshape` (reframe, same
  order), `spatial.fifo` (a buffer of `depth` beats).

The arithmetic of every PE is exactly that of the integer `nn` ops it came
from (DESIGN.md numerics); only the order of the elements (NHWC) and the
timing are new. ROMs are the module's `rom.rom` symbols, named by symbol.

Each PE carries `ii` (cycles per frame at its folding; see `nominal_ii`) and
`latency` (cycles from its first input beat to its first output beat; see
`nominal_latency`, whose formula each PE kind documents) once `map-to-spatial`
or `fold-parallelism` has set them.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    DenseArrayBase,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    SymbolRefAttr,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, Region, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import IsTerminator, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException

INPUTS_ATTR = "spatial.inputs"
"""On a graph: per input port, a dictionary of its nn name, scale, shape and layout."""
OUTPUTS_ATTR = "spatial.outputs"
"""On a graph: per output port, the same as `INPUTS_ATTR` plus its host op."""
PROBE_ATTR = "spatial.probe"
"""On a PE: which nn value its result stream carries (`index` among the integer
graph's activations in program order, `compiler.calibration.activations`) and its
layout (`source`, `perm`), so that a mismatch can be traced to the first layer."""

_FORMAT = "operands attr-dict `:` functional-type(operands, results)"


# --------------------------------------------------------------------------- the stream type


@irdl_attr_definition
class StreamType(ParametrizedAttribute, TypeAttribute):
    """A valid/ready stream of frames: `!spatial.stream<HxWxCxiN, lanes>`."""

    name = "spatial.stream"
    shape: ArrayAttr[IntAttr]
    element_type: Attribute
    lanes: IntAttr

    def __init__(self, shape: Sequence[int], element_type: Attribute, lanes: int):
        super().__init__(ArrayAttr([IntAttr(d) for d in shape]), element_type, IntAttr(lanes))

    @property
    def frame(self) -> tuple[int, ...]:
        return tuple(d.data for d in self.shape.data)

    @property
    def width(self) -> int:
        """Bits per element."""
        assert isinstance(self.element_type, IntegerType)
        return self.element_type.width.data

    @property
    def beats(self) -> int:
        """Beats per frame."""
        return _product(self.frame) // self.lanes.data

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> tuple:
        parser.parse_punctuation("<")
        shape, element_type = parser.parse_ranked_shape()
        parser.parse_punctuation(",")
        lanes = parser.parse_integer(allow_negative=False, allow_boolean=False)
        parser.parse_punctuation(">")
        return ArrayAttr([IntAttr(d) for d in shape]), element_type, IntAttr(lanes)

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string("<")
        printer.print_string("".join(f"{d}x" for d in self.frame))
        printer.print_attribute(self.element_type)
        printer.print_string(f", {self.lanes.data}>")

    def verify(self) -> None:
        if not isinstance(self.element_type, IntegerType):
            raise VerifyException("a stream carries integers")
        frame, lanes = self.frame, self.lanes.data
        if not frame or any(d < 1 for d in frame):
            raise VerifyException("a stream's frame needs positive dimensions")
        if lanes < 1 or frame[-1] % lanes:
            raise VerifyException(
                f"lanes {lanes} must divide the innermost dimension {frame[-1]}"
            )


def stream_of(value: SSAValue) -> StreamType:
    if not isinstance(value.type, StreamType):
        raise VerifyException(f"expected a stream, got {value.type}")
    return value.type


# --------------------------------------------------------------------------- helpers


def _product(values: Sequence[int]) -> int:
    result = 1
    for v in values:
        result *= v
    return result


def _int(attr: IntegerAttr | None, default: int = 0) -> int:
    return attr.value.data if attr is not None else default


def _check_divides(op: IRDLOperation, factor_name: str, factor: int, dim: int, what: str) -> None:
    if factor < 1 or dim % factor:
        raise VerifyException(
            f"{op.name} '{_layer(op)}': {factor_name} {factor} does not divide {what} {dim}"
        )


def _layer(op: IRDLOperation) -> str:
    layer = op.properties.get("layer")
    return layer.data if isinstance(layer, StringAttr) else "?"


def _check_lanes(op: IRDLOperation, value: SSAValue, lanes: int, which: str) -> None:
    actual = stream_of(value).lanes.data
    if actual != lanes:
        raise VerifyException(
            f"{op.name} '{_layer(op)}': {which} stream has {actual} lanes, the PE expects {lanes}"
        )


def _check_frame(op: IRDLOperation, value: SSAValue, frame: Sequence[int], which: str) -> None:
    actual = stream_of(value).frame
    if tuple(actual) != tuple(frame):
        raise VerifyException(
            f"{op.name} '{_layer(op)}': {which} frame is {list(actual)}, expected {list(frame)}"
        )


class _PEOp(IRDLOperation):
    """Common to every processing element: its layer name and timing."""

    layer = prop_def(StringAttr)
    ii = opt_prop_def(IntegerAttr[I64])
    latency = opt_prop_def(IntegerAttr[I64])
    traits = traits_def()
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def nominal_ii(self) -> int:
        """Cycles per frame at this folding when never stalled."""
        raise NotImplementedError

    def nominal_latency(self) -> int:
        """Cycles from this PE's first input beat to its first output beat at its
        folding, when never stalled (each PE kind documents its formula)."""
        raise NotImplementedError

    def verify_timing(self) -> None:
        if self.ii is not None and self.ii.value.data != self.nominal_ii():
            raise VerifyException(
                f"{self.name} '{_layer(self)}': ii {self.ii.value.data} differs from its "
                f"folding's {self.nominal_ii()}"
            )


def _beats_ii(*values: SSAValue) -> int:
    return max(stream_of(v).beats for v in values)


STREAM_PIPELINE_DEPTH = 1
"""Register stages of an element-wise stream unit (requant, eltwise, lookup, dup, ...)."""
MVU_PIPELINE_DEPTH = 3
"""Register stages of an MVU after its last input beat: product, adder tree, requant."""


def _beats_per_vector(value: SSAValue) -> int:
    """Beats carrying one innermost vector of a stream."""
    stream = stream_of(value)
    return stream.frame[-1] // stream.lanes.data


# --------------------------------------------------------------------------- PEs


class _StreamPEOp(_PEOp):
    """A PE with one input and one output stream, at one beat per cycle on its
    busier side: `ii` is the larger of its input and output beats per frame."""

    input = operand_def(StreamType)
    output = result_def(StreamType)

    def nominal_ii(self) -> int:
        return _beats_ii(self.input, self.output)


@irdl_op_definition
class MVUOp(_PEOp):
    """Matrix-vector unit: `y[v, n] = requant(sum_k x[v, k] * W[n, k] + b[n])`.

    `weights` is a [N, K] ROM in the order of the input vector's elements;
    `bias` [N], `multiplier` [N] or [1] (with `shift`, `lo`, `hi`) are optional:
    without `multiplier` the output is the exact accumulator.
    """

    name = "spatial.mvu"
    input = operand_def(StreamType)
    output = result_def(StreamType)
    weights = prop_def(SymbolRefAttr)
    bias = opt_prop_def(SymbolRefAttr)
    multiplier = opt_prop_def(SymbolRefAttr)
    shift = opt_prop_def(IntegerAttr[I64])
    lo = opt_prop_def(IntegerAttr[I64])
    hi = opt_prop_def(IntegerAttr[I64])
    pe = prop_def(IntegerAttr[I64])
    simd = prop_def(IntegerAttr[I64])

    @property
    def in_features(self) -> int:
        return stream_of(self.input).frame[-1]

    @property
    def out_features(self) -> int:
        return stream_of(self.output).frame[-1]

    @property
    def vectors(self) -> int:
        return _product(stream_of(self.input).frame[:-1])

    def nominal_ii(self) -> int:
        pe, simd = self.pe.value.data, self.simd.value.data
        return self.vectors * (self.out_features // pe) * (self.in_features // simd)

    def nominal_latency(self) -> int:
        """`K/simd + MVU_PIPELINE_DEPTH`: the first `pe` outputs accumulate over the
        first input vector's K/simd beats, then pass the multiply, adder-tree and
        requantization registers."""
        return self.in_features // self.simd.value.data + MVU_PIPELINE_DEPTH

    def verify_(self) -> None:
        pe, simd = self.pe.value.data, self.simd.value.data
        _check_divides(self, "pe", pe, self.out_features, "outputs")
        _check_divides(self, "simd", simd, self.in_features, "inputs")
        _check_lanes(self, self.input, simd, "input")
        _check_lanes(self, self.output, pe, "output")
        _check_frame(self, self.output, (*stream_of(self.input).frame[:-1], self.out_features), "output")
        requant = (self.multiplier, self.shift, self.lo, self.hi)
        if any(p is None for p in requant) and any(p is not None for p in requant):
            raise VerifyException(f"spatial.mvu '{_layer(self)}': multiplier, shift, lo, hi go together")
        self.verify_timing()


@irdl_op_definition
class SWUOp(_StreamPEOp):
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
        frame = stream_of(self.input).frame
        kernel, dilations = self.kernel.get_values(), self.dilations.get_values()
        pads = self.pads.get_values()
        spatial = frame[:-1]
        last = [min(max((k - 1) * d - p, 0), size - 1)
                for k, d, p, size in zip(kernel, dilations, pads, spatial)]
        pixels_before = 0
        for index, size in zip(last, spatial):
            pixels_before = pixels_before * size + index
        return (pixels_before + 1) * _beats_per_vector(self.input) + STREAM_PIPELINE_DEPTH

    def verify_(self) -> None:
        from dialects.nn import window_output_size

        frame = stream_of(self.input).frame
        rank = len(frame) - 1
        kernel, strides = self.kernel.get_values(), self.strides.get_values()
        pads, dilations = self.pads.get_values(), self.dilations.get_values()
        if rank < 1 or len(kernel) != rank or len(strides) != rank or len(dilations) != rank \
                or len(pads) != 2 * rank:
            raise VerifyException(f"spatial.swu '{_layer(self)}': window attributes need rank {rank}")
        out = [window_output_size(frame[i], kernel[i], strides[i], pads[i], pads[rank + i], dilations[i])
               for i in range(rank)]
        _check_frame(self, self.output, (*out, _product(kernel) * frame[-1]), "output")
        self.verify_timing()


POOL_KINDS = ("max", "sum")


@irdl_op_definition
class PoolOp(_StreamPEOp):
    """Max or sum over each window of an SWU stream: [..., window·C] → [..., C]."""

    name = "spatial.pool"
    kind = prop_def(StringAttr)
    window = prop_def(IntegerAttr[I64])

    def nominal_latency(self) -> int:
        """One whole window vector (window·C / lanes_in beats), plus one register."""
        return _beats_per_vector(self.input) + STREAM_PIPELINE_DEPTH

    def verify_(self) -> None:
        if self.kind.data not in POOL_KINDS:
            raise VerifyException(f"spatial.pool: kind must be one of {POOL_KINDS}")
        frame = stream_of(self.input).frame
        window = self.window.value.data
        if window < 1 or frame[-1] % window:
            raise VerifyException(f"spatial.pool '{_layer(self)}': window {window} does not divide {frame[-1]}")
        _check_frame(self, self.output, (*frame[:-1], frame[-1] // window), "output")
        self.verify_timing()


@irdl_op_definition
class GlobalPoolOp(_StreamPEOp):
    """Sum over every pixel: [..., C] → [1, ..., 1, C]."""

    name = "spatial.global_pool"

    def nominal_latency(self) -> int:
        """The whole input frame (every pixel adds to the sums), plus one register."""
        return stream_of(self.input).beats + STREAM_PIPELINE_DEPTH

    def verify_(self) -> None:
        frame = stream_of(self.input).frame
        _check_frame(self, self.output, (*[1] * (len(frame) - 1), frame[-1]), "output")
        self.verify_timing()


@irdl_op_definition
class RequantOp(_StreamPEOp):
    """`y = clamp((x * M[c] + round) >> shift, lo, hi)`, c the innermost index (as nn.requant)."""

    name = "spatial.requant"
    multiplier = prop_def(SymbolRefAttr)
    shift = prop_def(IntegerAttr[I64])
    lo = prop_def(IntegerAttr[I64])
    hi = prop_def(IntegerAttr[I64])

    def nominal_latency(self) -> int:
        """One register: `STREAM_PIPELINE_DEPTH`."""
        return STREAM_PIPELINE_DEPTH

    def verify_(self) -> None:
        _check_frame(self, self.output, stream_of(self.input).frame, "output")
        self.verify_timing()


ELTWISE_KINDS = ("add", "sub", "mul")


@irdl_op_definition
class EltwiseOp(_PEOp):
    """Two streams combined element by element, then requantized:

    add/sub: `acc = lhs * lhs_scale ± rhs * rhs_scale`; mul: `acc = lhs * rhs`;
    `y = clamp((acc * multiplier + round) >> shift, lo, hi)`.
    """

    name = "spatial.eltwise"
    lhs = operand_def(StreamType)
    rhs = operand_def(StreamType)
    output = result_def(StreamType)
    kind = prop_def(StringAttr)
    lhs_scale = prop_def(IntegerAttr[I64])
    rhs_scale = prop_def(IntegerAttr[I64])
    multiplier = prop_def(IntegerAttr[I64])
    shift = prop_def(IntegerAttr[I64])
    lo = prop_def(IntegerAttr[I64])
    hi = prop_def(IntegerAttr[I64])

    def nominal_ii(self) -> int:
        return _beats_ii(self.lhs, self.rhs, self.output)

    def nominal_latency(self) -> int:
        """One register: `STREAM_PIPELINE_DEPTH`."""
        return STREAM_PIPELINE_DEPTH

    def verify_(self) -> None:
        if self.kind.data not in ELTWISE_KINDS:
            raise VerifyException(f"spatial.eltwise: kind must be one of {ELTWISE_KINDS}")
        frame = stream_of(self.lhs).frame
        lanes = stream_of(self.lhs).lanes.data
        _check_frame(self, self.rhs, frame, "rhs")
        _check_frame(self, self.output, frame, "output")
        _check_lanes(self, self.rhs, lanes, "rhs")
        _check_lanes(self, self.output, lanes, "output")
        self.verify_timing()


@irdl_op_definition
class LookupOp(_StreamPEOp):
    """`y = table[x - min]` per element (as nn.lookup)."""

    name = "spatial.lookup"
    table = prop_def(SymbolRefAttr)

    def nominal_latency(self) -> int:
        """One register (the table read): `STREAM_PIPELINE_DEPTH`."""
        return STREAM_PIPELINE_DEPTH

    def verify_(self) -> None:
        _check_frame(self, self.output, stream_of(self.input).frame, "output")
        self.verify_timing()


@irdl_op_definition
class ConcatOp(_PEOp):
    """Frames joined along the innermost (channel) axis."""

    name = "spatial.concat"
    inputs = var_operand_def(StreamType)
    output = result_def(StreamType)

    def nominal_ii(self) -> int:
        return _beats_ii(*self.inputs, self.output)

    def nominal_latency(self) -> int:
        """One register: the first output beat is the first input's first beat."""
        return STREAM_PIPELINE_DEPTH

    def verify_(self) -> None:
        frames = [stream_of(v).frame for v in self.inputs]
        if not frames or any(f[:-1] != frames[0][:-1] for f in frames):
            raise VerifyException(f"spatial.concat '{_layer(self)}': inputs differ outside the channels")
        _check_frame(self, self.output, (*frames[0][:-1], sum(f[-1] for f in frames)), "output")
        self.verify_timing()


@irdl_op_definition
class DupOp(_PEOp):
    """One stream to several consumers: each output beat waits for every consumer."""

    name = "spatial.dup"
    input = operand_def(StreamType)
    outputs = var_result_def(StreamType)

    def nominal_ii(self) -> int:
        return stream_of(self.input).beats

    def nominal_latency(self) -> int:
        """One register: `STREAM_PIPELINE_DEPTH`."""
        return STREAM_PIPELINE_DEPTH

    def verify_(self) -> None:
        if len(self.outputs) < 2:
            raise VerifyException("spatial.dup needs at least two outputs")
        for out in self.outputs:
            if out.type != self.input.type:
                raise VerifyException("spatial.dup: outputs must have the input's stream type")
        self.verify_timing()


@irdl_op_definition
class ResizeOp(_StreamPEOp):
    """The same frame with another number of lanes per beat (a width converter)."""

    name = "spatial.resize"

    def nominal_latency(self) -> int:
        """The input beats filling one output beat, `ceil(lanes_out / lanes_in)`, plus one register."""
        lanes_in, lanes_out = stream_of(self.input).lanes.data, stream_of(self.output).lanes.data
        return -(-lanes_out // lanes_in) + STREAM_PIPELINE_DEPTH

    def verify_(self) -> None:
        _check_frame(self, self.output, stream_of(self.input).frame, "output")
        if stream_of(self.input).element_type != stream_of(self.output).element_type:
            raise VerifyException("spatial.resize keeps the element type")
        self.verify_timing()


@irdl_op_definition
class ReshapeOp(_StreamPEOp):
    """The same elements in the same order, framed as another shape (wires only),
    e.g. [H, W, C] pixels as one [H·W·C] vector for a dense layer."""

    name = "spatial.reshape"

    def nominal_latency(self) -> int:
        """Zero: a reshape is wires."""
        return 0

    def verify_(self) -> None:
        source, target = stream_of(self.input), stream_of(self.output)
        if _product(source.frame) != _product(target.frame):
            raise VerifyException(f"spatial.reshape '{_layer(self)}': frame sizes differ")
        if source.element_type != target.element_type or source.lanes != target.lanes:
            raise VerifyException("spatial.reshape keeps the element type and the lanes")
        self.verify_timing()


@irdl_op_definition
class FifoOp(IRDLOperation):
    """A first-in first-out buffer of `depth` beats."""

    name = "spatial.fifo"
    input = operand_def(StreamType)
    output = result_def(StreamType)
    depth = prop_def(IntegerAttr[I64])
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = _FORMAT

    def verify_(self) -> None:
        if self.depth.value.data < 1:
            raise VerifyException("spatial.fifo: depth must be at least 1")
        if self.input.type != self.output.type:
            raise VerifyException("spatial.fifo: output must have the input's stream type")


# --------------------------------------------------------------------------- the graph


@irdl_op_definition
class YieldOp(IRDLOperation):
    """The graph's output streams."""

    name = "spatial.yield"
    values = var_operand_def(StreamType)
    traits = traits_def(IsTerminator())
    assembly_format = "($values^ `:` type($values))? attr-dict"


@irdl_op_definition
class GraphOp(IRDLOperation):
    """A dataflow graph: block arguments are the input streams, `spatial.yield` the outputs.

    Every stream has exactly one consumer (fan-out goes through `spatial.dup`).
    """

    name = "spatial.graph"
    sym_name = prop_def(StringAttr)
    body = region_def("single_block")
    traits = traits_def(SymbolOpInterface())

    def __init__(self, sym_name: str, body: Region, attributes: dict[str, Attribute] | None = None):
        super().__init__(properties={"sym_name": StringAttr(sym_name)}, regions=[body],
                         attributes=attributes or {})

    @classmethod
    def parse(cls, parser: Parser) -> GraphOp:
        sym_name = parser.parse_symbol_name()
        attributes = parser.parse_optional_attr_dict_with_keyword()
        body = parser.parse_region()
        return cls(sym_name.data, body, dict(attributes.data) if attributes else {})

    def print(self, printer: Printer) -> None:
        printer.print_string(" @")
        printer.print_string(self.sym_name.data)
        if self.attributes:
            printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=True)

    def verify_(self) -> None:
        block = self.body.block
        if not isinstance(block.last_op, YieldOp):
            raise VerifyException("spatial.graph must end with spatial.yield")
        values = list(block.args) + [r for op in block.ops for r in op.results]
        for value in values:
            uses = sum(1 for _ in value.uses)
            if uses != 1:
                raise VerifyException(
                    f"spatial.graph: every stream needs exactly one consumer "
                    f"({value.name_hint or 'a stream'} has {uses}; use spatial.dup)"
                )


PE_OPS = (MVUOp, SWUOp, PoolOp, GlobalPoolOp, RequantOp, EltwiseOp, LookupOp, ConcatOp,
          DupOp, ResizeOp, ReshapeOp)

SPATIAL = Dialect(
    "spatial",
    [*PE_OPS, FifoOp, YieldOp, GraphOp],
    [StreamType],
)
