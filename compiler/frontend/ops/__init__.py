"""One handler per ONNX op type: ONNX node -> `nn` ops (the dispatch table).

A handler receives a `NodeImport` (attributes, inputs as activations or
constants, `emit`) and returns one value per node output (None for an output
that nothing uses). It raises `Unsupported("reason")` when the node cannot be
expressed in `nn`; the importer collects every such node into one error.

Handlers only run for nodes that touch an activation: nodes whose inputs are
all constants were folded before (see `folding.py`). Every handler normalises
ONNX's spellings (negative axes, auto_pad, opset differences) so that the
`nn` dialect sees one form per op. `docs/operators.md` documents this table.
Indexing and broadcasting on activations (Gather, Slice, Split, Expand, Tile,
Where, Cast) live in `indexing`, products of two activations in `matmul`.

The handlers live in modules by family (`passthrough`, `layers`, `windows`,
`elementwise`, `movement`, and the float-level `math`, `reductions`, `norms`,
`deconv`, `attention`, and `quantized`: QDQ pairs and quantized weights, `matmul_nbits`:
com.microsoft's MatMulNBits, `qonnx`: QONNX's quantizers); `registry` holds the table they register in.
"""

from __future__ import annotations

from compiler.frontend.ops import elementwise, layers, movement, passthrough, windows
from compiler.frontend.ops import indexing
from compiler.frontend.ops import attention, deconv, math, norms, reductions
from compiler.frontend.ops import matmul_nbits, qonnx, quantized
from compiler.frontend.ops.layers import dense_weight
from compiler.frontend.ops.movement import reshape_target
from compiler.frontend.ops.registry import FOLDED_ONLY, HANDLERS, OTHER_DOMAINS, SUPPORTED_OPS, Handler, handles
from compiler.frontend.ops.windows import resolve_pads

for _op, _note in FOLDED_ONLY.items():
    SUPPORTED_OPS.setdefault(_op, _note)

__all__ = [
    "FOLDED_ONLY", "HANDLERS", "OTHER_DOMAINS", "SUPPORTED_OPS", "Handler", "dense_weight", "handles",
    "reshape_target", "resolve_pads", "elementwise", "layers", "movement", "passthrough", "windows",
    "indexing",
    "attention", "deconv", "math", "norms", "reductions", "quantized", "matmul_nbits", "qonnx",
]
