"""`com.microsoft.MatMulNBits` (onnxruntime's weight-only quantized MatMul, as its
`MatMulNBitsQuantizer` and LLM export tools write it): `Y = A · Wᵀ (+ bias)` with
W [N, K] stored as `bits`-bit integers packed into uint8, one float scale and
one zero point per block of `block_size` inputs:

    W[n, k] = (q[n, k] - z[n, k // block_size]) · s[n, k // block_size]

(z defaults to 2^(bits-1); values are packed low bits first). It imports as an
`nn.dense` whose weight is that float32 W (a `GivenBlocks` constant), carrying
the integers' block scales for `quantize` (`nn.given_block_scale`,
`nn.given_block_size`), which keeps the integers and the blocks
(docs/prequantized.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.frontend.loader import Constant
from compiler.frontend.node import NodeImport, Unsupported, shape
from compiler.frontend.ops.registry import handles
from dialects import nn

PACKED_BITS = (2, 4, 8)
"""The widths whose values never straddle a byte."""


@dataclass
class GivenBlocks(Constant):
    """A float32 weight [N, K] given as integers (`q - z`) times one scale per block of inputs."""

    block_scales: np.ndarray | None = None
    block_size: int = 0


def unpack(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """The first `count` `bits`-bit values of each row of `packed` (uint8 [rows, bytes]), low bits first."""
    per_byte = 8 // bits
    shifts = np.arange(per_byte, dtype=np.uint8) * bits
    values = (packed[..., None] >> shifts) & ((1 << bits) - 1)
    return values.reshape(packed.shape[0], -1)[:, :count].astype(np.int64)


def _zero_points(n: NodeImport, rows: int, blocks: int, bits: int) -> np.ndarray:
    if not n.has_input(3):
        return np.full((rows, blocks), 1 << (bits - 1), np.int64)
    zero = np.asarray(n.constant(3, "the zero points"))
    if zero.dtype != np.uint8:
        raise Unsupported(f"zero points of type {zero.dtype} (packed uint8 zero points are supported)")
    return unpack(zero.reshape(rows, -1), bits, blocks)


@handles("MatMulNBits", domain="com.microsoft",
         note="com.microsoft; 2, 4 or 8 bits, any block_size, packed uint8 weights, uint8 zero points or the "
              "default, optional bias; not g_idx or accuracy_level 4: an `nn.dense` whose weights keep their "
              "integers and block scales")
def _matmul_nbits(n: NodeImport):
    k, rows, bits, block = (int(n.attr(name, 0)) for name in ("K", "N", "bits", "block_size"))
    if bits not in PACKED_BITS:
        raise Unsupported(f"bits {bits} (supported: {', '.join(map(str, PACKED_BITS))})")
    if block < 1 or k < 1 or rows < 1:
        raise Unsupported("K, N and block_size must be positive")
    if n.attr("accuracy_level", 0) == 4:
        raise Unsupported("accuracy_level 4 (onnxruntime then quantizes the input to int8)")
    if n.has_input(4):
        raise Unsupported("g_idx (act-order input groups) is not supported")
    blocks = -(-k // block)
    packed = np.asarray(n.constant(1, "B (the packed weights)"))
    if packed.dtype != np.uint8 or packed.size != rows * blocks * block * bits // 8:
        raise Unsupported(f"B must hold {rows}x{blocks}x{block * bits // 8} uint8 values")
    scales = np.asarray(n.constant(2, "the scales"))
    if scales.dtype.kind != "f" or scales.size != rows * blocks or not np.all(np.isfinite(scales)):
        raise Unsupported(f"the scales must be {rows * blocks} finite floats")
    scales = scales.astype(np.float32).reshape(rows, blocks)
    codes = unpack(packed.reshape(rows, -1), bits, k) - np.repeat(_zero_points(n, rows, blocks, bits), block, 1)[:, :k]
    x = n.activation(0)
    if shape(x)[-1] != k:
        raise Unsupported(f"the input has {shape(x)[-1]} features, K is {k}")
    weight = codes.astype(np.float32) * np.repeat(scales, block, axis=1)[:, :k]
    given = GivenBlocks(f"{n.node.input[1]}_dequantized", (rows, k), np.dtype(np.float32), lambda: weight,
                        block_scales=scales.astype(np.float64), block_size=block)
    bias = n.constant_input(5, "the bias") if n.has_input(5) else None
    if bias is not None and bias.shape != (rows,):
        raise Unsupported(f"the bias must have shape [{rows}]")
    return [n.emit(nn.DenseOp(x, n.graph.materialise(given), n.graph.materialise(bias) if bias is not None else None,
                              n.type((*shape(x)[:-1], rows))))]
