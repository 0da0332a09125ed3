"""Norms and GELUs of real LLM exports (the `llm` fixtures of
`tests/fixtures/llm/`, made by `make_llm_fixtures.py` with torch's dynamo
exporter), cut out of the graph with `onnx.utils.extract_model`:

* every RMSNorm of the Llama, Qwen2 and Mistral exports, from its input to its weight
  multiplication, becomes one `nn.rms_norm` with that weight (`recognise-norms`);
* every `LayerNormalization` of the GPT-2 export becomes one `nn.layer_norm`;
* every tanh GELU of the GPT-2 export (Pow 3, Tanh, ...) becomes one
  `nn.gelu{approximate="tanh"}` (`recognise-gelu`);

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

GPT2 = FIXTURES / "llm" / "gpt2.onnx"


def rms_norm_spans(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """(input, output) of every RMSNorm: from Pow's input to the Mul by the norm weight."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    initializers = {t.name for t in model.graph.initializer}
    spans = []
    for node in model.graph.node:
        if node.op_type != "ReduceMean":
            continue
        x = next(n for n in model.graph.node if node.input[0] in n.output).input[0]
        normed = [n for n in consumers[x] if n.op_type == "Mul"
                  and any(c.op_type == "Reciprocal" for c in _producers(model, n.input))]
        (scaled,) = [n for n in consumers[normed[0].output[0]] if n.op_type == "Mul"
                     and any(i in initializers for i in n.input)]
        spans.append((x, scaled.output[0]))
    return spans


def _producers(model, names):
    return [n for n in model.graph.node if set(n.output) & set(names)]


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


@pytest.mark.parametrize("name", ["llama", "qwen2", "mistral"])
def test_every_rms_norm_of_the_llama_family_exports_is_named(tmp_path, name):
    source = FIXTURES / "llm" / f"{name}.onnx"
    spans = rms_norm_spans(onnx.load(str(source)))
    assert len(spans) == 5  # two layers x (input, post-attention) + the final norm
    rng = np.random.default_rng(3)
    for index, (start, end) in enumerate(spans):
        op = check_span_is_one_op(source, tmp_path / f"norm{index}.onnx", start, end, "nn.rms_norm", rng)
        assert op.weight is not None


def test_every_layer_norm_of_the_gpt2_export_imports(tmp_path):
    nodes = [n for n in onnx.load(str(GPT2)).graph.node if n.op_type == "LayerNormalization"]
    assert len(nodes) == 5  # two layers x (ln_1, ln_2) + ln_f
    rng = np.random.default_rng(4)
    for index, node in enumerate(nodes):
        op = check_span_is_one_op(GPT2, tmp_path / f"ln{index}.onnx", node.input[0], node.output[0],
                                  "nn.layer_norm", rng)
        assert op.bias is not None


def test_every_tanh_gelu_of_the_gpt2_export_is_named(tmp_path):
    model = onnx.load(str(GPT2))
    producers = {output: node for node in model.graph.node for output in node.output}
    spans = []
    for node in model.graph.node:
        if node.op_type == "Tanh":
            x = producers[producers[node.input[0]].input[0]].input[0]  # tanh(mul(add(x, ...), c))
            consumers = [n for n in model.graph.node if n.op_type == "Mul"
                         and any(producers.get(i) is not None and producers[i].op_type == "Add"
                                 and node.output[0] in producers[i].input for i in n.input)]
            spans.append((x, consumers[0].output[0]))
    assert len(spans) == 2  # one MLP per layer
    rng = np.random.default_rng(5)
    for index, (start, end) in enumerate(spans):
        op = check_span_is_one_op(GPT2, tmp_path / f"gelu{index}.onnx", start, end, "nn.gelu", rng)
        assert op.approximate.data == "tanh"
