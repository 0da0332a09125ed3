"""Transformers at the integer level: the whole sequence and the step graph with
its integer K/V caches compute the same integers at every position, on every
decoder fixture (tiny Llama, Qwen2, Mistral, GPT-2, both exporters, SDPA and
eager attention), at per-channel and group-wise weight formats; and the
commands a user runs (`hwc generate --level int`, `hwc run --level int` on token ids).

Oracle for the step graph: the whole sequence's integers (the definition the
step graph must reproduce). The integer definitions themselves are checked
against hand-derived values in tests/unit/test_int_transformer_ops.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.generate import Generator
from tests.support import run_hwc_command

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny_lm"
DECODERS = ["llama", "qwen2", "mistral", "gpt2", "llama_classic", "gpt2_classic", "llama_opset23",
            "llama_sdpa", "qwen2_sdpa", "mistral_sdpa", "gpt2_sdpa", "llama_sdpa_opset23", "gpt2_sdpa_classic"]


def calibration(name: str, tmp_path: Path) -> Path:
    """The fixture's own token windows as calibration text (ids, [n, T])."""
    path = tmp_path / f"{name}_calib.npz"
    np.savez(path, input_ids=np.load(FIXTURES / f"{name}.npz")["input_ids"])
    return path


def assert_step_equals_whole(design: compiler.Design, ids: np.ndarray) -> None:
    whole = design.executor("int").run_int({"input_ids": ids[None]})["logits"][0]
    generator = Generator(design.rom_module, integer=True)
    state = {n: np.zeros(generator.plan.ir_input_shapes[n], generator.plan.input_dtypes[n])
             for n in generator.cache_names}
    for position, token in enumerate(ids):
        logits, state = generator.step(int(token), position, state)
        np.testing.assert_array_equal(logits[0, 0], whole[position], err_msg=f"position {position}")


@pytest.mark.parametrize("name", DECODERS)
def test_integer_step_graph_equals_the_whole_sequence(name, tmp_path):
    design = compiler.compile(FIXTURES / f"{name}.onnx", calib=calibration(name, tmp_path))
    assert_step_equals_whole(design, np.load(FIXTURES / f"{name}.npz")["input_ids"][1])


@pytest.mark.parametrize("wbits, group", [(4, 16), (3, 32), (6, 16)])
def test_grouped_weights_keep_step_and_whole_sequence_identical(wbits, group, tmp_path):
    design = compiler.compile(FIXTURES / "llama.onnx", wbits=wbits, group_size=group,
                              layer_wbits={"last": 8}, calib=calibration("llama", tmp_path))
    assert_step_equals_whole(design, np.load(FIXTURES / "llama.npz")["input_ids"][2])


def test_the_integer_model_follows_the_float_one(tmp_path):
    """Quantization costs little on these random-weight models: most next-token
    choices agree with float (a loose bound: a trained model is measured in
    benchmarks/llm_quality.py)."""
    data = np.load(FIXTURES / "llama.npz")
    design = compiler.compile(FIXTURES / "llama.onnx", calib=calibration("llama", tmp_path))
    float_logits = design.run({"input_ids": data["input_ids"]}, level="float")["logits"]
    int_logits = design.run({"input_ids": data["input_ids"]}, level="int")["logits"]
    assert (float_logits.argmax(-1) == int_logits.argmax(-1)).mean() >= 0.7
    correlation = np.corrcoef(float_logits.reshape(-1), int_logits.reshape(-1))[0, 1]
    assert correlation > 0.95


def test_hwc_generate_and_run_at_the_int_level(tmp_path):
    calib = calibration("llama", tmp_path)
    model = FIXTURES / "llama.onnx"
    generated = run_hwc_command("generate", str(model), "--prompt", "5,17,99", "--max-new-tokens", "6",
                                "--level", "int", "--calib", str(calib), "--wbits", "4", "--group-size", "32")
    assert generated.returncode == 0, generated.stderr
    tokens = [int(t) for t in generated.stdout.strip().splitlines()[-1].split(",")]
    design = compiler.compile(model, calib=calib, wbits=4, group_size=32)
    assert tokens == design.generate([5, 17, 99], 6, level="int")

    ids = np.load(FIXTURES / "llama.npz")["input_ids"][:2]
    np.save(tmp_path / "ids.npy", ids)
    ran = run_hwc_command("run", str(model), "--input", str(tmp_path / "ids.npy"), "--level", "int",
                          "--calib", str(calib), "--wbits", "4", "--group-size", "32", "-o", str(tmp_path / "out.npz"))
    assert ran.returncode == 0, ran.stderr
    logits = np.load(tmp_path / "out.npz")["logits"]
    np.testing.assert_array_equal(logits, design.run({"input_ids": ids}, level="int")["logits"])


@pytest.mark.parametrize("args, message", [
    (["--group-size", "48"], "group size 48"),
    (["--layer-wbits", "lm_head=8"], "no weight layer has that name"),
    (["--layer-wbits", "last=9"], "9 weight bits"),
    (["--level", "spatial", "--context", "8"], "--context applies to the float and int levels"),
])
def test_bad_integer_generate_requests_are_one_line(args, message):
    result = run_hwc_command("generate", str(FIXTURES / "llama.onnx"), "--prompt", "1,2", "--max-new-tokens", "2",
                             "--level", "int", *args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_hwc_verify_the_trained_example_on_its_heldout_text():
    """The ladder of a language model: onnxruntime on random ids, the int rung on held-out
    text (agreement and both perplexities), the step rung bit-exact; at w8a8 the trained
    example keeps >= 90% of the float model's next-byte choices, so the ladder agrees."""
    result = run_hwc_command("verify", str(EXAMPLE / "model.onnx"), "--samples", "2", "--no-rtl", "--text",
                             str(EXAMPLE / "heldout.txt"), "--calib", str(EXAMPLE / "calib.npz"))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "│" in line]
    assert any("float" in line and "agree" in line for line in lines)
    assert any("int step" in line and "agree" in line for line in lines)
    assert any("spatial" in line and "agree" in line for line in lines)
    assert "perplexity" in result.stdout and not any("rtl" in line for line in lines)


def test_verify_text_is_for_language_models_only(tmp_path):
    np.save(tmp_path / "ids.npy", np.arange(10))
    result = run_hwc_command("verify", str(Path(__file__).resolve().parents[1] / "fixtures" / "mlp.onnx"),
                             "--text", str(tmp_path / "ids.npy"))
    assert result.returncode == 1 and "only a language model" in result.stderr


def test_the_trained_example_generates_the_same_bytes_token_by_token_as_whole(tmp_path):
    """`hwc generate --level int` (the step graph, integer K/V caches) against greedy decoding
    that reruns the whole sequence (`hwc run --level int`'s integers) for every new byte; causal,
    so the window is padded with zeros past the text."""
    prompt, options, new = list(b"def "), ["--wbits", "4", "--group-size", "64"], 12
    calib = str(EXAMPLE / "calib.npz")
    generated = run_hwc_command("generate", str(EXAMPLE / "model.onnx"), "--prompt", ",".join(map(str, prompt)),
                                "--max-new-tokens", str(new), "--level", "int", "--calib", calib, *options)
    assert generated.returncode == 0, generated.stderr
    stepped = [int(t) for t in generated.stdout.strip().splitlines()[-1].split(",")]
    design = compiler.compile(EXAMPLE / "model.onnx", calib=calib, wbits=4, group_size=64)
    text = list(prompt)
    for _ in range(new):
        window = np.zeros((1, 64), np.int64)
        window[0, :len(text)] = text
        logits = design.run({"input_ids": window}, level="int")["logits"]
        text.append(int(logits[0, len(text) - 1].argmax()))
    assert stepped == text[len(prompt):]


def test_a_byte_level_model_calibrates_on_a_text_file(tmp_path):
    from compiler.calibration import calibration_samples

    text = tmp_path / "calib.txt"
    text.write_bytes(bytes(range(32, 127)) * 3)  # 285 bytes: four windows of 64
    samples = calibration_samples(text, {"input_ids": (64,)}, None, {"input_ids": 256})
    assert samples["input_ids"].shape == (4, 64) and samples["input_ids"].dtype == np.int64
    assert samples["input_ids"][0, :3].tolist() == [32, 33, 34]
    design = compiler.compile(EXAMPLE / "model.onnx", calib=text)
    assert len(design.generate(list(b"def "), 3, level="int")) == 3
