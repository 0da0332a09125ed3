"""onnxruntime as the float oracle for the top of the verification ladder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from compiler.errors import HwcError


def _model_with_weights(model_path: Path, weights: Path | None) -> bytes | str:
    """The model as onnxruntime should see it: with `--weights` tensors put in."""
    if weights is None:
        return str(model_path)
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
    return model.SerializeToString()


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
