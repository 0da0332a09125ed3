"""The verification ladder (DESIGN.md): each level checked against the one above.

A rung compares a level's outputs with its oracle's on the same inputs and
says whether they agree under the level's contract: float against
onnxruntime, int against float, spatial against int (bit-exact), RTL against
spatial (bit-exact under random backpressure, cycles as predicted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.driver import Design, check_float_inputs
from compiler.numerics import host_softmax_axis, signed_bits
from compiler.oracle import onnxruntime_run

FLOAT_RTOL = 1e-4
FLOAT_ATOL = 1e-5
INT_TOP1_AGREEMENT = 0.90
"""The integer model agrees with the float one when, on every output with at least
two classes (last axis >= 2), its top-1 choice is the float model's on at least
this fraction of the samples. A quantized model is an approximation: 8-bit models
typically reach 98-100 %; 90 % leaves room for 4-bit weights while still catching
a broken scale, multiplier or ROM (which drop agreement to chance). The maximum
error is reported in output LSBs (the output's quantization step) but not bounded."""


@dataclass
class Rung:
    level: str
    oracle: str
    contract: str
    agreed: bool
    detail: str


def random_inputs(design: Design, samples: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal inputs (uniform ids for token inputs), `samples` stacked on axis 0 of each input."""
    from compiler.calibration import token_vocabularies
    from compiler.ir import main_function

    vocabularies = token_vocabularies(main_function(design.nn_module))
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, shape in design.input_shapes().items():
        stacked = (samples * shape[0], *shape[1:])
        if name in vocabularies:
            inputs[name] = rng.integers(0, vocabularies[name], stacked)
        else:
            inputs[name] = rng.standard_normal(stacked).astype(np.float32)
    return inputs


def float_rung(design: Design, inputs: dict[str, np.ndarray], tensor_relative: bool = False) -> Rung:
    """Float executor against onnxruntime: every output within rtol/atol; with
    `tensor_relative` (deep transformers, whose float32 sums are reordered in many
    layers), within rtol of the output's largest magnitude instead."""
    ours = design.run(inputs, level="float")
    ir_batch = max(next(iter(design.input_shapes().values()))[0], 1)
    theirs = onnxruntime_run(design.model, inputs, ir_batch, design.output_names,
                             weights=design.options.weights)
    worst_name, worst_error, agreed = "", 0.0, True
    steps = fake_quant_steps(design)
    for name in design.output_names:
        a, b = ours[name].astype(np.float64), theirs[name].astype(np.float64)
        error = float(np.max(np.abs(a - b))) if a.size else 0.0
        if error >= worst_error:
            worst_name, worst_error = name, error
        atol = max(FLOAT_ATOL, FLOAT_RTOL * float(np.max(np.abs(b), initial=0.0))) if tensor_relative else FLOAT_ATOL
        atol = max(atol, steps.get(name, 0.0) * (1 + FLOAT_RTOL))
        agreed &= a.shape == b.shape and bool(np.allclose(a, b, rtol=FLOAT_RTOL, atol=atol))
    detail = f"max |error| {worst_error:.3g} on '{worst_name}'"
    if not agreed:
        detail += "; " + (first_layer_differing_from_onnxruntime(design, inputs)
                          or "no single layer differs beyond the tolerance")
    return Rung(
        level="float", oracle="onnxruntime",
        contract=(f"rtol {FLOAT_RTOL:g} of max |output|" if tensor_relative else f"rtol {FLOAT_RTOL:g}, atol {FLOAT_ATOL:g}")
        + ("; 1 step on quantized outputs" if steps else ""),
        agreed=agreed, detail=detail,
    )


def fake_quant_steps(design: Design) -> dict[str, float]:
    """Output name -> the step of the `nn.fake_quant` (the model's own quantization)
    producing it: such an output may differ from onnxruntime's by one step where
    float32 summation order moves a value across a rounding boundary
    (docs/prequantized.md)."""
    from compiler.ir import main_function
    from dialects import nn

    function = main_function(design.nn_module)
    ret = function.body.block.last_op
    names = [attrs.data[nn.NAME_ATTR].data for attrs in function.res_attrs.data] if function.res_attrs else []
    return {name: value.owner.scale.value.data for name, value in zip(names, ret.operands)
            if isinstance(value.owner, nn.FakeQuantOp)}


def first_layer_differing_from_onnxruntime(design: Design, inputs: dict[str, np.ndarray]) -> str | None:
    """The first nn op (in program order) whose result differs from the ONNX tensor it
    computes, checked against onnxruntime with every such tensor made a graph output."""
    from compiler.calibration import activations, probe_module
    from compiler.executor import FloatExecutor
    from dialects.nn import ONNX_NODE_ATTR, ONNX_TENSOR_ATTR

    probe = probe_module(design.nn_module)
    values = activations(probe)
    ours = FloatExecutor(probe).run(inputs)
    named = [(i, v.owner) for i, v in enumerate(values) if ONNX_TENSOR_ATTR in v.owner.attributes]
    tensors = list(dict.fromkeys(op.attributes[ONNX_TENSOR_ATTR].data for _, op in named))
    ir_batch = max(next(iter(design.input_shapes().values()))[0], 1)
    theirs = onnxruntime_run(design.model, inputs, ir_batch, tensors,
                             weights=design.options.weights, intermediates=True)
    for index, op in named:
        tensor = op.attributes[ONNX_TENSOR_ATTR].data
        a, b = ours[f"output{index}"], theirs[tensor]
        if a.shape != b.shape or not np.allclose(a, b, rtol=FLOAT_RTOL, atol=FLOAT_ATOL):
            node = op.attributes[ONNX_NODE_ATTR].data
            return f"first differs at node '{node}' (tensor '{tensor}', {op.name})"
    return None


def calibration_inputs(design: Design, samples: int) -> dict[str, np.ndarray]:
    """The first `samples` samples of the design's calibration file (keys = input names)."""
    with np.load(design.options.calib, allow_pickle=False) as archive:
        return {name: np.asarray(archive[name][:samples], np.float32) for name in design.input_names}


def top1_agreement(ours: np.ndarray, theirs: np.ndarray) -> float | None:
    """Fraction of samples whose argmax over the last axis agree (trailing axes of size 1
    aside, as the host's softmax: `host_softmax_axis`); None when there is no choice."""
    axis = host_softmax_axis(ours.shape)
    if ours.ndim < 2 or ours.shape[axis] < 2:
        return None
    return float(np.mean(np.argmax(ours, axis=axis) == np.argmax(theirs, axis=axis)))


def int_rung(design: Design, inputs: dict[str, np.ndarray]) -> Rung:
    """Integer executor (float in, dequantized out) against the float executor.

    Agrees when every classifier-like output keeps top-1 agreement >= INT_TOP1_AGREEMENT;
    the detail reports the agreement and the largest error in output LSBs.
    """
    floats = design.run(inputs, level="float")
    ints = design.run(inputs, level="int")
    executor = design.executor("int")
    agreed, details = True, []
    for name in design.output_names:
        a, b = ints[name].astype(np.float64), floats[name].astype(np.float64)
        error = float(np.max(np.abs(a - b))) if a.size else 0.0
        scale = executor.output_scales.get(name)
        if scale and not executor.host_ops.get(name):
            text = f"'{name}': max error {error / scale:.1f} LSB"
        else:
            text = f"'{name}': max |error| {error:.3g}"
        top1 = top1_agreement(a, b)
        if top1 is not None:
            text += f", top-1 agreement {top1:.1%}"
            agreed &= top1 >= INT_TOP1_AGREEMENT
        details.append(text)
    return Rung(
        level=f"int ({quantization_label(design)})", oracle="float executor",
        contract=f"top-1 agreement >= {INT_TOP1_AGREEMENT:.0%}", agreed=agreed, detail="; ".join(details),
    )


def quantization_label(design: Design) -> str:
    """The int rung's widths: hwc's `w{wbits}a{abits}` for a float model; for a model that
    states its own quantization, the model's ("model's w2 a4/8": the widths its weight
    integers need, its activation formats' widths), then hwc's for what the model leaves
    float ("hwc's a8": MatMulNBits' and MXFP4's activations; "w8" for float layers)."""
    weights, activations, float_layers = model_given_widths(design)
    ours = design.options
    if not weights and not activations:
        return f"w{ours.wbits}a{ours.abits}"
    given = " ".join(f"{kind}{'/'.join(map(str, widths))}"
                     for kind, widths in (("w", weights), ("a", activations)) if widths)
    chosen = " ".join(part for part, needed in ((f"w{ours.wbits}", float_layers), (f"a{ours.abits}", not activations))
                      if needed)
    return f"model's {given}" + (f", hwc's {chosen}" if chosen else "")


def model_given_widths(design: Design) -> tuple[list[int], list[int], bool]:
    """(the widths of the weight integers the model gives, the widths of the activation
    formats it gives, whether some dense/conv layer has float weights), from the float IR."""
    from compiler.ir import constant_value, main_function
    from compiler.weight_formats import expand_groups
    from compiler.weights import store_for
    from dialects import nn

    module = design.nn_module
    store = store_for(module)
    weights, activations, float_layers = set(), set(), False
    for op in main_function(module).body.block.ops:
        if isinstance(op, (nn.FakeQuantOp, nn.TruncQuantOp)):
            lo, hi = op.levels
            activations.add((hi - lo).bit_length())
        if not isinstance(op, (nn.DenseOp, nn.ConvOp)):
            continue
        owner, value = op.weight.owner, None
        attrs = owner.attributes if owner is not None else {}
        if nn.GIVEN_SCALE_ATTR in attrs:
            value = constant_value(op.weight, store)
            steps = np.asarray(attrs[nn.GIVEN_SCALE_ATTR].get_values(), np.float64).reshape((-1,) + (1,) * (value.ndim - 1))
        elif nn.GIVEN_BLOCK_SCALE_ATTR in attrs:
            value = constant_value(op.weight, store)
            blocks = np.asarray(attrs[nn.GIVEN_BLOCK_SCALE_ATTR].get_values(), np.float64).reshape(value.shape[0], -1)
            steps = expand_groups(blocks, attrs[nn.GIVEN_BLOCK_SIZE_ATTR].value.data, value.shape[1])
        if value is None:
            float_layers = True
            continue
        codes = np.rint(np.asarray(value, np.float64) / steps)
        weights.add(max(2, signed_bits(int(codes.min(initial=0)), int(codes.max(initial=0)))))
    return sorted(weights), sorted(activations), float_layers


def first_difference(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> str | None:
    """Where two sets of integer outputs first differ (output, sample, index), or None."""
    for name, expected in theirs.items():
        actual = ours[name]
        if actual.shape != expected.shape:
            return f"'{name}' has shape {list(actual.shape)}, expected {list(expected.shape)}"
        mismatch = np.argwhere(actual != expected)
        if len(mismatch):
            where = tuple(int(i) for i in mismatch[0])
            return (f"'{name}' sample {where[0]} at {list(where[1:])}: {actual[where]} "
                    f"instead of {expected[where]} ({len(mismatch)} elements differ)")
    return None


def first_layer_differing_in_spatial(design: Design, quantized: dict[str, np.ndarray]) -> str | None:
    """The first spatial layer (in the integer graph's order) whose stream differs from
    the integer executor's value for the same nn tensor."""
    from compiler.calibration import probe_module
    from compiler.executor import IntExecutor

    reference = IntExecutor(probe_module(design.rom_module)).run_int(quantized)
    for index, (layer, values) in sorted(design.executor("spatial").probe(quantized).items()):
        expected = reference[f"output{index}"].reshape(len(values), -1)
        if expected.shape != values.shape or not np.array_equal(expected, values):
            return f"first differs at layer '{layer}'"
    return None


def spatial_rung(design: Design, inputs: dict[str, np.ndarray]) -> Rung:
    """Spatial executor against the integer executor: the same integers, bit for bit."""
    int_executor = design.executor("int")
    quantized = int_executor.quantize_inputs(inputs)
    expected = int_executor.run_int(quantized)
    spatial = design.executor("spatial")
    actual = spatial.run_int(quantized)
    difference = first_difference(actual, expected)
    if difference is not None:
        difference += "; " + (first_layer_differing_in_spatial(design, quantized)
                              or "every probed layer agrees")
    timing = f"{spatial.cycles_per_inference} cycles/inference, latency {spatial.latency}"
    return Rung(
        level="spatial", oracle="int executor", contract="bit-exact",
        agreed=difference is None, detail=timing if difference is None else f"{difference}; {timing}",
    )


RTL_STALL = 0.3
"""Probability that the test bench withholds s_axis_tvalid / m_axis_tready on a cycle."""
RTL_CYCLE_TOLERANCE = 0.05


def rtl_rung(design: Design, inputs: dict[str, np.ndarray], trace_file=None) -> Rung:
    """RTL simulation against the spatial executor: bit-exact under random backpressure,
    and, without backpressure, cycles per inference within 5% of the prediction.

    `trace_file` (.fst or .vcd): the run under backpressure writes its waveform there.
    When the RTL differs, the first differing PE is simulated alone and its waveform
    kept (beside `trace_file`, else in a new temporary folder) and named in the detail."""
    from compiler.rtl import RtlExecutor

    spatial = design.executor("spatial")
    quantized = spatial.quantize_inputs(inputs)
    expected = spatial.run_int(quantized)
    build = design.rtl_build()
    stalled = RtlExecutor(spatial, build, stall_in=RTL_STALL, stall_out=RTL_STALL, seed=1, trace_file=trace_file)
    difference = first_difference(stalled.run_int(quantized), expected)
    steady = RtlExecutor(spatial, build)
    difference = difference or first_difference(steady.run_int(quantized), expected)
    if difference is not None:
        import tempfile
        from pathlib import Path

        from compiler.rtl import first_pe_differing_in_rtl, lower_to_hw

        hw_module = lower_to_hw(design.spatial_module, design.options.rom, design.options.const_mult)
        kept = Path(tempfile.mkdtemp(prefix="hwc-verify-")) if trace_file is None else Path(trace_file).parent
        with tempfile.TemporaryDirectory(prefix="hwc-localize-") as scratch:
            culprit = first_pe_differing_in_rtl(spatial, design.spatial_module, hw_module, quantized,
                                                Path(scratch), trace_dir=kept)
        difference += "; " + (culprit or "every PE agrees on its own: the wiring between PEs differs")
    measured, predicted = steady.last_run.cycles_per_inference, spatial.cycles_per_inference
    on_time = abs(measured - predicted) <= RTL_CYCLE_TOLERANCE * predicted
    timing = (f"{measured:g} cycles/inference measured, {predicted} predicted; latency "
              f"{steady.last_run.latency} measured, {spatial.latency} predicted")
    detail = timing if difference is None else f"{difference}; {timing}"
    return Rung(
        level=f"rtl ({design.options.rom} ROMs)", oracle="spatial executor",
        contract=f"bit-exact with {RTL_STALL:.0%} random stalls; cycles within {RTL_CYCLE_TOLERANCE:.0%}",
        agreed=difference is None and on_time, detail=detail,
    )


def run_ladder(design: Design, samples: int, seed: int = 0, rtl: bool = True, trace_file=None) -> list[Rung]:
    """Every rung the pipeline reaches. The int rung runs on the calibration samples when
    the design has a calibration file (inputs like the ones it was quantized for), else on
    the same random inputs as the float rung. (A language model's ladder is
    `compiler.verify_llm.language_model_ladder`.)"""
    check_float_inputs(design.nn_module)
    inputs = random_inputs(design, samples, seed)
    rungs = [float_rung(design, inputs)]
    int_inputs = calibration_inputs(design, samples) if design.options.calib else inputs
    rungs.append(int_rung(design, int_inputs))
    rungs.append(spatial_rung(design, int_inputs))
    if rtl:
        rungs.append(rtl_rung(design, int_inputs, trace_file))
    return rungs
