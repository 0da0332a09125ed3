"""The float kernel table: numpy kernels for every nn op, with ONNX semantics
(see `dialects/nn.py`), by op.

The kernels live in modules by idea: `linear_kernels` (dense and the
convolution algorithms, GEMM heads), `elementwise_kernels` (batch norm,
activations, softmax, binary ops; the epilogues fused into heads),
`pool_kernels`, `shape_kernels` (data movement), `indexing_kernels` (embedding,
slices, gathers, broadcasts, casts, matmul of activations, cache writes),
`math_kernels` (element-wise math, reductions), `norm_kernels` (layer/RMS norm,
LRN, transposed conv), sharing `windows` (window geometry and padding) and
`op_inputs`. Each follows the three-stage protocol of
`kernel_table.py`. Activations are NCHW, as in the IR.

The kernels are dtype-agnostic where the computation is (data movement, max
pooling, element-wise arithmetic): they compute in `binding.dtype`. Arithmetic
on weights is done in the weights' own dtype cast to the result dtype.
"""

from __future__ import annotations

from compiler.executor import elementwise_kernels as elementwise
from compiler.executor import fake_quant_kernels
from compiler.executor import indexing_kernels as indexing
from compiler.executor import linear_kernels as linear
from compiler.executor import math_kernels as math_ops
from compiler.executor import norm_kernels as norms
from compiler.executor import pool_kernels as pools
from compiler.executor import shape_kernels as shapes
from compiler.executor.kernel_table import KernelTable, broadcast_rule
from dialects import nn

FLOAT_KERNELS = KernelTable("float executor")

FLOAT_KERNELS.register(nn.DenseOp, head=True)(linear.dense)
FLOAT_KERNELS.register(nn.ConvOp, head=True)(linear.conv)

FLOAT_KERNELS.register(nn.BatchNormOp)(elementwise.batch_norm)
FLOAT_KERNELS.register_epilogue(nn.BatchNormOp)(elementwise.batch_norm_epilogue)
for _op_type, _compute in elementwise.ACTIVATIONS.items():
    FLOAT_KERNELS.register(_op_type)(elementwise.unary(_compute))
    FLOAT_KERNELS.register_epilogue(_op_type)(elementwise.unary_epilogue(_compute))
FLOAT_KERNELS.register(nn.FakeQuantOp)(elementwise.unary(fake_quant_kernels.fake_quant))
FLOAT_KERNELS.register_epilogue(nn.FakeQuantOp)(elementwise.unary_epilogue(fake_quant_kernels.fake_quant))
FLOAT_KERNELS.register(nn.TruncQuantOp)(elementwise.unary(fake_quant_kernels.trunc_quant))
FLOAT_KERNELS.register_epilogue(nn.TruncQuantOp)(elementwise.unary_epilogue(fake_quant_kernels.trunc_quant))
FLOAT_KERNELS.register(nn.SoftmaxOp)(elementwise.softmax)
FLOAT_KERNELS.register(nn.LogSoftmaxOp)(elementwise.log_softmax)
FLOAT_KERNELS.register(nn.MaskedSoftmaxOp, batch_rule=broadcast_rule)(elementwise.masked_softmax)
for _op_type, _ufunc in elementwise.BINARY_UFUNCS.items():
    FLOAT_KERNELS.register(_op_type)(elementwise.binary(_ufunc))

FLOAT_KERNELS.register(nn.MaxPoolOp)(pools.max_pool)
FLOAT_KERNELS.register(nn.AveragePoolOp)(pools.average_pool)
FLOAT_KERNELS.register(nn.GlobalAveragePoolOp)(pools.global_average_pool)

FLOAT_KERNELS.register(nn.ReshapeOp)(shapes.reshape)
FLOAT_KERNELS.register(nn.TransposeOp)(shapes.transpose)
FLOAT_KERNELS.register(nn.ConcatOp)(shapes.concat)
FLOAT_KERNELS.register(nn.PadOp)(shapes.pad)

FLOAT_KERNELS.register(nn.EmbeddingOp)(indexing.embedding)
FLOAT_KERNELS.register(nn.SliceOp, batch_rule=indexing.slice_rule)(indexing.slice_)
FLOAT_KERNELS.register(nn.GatherOp, batch_rule=indexing.gather_rule)(indexing.gather)
FLOAT_KERNELS.register(nn.ExpandOp, batch_rule=indexing.expand_rule)(indexing.expand)
FLOAT_KERNELS.register(nn.TileOp, batch_rule=indexing.tile_rule)(indexing.tile)
FLOAT_KERNELS.register(nn.WhereOp, batch_rule=broadcast_rule)(indexing.where)
FLOAT_KERNELS.register(nn.CastOp)(indexing.cast)
FLOAT_KERNELS.register(nn.MatMulOp, batch_rule=indexing.matmul_rule)(indexing.matmul)
FLOAT_KERNELS.register(nn.CacheWriteOp, batch_rule=indexing.cache_write_rule)(indexing.cache_write)
for _op_type, _compute in math_ops.MATH_FUNCTIONS.items():
    FLOAT_KERNELS.register(_op_type)(elementwise.unary(_compute))
    FLOAT_KERNELS.register_epilogue(_op_type)(elementwise.unary_epilogue(_compute))
FLOAT_KERNELS.register(nn.IsNanOp)(elementwise.unary(math_ops.is_nan))
for _op_type, _function in math_ops.MATH_BINARY.items():
    FLOAT_KERNELS.register(_op_type, batch_rule=broadcast_rule)(elementwise.binary(_function))
for _op_type in math_ops.REDUCTIONS:
    FLOAT_KERNELS.register(_op_type, batch_rule=math_ops.reduction_rule)(math_ops.reduction)
FLOAT_KERNELS.register(nn.LayerNormOp, batch_rule=norms.trailing_norm_rule)(norms.layer_norm)
FLOAT_KERNELS.register(nn.RmsNormOp, batch_rule=norms.trailing_norm_rule)(norms.rms_norm)
FLOAT_KERNELS.register(nn.LrnOp)(norms.lrn)
FLOAT_KERNELS.register(nn.ConvTransposeOp)(norms.conv_transpose)
