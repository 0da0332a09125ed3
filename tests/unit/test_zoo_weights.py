"""The zoo benchmark's random weights (`benchmarks/zoo_weights.py`) on a small model
written as the light zoo writes its models (every weight and bias a `ConstantOfShape`,
the classifier's weight behind a `Reshape`, ir_version 3): after the construction
every Conv and Gemm output channel has mean 0 and variance 1 on the scaling inputs,
measured with onnxruntime, and the weights are no longer one constant."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]


def _zoo_weights():
    spec = importlib.util.spec_from_file_location("zoo_weights", ROOT / "benchmarks" / "zoo_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


zoo_weights = _zoo_weights()


def constant(name: str, shape: list[int]) -> tuple[onnx.NodeProto, onnx.TensorProto]:
    """A light-zoo style weight: ConstantOfShape(shape) filled with 0.02."""
    fill = helper.make_tensor("value", TensorProto.FLOAT, [1], [0.02])
    shape_init = numpy_helper.from_array(np.array(shape, np.int64), f"{name}__SHAPE")
    return helper.make_node("ConstantOfShape", [f"{name}__SHAPE"], [name], value=fill), shape_init


def light_style_model(path: Path) -> None:
    specs = {"w1": [8, 3, 3, 3], "b1": [8], "w2": [6, 8, 1, 1], "b2": [6], "fc_w4": [1, 1, 5, 6 * 4 * 4], "fc_b": [5]}
    made = [constant(name, shape) for name, shape in specs.items()]
    nodes = [node for node, _ in made] + [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Reshape", ["r2", "flat"], ["f"]),
        helper.make_node("Reshape", ["fc_w4", "fc_shape"], ["fc_w"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], transB=1, beta=0.5),
    ]
    inits = [init for _, init in made] + [numpy_helper.from_array(np.array([1, 96], np.int64), "flat"),
                                          numpy_helper.from_array(np.array([5, 96], np.int64), "fc_shape")]
    graph = helper.make_graph(nodes, "light", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 3
    for init in inits:  # ir_version 3: initializers are graph inputs too
        model.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    onnx.save(model, path)


def layer_outputs(path: Path, names: list[str], feeds: list[dict]) -> dict[str, np.ndarray]:
    model = onnx.load(path)
    model.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names
                              if n != "logits")
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    runs = [dict(zip([o.name for o in session.get_outputs()], session.run(None, feed))) for feed in feeds]
    return {name: np.stack([run[name] for run in runs]) for name in names}


def test_every_layer_has_zero_mean_and_unit_variance_per_channel_on_the_scaling_inputs(tmp_path):
    source, target = tmp_path / "light.onnx", tmp_path / "random.onnx"
    light_style_model(source)
    zoo_weights.with_random_weights(source, target, centre=1.0, seed=3, samples=6)
    feeds = zoo_weights.scaling_inputs(onnx.load(target), 6, seed=4)  # the construction's own inputs
    outputs = layer_outputs(target, ["c1", "c2", "logits"], feeds)
    for name, value in outputs.items():
        per_channel = np.moveaxis(value, 2, 0).reshape(value.shape[2], -1)
        np.testing.assert_allclose(per_channel.mean(axis=1), 0.0, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(per_channel.std(axis=1), 1.0, rtol=1e-4, err_msg=name)
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(target).graph.initializer}
    assert np.unique(weights["w1"]).size == weights["w1"].size
    assert not any(node.op_type == "ConstantOfShape" for node in onnx.load(target).graph.node)


def test_centre_zero_keeps_biases_at_zero_and_scales_to_unit_second_moment(tmp_path):
    source, target = tmp_path / "light.onnx", tmp_path / "random.onnx"
    light_style_model(source)
    zoo_weights.with_random_weights(source, target, centre=0.0, per_channel=False, seed=3, samples=6)
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(target).graph.initializer}
    for bias in ("b1", "b2", "fc_b"):
        assert not weights[bias].any()
    feeds = zoo_weights.scaling_inputs(onnx.load(target), 6, seed=4)
    c1 = layer_outputs(target, ["c1"], feeds)["c1"]
    np.testing.assert_allclose(np.mean(c1.astype(np.float64) ** 2), 1.0, rtol=1e-4)
