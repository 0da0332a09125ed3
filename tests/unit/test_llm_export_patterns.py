"""Norms and GELUs of real LLM exports (the `llm` fixtures of
`tests/fixtures/llm/`, made by `make_llm_fixtures.py` with torch's dynamo
exporter), cut out of the graph with `onnx.utils.extract_model`:

* every RMSNorm written out in the Llama, Qwen2, Mistral exports (and the classic
  TorchScript exporter's Llama), from its input to its weight multiplication,
  becomes one `nn.rms_norm` with that weight (`recognise-norms`);
* every `RMSNormalization` (Llama at opset 23) and `LayerNormalization` (GPT-2,
  both exporters, and BERT) becomes one `nn.rms_norm` / `nn.layer_norm`;
* every GELU written out (GPT-2's tanh form, both exporters; BERT's erf form)
  becomes one `nn.gelu` of that approximation (`recognise-gelu`);

and each still computes what onnxruntime computes on the cut-out graph. Cutting
keeps these tests to the patterns: the whole graphs also need the integer token
input, Gather and the attention ops, which other tests cover.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import compiler
from compiler.ir import main_function
from dialects import nn
from tests.support import FIXTURES, onnxruntime_session



def consumers_of(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return consumers


def producers_of(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {output: node for node in model.graph.node for output in node.output}


def past_casts(name: str, consumers) -> str:
    """`name`, or the output of the Cast chain that is its only consumer."""
    while len(consumers.get(name, [])) == 1 and consumers[name][0].op_type == "Cast":
        name = consumers[name][0].output[0]
    return name


def rms_norm_spans(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """(input, output) of every written-out RMSNorm: from Pow's input to the Mul by the norm weight."""
    consumers, producers = consumers_of(model), producers_of(model)
    initializers = {t.name for t in model.graph.initializer}
    spans = []
    for node in model.graph.node:
        if node.op_type != "ReduceMean":
            continue
        x = producers[node.input[0]].input[0]
        (normed,) = [n for n in consumers[x] if n.op_type == "Mul" and any(
            producers.get(i) is not None and producers[i].op_type in ("Reciprocal", "Div") for i in n.input)]
        (scaled,) = [n for n in consumers[past_casts(normed.output[0], consumers)]
                     if n.op_type == "Mul" and any(i in initializers for i in n.input)]
        spans.append((x, scaled.output[0]))
    return spans


def node_spans(model: onnx.ModelProto, op_type: str) -> list[tuple[str, str]]:
    """(first input, first output) of every node of `op_type`."""
    return [(n.input[0], n.output[0]) for n in model.graph.node if n.op_type == op_type]


def gelu_spans(model: onnx.ModelProto) -> list[tuple[str, str, str]]:
    """(input, output, approximation) of every written-out GELU: x is the Tanh's
    argument's Add term (tanh form) or the Erf's dividend; the output is the last
    of the Muls that follow the `1 + ...`."""
    consumers, producers = consumers_of(model), producers_of(model)
    spans = []
    for node in model.graph.node:
        if node.op_type == "Tanh":
            add = producers[producers[node.input[0]].input[0]]  # tanh(mul(add(x, cubic), c))
            x = next(i for i in add.input if producers.get(i) is None or producers[i].op_type != "Mul")
            approximation = "tanh"
        elif node.op_type == "Erf":
            x, approximation = producers[node.input[0]].input[0], "none"
        else:
            continue
        (end,) = [n for n in consumers[node.output[0]] if n.op_type == "Add"]
        while len(consumers[end.output[0]]) == 1 and consumers[end.output[0]][0].op_type == "Mul":
            end = consumers[end.output[0]][0]
        spans.append((x, end.output[0], approximation))
    return spans


def check_span_is_one_op(source, path, start: str, end: str, op_name: str, rng):
    """The graph of `source` from `start` to `end` compiles to `op_name` alone and matches onnxruntime."""
    onnx.utils.extract_model(str(source), str(path), [start], [end])
    design = compiler.compile(path)
    ops = [op for op in main_function(design.nn_module).body.block.ops
           if not isinstance(op, (nn.ConstantOp, nn.WeightOp)) and op.name.startswith("nn.")]
    assert [op.name for op in ops] == [op_name], [op.name for op in ops]
    shape = [d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
    ours = design.run({start: x}, level="float")[end]
    (theirs,) = onnxruntime_session(path).run(None, {start: x})
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    return ops[0]


def fixture(name: str):
    return FIXTURES / "llm" / f"{name}.onnx"


@pytest.mark.parametrize("name", ["llama", "qwen2", "mistral", "llama_classic"])
def test_every_written_out_rms_norm_is_named(tmp_path, name):
    spans = rms_norm_spans(onnx.load(str(fixture(name))))
    assert len(spans) == 5  # two layers x (input, post-attention) + the final norm
    rng = np.random.default_rng(3)
    for index, (start, end) in enumerate(spans):
        op = check_span_is_one_op(fixture(name), tmp_path / f"norm{index}.onnx", start, end, "nn.rms_norm", rng)
        assert op.weight is not None


@pytest.mark.parametrize("name, op_type, op_name, count", [
    ("llama_opset23", "RMSNormalization", "nn.rms_norm", 5),
    ("gpt2", "LayerNormalization", "nn.layer_norm", 5),
    ("gpt2_classic", "LayerNormalization", "nn.layer_norm", 5),
    ("bert", "LayerNormalization", "nn.layer_norm", 6),
])
def test_every_norm_op_imports(tmp_path, name, op_type, op_name, count):
    spans = node_spans(onnx.load(str(fixture(name))), op_type)
    assert len(spans) == count
    rng = np.random.default_rng(4)
    for index, (start, end) in enumerate(spans):
        check_span_is_one_op(fixture(name), tmp_path / f"n{index}.onnx", start, end, op_name, rng)


@pytest.mark.parametrize("name, approximation, count", [
    ("gpt2", "tanh", 2), ("gpt2_classic", "tanh", 2),
    ("bert", "none", 3),  # two layers' MLPs and the masked-LM head's transform
])
def test_every_written_out_gelu_is_named(tmp_path, name, approximation, count):
    spans = gelu_spans(onnx.load(str(fixture(name))))
    assert len(spans) == count and {a for _, _, a in spans} == {approximation}
    rng = np.random.default_rng(5)
    for index, (start, end, _) in enumerate(spans):
        op = check_span_is_one_op(fixture(name), tmp_path / f"gelu{index}.onnx", start, end, "nn.gelu", rng)
        assert op.approximate.data == approximation
