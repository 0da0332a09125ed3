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
timing are new. ROMs are the module's `rom.rom` symbols, named by symbol (a
reference naming no `rom.rom` is a verifier error, `model.RomUser`).

Each PE carries `ii` (cycles per frame at its folding; see `nominal_ii`) and
`latency` (cycles from its first input beat to its first output beat; see
`nominal_latency`, whose formula each PE kind documents) once `map-to-spatial`
or `fold-parallelism` has set them. The performance model of the PEs (ii,
latency, pipeline depth, need functions, multipliers, foldings) is a set of
methods of every PE op, documented in `dialects.spatial.model`; one scheduler
(`compiler.schedule`) times a graph from them.

Modules: `stream` (the stream type), `model` (the PE base op and its
performance model), `compute` (mvu, swu, pools), `elementwise` (requant,
eltwise, lookup), `routing` (concat, dup, resize, reshape, fifo), `vector`
(a decoder's vector unit: integer nn glue on whole frames, with K/V-cache state),
`graph` (graph, yield, attribute names).
"""

from __future__ import annotations

from xdsl.ir import Dialect

from dialects.spatial.compute import POOL_KINDS, GlobalPoolOp, MVUOp, PoolOp, SWUOp
from dialects.spatial.elementwise import ELTWISE_KINDS, EltwiseOp, LookupOp, RequantOp
from dialects.spatial.graph import INPUTS_ATTR, OUTPUTS_ATTR, PROBE_ATTR, GraphOp, YieldOp
from dialects.spatial.model import (
    MVU_PIPELINE_DEPTH,
    STREAM_PIPELINE_DEPTH,
    Folding,
    NeedFunction,
    PEOp,
    RomUser,
    divisors,
    rom_references,
)
from dialects.spatial.routing import ConcatOp, DupOp, FifoOp, ReshapeOp, ResizeOp
from dialects.spatial.stream import StreamType, stream_of
from dialects.spatial.vector import VectorOp, VectorReturnOp

PE_OPS = (MVUOp, SWUOp, PoolOp, GlobalPoolOp, RequantOp, EltwiseOp, LookupOp, ConcatOp,
          DupOp, ResizeOp, ReshapeOp, VectorOp)

SPATIAL = Dialect(
    "spatial",
    [*PE_OPS, FifoOp, YieldOp, GraphOp, VectorReturnOp],
    [StreamType],
)

__all__ = [
    "ELTWISE_KINDS", "INPUTS_ATTR", "MVU_PIPELINE_DEPTH", "OUTPUTS_ATTR", "PE_OPS", "POOL_KINDS",
    "PROBE_ATTR", "SPATIAL", "STREAM_PIPELINE_DEPTH", "ConcatOp", "DupOp", "EltwiseOp", "FifoOp",
    "Folding", "GlobalPoolOp", "GraphOp", "LookupOp", "MVUOp", "NeedFunction", "PEOp", "PoolOp",
    "RequantOp", "ReshapeOp", "ResizeOp", "RomUser", "SWUOp", "StreamType", "VectorOp", "VectorReturnOp",
    "YieldOp", "divisors",
    "rom_references", "stream_of",
]
