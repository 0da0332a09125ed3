"""Names of the attributes hwc puts on `nn` IR: the module's weight store, and the
discardable attributes on ops, arguments and results.
"""

from __future__ import annotations

WEIGHT_STORE_ATTR = "nn.weights"
"""Module attribute naming the safetensors file that `nn.weight` keys refer to."""

# Discardable attributes the passes put on nn ops, arguments and results (the
# contract between the importer, `quantize`, `weights-to-rom`, the executors and
# `map-to-spatial`; always spelled through these names).
NAME_ATTR = "nn.name"
"""On `main`'s arguments and results: the ONNX graph input or output name."""
ONNX_NODE_ATTR = "nn.onnx_node"
"""On an imported op: the name of the ONNX node it came from."""
ONNX_TENSOR_ATTR = "nn.onnx_tensor"
"""On an imported op: the name of the ONNX tensor its result stands for."""
SCALE_ATTR = "nn.scale"
"""After `quantize`: the real value of one unit of a quantized activation (an
argument, a result, an op producing an activation), or the per-channel scales
(inline dense) of a quantized weight constant."""
SCALE_KEY_ATTR = "nn.scale_key"
"""After `quantize`: the weight-store key of per-channel scales too large to inline."""
AXIS_ATTR = "nn.axis"
"""After `quantize`: the axis a weight constant's per-channel scales run along."""
ACC_BITS_ATTR = "nn.acc_bits"
"""After `quantize`: the width of an op's exact accumulator."""
HOST_OP_ATTR = "nn.host_op"
"""After `softmax-to-host` (which `quantize` runs), on a result: the final op the host
applies in float (softmax, log_softmax)."""
ABSMAX_ATTR = "nn.absmax"
"""After `calibrate`, on `main`'s arguments and on ops producing activations: the
largest |value| (f64) the float model gives it over the calibration samples;
`quantize` chooses scales from it and removes it."""
