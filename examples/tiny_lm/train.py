"""Train the tiny Llama-architecture language model on the Python standard
library's own source and export it, with its held-out text, calibration windows
and reference figures.

    /work/torchvenv/bin/python examples/tiny_lm/train.py       # about 20 minutes on one core
    /work/torchvenv/bin/python examples/tiny_lm/train.py --checkpoint /tmp/tiny_lm.pt
        # the same, keeping the trained weights there; a second run with the same
        # --checkpoint loads them instead of training (to redo only the export and figures)

Needs torch, transformers, onnxscript, onnx and onnxruntime (tools for making
these files only, never dependencies of hwc). Deterministic: fixed seeds, one
thread.

Corpus: the top-level `*.py` modules of the running Python's standard library
(`sysconfig.get_paths()["stdlib"]`, no packages, sorted by name), read as bytes.
Tokens are the bytes themselves (vocabulary 256, no tokenizer). The split is by
file: every 16th file (sorted positions 7, 23, 39, ..., counting from 0) is
held out and never seen in training. `heldout.txt` is about 4 KB of whole lines
from the middle of each held-out file, concatenated in file order.

Model: `transformers.LlamaForCausalLM` from scratch (RMSNorm, RoPE, SwiGLU,
grouped-query attention), CONFIG below; trained on random windows of SEQ_LEN
bytes of the training files with AdamW and a cosine learning rate.

Writes, beside this file:
* `model.onnx`     input `input_ids` int64 [1, 64], output `logits` float32 [1, 64, 256],
                   exported exactly as tests/fixtures/llm/make_llm_fixtures.py exports `llama.onnx`
                   (dynamo exporter, opset 18, weights embedded, node metadata stripped);
* `heldout.txt`    the held-out text (bytes);
* `calib.npz`      key `input_ids`, int64 [16, 1, 64]: 16 windows of the training split;
* `reference.json` settings, versions, training time and loss, held-out bits per byte
                   (whole text and per window) and greedy generations, all by transformers.

Held-out bits per byte: `heldout.txt` is cut into floor(len / 64) non-overlapping
windows of 64 bytes (the remainder is not scored); in each window the model
predicts bytes 1..63 from the bytes before them in the same window; bits per
byte = the sum over all predicted bytes of -log2 p(byte) / the number of
predicted bytes (63 per window).

The script fails (exit status 1, one message) if onnxruntime differs from
transformers' logits by more than 1e-4, if a greedy generation is not what the
whole-sequence logits predict or has a near tie, or if model.onnx is over 4 MB.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SEED = 0
SEQ_LEN = 64
VOCAB = 256
CONFIG = dict(
    vocab_size=VOCAB, hidden_size=128, intermediate_size=352, num_hidden_layers=4,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=SEQ_LEN,
    rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, initializer_range=0.02,
    bos_token_id=None, eos_token_id=None, pad_token_id=None)
TRAINING = dict(steps=2400, batch_size=32, peak_lr=2e-3, final_lr_fraction=0.1, warmup_steps=100,
                weight_decay=0.1, betas=(0.9, 0.95), grad_clip=1.0)
HELDOUT_EVERY, HELDOUT_OFFSET = 16, 7        # held-out files: sorted positions 7, 23, 39, ...
HELDOUT_BYTES_PER_FILE = 4096
CALIBRATION_WINDOWS = 16
PROMPTS = ("def ", "import ", "class ")
MAX_NEW_TOKENS = 40
OPSET = 18
TOLERANCE = 1e-4
MIN_ARGMAX_MARGIN = 1e-3
MAX_MODEL_BYTES = 4_200_000


def fixture_tools():
    """tests/fixtures/llm/make_llm_fixtures.py: its exporter and checks, reused as they are."""
    path = REPO / "tests" / "fixtures" / "llm" / "make_llm_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_llm_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- corpus


def corpus_files() -> list[Path]:
    """The top-level modules of the standard library, sorted by name."""
    return sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"), key=lambda p: p.name)


def split_files(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """(training files, held-out files): every HELDOUT_EVERY-th file is held out."""
    heldout = [f for i, f in enumerate(files) if i % HELDOUT_EVERY == HELDOUT_OFFSET]
    return [f for f in files if f not in heldout], heldout


def middle_lines(text: bytes, budget: int) -> bytes:
    """Whole lines from the middle of `text`, at most `budget` bytes: from the first line
    that starts at or after len/2 - budget/2, as many lines as fit."""
    lines = text.splitlines(keepends=True)
    start, position = 0, 0
    for start, line in enumerate(lines):
        if position >= len(text) // 2 - budget // 2:
            break
        position += len(line)
    chosen, size = [], 0
    for line in lines[start:]:
        if size + len(line) > budget:
            break
        chosen.append(line)
        size += len(line)
    return b"".join(chosen)


def heldout_text(files: list[Path]) -> bytes:
    return b"".join(middle_lines(f.read_bytes(), HELDOUT_BYTES_PER_FILE) for f in files)


def windows(data: np.ndarray, length: int = SEQ_LEN) -> np.ndarray:
    """`data` cut into floor(len / length) non-overlapping windows [n, length]."""
    count = len(data) // length
    return data[:count * length].reshape(count, length)


def random_windows(data: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    starts = rng.integers(0, len(data) - SEQ_LEN, size=count)
    return np.stack([data[s:s + SEQ_LEN] for s in starts]).astype(np.int64)


# --------------------------------------------------------------------------- model and training


def build_model():
    import torch
    import transformers
    torch.manual_seed(SEED)
    config = transformers.LlamaConfig(**CONFIG)
    config._attn_implementation = "eager"
    return transformers.LlamaForCausalLM(config)


def learning_rate(step: int) -> float:
    """Linear warm-up, then cosine from the peak down to final_lr_fraction of it."""
    peak, steps, warmup = TRAINING["peak_lr"], TRAINING["steps"], TRAINING["warmup_steps"]
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    floor = TRAINING["final_lr_fraction"]
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(model, data: np.ndarray) -> dict:
    """AdamW on random windows of `data`; the loss (nats per predicted byte) along the way."""
    import torch
    rng = np.random.default_rng(SEED)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": TRAINING["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=TRAINING["peak_lr"], betas=TRAINING["betas"])
    model.train()
    started, losses, recent = time.time(), {}, []
    for step in range(TRAINING["steps"]):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step)
        batch = torch.from_numpy(random_windows(data, TRAINING["batch_size"], rng))
        loss = model(input_ids=batch, labels=batch, use_cache=False).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), TRAINING["grad_clip"])
        optimizer.step()
        recent.append(loss.item())
        if (step + 1) % 100 == 0:
            losses[step + 1] = float(np.mean(recent))
            recent = []
            print(f"  step {step + 1}: loss {losses[step + 1]:.3f} nats "
                  f"({losses[step + 1] / math.log(2):.3f} bits) per byte, {time.time() - started:.0f} s", flush=True)
    model.eval()
    return {"seconds": round(time.time() - started, 1), "mean_loss_nats_per_100_steps": losses}


def trained(model, data: np.ndarray, checkpoint: Path | None) -> dict:
    """Train `model` (or load the weights a previous run saved at `checkpoint`)."""
    import torch
    if checkpoint and checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(saved["weights"])
        model.eval()
        print(f"loaded the trained weights from {checkpoint}")
        return json.loads(saved["training"])
    training = train(model, data)
    if checkpoint:
        torch.save({"weights": model.state_dict(), "training": json.dumps(training)}, checkpoint)
    return training


def checkpoint_argument() -> Path | None:
    args = sys.argv[1:]
    if args[:1] == ["--checkpoint"] and len(args) == 2:
        return Path(args[1])
    if args:
        raise SystemExit("usage: train.py [--checkpoint FILE.pt]")
    return None


# --------------------------------------------------------------------------- evaluation


def window_bits(model, heldout: np.ndarray) -> np.ndarray:
    """Bits per predicted byte of each non-overlapping window (positions 1..T-1)."""
    import torch
    rows = windows(heldout)
    bits = []
    with torch.no_grad():
        for start in range(0, len(rows), 64):
            batch = torch.from_numpy(rows[start:start + 64].astype(np.int64))
            logits = model(input_ids=batch, use_cache=False).logits.double()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, batch[:, 1:, None])[..., 0]
            bits.append((-logp.sum(dim=1) / math.log(2) / (SEQ_LEN - 1)).numpy())
    return np.concatenate(bits)


def generations(model) -> list[dict]:
    """transformers' greedy continuation of each prompt (with its KV cache), checked
    against the whole-sequence argmax with a margin at every step."""
    import torch
    results = []
    for text in PROMPTS:
        prompt = list(text.encode())
        with torch.no_grad():
            out = model.generate(
                input_ids=torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.int64),
                do_sample=False, max_new_tokens=MAX_NEW_TOKENS, min_new_tokens=MAX_NEW_TOKENS,
                use_cache=True, eos_token_id=None, pad_token_id=0)
        new = out[0, len(prompt):].tolist()
        check_greedy(model, prompt, new)
        results.append({"prompt": text, "prompt_ids": prompt, "new_ids": new,
                        "new_text": bytes(new).decode("utf-8", errors="replace")})
    return results


def check_greedy(model, prompt: list[int], new: list[int]) -> None:
    import torch
    tokens = prompt + new
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([tokens]), use_cache=False).logits[0].numpy()
    for step, token in enumerate(new):
        last = logits[len(prompt) + step - 1]
        top2 = np.sort(last)[-2:]
        if int(np.argmax(last)) != token:
            raise SystemExit(f"prompt {bytes(prompt)!r} step {step}: generate gave {token}, "
                             f"whole-sequence argmax {int(np.argmax(last))}")
        if top2[1] - top2[0] < MIN_ARGMAX_MARGIN:
            raise SystemExit(f"prompt {bytes(prompt)!r} step {step}: argmax margin {top2[1] - top2[0]:.2e} "
                             f"< {MIN_ARGMAX_MARGIN}")


# --------------------------------------------------------------------------- export


def export(model, tools, heldout: np.ndarray) -> float:
    """model.onnx as tools exports llama.onnx; onnxruntime checked against transformers on
    the first held-out windows; the largest |difference|."""
    import torch
    path = HERE / "model.onnx"
    tools.export_dynamo(model, path, OPSET, SEQ_LEN)
    tools.strip_node_metadata(path)
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise SystemExit(f"{path.name}: {path.stat().st_size} bytes, over the {MAX_MODEL_BYTES} budget")
    rows = windows(heldout)[:8].astype(np.int64)
    with torch.no_grad():
        expected = np.stack([tools.logits_only(model)(torch.from_numpy(r[None]))[0].numpy() for r in rows])
    got = tools.onnxruntime_logits(path, rows)
    error = float(np.max(np.abs(got - expected)))
    if error > TOLERANCE:
        raise SystemExit(f"{path.name}: onnxruntime differs from transformers by {error:.3g} > {TOLERANCE}")
    return error


# --------------------------------------------------------------------------- main


def versions() -> dict:
    import onnx
    import onnxruntime
    import onnxscript
    import torch
    import transformers
    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "onnxscript": onnxscript.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def main() -> None:
    import torch
    torch.set_num_threads(1)
    tools = fixture_tools()
    files = corpus_files()
    train_files, heldout_files = split_files(files)
    train_data = np.frombuffer(b"".join(f.read_bytes() for f in train_files), dtype=np.uint8)
    heldout_bytes = heldout_text(heldout_files)
    heldout = np.frombuffer(heldout_bytes, dtype=np.uint8)
    print(f"{versions()}\ncorpus: {len(train_files)} training files ({len(train_data)} bytes), "
          f"{len(heldout_files)} held-out files, heldout.txt {len(heldout)} bytes")

    model = build_model()
    print(f"model: {sum(p.numel() for p in model.parameters())} parameters")
    training = trained(model, train_data, checkpoint_argument())
    bits = window_bits(model, heldout)
    print(f"held-out bits per byte: {bits.mean():.4f} over {len(bits)} windows")
    generated = generations(model)
    for g in generated:
        print(f"  {g['prompt']!r} -> {g['new_text']!r}")
    error = export(model, tools, heldout)
    print(f"model.onnx: {(HERE / 'model.onnx').stat().st_size} bytes, onnxruntime max |error| {error:.2e}")

    (HERE / "heldout.txt").write_bytes(heldout_bytes)
    calib = random_windows(train_data, CALIBRATION_WINDOWS, np.random.default_rng(SEED + 1))
    np.savez(HERE / "calib.npz", input_ids=calib[:, None, :])
    reference = {
        "versions": versions(),
        "corpus": {"stdlib": "top-level *.py of sysconfig.get_paths()['stdlib'], sorted by name",
                   "files": len(files), "training_files": len(train_files), "training_bytes": len(train_data),
                   "heldout_files": [f.name for f in heldout_files],
                   "heldout_bytes_per_file": HELDOUT_BYTES_PER_FILE, "heldout_txt_bytes": len(heldout)},
        "config": CONFIG,
        "training": {**TRAINING, "seed": SEED, "seq_len": SEQ_LEN, "threads": 1,
                     "tokens_seen": TRAINING["steps"] * TRAINING["batch_size"] * SEQ_LEN, **training},
        "onnx": {"opset": OPSET, "exporter": "torch.onnx.export(dynamo=True)", "max_abs_error_vs_transformers": error},
        "heldout": {"windows": len(bits), "window_bytes": SEQ_LEN, "predicted_bytes_per_window": SEQ_LEN - 1,
                    "bits_per_byte": float(bits.mean()), "window_bits_per_byte": [float(b) for b in bits]},
        "generations": generated,
    }
    (HERE / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    total = sum(p.stat().st_size for p in HERE.iterdir() if p.is_file())
    print(f"examples/tiny_lm: {total} bytes in all")


if __name__ == "__main__":
    main()
