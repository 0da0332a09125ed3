"""Element-wise math, reductions, normalisations and transposed convolution at
the float level: each ONNX op imported into its `nn` op and run by the float
executor, against onnxruntime on a small model; and the importer's
normalisation of ONNX's spellings (attribute vs input axes, opset variants).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.executor import FloatExecutor
from compiler.frontend import import_onnx
from compiler.ir import main_function
from dialects import nn
from tests.support import onnxruntime_session

RNG = np.random.default_rng(10)


def make_model(path, nodes, inputs, output_shape, initializers=(), opset=18):
    """A model of `nodes` from float inputs (name, shape) to one float output `y`
    (of the shape ONNX shape inference gives when `output_shape` is None)."""
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
        [numpy_helper.from_array(np.asarray(a), name) for name, a in initializers],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if output_shape is None:
        model = onnx.shape_inference.infer_shapes(model)
    onnx.save(model, path)
    return path


def ops_of(module, op_type):
    return [op for op in main_function(module).walk() if isinstance(op, op_type)]


def check_against_onnxruntime(path, feeds, rtol=1e-5, atol=1e-6):
    module = import_onnx(path)
    ours = list(FloatExecutor(module).run(feeds).values())
    theirs = onnxruntime_session(path).run(None, feeds)
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return module


def normal(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def positive(*shape):
    return (RNG.uniform(0.1, 3.0, shape)).astype(np.float32)


# --------------------------------------------------------------------------- unary math

UNARY = [
    # (op type, attributes, nn op, input values, opset)
    ("Neg", {}, nn.NegOp, normal(2, 3, 4), 18),
    ("Abs", {}, nn.AbsOp, normal(2, 3, 4), 18),
    ("Sign", {}, nn.SignOp, np.array([[-2.0, 0.0, 3.5, -0.0]], np.float32), 18),
    ("Exp", {}, nn.ExpOp, normal(2, 5), 18),
    ("Log", {}, nn.LogOp, positive(2, 5), 18),
    ("Sqrt", {}, nn.SqrtOp, positive(2, 5), 18),
    ("Reciprocal", {}, nn.ReciprocalOp, positive(2, 5), 18),
    ("Erf", {}, nn.ErfOp, normal(4, 64, scale=2.0), 18),
    ("Sin", {}, nn.SinOp, normal(2, 5, scale=3.0), 18),
    ("Cos", {}, nn.CosOp, normal(2, 5, scale=3.0), 18),
    ("Softplus", {}, nn.SoftplusOp, normal(2, 5, scale=30.0), 18),
    ("Softsign", {}, nn.SoftsignOp, normal(2, 5, scale=3.0), 18),
    ("Elu", {}, nn.EluOp, normal(2, 5), 18),
    ("Elu", {"alpha": 0.5}, nn.EluOp, normal(2, 5), 18),
    ("Selu", {}, nn.SeluOp, normal(2, 5), 18),
    ("Selu", {"alpha": 1.5, "gamma": 2.0}, nn.SeluOp, normal(2, 5), 18),
    ("HardSigmoid", {}, nn.HardSigmoidOp, normal(2, 5, scale=4.0), 18),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, nn.HardSigmoidOp, normal(2, 5, scale=4.0), 18),
    ("HardSwish", {}, nn.HardSwishOp, normal(2, 5, scale=4.0), 18),
    ("Shrink", {"bias": 0.5, "lambd": 1.0}, nn.ShrinkOp, normal(2, 5, scale=2.0), 18),
    ("Gelu", {}, nn.GeluOp, normal(4, 64, scale=3.0), 20),
    ("Gelu", {"approximate": "tanh"}, nn.GeluOp, normal(4, 64, scale=3.0), 20),
]


@pytest.mark.parametrize("op_type, attributes, op_class, x, opset", UNARY,
                         ids=[f"{u[0]}-{i}" for i, u in enumerate(UNARY)])
def test_unary_math_matches_onnxruntime(tmp_path, op_type, attributes, op_class, x, opset):
    path = make_model(tmp_path / "m.onnx", [helper.make_node(op_type, ["x"], ["y"], **attributes)],
                      [("x", list(x.shape))], list(x.shape), opset=opset)
    module = check_against_onnxruntime(path, {"x": x})
    assert len(ops_of(module, op_class)) == 1


def test_erf_is_accurate_near_zero_and_in_the_tails():
    from compiler.executor.math_kernels import erf
    import math

    points = np.array([0.0, 1e-8, -3e-4, 0.2, 0.49, 0.51, -1.5, 3.0, 6.0, -30.0])
    expected = np.array([math.erf(p) for p in points])
    np.testing.assert_allclose(erf(points), expected, rtol=2e-7, atol=2e-7)
    assert abs(erf(np.array([1e-8]))[0] - math.erf(1e-8)) < 1e-20


# --------------------------------------------------------------------------- binary and variadic


def test_pow_with_constant_exponents_and_activation_exponent(tmp_path):
    x, e = positive(2, 3, 4), normal(2, 3, 4)
    nodes = [helper.make_node("Pow", ["x", "two"], ["a"]),
             helper.make_node("Pow", ["x", "half"], ["b"]),
             helper.make_node("Pow", ["x", "three"], ["c"]),
             helper.make_node("Pow", ["x", "e"], ["d"]),
             helper.make_node("Sum", ["a", "b", "c", "d"], ["y"])]
    path = make_model(tmp_path / "m.onnx", nodes, [("x", [2, 3, 4]), ("e", [2, 3, 4])], [2, 3, 4],
                      [("two", np.float32(2)), ("half", np.float32(0.5)),
                       ("three", np.array(3, np.int64))])
    module = check_against_onnxruntime(path, {"x": x, "e": e}, rtol=1e-5)
    assert len(ops_of(module, nn.PowOp)) == 4
    assert len(ops_of(module, nn.AddOp)) == 3


@pytest.mark.parametrize("op_type, op_class", [("Max", nn.MaxOp), ("Min", nn.MinOp),
                                               ("Sum", nn.AddOp), ("Mean", nn.AddOp)])
def test_variadic_ops_broadcast(tmp_path, op_type, op_class):
    a, b, c = normal(2, 3, 4), normal(2, 1, 4), normal(3, 1)
    path = make_model(tmp_path / "m.onnx", [helper.make_node(op_type, ["a", "b", "k"], ["y"])],
                      [("a", [2, 3, 4]), ("b", [2, 1, 4])], [2, 3, 4], [("k", c)])
    module = check_against_onnxruntime(path, {"a": a, "b": b})
    assert len(ops_of(module, op_class)) == 2


def test_variadic_op_with_one_input_is_the_identity(tmp_path):
    x = normal(2, 3)
    path = make_model(tmp_path / "m.onnx", [helper.make_node("Max", ["x"], ["m"]),
                                            helper.make_node("Relu", ["m"], ["y"])],
                      [("x", [2, 3])], [2, 3])
    module = check_against_onnxruntime(path, {"x": x})
    assert not ops_of(module, nn.MaxOp)


@pytest.mark.parametrize("x_shape, slope, opset", [
    ((2, 3, 4, 5), np.array([0.25], np.float32), 18),
    ((2, 3, 4, 5), np.array([0.1, -0.2, 0.3], np.float32).reshape(3, 1, 1), 18),
    ((2, 3, 4, 5), np.linspace(-1, 1, 5).astype(np.float32), 18),
    ((2, 6), np.linspace(-1, 1, 6).astype(np.float32), 9),
])
def test_prelu_broadcasts_its_constant_slope(tmp_path, x_shape, slope, opset):
    x = normal(*x_shape)
    path = make_model(tmp_path / "m.onnx", [helper.make_node("PRelu", ["x", "s"], ["y"])],
                      [("x", list(x_shape))], list(x_shape), [("s", slope)], opset=opset)
    module = check_against_onnxruntime(path, {"x": x})
    assert len(ops_of(module, nn.PReluOp)) == 1


def test_opset6_prelu_slope_runs_along_channels(tmp_path):
    """Opset 6 PRelu: a [C] slope is per channel (axis 1), not numpy-aligned to the last axis."""
    x, slope = normal(2, 3, 4, 5), np.array([0.1, 0.5, 2.0], np.float32)
    path = make_model(tmp_path / "m.onnx", [helper.make_node("PRelu", ["x", "s"], ["y"])],
                      [("x", [2, 3, 4, 5])], [2, 3, 4, 5], [("s", slope)], opset=6)
    out = FloatExecutor(import_onnx(path)).run({"x": x})["y"]
    expected = np.where(x >= 0, x, x * slope.reshape(3, 1, 1))
    np.testing.assert_allclose(out, expected, rtol=1e-6)


# --------------------------------------------------------------------------- reductions

REDUCTIONS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]


@pytest.mark.parametrize("op_type", REDUCTIONS)
@pytest.mark.parametrize("axes, keepdims", [([-1], 1), ([1, 2], 0), ([2, -3], 1)])
def test_reductions_match_onnxruntime(tmp_path, op_type, axes, keepdims):
    x = positive(2, 3, 4) if op_type == "ReduceLogSum" else normal(2, 3, 4)
    reference = getattr(np, {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min",
                             "ReduceProd": "prod"}.get(op_type, "sum"))
    shape = list(np.asarray(reference(x, axis=tuple(a % 3 for a in axes), keepdims=bool(keepdims))).shape)
    path = make_model(tmp_path / "m.onnx",
                      [helper.make_node(op_type, ["x", "axes"], ["y"], keepdims=keepdims)],
                      [("x", [2, 3, 4])], shape, [("axes", np.array(axes, np.int64))])
    module = check_against_onnxruntime(path, {"x": x}, rtol=1e-5, atol=1e-5)
    (op,) = ops_of(module, nn.ReduceOp)
    assert list(op.axis_list()) == sorted(a % 3 for a in axes)


def _reduction_form(tmp_path, op_type, opset, axes, **attributes):
    """The (op name, axes, keepdims, result shape) the importer makes of one reduction node."""
    inputs, initializers = ["x"], []
    if axes is not None and (opset >= 18 or (op_type == "ReduceSum" and opset >= 13)):
        inputs.append("axes")
        initializers.append(("axes", np.array(axes, np.int64)))
    elif axes is not None:
        attributes["axes"] = axes
    path = make_model(tmp_path / f"{op_type}{opset}.onnx",
                      [helper.make_node(op_type, inputs, ["r"], **attributes),
                       helper.make_node("Relu", ["r"], ["y"])],
                      [("x", [2, 3, 4])], None, initializers, opset=opset)
    module = import_onnx(path)
    reductions = ops_of(module, nn.ReduceOp)
    if not reductions:
        return None
    (op,) = reductions
    return op.name, op.axis_list(), op.keepdims.value.data, tuple(op.output.type.get_shape())


@pytest.mark.parametrize("op_type, old, new", [("ReduceMean", 13, 18), ("ReduceSum", 11, 13),
                                                ("ReduceMax", 17, 18), ("ReduceL2", 13, 18)])
def test_reduction_axes_attribute_and_input_give_one_form(tmp_path, op_type, old, new):
    before = _reduction_form(tmp_path, op_type, old, [-1])
    after = _reduction_form(tmp_path, op_type, new, [-1])
    assert before == after == (f"nn.{_snake(op_type)}", (2,), 1, (2, 3, 1))
    assert _reduction_form(tmp_path, op_type, new, [0, -1], keepdims=0)[1:] == ((0, 2), 0, (3,))


def _snake(op_type: str) -> str:
    return "reduce_" + {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceL2": "l2"}[op_type]


def test_reduction_without_axes_reduces_everything_or_nothing(tmp_path):
    assert _reduction_form(tmp_path, "ReduceMean", 13, None) == ("nn.reduce_mean", (0, 1, 2), 1, (1, 1, 1))
    assert _reduction_form(tmp_path, "ReduceMean", 18, None, keepdims=0) == ("nn.reduce_mean", (0, 1, 2), 0, ())
    assert _reduction_form(tmp_path, "ReduceSum", 13, None, noop_with_empty_axes=1) is None
    assert _reduction_form(tmp_path, "ReduceMean", 18, [], noop_with_empty_axes=1) is None


def test_reduction_repeating_an_axis_is_refused(tmp_path):
    from compiler.errors import HwcError

    with pytest.raises(HwcError, match=r"ReduceMean: axes \[1, -2\] repeat an axis"):
        _reduction_form(tmp_path, "ReduceMean", 18, [1, -2])


# --------------------------------------------------------------------------- normalisations


@pytest.mark.parametrize("axis, scale_shape, with_bias", [(-1, (8,), True), (1, (3, 8), False),
                                                          (2, (8,), True)])
def test_layer_normalization(tmp_path, axis, scale_shape, with_bias):
    x = normal(2, 3, 8, scale=3.0) + 1.5
    inputs = ["x", "scale", "bias"] if with_bias else ["x", "scale"]
    initializers = [("scale", normal(*scale_shape)), ("bias", normal(*scale_shape))][:len(inputs) - 1]
    path = make_model(tmp_path / "m.onnx",
                      [helper.make_node("LayerNormalization", inputs, ["y"], axis=axis, epsilon=1e-3)],
                      [("x", [2, 3, 8])], [2, 3, 8], initializers, opset=17)
    module = check_against_onnxruntime(path, {"x": x}, rtol=1e-4, atol=1e-5)
    (op,) = ops_of(module, nn.LayerNormOp)
    assert op.axis.value.data == axis % 3


@pytest.mark.parametrize("axis, scale_shape", [(-1, (8,)), (1, (3, 8)), (-2, (1, 8))])
def test_rms_normalization_of_opset_23(tmp_path, axis, scale_shape):
    x = normal(2, 3, 8, scale=3.0)
    path = make_model(tmp_path / "m.onnx",
                      [helper.make_node("RMSNormalization", ["x", "scale"], ["y"], axis=axis, epsilon=1e-3)],
                      [("x", [2, 3, 8])], [2, 3, 8], [("scale", normal(*scale_shape))], opset=23)
    module = check_against_onnxruntime(path, {"x": x}, rtol=1e-4, atol=1e-5)
    (op,) = ops_of(module, nn.RmsNormOp)
    assert op.axis.value.data == axis % 3


def test_instance_normalization(tmp_path):
    """Several models in a row: each import derives its per-channel constants anew
    (the importer once confused a freed derived constant with a later one of the same id)."""
    for seed in range(12):
        rng = np.random.default_rng(seed)
        path = make_model(tmp_path / f"m{seed}.onnx",
                          [helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-4)],
                          [("x", [2, 3, 5, 4])], [2, 3, 5, 4],
                          [("s", rng.standard_normal(3).astype(np.float32)),
                           ("b", rng.standard_normal(3).astype(np.float32))])
        check_against_onnxruntime(path, {"x": (rng.standard_normal((2, 3, 5, 4)) * 2).astype(np.float32)},
                                  rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size, attributes", [(3, {}), (5, {"alpha": 0.1, "beta": 0.5, "bias": 2.0})])
def test_lrn(tmp_path, size, attributes):
    x = normal(2, 6, 3, 3, scale=2.0)
    path = make_model(tmp_path / "m.onnx", [helper.make_node("LRN", ["x"], ["y"], size=size, **attributes)],
                      [("x", [2, 6, 3, 3])], [2, 6, 3, 3])
    module = check_against_onnxruntime(path, {"x": x}, rtol=1e-5, atol=1e-6)
    assert len(ops_of(module, nn.LrnOp)) == 1


def test_lrn_of_even_size_follows_the_onnx_definition(tmp_path):
    """onnxruntime accepts only odd sizes (and onnx.reference sums over the wrong axis), so
    the oracle is the operator's definition: channels max(0, c - floor((size-1)/2)) ..
    min(C-1, c + ceil((size-1)/2)), one more after than before for an even size."""
    x = normal(2, 6, 3, 3, scale=2.0)
    path = make_model(tmp_path / "m.onnx",
                      [helper.make_node("LRN", ["x"], ["y"], size=4, alpha=0.3, beta=0.6, bias=1.5)],
                      [("x", [2, 6, 3, 3])], [2, 6, 3, 3])
    expected = np.empty_like(x)
    for c in range(6):
        window = x[:, max(0, c - 1):min(5, c + 2) + 1]
        expected[:, c] = x[:, c] / (1.5 + 0.3 / 4 * (window ** 2).sum(axis=1)) ** 0.6
    ours = FloatExecutor(import_onnx(path)).run({"x": x})["y"]
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- transposed convolution

CONV_TRANSPOSE = [
    # (input shape, weight shape, attributes, with bias)
    ((1, 3, 5, 4), (3, 2, 3, 3), {}, True),
    ((2, 4, 5, 4), (4, 3, 3, 2), {"strides": [2, 3], "pads": [1, 0, 2, 1]}, True),
    ((1, 4, 4, 4), (4, 1, 3, 3), {"group": 2, "dilations": [2, 1], "strides": [2, 2],
                                  "output_padding": [1, 0]}, False),
    ((1, 2, 5, 5), (2, 2, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}, True),
    ((1, 2, 5, 5), (2, 2, 4, 4), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}, True),
    ((1, 2, 5, 5), (2, 2, 3, 3), {"strides": [3, 2], "output_shape": [14, 10]}, True),
    ((1, 2, 5, 5), (2, 2, 3, 3), {"strides": [1, 2], "auto_pad": "VALID"}, False),
    ((2, 3, 7), (3, 4, 3), {"strides": [2], "pads": [1, 2], "output_padding": [1]}, True),
]


@pytest.mark.parametrize("x_shape, w_shape, attributes, with_bias", CONV_TRANSPOSE)
def test_conv_transpose_matches_onnxruntime(tmp_path, x_shape, w_shape, attributes, with_bias):
    x, w = normal(*x_shape), normal(*w_shape)
    group = attributes.get("group", 1)
    inputs = ["x", "w", "b"] if with_bias else ["x", "w"]
    initializers = [("w", w), ("b", normal(w_shape[1] * group))][:len(inputs) - 1]
    path = make_model(tmp_path / "m.onnx", [helper.make_node("ConvTranspose", inputs, ["y"], **attributes)],
                      [("x", list(x_shape))], None, initializers)
    module = check_against_onnxruntime(path, {"x": x}, rtol=1e-5, atol=1e-5)
    assert len(ops_of(module, nn.ConvTransposeOp)) == 1


@pytest.mark.parametrize("op_type, attributes", [("Erf", {}), ("Elu", {"alpha": 0.7}), ("Softplus", {}),
                                                 ("HardSwish", {}), ("Neg", {})])
def test_unary_math_fused_after_conv_and_dense(tmp_path, op_type, attributes):
    """The float executor applies these as epilogues of a conv or dense head."""
    w = normal(4, 3, 3, 3, scale=0.5)
    dense_w = normal(4 * 6 * 6, 5, scale=0.1)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node(op_type, ["c"], ["a"], **attributes),
             helper.make_node("Flatten", ["a"], ["f"]),
             helper.make_node("MatMul", ["f", "dw"], ["d"]),
             helper.make_node(op_type, ["d"], ["y"], **attributes)]
    path = make_model(tmp_path / "m.onnx", nodes, [("x", [1, 3, 8, 8])], [1, 5],
                      [("w", w), ("dw", dense_w)], opset=14)
    check_against_onnxruntime(path, {"x": normal(1, 3, 8, 8)}, rtol=1e-4, atol=1e-5)
