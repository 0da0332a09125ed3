"""The float executor against onnxruntime, op by op.

Each case builds a one-node ONNX model with `onnx.helper` and the equivalent nn
IR by hand (text parsed by `compiler.ir.parse_module`, weights in an in-memory
store), runs onnxruntime as the oracle, and compares within rtol 1e-4 / atol 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from compiler.errors import HwcError
from compiler.executor import FloatExecutor, evaluate_op
from compiler.ir import main_function, parse_module
from compiler.weights import new_memory_store

RTOL, ATOL = 1e-4, 1e-5
RNG = np.random.default_rng(7)


def random(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def tensor(shape) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + "f32>"


# --------------------------------------------------------------------------- oracle


def onnx_outputs(nodes, inputs: dict[str, np.ndarray], weights: dict[str, np.ndarray],
                 outputs=("y",), opset: int = 19) -> list[np.ndarray]:
    """Run an ONNX graph of `nodes` in onnxruntime (one thread)."""
    graph = helper.make_graph(
        nodes, "case",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
        initializer=[onnx.numpy_helper.from_array(a, n) for n, a in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    return session.run(list(outputs), inputs)


# --------------------------------------------------------------------------- nn side


def nn_module(body: list[str], inputs: dict[str, tuple], weights: dict[str, np.ndarray],
              outputs: dict[str, tuple]):
    """A module whose main takes `inputs`, declares `weights` as nn.weight, runs `body`
    (lines of IR using %name for every input, weight and output), and returns `outputs`."""
    store = new_memory_store()
    for key, array in weights.items():
        store.add(key, array)
    args = ", ".join(f"%{n}: {tensor(s)} {{nn.name = \"{n}\"}}" for n, s in inputs.items())
    results = ", ".join(f"{tensor(s)} {{nn.name = \"{n}\"}}" for n, s in outputs.items())
    lines = [f"%{k} = nn.weight \"{k}\" : {tensor(a.shape)}" for k, a in weights.items()]
    lines += body
    returned = ", ".join(f"%{n}" for n in outputs)
    returned_types = ", ".join(tensor(s) for s in outputs.values())
    lines.append(f"func.return {returned} : {returned_types}")
    text = (
        f'builtin.module attributes {{nn.weights = "{store.name}"}} {{\n'
        f"  func.func @main({args}) -> ({results}) {{\n    "
        + "\n    ".join(lines)
        + "\n  }\n}\n"
    )
    return parse_module(text)


def check_single_op(onnx_type: str, onnx_attrs: dict, nn_op: str, nn_attrs: str,
                    inputs: dict[str, np.ndarray], weights: dict[str, np.ndarray] | None = None,
                    operands: list[str] | None = None, opset: int = 19) -> np.ndarray:
    """One ONNX node against one nn op on the same data; returns the output."""
    weights = weights or {}
    operands = operands or [*inputs, *weights]
    node = helper.make_node(onnx_type, operands, ["y"], **onnx_attrs)
    (expected,) = onnx_outputs([node], inputs, weights, opset=opset)
    shapes = {n: a.shape for n, a in {**inputs, **weights}.items()}
    operand_types = ", ".join(tensor(shapes[n]) for n in operands)
    line = (f"%y = {nn_op} {', '.join('%' + n for n in operands)} {nn_attrs} : "
            f"({operand_types}) -> {tensor(expected.shape)}")
    module = nn_module([line], {n: a.shape for n, a in inputs.items()}, weights,
                       {"y": expected.shape})
    actual = FloatExecutor(module).run(inputs)["y"]
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)
    return actual


def ints(values) -> str:
    return "array<i64: " + ", ".join(str(v) for v in values) + ">"


# --------------------------------------------------------------------------- conv and dense


CONV_CASES = {
    "plain 3x3": dict(x=(1, 3, 9, 9), w=(4, 3, 3, 3), strides=(1, 1), pads=(1, 1, 1, 1), dil=(1, 1), group=1),
    "strided asymmetric pads": dict(x=(1, 4, 10, 11), w=(6, 4, 3, 2), strides=(2, 3), pads=(0, 1, 2, 0), dil=(1, 1), group=1),
    "dilated": dict(x=(1, 2, 12, 12), w=(3, 2, 3, 3), strides=(1, 1), pads=(2, 2, 2, 2), dil=(2, 3), group=1),
    "groups": dict(x=(1, 6, 8, 8), w=(9, 2, 3, 3), strides=(1, 2), pads=(1, 0, 1, 1), dil=(1, 1), group=3),
    "depthwise": dict(x=(1, 5, 7, 7), w=(5, 1, 3, 3), strides=(1, 1), pads=(1, 1, 1, 1), dil=(1, 1), group=5),
    "pointwise": dict(x=(2, 8, 5, 5), w=(4, 8, 1, 1), strides=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), group=1),
    "1-D": dict(x=(1, 3, 20), w=(5, 3, 4), strides=(2,), pads=(1, 2), dil=(2,), group=1),
}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CONV_CASES.values(), ids=list(CONV_CASES))
def test_conv(case, bias):
    weights = {"w": random(*case["w"])}
    if bias:
        weights["b"] = random(case["w"][0])
    attrs = dict(strides=case["strides"], pads=case["pads"], dilations=case["dil"], group=case["group"])
    nn_attrs = (f"{{strides = {ints(case['strides'])}, pads = {ints(case['pads'])}, "
                f"dilations = {ints(case['dil'])}, group = {case['group']} : i64}}")
    check_single_op("Conv", attrs, "nn.conv", nn_attrs, {"x": random(*case["x"])}, weights)


@pytest.mark.parametrize("x_shape", [(1, 7), (2, 3, 7), (7,)])
def test_dense_any_rank(x_shape):
    x, w, b = random(*x_shape), random(5, 7), random(5)
    nodes = [helper.make_node("MatMul", ["x", "wt"], ["t"]), helper.make_node("Add", ["t", "b"], ["y"])]
    (expected,) = onnx_outputs(nodes, {"x": x}, {"wt": np.ascontiguousarray(w.T), "b": b})
    line = (f"%y = nn.dense %x, %w, %b : ({tensor(x.shape)}, {tensor(w.shape)}, {tensor(b.shape)})"
            f" -> {tensor(expected.shape)}")
    module = nn_module([line], {"x": x.shape}, {"w": w, "b": b}, {"y": expected.shape})
    actual = FloatExecutor(module).run({"x": x})["y"]
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_dense_without_bias_matches_gemm():
    x, w = random(3, 6), random(4, 6)
    check_single_op("Gemm", {"transB": 1}, "nn.dense", "", {"x": x}, {"w": w})


# --------------------------------------------------------------------------- pooling


def pool_attrs(kernel, strides, pads, ceil, dilations=None, count_include_pad=None) -> str:
    parts = [f"kernel_shape = {ints(kernel)}", f"strides = {ints(strides)}", f"pads = {ints(pads)}",
             f"ceil_mode = {int(ceil)} : i64"]
    if dilations is not None:
        parts.append(f"dilations = {ints(dilations)}")
    if count_include_pad is not None:
        parts.append(f"count_include_pad = {int(count_include_pad)} : i64")
    return "{" + ", ".join(parts) + "}"


MAX_POOL_CASES = {
    "2x2 s2": dict(x=(2, 3, 8, 8), k=(2, 2), s=(2, 2), p=(0, 0, 0, 0), ceil=False, d=None),
    "3x3 s2 padded": dict(x=(1, 2, 9, 9), k=(3, 3), s=(2, 2), p=(1, 1, 1, 1), ceil=False, d=None),
    "ceil_mode": dict(x=(1, 2, 10, 11), k=(3, 2), s=(2, 2), p=(0, 1, 1, 0), ceil=True, d=None),
    "dilations": dict(x=(1, 2, 11, 11), k=(2, 3), s=(1, 2), p=(1, 1, 0, 2), ceil=True, d=(2, 2)),
    "1-D": dict(x=(1, 3, 13), k=(3,), s=(2,), p=(1, 0), ceil=True, d=None),
}


@pytest.mark.parametrize("case", MAX_POOL_CASES.values(), ids=list(MAX_POOL_CASES))
def test_max_pool(case):
    attrs = dict(kernel_shape=case["k"], strides=case["s"], pads=case["p"], ceil_mode=int(case["ceil"]))
    if case["d"]:
        attrs["dilations"] = case["d"]
    x = random(*case["x"]) - 3  # mostly negative: a padded zero would win if padding were wrong
    check_single_op("MaxPool", attrs, "nn.max_pool",
                    pool_attrs(case["k"], case["s"], case["p"], case["ceil"], case["d"]), {"x": x})


AVERAGE_POOL_CASES = {
    "2x2 s2": dict(x=(2, 3, 8, 8), k=(2, 2), s=(2, 2), p=(0, 0, 0, 0), ceil=False),
    "3x3 s1 padded": dict(x=(1, 2, 7, 7), k=(3, 3), s=(1, 1), p=(1, 1, 1, 1), ceil=False),
    "asymmetric pads": dict(x=(1, 2, 9, 8), k=(3, 2), s=(2, 1), p=(0, 1, 2, 1), ceil=False),
    "ceil_mode past the end": dict(x=(1, 2, 10, 10), k=(3, 3), s=(2, 2), p=(1, 1, 1, 1), ceil=True),
    "ceil_mode unpadded": dict(x=(1, 1, 7, 6), k=(2, 2), s=(2, 2), p=(0, 0, 0, 0), ceil=True),
    "1-D": dict(x=(1, 3, 12), k=(4,), s=(3,), p=(2, 1), ceil=True),
}


@pytest.mark.parametrize("include_pad", [0, 1])
@pytest.mark.parametrize("case", AVERAGE_POOL_CASES.values(), ids=list(AVERAGE_POOL_CASES))
def test_average_pool(case, include_pad):
    attrs = dict(kernel_shape=case["k"], strides=case["s"], pads=case["p"],
                 ceil_mode=int(case["ceil"]), count_include_pad=include_pad)
    check_single_op("AveragePool", attrs, "nn.average_pool",
                    pool_attrs(case["k"], case["s"], case["p"], case["ceil"], None, include_pad),
                    {"x": random(*case["x"])})


def test_global_average_pool():
    check_single_op("GlobalAveragePool", {}, "nn.global_average_pool", "", {"x": random(2, 4, 5, 6)})


def test_batch_norm():
    c = 5
    weights = {"scale": random(c), "bias": random(c), "mean": random(c),
               "var": np.abs(random(c)) + 0.1}
    check_single_op("BatchNormalization", {"epsilon": 1e-3}, "nn.batch_norm", "{epsilon = 1.0e-03 : f32}",
                    {"x": random(2, c, 4, 3)}, weights)


# --------------------------------------------------------------------------- element-wise


def test_relu():
    check_single_op("Relu", {}, "nn.relu", "", {"x": random(2, 3, 4)})


@pytest.mark.parametrize("alpha", [0.1, 2.5])
def test_leaky_relu(alpha):
    check_single_op("LeakyRelu", {"alpha": alpha}, "nn.leaky_relu", f"{{alpha = {alpha} : f32}}",
                    {"x": random(3, 8)})


def test_clip():
    lo, hi = np.array(-0.5, np.float32), np.array(0.7, np.float32)
    x = random(3, 8)
    node = helper.make_node("Clip", ["x", "lo", "hi"], ["y"])
    (expected,) = onnx_outputs([node], {"x": x}, {"lo": lo, "hi": hi})
    for attrs, reference in (("{min = -0.5 : f32, max = 0.7 : f32}", expected),
                             ("{max = 0.7 : f32}", np.minimum(x, 0.7)),
                             ("{min = -0.5 : f32}", np.maximum(x, -0.5))):
        module = nn_module([f"%y = nn.clip %x {attrs} : ({tensor(x.shape)}) -> {tensor(x.shape)}"],
                           {"x": x.shape}, {}, {"y": x.shape})
        np.testing.assert_allclose(FloatExecutor(module).run({"x": x})["y"], reference, rtol=RTOL, atol=ATOL)


def test_sigmoid_and_tanh_extreme_inputs():
    x = np.concatenate([random(2, 6) * 4, np.array([[-100, -30, 0, 30, 100, 1e-3]], np.float32)])
    check_single_op("Sigmoid", {}, "nn.sigmoid", "", {"x": x})
    check_single_op("Tanh", {}, "nn.tanh", "", {"x": x})


@pytest.mark.parametrize("onnx_type, nn_op", [("Softmax", "nn.softmax"), ("LogSoftmax", "nn.log_softmax")])
@pytest.mark.parametrize("axis", [1, 2])
def test_softmax_stable(onnx_type, nn_op, axis):
    x = random(2, 5, 4) * 50 + 100  # large logits: a naive exp overflows
    check_single_op(onnx_type, {"axis": axis}, nn_op, f"{{axis = {axis} : i64}}", {"x": x})


BROADCAST_CASES = [((2, 3, 4, 5), (3, 1, 1)), ((2, 3, 4, 5), (1, 3, 4, 5)), ((4, 1), (1, 5)), ((2, 3), (3,))]


@pytest.mark.parametrize("onnx_type", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("shapes", BROADCAST_CASES, ids=[f"{a}-{b}" for a, b in BROADCAST_CASES])
def test_binary_broadcasting(onnx_type, shapes):
    a, b = random(*shapes[0]), random(*shapes[1])
    if onnx_type == "Div":
        b = np.sign(b) * (np.abs(b) + 0.5)
    check_single_op(onnx_type, {}, f"nn.{onnx_type.lower()}", "", {"a": a}, {"b": b})


def test_binary_of_two_activations():
    check_single_op("Add", {}, "nn.add", "", {"a": random(2, 3), "b": random(2, 3)})


# --------------------------------------------------------------------------- data movement


def test_concat_with_constant():
    check_single_op("Concat", {"axis": 1}, "nn.concat", "{axis = 1 : i64}",
                    {"a": random(1, 2, 3), "b": random(1, 4, 3)}, {"c": random(1, 1, 3)})


def test_reshape_and_transpose():
    x = random(1, 2, 3, 4)
    check_single_op("Transpose", {"perm": (0, 3, 1, 2)}, "nn.transpose", f"{{perm = {ints((0, 3, 1, 2))}}}",
                    {"x": x})
    check_single_op("Flatten", {"axis": 1}, "nn.reshape", "", {"x": x})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad(mode):
    x, pads = random(1, 2, 5, 6), (0, 0, 1, 2, 0, 1, 2, 1)
    node = helper.make_node("Pad", ["x", "pads", "value"], ["y"], mode=mode)
    weights = {"pads": np.array(pads, np.int64), "value": np.array(1.5, np.float32)}
    graph = helper.make_graph(
        [node], "pad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[onnx.numpy_helper.from_array(a, n) for n, a in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    (expected,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        ["y"], {"x": x})
    value = "1.5" if mode == "constant" else "0.0"
    line = (f'%y = nn.pad %x {{pads = {ints(pads)}, mode = "{mode}", value = {value} : f32}} : '
            f"({tensor(x.shape)}) -> {tensor(expected.shape)}")
    module = nn_module([line], {"x": x.shape}, {}, {"y": expected.shape})
    np.testing.assert_allclose(FloatExecutor(module).run({"x": x})["y"], expected, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------- batching and errors


def small_cnn_module(batch_shape: int = 1):
    """conv → relu → max_pool → residual add → reshape → dense, on a batch-1 IR."""
    w1, b1, w2 = random(4, 3, 3, 3), random(4), random(4, 4, 3, 3)
    wd, bd = random(10, 4 * 4 * 4), random(10)
    conv = "{strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64}"
    n = batch_shape
    body = [
        f"%c1 = nn.conv %x, %w1, %b1 {conv} : ({tensor((n, 3, 8, 8))}, {tensor(w1.shape)}, {tensor(b1.shape)}) -> {tensor((n, 4, 8, 8))}",
        f"%r1 = nn.relu %c1 : ({tensor((n, 4, 8, 8))}) -> {tensor((n, 4, 8, 8))}",
        f"%p = nn.max_pool %r1 {pool_attrs((2, 2), (2, 2), (0, 0, 0, 0), False)} : ({tensor((n, 4, 8, 8))}) -> {tensor((n, 4, 4, 4))}",
        f"%c2 = nn.conv %p, %w2 {conv} : ({tensor((n, 4, 4, 4))}, {tensor(w2.shape)}) -> {tensor((n, 4, 4, 4))}",
        f"%s = nn.add %c2, %p : ({tensor((n, 4, 4, 4))}, {tensor((n, 4, 4, 4))}) -> {tensor((n, 4, 4, 4))}",
        f"%r2 = nn.relu %s : ({tensor((n, 4, 4, 4))}) -> {tensor((n, 4, 4, 4))}",
        f"%f = nn.reshape %r2 : ({tensor((n, 4, 4, 4))}) -> {tensor((n, 64))}",
        f"%y = nn.dense %f, %wd, %bd : ({tensor((n, 64))}, {tensor(wd.shape)}, {tensor(bd.shape)}) -> {tensor((n, 10))}",
    ]
    weights = {"w1": w1, "b1": b1, "w2": w2, "wd": wd, "bd": bd}
    module = nn_module(body, {"x": (n, 3, 8, 8)}, weights, {"y": (n, 10)})
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=(1, 1, 1, 1)),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p"], kernel_shape=(2, 2), strides=(2, 2)),
        helper.make_node("Conv", ["p", "w2"], ["c2"], pads=(1, 1, 1, 1)),
        helper.make_node("Add", ["c2", "p"], ["s"]),
        helper.make_node("Relu", ["s"], ["r2"]),
        helper.make_node("Flatten", ["r2"], ["f"]),
        helper.make_node("Gemm", ["f", "wd", "bd"], ["y"], transB=1),
    ]
    return module, nodes, weights


def test_batch_of_many_samples_on_batch_one_ir():
    module, nodes, weights = small_cnn_module()
    executor = FloatExecutor(module)
    assert executor.batch_separable
    assert executor.input_names == ["x"] and executor.output_names == ["y"]
    assert executor.input_shapes == {"x": (3, 8, 8)}
    for count in (1, 5, 64):
        x = random(count, 3, 8, 8)
        (expected,) = onnx_outputs(nodes, {"x": x}, weights)
        np.testing.assert_allclose(executor.run({"x": x})["y"], expected, rtol=RTOL, atol=ATOL)


def test_results_are_not_overwritten_by_the_next_run():
    module, _, _ = small_cnn_module()
    executor = FloatExecutor(module)
    first_input = random(3, 3, 8, 8)
    first = executor.run({"x": first_input})["y"]
    kept = first.copy()
    executor.run({"x": random(3, 3, 8, 8)})
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(executor.run({"x": first_input})["y"], kept)


def test_trace_gives_every_value_of_a_run():
    """`GraphPlan.trace` copies each value as its op computes it, before a later op
    reuses the buffer (the add writes into the dead conv result); the conv fused with
    its relu has only the fused value."""
    module, nodes, weights = small_cnn_module()
    x = random(3, 3, 8, 8)
    values = {v.name_hint: a for v, a in FloatExecutor(module).plan.trace({"x": x}).items()}
    names = ("r1", "p", "c2", "s", "r2", "f", "y")
    for name, expected in zip(names, onnx_outputs(nodes, {"x": x}, weights, outputs=names)):
        np.testing.assert_allclose(values[name], expected, rtol=RTOL, atol=ATOL, err_msg=name)
    assert "c1" not in values
    np.testing.assert_array_equal(values["x"], x)


def test_non_separable_graph_runs_in_ir_batches():
    # The batch axis is folded into the features: samples are not independent rows.
    x_shape, w = (2, 3), random(4, 6)
    body = [
        f"%f = nn.reshape %x : ({tensor(x_shape)}) -> {tensor((1, 6))}",
        f"%y = nn.dense %f, %w : ({tensor((1, 6))}, {tensor(w.shape)}) -> {tensor((1, 4))}",
    ]
    executor = FloatExecutor(nn_module(body, {"x": x_shape}, {"w": w}, {"y": (1, 4)}))
    assert not executor.batch_separable
    x = random(6, 3)
    expected = np.concatenate([x[i:i + 2].reshape(1, 6) @ w.T for i in (0, 2, 4)])
    np.testing.assert_allclose(executor.run({"x": x})["y"], expected, rtol=RTOL, atol=ATOL)
    with pytest.raises(HwcError, match="multiple of 2"):
        executor.run({"x": random(5, 3)})


def test_wrong_input_shape_or_dtype_is_a_one_line_error():
    module, _, _ = small_cnn_module()
    executor = FloatExecutor(module)
    with pytest.raises(HwcError) as error:
        executor.run({"x": random(2, 3, 8, 9)})
    message = str(error.value)
    assert "'x'" in message and "[3, 8, 8]" in message and "[2, 3, 8, 9]" in message
    assert "\n" not in message
    with pytest.raises(HwcError, match="'x'.*int32"):
        executor.run({"x": np.zeros((1, 3, 8, 8), np.int32)})
    with pytest.raises(HwcError, match="missing input 'x'"):
        executor.run({})
    with pytest.raises(HwcError, match="unknown input 'z'"):
        executor.run({"x": random(1, 3, 8, 8), "z": random(1)})


def test_evaluate_op_on_a_single_op():
    module, _, weights = small_cnn_module()
    conv = next(op for op in main_function(module).body.block.ops if op.name == "nn.conv")
    x = random(1, 3, 8, 8)
    (expected,) = onnx_outputs([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=(1, 1, 1, 1))],
                               {"x": x}, {"w": weights["w1"], "b": weights["b1"]})
    result = evaluate_op(conv, [x, weights["w1"], weights["b1"]])
    assert result.shape == (1, 4, 8, 8) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=RTOL, atol=ATOL)


def test_constant_subgraphs_are_computed_at_plan_time():
    c = random(1, 4)
    body = [
        f"%t = nn.relu %c : ({tensor(c.shape)}) -> {tensor(c.shape)}",
        f"%y = nn.add %x, %t : ({tensor((1, 4))}, {tensor((1, 4))}) -> {tensor((1, 4))}",
    ]
    executor = FloatExecutor(nn_module(body, {"x": (1, 4)}, {"c": c}, {"y": (1, 4)}))
    x = random(3, 4)
    np.testing.assert_allclose(executor.run({"x": x})["y"], x + np.maximum(c, 0), rtol=RTOL, atol=ATOL)


FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cnn.onnx"


def test_fixture_cnn_through_the_frontend():
    from compiler.frontend import import_onnx

    executor = FloatExecutor(import_onnx(FIXTURE))
    (name,) = executor.input_names
    x = random(8, *executor.input_shapes[name])
    session = ort.InferenceSession(str(FIXTURE), providers=["CPUExecutionProvider"])
    expected = np.concatenate([session.run(None, {session.get_inputs()[0].name: x[i:i + 1]})[0]
                               for i in range(len(x))])
    actual = executor.run({name: x})[executor.output_names[0]]
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_fused_epilogues_match_unfused_semantics():
    """conv → batch_norm → relu and dense → batch_norm → sigmoid run fused into their
    heads; a conv whose result is also a graph output must not be changed in place."""
    c = 4
    w, b = random(c, 3, 3, 3), random(c)
    bn = {f"{k}{i}": v for i in (1, 2) for k, v in (
        ("s", random(c)), ("t", random(c)), ("m", random(c)), ("v", np.abs(random(c)) + 0.2))}
    wd, bd = random(c, c * 6 * 6), random(c)
    weights = {"w": w, "b": b, "wd": wd, "bd": bd, **bn}
    conv = "{strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64}"
    t4, t2 = tensor((1, c, 6, 6)), tensor((1, c))
    vec = tensor((c,))
    body = [
        f"%conv = nn.conv %x, %w, %b {conv} : ({tensor((1, 3, 8, 8))}, {tensor(w.shape)}, {tensor(b.shape)}) -> {t4}",
        f"%conv2 = nn.conv %x, %w, %b {conv} : ({tensor((1, 3, 8, 8))}, {tensor(w.shape)}, {tensor(b.shape)}) -> {t4}",
        f"%bn = nn.batch_norm %conv2, %s1, %t1, %m1, %v1 {{epsilon = 1.0e-05 : f32}} : ({t4}, {vec}, {vec}, {vec}, {vec}) -> {t4}",
        f"%r = nn.relu %bn : ({t4}) -> {t4}",
        f"%f = nn.reshape %r : ({t4}) -> {tensor((1, c * 36))}",
        f"%d = nn.dense %f, %wd, %bd : ({tensor((1, c * 36))}, {tensor(wd.shape)}, {vec}) -> {t2}",
        f"%dbn = nn.batch_norm %d, %s2, %t2, %m2, %v2 {{epsilon = 1.0e-05 : f32}} : ({t2}, {vec}, {vec}, {vec}, {vec}) -> {t2}",
        f"%y = nn.sigmoid %dbn : ({t2}) -> {t2}",
        f"%z = nn.relu %conv : ({t4}) -> {t4}",
    ]
    module = nn_module(body, {"x": (1, 3, 8, 8)}, weights, {"y": (1, c), "conv": (1, c, 6, 6), "z": (1, c, 6, 6)})
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv"]),
        helper.make_node("Conv", ["x", "w", "b"], ["conv2"]),
        helper.make_node("BatchNormalization", ["conv2", "s1", "t1", "m1", "v1"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "wd", "bd"], ["d"], transB=1),
        helper.make_node("BatchNormalization", ["d", "s2", "t2", "m2", "v2"], ["dbn"]),
        helper.make_node("Sigmoid", ["dbn"], ["y"]),
        helper.make_node("Relu", ["conv"], ["z"]),
    ]
    x = random(5, 3, 8, 8)
    expected = onnx_outputs(nodes, {"x": x}, weights, outputs=("y", "conv", "z"))
    actual = FloatExecutor(module).run({"x": x})
    for name, reference in zip(("y", "conv", "z"), expected):
        np.testing.assert_allclose(actual[name], reference, rtol=RTOL, atol=ATOL)


def test_large_batches_run_in_chunks(monkeypatch):
    module, nodes, weights = small_cnn_module()
    executor = FloatExecutor(module)
    monkeypatch.setattr(executor.plan, "MAX_BATCH_BYTES", 40_000)  # a few samples per run
    x = random(23, 3, 8, 8)
    (expected,) = onnx_outputs(nodes, {"x": x}, weights)
    np.testing.assert_allclose(executor.run({"x": x})["y"], expected, rtol=RTOL, atol=ATOL)
