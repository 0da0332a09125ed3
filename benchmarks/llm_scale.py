"""A Llama of a billion parameters through hwc: wall time and peak memory per stage
against the size of the weights, and the size of the IR text at every level.

    python benchmarks/llm_scale.py [--shape 1b|tiny|small] [--layers N] [--wbits 4] [--group-size 64]
                                   [--windows 4] [--folder DIR [--reuse]] [--generate N]

Writes, in a temporary folder (or `--folder`), a Llama-shaped decoder with random
weights: `model.onnx`, the whole-sequence graph with the op structure that
`torch.onnx.export(..., dynamo=True)` writes for `transformers`' LlamaForCausalLM
(eager attention; the tiny fixture `tests/fixtures/llm/llama.onnx` is the pattern,
see its README), reproduced with `onnx.helper` at the big shape, and
`weights.safetensors`, its float32 weights, generated and written one tensor at a
time in row chunks (never the whole model in memory). The weights are graph
inputs of the ONNX file, not initializers, and come from `--weights`
(`compiler.compile(model, weights=...)`), which matches safetensors tensors to
graph inputs by name, shape and dtype. Then in this process, stage by stage:

    import (--weights, the float pipeline) -> fold-batchnorm, fold-constants ->
    calibrate (a few random token windows) -> quantize (wbits, groups) ->
    weights-to-rom -> sequence-to-stream (the step graph) -> map-to-spatial ->
    fold-parallelism, size-fifos (the chip's spatial level) -> the ROM image written (rom.safetensors) [-> `--generate N` greedy
    tokens at the integer level, the step graph run by the integer executor]

and prints, per stage, the wall time and the peak resident memory (VmHWM, reset at
each stage start; file-backed pages of the memory-mapped weights included) and the
peak anonymous memory (RssAnon, sampled every 10 ms: what the process allocated
itself), each as a multiple of the float32 weight bytes, and the size of the IR
text of the module after it. The targets (issue 12, item 5): under 10 minutes and
at most 1.5x the weight bytes of memory; the IR at every level a few MB at most.
The peer, measured last in the same run: plain numpy reading every weight matrix
from the safetensors file and quantizing it to the same groups once (symmetric,
one float scale per group), the least any compiler must do; printed as the ratio
of hwc's time (import to ROM image) to it.

`--shape tiny` (the fixture `llama`'s shape) and `small` run in seconds;
`tests/unit/test_llm_scale.py` checks the generator at the tiny shape against
onnxruntime and transformers' logits.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import io
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FLOAT32_MIN = float(np.finfo(np.float32).min)
INT64_MAX = int(np.iinfo(np.int64).max)
CHUNK_ELEMENTS = 1 << 22
"""Weights are generated and written in chunks of rows of about this many elements."""


# --------------------------------------------------------------------------- the shape


@dataclass(frozen=True)
class LlamaShape:
    """A Llama decoder's hyper-parameters (`transformers`' LlamaConfig names in comments)."""

    vocab: int             # vocab_size
    hidden: int            # hidden_size
    layers: int            # num_hidden_layers
    heads: int             # num_attention_heads
    kv_heads: int          # num_key_value_heads
    intermediate: int      # intermediate_size
    sequence: int = 32     # the exported sequence length T (the step graph's context)
    rope_theta: float = 10000.0
    eps: float = 1e-5      # rms_norm_eps

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def describe(self) -> str:
        return (f"vocab {self.vocab}, hidden {self.hidden}, {self.layers} layers, {self.heads} heads / "
                f"{self.kv_heads} KV heads (head dim {self.head_dim}), SwiGLU {self.intermediate}, "
                f"T = {self.sequence}")


SHAPES = {
    # TinyLlama-1.1B's shape: 1.1e9 parameters, 4.4 GB of float32.
    "1b": LlamaShape(vocab=32000, hidden=2048, layers=22, heads=32, kv_heads=4, intermediate=5632),
    # The fixture `llama` (tests/fixtures/llm/llama.onnx).
    "tiny": LlamaShape(vocab=128, hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, sequence=16),
    "small": LlamaShape(vocab=4096, hidden=512, layers=4, heads=8, kv_heads=2, intermediate=1408),
}


def weight_shapes(shape: LlamaShape) -> dict[str, tuple[int, ...]]:
    """Every weight in graph order. Linear weights are stored as the exporter's
    initializers are, pre-transposed [in, out] (MatMul(x, Wᵀ)); their names are the
    torch parameter's with `.T`."""
    h, q, kv, i = shape.hidden, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim, shape.intermediate
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (shape.vocab, h)}
    for layer in range(shape.layers):
        prefix = f"model.layers.{layer}"
        shapes[f"{prefix}.input_layernorm.weight"] = (h,)
        shapes[f"{prefix}.self_attn.q_proj.weight.T"] = (h, q)
        shapes[f"{prefix}.self_attn.k_proj.weight.T"] = (h, kv)
        shapes[f"{prefix}.self_attn.v_proj.weight.T"] = (h, kv)
        shapes[f"{prefix}.self_attn.o_proj.weight.T"] = (q, h)
        shapes[f"{prefix}.post_attention_layernorm.weight"] = (h,)
        shapes[f"{prefix}.mlp.gate_proj.weight.T"] = (h, i)
        shapes[f"{prefix}.mlp.up_proj.weight.T"] = (h, i)
        shapes[f"{prefix}.mlp.down_proj.weight.T"] = (i, h)
    shapes["model.norm.weight"] = (h,)
    shapes["lm_head.weight.T"] = (h, shape.vocab)
    return shapes


def parameter_count(shape: LlamaShape) -> int:
    return sum(int(np.prod(s)) for s in weight_shapes(shape).values())


# --------------------------------------------------------------------------- the weights


def random_rows(name: str, tensor_shape: tuple[int, ...], rng: np.random.Generator) -> Iterator[np.ndarray]:
    """A tensor's random contents, a chunk of rows at a time: norm scales 1 + N(0, 0.1),
    the rest N(0, 1/fan_in) (so that activations keep their size through the layers)."""
    if len(tensor_shape) == 1:
        yield (1 + 0.1 * rng.standard_normal(tensor_shape, np.float32)).astype(np.float32)
        return
    rows, columns = tensor_shape
    std = np.float32(1.0 if name == "model.embed_tokens.weight" else rows ** -0.5)
    step = max(1, CHUNK_ELEMENTS // columns)
    for begin in range(0, rows, step):
        yield rng.standard_normal((min(step, rows - begin), columns), np.float32) * std


def write_weights(path: Path, shape: LlamaShape, seed: int = 0,
                  contents: Callable[[str], np.ndarray] | None = None) -> int:
    """Write the safetensors file of `shape`'s weights, streaming (one chunk of rows in
    memory at a time); `contents` (name -> array) replaces the random ones. Returns
    the bytes of weights written."""
    shapes = weight_shapes(shape)
    header, offset = {}, 0
    for name, tensor_shape in shapes.items():
        size = 4 * int(np.prod(tensor_shape))
        header[name] = {"dtype": "F32", "shape": list(tensor_shape), "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for name, tensor_shape in shapes.items():
            chunks = [np.asarray(contents(name), np.float32)] if contents else random_rows(name, tensor_shape, rng)
            for chunk in chunks:
                f.write(chunk.astype("<f4", copy=False).tobytes())
    return offset


# --------------------------------------------------------------------------- the graph


def rope_tables(shape: LlamaShape) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin [1, 1, T, head_dim] of Llama's default RoPE (rotate-half layout)."""
    inverse = 1.0 / shape.rope_theta ** (np.arange(0, shape.head_dim, 2, dtype=np.int64).astype(np.float32)
                                         / shape.head_dim)
    angles = np.outer(np.arange(shape.sequence, dtype=np.float32), inverse.astype(np.float32))
    both = np.concatenate([angles, angles], axis=-1)
    return (np.cos(both).astype(np.float32)[None, None], np.sin(both).astype(np.float32)[None, None])


class GraphWriter:
    """Nodes and initializers of the exported graph, with the exporter's naming style."""

    def __init__(self):
        self.nodes: list = []
        self.initializers: list = []
        self.counts: dict[str, int] = {}

    def name(self, stem: str) -> str:
        count = self.counts.get(stem, 0)
        self.counts[stem] = count + 1
        return stem if count == 0 else f"{stem}_{count}"

    def constant(self, name: str, value) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attributes) -> str:
        from onnx import helper

        output = self.name(stem)
        self.nodes.append(helper.make_node(op, inputs, [output], name=f"node_{output}", **attributes))
        return output


def rms_norm(g: GraphWriter, x: str, weight: str) -> str:
    """Pow(x, 2), ReduceMean(axes=[-1]), Add(eps), Sqrt, Reciprocal, Mul(x, ·), Mul(weight, ·)."""
    squared = g.node("Pow", [x, "val_two"], "pow")
    mean = g.node("ReduceMean", [squared, "val_last_axis"], "mean", keepdims=1, noop_with_empty_axes=0)
    shifted = g.node("Add", [mean, "val_eps"], "add")
    root = g.node("Sqrt", [shifted], "sqrt")
    inverse = g.node("Reciprocal", [root], "rsqrt")
    normalised = g.node("Mul", [x, inverse], "mul")
    return g.node("Mul", [weight, normalised], "mul")


def heads_of(g: GraphWriter, x: str, weight: str) -> str:
    """MatMul(x, Wᵀ), Reshape [1, T, -1, head_dim], Transpose to [1, heads, T, head_dim]."""
    linear = g.node("MatMul", [x, weight], "linear")
    view = g.node("Reshape", [linear, "val_heads_shape"], "view", allowzero=1)
    return g.node("Transpose", [view], "transpose", perm=[0, 2, 1, 3])


def rotary(g: GraphWriter, x: str) -> str:
    """x·cos + rotate_half(x)·sin, rotate_half as Slice, Slice, Neg, Concat."""
    with_cos = g.node("Mul", [x, "unsqueeze_cos"], "mul")
    first = g.node("Slice", [x, "val_zero", "val_half", "val_axis3", "val_one"], "slice")
    second = g.node("Slice", [x, "val_half", "val_end", "val_axis3", "val_one"], "slice")
    negated = g.node("Neg", [second], "neg")
    rotated = g.node("Concat", [negated, first], "cat", axis=-1)
    with_sin = g.node("Mul", [rotated, "unsqueeze_sin"], "mul")
    return g.node("Add", [with_cos, with_sin], "add")


def repeat_kv(g: GraphWriter, x: str) -> str:
    """GQA: Unsqueeze(axis 2), Expand to [1, kv, rep, T, hd], Reshape to [1, heads, T, hd]."""
    unsqueezed = g.node("Unsqueeze", [x, "val_axis2"], "unsqueeze")
    expanded = g.node("Expand", [unsqueezed, "val_expand_shape"], "expand")
    return g.node("Reshape", [expanded, "val_repeated_shape"], "_unsafe_view", allowzero=1)


def attention(g: GraphWriter, x: str, prefix: str) -> str:
    q = rotary(g, heads_of(g, x, f"{prefix}.self_attn.q_proj.weight.T"))
    k = rotary(g, heads_of(g, x, f"{prefix}.self_attn.k_proj.weight.T"))
    v = heads_of(g, x, f"{prefix}.self_attn.v_proj.weight.T")
    keys, values = repeat_kv(g, k), repeat_kv(g, v)
    keys_t = g.node("Transpose", [keys], "transpose", perm=[0, 1, 3, 2])
    scores = g.node("MatMul", [q, keys_t], "matmul")
    scaled = g.node("Mul", [scores, "val_scale"], "mul")
    masked = g.node("Add", [scaled, "where"], "add")
    weights = g.node("Softmax", [masked], "softmax", axis=-1)
    mixed = g.node("MatMul", [weights, values], "matmul")
    merged = g.node("Transpose", [mixed], "transpose", perm=[0, 2, 1, 3])
    flat = g.node("Reshape", [merged, "val_merged_shape"], "view", allowzero=1)
    return g.node("MatMul", [flat, f"{prefix}.self_attn.o_proj.weight.T"], "linear")


def mlp(g: GraphWriter, x: str, prefix: str) -> str:
    gate = g.node("MatMul", [x, f"{prefix}.mlp.gate_proj.weight.T"], "linear")
    sigmoid = g.node("Sigmoid", [gate], "sigmoid")
    silu = g.node("Mul", [gate, sigmoid], "silu")
    up = g.node("MatMul", [x, f"{prefix}.mlp.up_proj.weight.T"], "linear")
    product = g.node("Mul", [silu, up], "mul")
    return g.node("MatMul", [product, f"{prefix}.mlp.down_proj.weight.T"], "linear")


def shape_constants(g: GraphWriter, shape: LlamaShape) -> None:
    t, hd = shape.sequence, shape.head_dim
    cos, sin = rope_tables(shape)
    mask = np.triu(np.full((t, t), FLOAT32_MIN, np.float32), k=1)[None, None]
    g.constant("where", mask)
    g.constant("unsqueeze_cos", cos)
    g.constant("unsqueeze_sin", sin)
    g.constant("val_two", np.float32(2.0))
    g.constant("val_eps", np.float32(shape.eps))
    g.constant("val_scale", np.float32(hd ** -0.5))
    g.constant("val_last_axis", np.array([-1], np.int64))
    g.constant("val_heads_shape", np.array([1, t, -1, hd], np.int64))
    g.constant("val_zero", np.array([0], np.int64))
    g.constant("val_half", np.array([hd // 2], np.int64))
    g.constant("val_end", np.array([INT64_MAX], np.int64))
    g.constant("val_axis3", np.array([3], np.int64))
    g.constant("val_one", np.array([1], np.int64))
    g.constant("val_axis2", np.array([2], np.int64))
    g.constant("val_expand_shape", np.array([1, shape.kv_heads, shape.heads // shape.kv_heads, t, hd], np.int64))
    g.constant("val_repeated_shape", np.array([1, shape.heads, t, hd], np.int64))
    g.constant("val_merged_shape", np.array([1, t, -1], np.int64))


def llama_graph(shape: LlamaShape):
    """The whole-sequence decoder as an ONNX ModelProto (opset 18): input_ids int64 [1, T]
    in, logits float32 [1, T, vocab] out, the weights as graph inputs (see module doc)."""
    from onnx import TensorProto, helper

    g = GraphWriter()
    shape_constants(g, shape)
    hidden = g.node("Gather", ["model.embed_tokens.weight", "input_ids"], "embedding", axis=0)
    for layer in range(shape.layers):
        prefix = f"model.layers.{layer}"
        normed = rms_norm(g, hidden, f"{prefix}.input_layernorm.weight")
        hidden = g.node("Add", [hidden, attention(g, normed, prefix)], "add")
        normed = rms_norm(g, hidden, f"{prefix}.post_attention_layernorm.weight")
        hidden = g.node("Add", [hidden, mlp(g, normed, prefix)], "add")
    normed = rms_norm(g, hidden, "model.norm.weight")
    g.nodes.append(helper.make_node("MatMul", [normed, "lm_head.weight.T"], ["logits"], name="node_lm_head"))
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, shape.sequence])]
    inputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))
               for name, dims in weight_shapes(shape).items()]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, shape.sequence, shape.vocab])]
    graph = helper.make_graph(g.nodes, "main_graph", inputs, outputs, initializer=g.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10,
                             producer_name="hwc benchmarks/llm_scale.py")


def write_model(folder: Path, shape: LlamaShape, seed: int = 0) -> tuple[Path, Path, int]:
    """model.onnx and weights.safetensors in `folder`; returns both paths and the weight bytes."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    onnx_path, weights_path = folder / "model.onnx", folder / "weights.safetensors"
    onnx.save(llama_graph(shape), str(onnx_path))
    return onnx_path, weights_path, write_weights(weights_path, shape, seed)


def write_calibration(path: Path, shape: LlamaShape, windows: int, seed: int = 1) -> None:
    ids = np.random.default_rng(seed).integers(0, shape.vocab, (windows, shape.sequence))
    np.savez(path, input_ids=ids.astype(np.int64))


# --------------------------------------------------------------------------- measuring


def _status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of this process, in bytes."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class Stage:
    name: str
    seconds: float
    peak_rss: int
    peak_anon: int
    ir_bytes: int | None = None
    note: str = ""


class Meter:
    """Times stages and samples this process's memory while they run."""

    def __init__(self, weight_bytes: int):
        self.weight_bytes = weight_bytes
        self.stages: list[Stage] = []
        self.peaks_per_stage = True
        """False when the kernel refused to reset VmHWM: peak RSS is then the process's so far."""

    def run(self, name: str, function: Callable[[], object], module_after=None, note: str = ""):
        """`function()`, measured as stage `name`; the IR size of `module_after` (a
        callable giving the module from the result, or None) and `note` go on its printed line."""
        self.peaks_per_stage &= _reset_peak()
        peak_anon = [_status()["RssAnon"]]
        done = threading.Event()

        def sample():
            while not done.wait(0.01):
                peak_anon[0] = max(peak_anon[0], _status()["RssAnon"])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        try:
            result = function()
        finally:
            seconds = time.perf_counter() - start
            done.set()
            sampler.join()
            status = _status()
        stage = Stage(name, seconds, max(status["VmHWM"], status["VmRSS"]), max(peak_anon[0], status["RssAnon"]))
        if module_after is not None:
            stage.ir_bytes = ir_text_bytes(module_after(result))
        stage.note = note(result) if callable(note) else note
        self.stages.append(stage)
        self.print_stage(stage)
        return result

    def print_header(self) -> None:
        print(f"{'stage':24} {'seconds':>8} {'peak RSS':>10} {'x weights':>9} {'peak anon':>10} "
              f"{'x weights':>9} {'IR text':>10}")

    def print_stage(self, stage: Stage) -> None:
        gib = 2 ** 30
        ir = f"{stage.ir_bytes / 2**20:7.2f}MiB" if stage.ir_bytes is not None else ""
        print(f"{stage.name:24} {stage.seconds:8.1f} {stage.peak_rss / gib:7.2f}GiB "
              f"{stage.peak_rss / self.weight_bytes:9.2f} {stage.peak_anon / gib:7.2f}GiB "
              f"{stage.peak_anon / self.weight_bytes:9.2f} {ir:>10} {stage.note}", flush=True)


def ir_text_bytes(module) -> int:
    """The size of the module's printed IR (what model.*.mlir would hold)."""
    from xdsl.printer import Printer

    stream = io.StringIO()
    Printer(stream=stream).print_op(module)
    return len(stream.getvalue().encode())


# --------------------------------------------------------------------------- the stages


def run_stages(onnx_path: Path, weights_path: Path, calib_path: Path, meter: Meter, wbits: int,
               group_size: int, out: Path, generate: int = 0) -> None:
    """Import, the passes to the step graph and as far toward spatial as they go, the ROM image;
    with `generate`, that many greedy tokens at the integer level on the step graph."""
    import compiler
    from compiler.errors import HwcError
    from compiler.pipelines import quantize_spec, run_pipeline, step_pipeline
    from compiler.weights import save_store

    design = meter.run("import (+float passes)", lambda: compiler.compile(onnx_path, weights=weights_path),
                       module_after=lambda design: design.nn_module)
    module = design.nn_module.clone()
    passes = [("fold-constants", "fold-batchnorm,fold-constants"),
              ("calibrate", f'calibrate{{calib="{calib_path}"}}'),
              ("quantize", quantize_spec(wbits, 8, group_size)),
              ("weights-to-rom", "weights-to-rom")]
    for name, spec in passes:
        meter.run(name, lambda: run_pipeline(module, spec), module_after=lambda _: module)
    step = module.clone()
    meter.run("sequence-to-stream", lambda: run_pipeline(step, step_pipeline()), module_after=lambda _: step)
    try:
        meter.run("map-to-spatial", lambda: run_pipeline(step, "map-to-spatial"), module_after=lambda _: step)
        meter.run("fold, size FIFOs", lambda: run_pipeline(step, "fold-parallelism,size-fifos"),
                  module_after=lambda _: step, note=lambda _: chip_figures(step))
    except HwcError as error:
        print(f"{'':24} the spatial level stops here: {error}")
    out.mkdir(parents=True, exist_ok=True)
    image = out / "rom.safetensors"
    meter.run("ROM image written", lambda: save_store(module, image, relative_to=out),
              note=lambda _: f"rom.safetensors {image.stat().st_size / 2**30:.2f} GiB")
    if generate:
        from compiler.generate import Generator

        meter.run(f"int generation, {generate} tokens",
                  lambda: Generator(module, integer=True).generate([1, 2, 3], generate).tokens,
                  note=lambda tokens: f"prompt 1,2,3 -> {','.join(map(str, tokens))}")


def chip_figures(module) -> str:
    """The spatial report's decoder figures at 200 MHz (decode tokens/s, multipliers, K/V bits)."""
    from compiler.report import build_report

    design = build_report(module, 200.0)["design"]
    decoder = design["decoder"]
    return (f"{decoder['decode_tokens_per_second']:,.0f} tokens/s at 200 MHz, {design['multipliers']:,} multipliers, "
            f"K/V cache {decoder['kv_cache_bits'] / 8 / 2**20:.1f} MiB")


def numpy_peer(weights_path: Path, wbits: int, group_size: int) -> int:
    """Plain numpy: every weight matrix read from the file (safetensors' own reader) and
    quantized once to `wbits` in groups of `group_size` along its rows, one tensor at a
    time. Returns the bytes of integers made."""
    from safetensors import safe_open

    limit = (1 << (wbits - 1)) - 1
    made = 0
    with safe_open(str(weights_path), framework="numpy") as f:
        for name in f.keys():
            weight = f.get_tensor(name)
            if weight.ndim != 2 or weight.shape[1] % group_size:
                continue
            grouped = weight.reshape(weight.shape[0], -1, group_size)
            scales = np.abs(grouped).max(axis=2, keepdims=True) / limit
            q = np.clip(np.floor(grouped / np.where(scales > 0, scales, 1) + 0.5), -limit, limit).astype(np.int8)
            made += q.nbytes
    return made


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="1b")
    parser.add_argument("--layers", type=int, help="override the number of layers")
    parser.add_argument("--wbits", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=64)
    parser.add_argument("--windows", type=int, default=4, help="calibration windows of T tokens")
    parser.add_argument("--folder", type=Path, help="where to write the model (default: a temporary folder)")
    parser.add_argument("--reuse", action="store_true", help="keep model files already in --folder")
    parser.add_argument("--generate", type=int, default=0,
                        help="also generate N tokens at the integer level (the step graph's executor)")
    args = parser.parse_args(argv)
    shape = SHAPES[args.shape] if args.layers is None else replace(SHAPES[args.shape], layers=args.layers)
    with tempfile.TemporaryDirectory(prefix="hwc-llm-scale-") as scratch:
        folder = args.folder or Path(scratch)
        weight_bytes = 4 * parameter_count(shape)
        print(f"Llama: {shape.describe()}")
        print(f"{parameter_count(shape) / 1e9:.3f}e9 parameters, {weight_bytes / 2**30:.2f} GiB of float32 weights; "
              f"quantized to w{args.wbits} g{args.group_size}, calibrated on {args.windows} windows")
        meter = Meter(weight_bytes)
        meter.print_header()
        onnx_path, weights_path = folder / "model.onnx", folder / "weights.safetensors"
        if not (args.reuse and onnx_path.exists() and weights_path.exists()):
            meter.run("write model (generator)", lambda: write_model(folder, shape))
        write_calibration(folder / "calib.npz", shape, args.windows)
        print(f"model.onnx {onnx_path.stat().st_size / 1024:.0f} KiB, weights.safetensors "
              f"{weights_path.stat().st_size / 2**30:.2f} GiB")
        start = len(meter.stages)
        run_stages(onnx_path, weights_path, folder / "calib.npz", meter, args.wbits, args.group_size,
                   folder / "build", args.generate)
        compile_stages = [s for s in meter.stages[start:] if not s.name.startswith("int generation")]
        meter.run(f"peer: numpy w{args.wbits} g{args.group_size}",
                  lambda: numpy_peer(weights_path, args.wbits, args.group_size),
                  note=lambda made: f"{made / 2**30:.2f} GiB of int8")
        total = sum(s.seconds for s in compile_stages)
        peak = max(s.peak_rss for s in compile_stages)
        anon = max(s.peak_anon for s in compile_stages)
        largest_ir = max(s.ir_bytes or 0 for s in compile_stages)
        print(f"\nhwc, import to ROM image: {total:.1f} s (target < 600 s), {total / meter.stages[-1].seconds:.2f}x "
              f"the numpy peer's {meter.stages[-1].seconds:.1f} s; peak RSS {peak / 2**30:.2f} GiB = "
              f"{peak / weight_bytes:.2f}x the weight bytes, peak anonymous {anon / 2**30:.2f} GiB = "
              f"{anon / weight_bytes:.2f}x (target <= 1.5x); largest IR text {largest_ir / 2**20:.2f} MiB")
        if not meter.peaks_per_stage:
            print("(VmHWM could not be reset: each stage's peak RSS is the process's peak so far)")


if __name__ == "__main__":
    main()
