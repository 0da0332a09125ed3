"""The `nn` dialect: tensor-level neural-network operations with ONNX semantics.

Every op works on builtin tensors. Before `quantize` the element type is a float
(f32); afterwards the same ops run on integer tensors. The importer normalises
ONNX's many spellings into one form per op:

* `nn.dense` is `Y = X · Wᵀ + b` with `W` laid out `[out, in]` (Gemm's transA,
  transB, alpha and beta, and MatMul+Add, are folded into this form);
* `nn.conv`, `nn.max_pool` and `nn.average_pool` carry explicit `pads`
  (`[begin..., end...]`, ONNX order); `auto_pad` never reaches the dialect;
* activation tensors are NCHW (ONNX order); batch is axis 0.
* the float level's indexing ops (`nn.embedding`, `nn.slice`, `nn.gather`,
  `nn.expand`, `nn.tile`, `nn.where`, `nn.cast`; module `indexing`) and
  `nn.matmul` of two activations (module `matmul`) have one form each too.

Constants are either inline (`nn.constant dense<...>`) or a reference into the
module's weight store (`nn.weight "key"`), so that the IR of a large model
stays small (see `compiler/weights.py`).

The ops live in modules by family: `constants`, `layers`, `pooling`,
`elementwise`, `movement`, `quantized`, and the float-level `math`,
`reductions`, `norms`, `deconv` and `fake_quant` (quantization a model states); `common` holds what they share and
`attributes` the attribute names. Everything public is importable from
`dialects.nn` itself.
"""

from __future__ import annotations

from xdsl.ir import Dialect

from dialects.nn.attributes import (
    ABSMAX_ATTR,
    ACC_BITS_ATTR,
    AXIS_ATTR,
    HOST_OP_ATTR,
    NAME_ATTR,
    ONNX_NODE_ATTR,
    ONNX_TENSOR_ATTR,
    SCALE_ATTR,
    SCALE_KEY_ATTR,
    WEIGHT_STORE_ATTR,
)
from dialects.nn.common import element_type_of, float_attr, i64_array, shape_of, window_output_size
from dialects.nn.constants import ConstantOp, WeightOp
from dialects.nn.elementwise import (
    AddOp,
    ClipOp,
    DivOp,
    LeakyReluOp,
    LogSoftmaxOp,
    MaskedSoftmaxOp,
    MulOp,
    ReluOp,
    SigmoidOp,
    SoftmaxOp,
    SubOp,
    TanhOp,
)
from dialects.nn.indexing import CastOp, EmbeddingOp, ExpandOp, GatherOp, SliceOp, TileOp, WhereOp
from dialects.nn.layers import BatchNormOp, ConvOp, DenseOp
from dialects.nn.matmul import MatMulOp
from dialects.nn.deconv import ConvTransposeOp, transposed_output_size
from dialects.nn.math import (
    GELU_APPROXIMATIONS,
    AbsOp,
    CosOp,
    EluOp,
    ErfOp,
    ExpOp,
    GeluOp,
    SiluOp,
    HardSigmoidOp,
    HardSwishOp,
    IsNanOp,
    LogOp,
    MaxOp,
    MinOp,
    NegOp,
    PowOp,
    PReluOp,
    ReciprocalOp,
    SeluOp,
    ShrinkOp,
    SignOp,
    SinOp,
    SoftplusOp,
    SoftsignOp,
    SqrtOp,
)
from dialects.nn.movement import PAD_MODES, ConcatOp, PadOp, ReshapeOp, TransposeOp
from dialects.nn.pooling import AveragePoolOp, GlobalAveragePoolOp, GlobalSumPoolOp, MaxPoolOp, SumPoolOp
from dialects.nn.norms import LayerNormOp, LrnOp, RmsNormOp
from dialects.nn.fake_quant import (
    GIVEN_BLOCK_SCALE_ATTR, GIVEN_BLOCK_SIZE_ATTR, GIVEN_SCALE_ATTR, INPUT_RANGE_ATTR, FakeQuantOp,
    TruncQuantOp,
)
from dialects.nn.quantized import GroupDenseOp, IntSoftmaxOp, InvSqrtOp, LookupOp, RequantOp
from dialects.nn.state import CacheWriteOp
from dialects.nn.reductions import (
    ReduceL1Op,
    ReduceL2Op,
    ReduceLogSumExpOp,
    ReduceLogSumOp,
    ReduceMaxOp,
    ReduceMeanOp,
    ReduceMinOp,
    ReduceOp,
    ReduceProdOp,
    ReduceSumOp,
    ReduceSumSquareOp,
    reduced_shape,
)

NN = Dialect(
    "nn",
    [
        ConstantOp, WeightOp, DenseOp, ConvOp, MaxPoolOp, AveragePoolOp, GlobalAveragePoolOp,
        BatchNormOp, ReluOp, LeakyReluOp, ClipOp, SigmoidOp, TanhOp, SoftmaxOp, LogSoftmaxOp, MaskedSoftmaxOp,
        AddOp, SubOp, MulOp, DivOp, ConcatOp, ReshapeOp, TransposeOp, PadOp,
        RequantOp, SumPoolOp, GlobalSumPoolOp, LookupOp, IntSoftmaxOp, InvSqrtOp, GroupDenseOp,
        EmbeddingOp, GatherOp, SliceOp, ExpandOp, TileOp, WhereOp, CastOp, MatMulOp,
        CacheWriteOp,
        # quantization a model states itself (float level)
        FakeQuantOp, TruncQuantOp,
        # element-wise math (float level)
        NegOp, AbsOp, SignOp, ExpOp, LogOp, SqrtOp, ReciprocalOp, ErfOp, SinOp, CosOp,
        SoftplusOp, SoftsignOp, EluOp, SeluOp, HardSigmoidOp, HardSwishOp, ShrinkOp, GeluOp, SiluOp,
        PowOp, MaxOp, MinOp, PReluOp, IsNanOp,
        # reductions, normalisations, transposed convolution (float level)
        ReduceSumOp, ReduceMeanOp, ReduceMaxOp, ReduceMinOp, ReduceProdOp, ReduceL1Op, ReduceL2Op,
        ReduceSumSquareOp, ReduceLogSumOp, ReduceLogSumExpOp,
        LayerNormOp, RmsNormOp, LrnOp, ConvTransposeOp,
    ],
)

