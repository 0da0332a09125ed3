"""hwc's passes, one `ModulePass` per file, each file named after its pass.

`ALL_PASSES` maps a pass name (as written in a pipeline, `-p "fold-batchnorm,
fold-constants"`) to a factory returning the pass class. The factories import
lazily, as xDSL's own `xdsl.transforms.get_all_passes` does, so that tools
listing the passes (`hwc-opt`, `xdsl-opt` through the universe) start fast.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def _fold_constants() -> type[ModulePass]:
    from passes.fold_constants import FoldConstantsPass

    return FoldConstantsPass


def _fold_batchnorm() -> type[ModulePass]:
    from passes.fold_batchnorm import FoldBatchNormPass

    return FoldBatchNormPass


def _weights_to_rom() -> type[ModulePass]:
    from passes.weights_to_rom import WeightsToRomPass

    return WeightsToRomPass


def _calibrate() -> type[ModulePass]:
    from passes.calibrate import CalibratePass

    return CalibratePass


def _softmax_to_host() -> type[ModulePass]:
    from passes.softmax_to_host import SoftmaxToHostPass

    return SoftmaxToHostPass


def _absorb_clamps() -> type[ModulePass]:
    from passes.absorb_clamps import AbsorbClampsPass

    return AbsorbClampsPass


def _recognise_norms() -> type[ModulePass]:
    from passes.recognise_norms import RecogniseNormsPass

    return RecogniseNormsPass


def _recognise_gelu() -> type[ModulePass]:
    from passes.recognise_gelu import RecogniseGeluPass

    return RecogniseGeluPass


def _recognise_silu() -> type[ModulePass]:
    from passes.recognise_silu import RecogniseSiluPass

    return RecogniseSiluPass


def _mask_softmax() -> type[ModulePass]:
    from passes.mask_softmax import MaskSoftmaxPass

    return MaskSoftmaxPass


def _smooth_activations() -> type[ModulePass]:
    from passes.smooth_activations import SmoothActivationsPass

    return SmoothActivationsPass


def _decompose_norms() -> type[ModulePass]:
    from passes.decompose_norms import DecomposeNormsPass

    return DecomposeNormsPass


def _quantize() -> type[ModulePass]:
    from passes.quantize import QuantizePass

    return QuantizePass


def _map_to_spatial() -> type[ModulePass]:
    from passes.map_to_spatial import MapToSpatialPass

    return MapToSpatialPass


def _fold_parallelism() -> type[ModulePass]:
    from passes.fold_parallelism import FoldParallelismPass

    return FoldParallelismPass


def _pad_neurons() -> type[ModulePass]:
    from passes.pad_neurons import PadNeuronsPass

    return PadNeuronsPass


def _size_fifos() -> type[ModulePass]:
    from passes.size_fifos import SizeFifosPass

    return SizeFifosPass


def _lower_spatial_to_hw() -> type[ModulePass]:
    from passes.lower_spatial_to_hw import LowerSpatialToHwPass

    return LowerSpatialToHwPass


def _sequence_to_stream() -> type[ModulePass]:
    from passes.sequence_to_stream import SequenceToStream

    return SequenceToStream


ALL_PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "fold-constants": _fold_constants,
    "fold-batchnorm": _fold_batchnorm,
    "calibrate": _calibrate,
    "quantize": _quantize,
    "softmax-to-host": _softmax_to_host,
    "absorb-clamps": _absorb_clamps,
    "weights-to-rom": _weights_to_rom,
    "pad-neurons": _pad_neurons,
    "fold-parallelism": _fold_parallelism,
    "size-fifos": _size_fifos,
    "map-to-spatial": _map_to_spatial,
    "lower-spatial-to-hw": _lower_spatial_to_hw,
    "sequence-to-stream": _sequence_to_stream,
    "recognise-norms": _recognise_norms,
    "decompose-norms": _decompose_norms,
    "recognise-gelu": _recognise_gelu,
    "recognise-silu": _recognise_silu,
    "mask-softmax": _mask_softmax,
    "smooth-activations": _smooth_activations,
}
