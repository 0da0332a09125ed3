"""The Llama generator of `benchmarks/llm_scale.py` at the tiny fixture's shape: its
ONNX graph is Llama (with the fixture's weights, onnxruntime gives `transformers`'
own logits), and hwc imports it with its weights from a separate safetensors file
(`--weights`, matched to graph inputs by name) and runs it at the float level as
onnxruntime does. The 1e9-parameter run itself is a benchmark, not a test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import numpy_helper
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "llm"


def _llm_scale():
    spec = importlib.util.spec_from_file_location("llm_scale", ROOT / "benchmarks" / "llm_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["llm_scale"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


llm_scale = _llm_scale()
TINY = llm_scale.SHAPES["tiny"]


def fixture_weights() -> dict[str, np.ndarray]:
    """The exported fixture's weights under the generator's names: the MatMul weights in
    graph order (q, k, v, o, gate, up, down per layer, then the head), the rest by their
    torch names (the exporter prefixes them with `inner.`)."""
    model = onnx.load(str(FIXTURES / "llama.onnx"))
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    matmul_weights = [n.input[1] for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in initializers]
    names = list(llm_scale.weight_shapes(TINY))
    transposed = [name for name in names if name.endswith(".T")]
    assert len(transposed) == len(matmul_weights)
    weights = {name: initializers[key] for name, key in zip(transposed, matmul_weights)}
    weights.update({name: initializers[f"inner.{name}"] for name in names if not name.endswith(".T")})
    return weights


def onnxruntime_logits(model: onnx.ModelProto, weights: dict[str, np.ndarray], ids: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(["logits"], {"input_ids": row[None], **weights})[0] for row in ids])


def test_the_generated_graph_is_llama():
    model = llm_scale.llama_graph(TINY)
    onnx.checker.check_model(model, full_check=True)
    data = np.load(FIXTURES / "llama.npz")
    logits = onnxruntime_logits(model, fixture_weights(), data["input_ids"])
    np.testing.assert_allclose(logits, data["logits"], atol=1e-4, rtol=1e-4)


def test_hwc_imports_the_graph_with_its_weights_file(tmp_path):
    import compiler

    onnx_path, weights_path, weight_bytes = llm_scale.write_model(tmp_path, TINY, seed=3)
    assert weight_bytes == 4 * llm_scale.parameter_count(TINY) == weights_path.stat().st_size - \
        int.from_bytes(weights_path.read_bytes()[:8], "little") - 8
    model = onnx.load(str(onnx_path))
    assert not {t.name for t in model.graph.initializer} & set(llm_scale.weight_shapes(TINY))
    ids = np.random.default_rng(4).integers(0, TINY.vocab, (3, TINY.sequence))
    expected = onnxruntime_logits(model, load_file(str(weights_path)), ids)
    design = compiler.compile(onnx_path, weights=weights_path)
    logits = design.run({"input_ids": ids})["logits"]
    np.testing.assert_allclose(logits.reshape(expected.shape), expected, rtol=1e-4, atol=1e-5)



def test_weights_stay_out_of_the_ir_at_every_level(tmp_path):
    """Through quantize (4-bit groups) and the step graph, every constant larger than
    `INLINE_LIMIT` elements lives in the weight store (the ROM image), none inline."""
    import compiler
    from compiler.pipelines import run_pipeline, step_pipeline
    from compiler.weights import INLINE_LIMIT
    from xdsl.dialects.builtin import DenseIntOrFPElementsAttr

    onnx_path, weights_path, _ = llm_scale.write_model(tmp_path, TINY, seed=5)
    llm_scale.write_calibration(tmp_path / "calib.npz", TINY, windows=2)
    design = compiler.compile(onnx_path, weights=weights_path, calib=tmp_path / "calib.npz", wbits=4, group_size=64)
    step = design.rom_module.clone()
    run_pipeline(step, step_pipeline())
    for module in (design.nn_module, design.rom_module, step):
        inline = [attr for op in module.walk() for attr in (*op.attributes.values(), *op.properties.values())
                  if isinstance(attr, DenseIntOrFPElementsAttr)]
        assert inline, "the small constants (RoPE slices, scalars) are inline"
        assert max(len(attr.get_values()) for attr in inline) <= INLINE_LIMIT
