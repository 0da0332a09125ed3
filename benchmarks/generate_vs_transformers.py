"""Tokens per second of `hwc generate --level float` against transformers' own
`generate` with its KV cache, both greedy and on one thread, on the largest LLM
fixture (default: mistral, tests/fixtures/llm), in one run.

    python benchmarks/generate_vs_transformers.py [--fixture mistral] [--repeats 20]
                                                  [--torch-python /path/to/python]

Each side generates `MAX_NEW_TOKENS` tokens after the same prompt, prefill
included, `--repeats` times; the figure is new tokens over the median time of
one generation. transformers builds the fixture's model exactly as the fixture
script does (same seed and weights: tests/fixtures/llm/make_llm_fixtures.py), in
a Python that has torch and transformers (`--torch-python`, or $HWC_TORCH_PYTHON,
or this one if it has them: they are test-time tools, not hwc dependencies). The
two token sequences are compared, so the figures are for the same work.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # one thread, before numpy loads its BLAS

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "llm"
MAX_NEW_TOKENS = 10

TRANSFORMERS_SIDE = r"""
import json, statistics, sys, time
import torch
sys.path.insert(0, sys.argv[1])
import make_llm_fixtures as fixtures
torch.set_num_threads(1)
name, prompt, new_tokens, repeats = sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
fixture = next(f for f in fixtures.CONFIGS if f.name == name)
model = fixtures.build_model(fixture)
ids = torch.tensor([prompt])
def once():
    with torch.no_grad():
        return model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                              max_new_tokens=new_tokens, min_new_tokens=new_tokens, use_cache=True)
once()
times = []
for _ in range(repeats):
    start = time.perf_counter(); out = once(); times.append(time.perf_counter() - start)
print(json.dumps({"seconds": statistics.median(times), "tokens": out[0, len(prompt):].tolist(),
                  "torch": torch.__version__, "transformers": __import__("transformers").__version__}))
"""


def torch_python(given: str | None) -> str:
    """A Python with torch and transformers: the option, the variable, or this one."""
    for candidate in (given, os.environ.get("HWC_TORCH_PYTHON"), sys.executable):
        if candidate and subprocess.run([candidate, "-c", "import torch, transformers"],
                                        capture_output=True).returncode == 0:
            return candidate
    sys.exit("generate_vs_transformers: no Python with torch and transformers; "
             "give one with --torch-python or $HWC_TORCH_PYTHON")


def time_hwc(fixture: str, prompt: list[int], repeats: int) -> tuple[float, list[int]]:
    sys.path.insert(0, str(ROOT))
    import compiler

    design = compiler.compile(FIXTURES / f"{fixture}.onnx")
    tokens = design.generate(prompt, MAX_NEW_TOKENS)  # compiles the step graph once
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tokens = design.generate(prompt, MAX_NEW_TOKENS)
        times.append(time.perf_counter() - start)
    return statistics.median(times), tokens


def time_transformers(python: str, fixture: str, prompt: list[int], repeats: int) -> dict:
    result = subprocess.run([python, "-c", TRANSFORMERS_SIDE, str(FIXTURES), fixture, json.dumps(prompt),
                             str(MAX_NEW_TOKENS), str(repeats)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"generate_vs_transformers: the transformers side failed: {result.stderr.strip().splitlines()[-1]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixture", default="mistral", help="an LLM fixture name (default: mistral, the largest)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--torch-python", help="a Python with torch and transformers")
    args = parser.parse_args()
    data = np.load(FIXTURES / f"{args.fixture}.npz")
    length = int(data["prompt_lengths"].max())
    prompt = [int(t) for t in data["prompts"][int(data["prompt_lengths"].argmax())][:length]]

    peer = time_transformers(torch_python(args.torch_python), args.fixture, prompt, args.repeats)
    hwc_seconds, hwc_tokens = time_hwc(args.fixture, prompt, args.repeats)
    hwc_rate, peer_rate = MAX_NEW_TOKENS / hwc_seconds, MAX_NEW_TOKENS / peer["seconds"]
    print(f"fixture {args.fixture}: prompt of {len(prompt)} tokens, {MAX_NEW_TOKENS} new tokens, greedy, one thread, "
          f"median of {args.repeats}")
    print(f"  hwc generate --level float      {hwc_rate:9.1f} tokens/s")
    print(f"  transformers generate (KV cache) {peer_rate:9.1f} tokens/s  "
          f"(torch {peer['torch']}, transformers {peer['transformers']})")
    print(f"  ratio hwc / transformers        {hwc_rate / peer_rate:9.2f}x")
    print(f"  same tokens: {'yes' if hwc_tokens == peer['tokens'] else 'NO'} ({','.join(map(str, hwc_tokens))})")


if __name__ == "__main__":
    main()
