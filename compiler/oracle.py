"""onnxruntime as the float oracle for the top of the verification ladder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from compiler.errors import HwcError


def _model_with_weights(model_path: Path, weights: Path | None) -> bytes | str:
    """The model as onnxruntime should see it: with `--weights` tensors put in."""
    if weights is None:
        graph = onnx.load(str(model_path), load_external_data=False).graph
        if not any(node.domain == QONNX_DOMAIN for node in graph.node) and not _narrow_float_weights(graph):
            return str(model_path)
        return as_onnxruntime_runs_it(onnx.load(str(model_path))).SerializeToString()
    from compiler.weights import memmap_safetensors

    model = onnx.load(str(model_path))
    supplied = {key: np.asarray(load()) for key, load in memmap_safetensors(Path(weights)).items()}
    kept = [init for init in model.graph.initializer if init.name not in supplied]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    model.graph.initializer.extend(
        onnx.numpy_helper.from_array(array, name) for name, array in supplied.items()
    )
    graph_inputs = [i for i in model.graph.input if i.name not in supplied]
    del model.graph.input[:]
    model.graph.input.extend(graph_inputs)
    return as_onnxruntime_runs_it(model).SerializeToString()


def as_onnxruntime_runs_it(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with what onnxruntime cannot run written in what it can: QONNX quantizers
    in standard ops, MXFP4 weights (FLOAT4E2M1) dequantized by onnx's reference."""
    return mx_weights_as_float(qonnx_as_standard_onnx(model))


NARROW_FLOATS = (onnx.TensorProto.FLOAT4E2M1,)


def _narrow_float_weights(graph: onnx.GraphProto) -> set[str]:
    """The names of FLOAT4E2M1 initializers (onnxruntime has no DequantizeLinear for them)."""
    return {t.name for t in graph.initializer if t.data_type in NARROW_FLOATS}


def mx_weights_as_float(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with each DequantizeLinear of a FLOAT4E2M1 initializer replaced by its
    float32 result, computed by onnx's reference implementation (onnxruntime 1.32 has no
    kernel for it). A model without them is returned as it is."""
    narrow = _narrow_float_weights(model.graph)
    folded = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in narrow]
    if not folded:
        return model
    from onnx.reference import ReferenceEvaluator

    result = onnx.ModelProto()
    result.CopyFrom(model)
    initializers = {t.name: t for t in model.graph.initializer}
    for node in folded:
        graph = onnx.helper.make_graph([node], "dequantize", [], [onnx.helper.make_empty_tensor_value_info(node.output[0])],
                                       [initializers[name] for name in node.input if name])
        single = onnx.helper.make_model(graph, opset_imports=model.opset_import)
        value = ReferenceEvaluator(single).run(None, {})[0]
        result.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(value, np.float32), node.output[0]))
    del result.graph.node[:]
    result.graph.node.extend(n for n in model.graph.node if n not in folded)
    return result


QONNX_DOMAIN = "qonnx.custom_op.general"
AS_WRITTEN = ("session.disable_quant_qdq", "1")
"""The session option that makes onnxruntime compute a QDQ model as it is written. Its
QDQ transformers change the arithmetic: they round a float bias beside quantized
weights to int32 at the accumulator's scale (many steps off at 4 bits, Brevitas'
QCDQ export), and fuse a blocked 4-bit DequantizeLinear with its MatMul into
MatMulNBits, which then rounds the float activations to int8."""


def qonnx_as_standard_onnx(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with each QONNX `Quant`/`IntQuant`/`BipolarQuant` written out in standard
    ONNX ops, as qonnx defines them, so that onnxruntime runs it: `Quant` is
    `(Round(Clip(x / s + z, min, max)) - z) * s` (Round: half to even, qonnx's ROUND;
    Floor/Ceil for FLOOR/CEIL), `BipolarQuant` is `Where(x >= 0, 1, -1) * s`, `Trunc`
    (opset 2) is `(R(Clip(Round(x / s + z) / t, min, max)) - z / t) * s_out` with
    `t = 2^round(log2(s_out / s))`; a `FloatQuant` of a constant becomes its value,
    computed by qonnx's steps in numpy (`_float_quant_folded`).
    A model without QONNX nodes is returned as it is."""
    if not any(node.domain == QONNX_DOMAIN for node in model.graph.node):
        return model
    result = onnx.ModelProto()
    result.CopyFrom(model)
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        if node.domain != QONNX_DOMAIN:
            nodes.append(node)
        elif node.op_type == "BipolarQuant":
            nodes += _bipolar_nodes(node, result.graph.initializer)
        elif node.op_type == "Trunc":
            nodes += _trunc_nodes(node, constants, result.graph.initializer)
        elif node.op_type == "FloatQuant" and node.input[0] in constants:
            result.graph.initializer.append(_float_quant_folded(node, constants))
        else:
            nodes += _quant_nodes(node, constants, result.graph.initializer)
    del result.graph.node[:]
    result.graph.node.extend(nodes)
    kept = [o for o in result.opset_import if o.domain != QONNX_DOMAIN]
    del result.opset_import[:]
    result.opset_import.extend(kept)
    return result


def _constant(initializers, name: str, value: float) -> str:
    initializers.append(onnx.numpy_helper.from_array(np.float32(value), name))
    return name


def _quant_nodes(node: onnx.NodeProto, constants: dict, initializers) -> list[onnx.NodeProto]:
    make = onnx.helper.make_node
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    signed, narrow = attrs.get("signed", 1), attrs.get("narrow", 0)
    bits = int(np.asarray(constants[node.input[3]]).reshape(-1)[0])
    low = -(2 ** (bits - 1)) + narrow if signed else 0
    high = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1 - narrow
    mode = attrs.get("rounding_mode", b"ROUND")
    rounding = {"ROUND": "Round", "CEIL": "Ceil", "FLOOR": "Floor"}[
        (mode.decode() if isinstance(mode, bytes) else mode).upper()]
    x, s, z, out = node.input[0], node.input[1], node.input[2], node.output[0]
    lo, hi = _constant(initializers, f"{out}/min", low), _constant(initializers, f"{out}/max", high)
    return [make("Div", [x, s], [f"{out}/div"]), make("Add", [f"{out}/div", z], [f"{out}/shifted"]),
            make("Clip", [f"{out}/shifted", lo, hi], [f"{out}/clipped"]),
            make(rounding, [f"{out}/clipped"], [f"{out}/rounded"]),
            make("Sub", [f"{out}/rounded", z], [f"{out}/centred"]), make("Mul", [f"{out}/centred", s], [out])]


def _rounding_op(node: onnx.NodeProto, default: str) -> str:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    mode = attrs.get("rounding_mode", default)
    return {"ROUND": "Round", "CEIL": "Ceil", "FLOOR": "Floor"}[(mode.decode() if isinstance(mode, bytes) else mode).upper()]


def _trunc_nodes(node: onnx.NodeProto, constants: dict, initializers) -> list[onnx.NodeProto]:
    """qonnx's `Trunc` (opset 2: x, scale, zero point, input bits, output scale, output
    bits), its float32 operations in qonnx's order."""
    make = onnx.helper.make_node
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    signed, narrow = attrs.get("signed", 1), attrs.get("narrow", 0)
    x, s, z, _, s_out, out_bits = node.input[:6]
    bits = int(np.asarray(constants[out_bits]).reshape(-1)[0])
    low = -(2 ** (bits - 1)) + narrow if signed else 0
    high = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1 - narrow
    ratio = np.asarray(constants[s_out], np.float32) / np.asarray(constants[s], np.float32)
    out = node.output[0]
    t = _constant(initializers, f"{out}/trunc_scale", np.float32(2) ** np.round(np.log2(ratio)).reshape(-1)[0])
    lo, hi = _constant(initializers, f"{out}/min", low), _constant(initializers, f"{out}/max", high)
    return [make("Div", [x, s], [f"{out}/div"]), make("Add", [f"{out}/div", z], [f"{out}/shifted"]),
            make("Round", [f"{out}/shifted"], [f"{out}/integers"]),
            make("Div", [f"{out}/integers", t], [f"{out}/truncated"]),
            make("Clip", [f"{out}/truncated", lo, hi], [f"{out}/clipped"]),
            make(_rounding_op(node, "FLOOR"), [f"{out}/clipped"], [f"{out}/rounded"]),
            make("Div", [z, t], [f"{out}/zero"]), make("Sub", [f"{out}/rounded", f"{out}/zero"], [f"{out}/centred"]),
            make("Mul", [f"{out}/centred", s_out], [out])]


def _float_quant_folded(node: onnx.NodeProto, constants: dict) -> onnx.TensorProto:
    """qonnx's `FloatQuant` of a constant, step by step as qonnx computes it (float32
    values, float64 bounds, saturating; signed), as an initializer."""
    x, scale, e_bits, m_bits, bias = (np.asarray(constants[name]) for name in node.input[:5])
    max_val = np.asarray(constants[node.input[5]]) if len(node.input) > 5 and node.input[5] else None
    x = x / scale
    internal = np.floor(np.log2(np.abs(x) + np.finfo(x.dtype).tiny)) - m_bits
    internal = np.exp2(np.maximum(internal, 1.0 - bias - m_bits))
    x_q = internal * {"Round": np.round, "Ceil": np.ceil, "Floor": np.floor}[_rounding_op(node, "ROUND")](x / internal)
    max_exponent = 2.0 ** float(e_bits) - 1.0 - float(bias)
    max_value = float(np.sum(2.0 ** np.arange(0, -float(m_bits) - 1.0, -1.0))) * 2.0 ** max_exponent
    max_value = max_value if max_val is None else np.minimum(max_value, max_val)
    value = np.clip(x_q, -max_value, max_value) * scale
    return onnx.numpy_helper.from_array(np.asarray(value, np.float32), node.output[0])


def _bipolar_nodes(node: onnx.NodeProto, initializers) -> list[onnx.NodeProto]:
    make = onnx.helper.make_node
    x, s, out = node.input[0], node.input[1], node.output[0]
    zero, one, minus = (_constant(initializers, f"{out}/{n}", v) for n, v in (("zero", 0), ("one", 1), ("minus", -1)))
    return [make("GreaterOrEqual", [x, zero], [f"{out}/nonnegative"]),
            make("Where", [f"{out}/nonnegative", one, minus], [f"{out}/sign"]), make("Mul", [f"{out}/sign", s], [out])]


def _with_outputs(model: bytes | str, names: list[str]) -> bytes:
    """The model with `names` (any tensors it computes) added to its graph outputs."""
    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model)
    present = {output.name for output in proto.graph.output}
    proto.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name)
                              for name in names if name not in present)
    return proto.SerializeToString()


def onnxruntime_run(
    model_path: Path, inputs: dict[str, np.ndarray], ir_batch: int,
    output_names: list[str], weights: Path | None = None, intermediates: bool = False,
) -> dict[str, np.ndarray]:
    """Run inputs through onnxruntime, `ir_batch` samples per call, outputs concatenated.
    With `intermediates`, `output_names` may name any tensor the graph computes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry(*AS_WRITTEN)
    try:
        model = _model_with_weights(model_path, weights)
        if intermediates:
            model = _with_outputs(model, output_names)
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own, untyped errors
        raise HwcError(f"{model_path}: onnxruntime cannot load the model ({error})") from None
    total = len(next(iter(inputs.values())))
    chunks: list[list[np.ndarray]] = []
    for start in range(0, total, ir_batch):
        feed = {name: array[start:start + ir_batch] for name, array in inputs.items()}
        chunks.append(session.run(output_names, feed))
    return {name: np.concatenate([c[i] for c in chunks]) for i, name in enumerate(output_names)}
