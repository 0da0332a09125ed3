"""The LLM chip of every decoder fixture (and the trained example) in Verilator:
token-exact generation under random stalls, cycles per token against the
prediction, build time and simulation speed. One table.

    python benchmarks/llm_chip.py [NAME ...] [--example] [--max-multipliers N] [--stall 0.3]

For each model: `hwc compile` (calibrated on its own token windows), the chip's
RTL exported by CIRCT, linted and built by Verilator (cached by content hash:
a second run only simulates); then three prompts (the fixture's own, or three
snippets of Python for the example), each generating `--tokens` tokens on the
chip with `--stall` random backpressure on both streams, against
`Design.generate(level="int")` (the integer executor's greedy tokens); and one
unstalled generation whose cycles between consecutive tokens are compared with
the report's predicted decode cycles per token (the latency of one token), and
whose first token's cycle with (prompt - 1) prefill tokens at the bottleneck's
ii plus one latency. The peer is the integer executor: the chip must equal it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "tests" / "fixtures" / "llm"
EXAMPLE = ROOT / "examples" / "tiny_lm"
DECODERS = ["llama_micro", "llama", "qwen2", "mistral", "gpt2", "llama_classic", "gpt2_classic", "llama_opset23",
            "llama_sdpa", "qwen2_sdpa", "mistral_sdpa", "gpt2_sdpa", "llama_sdpa_opset23", "gpt2_sdpa_classic"]
EXAMPLE_PROMPTS = (b"def ", b"import os\n", b"class Parser:\n    ")


def prompts_of(name: str) -> list[list[int]]:
    if name == "tiny_lm":
        return [list(p) for p in EXAMPLE_PROMPTS]
    data = np.load(FIXTURES / f"{name}.npz")
    return [[int(t) for t in data["prompts"][row][:data["prompt_lengths"][row]]] for row in range(3)]


def model_and_calib(name: str, scratch: Path) -> tuple[Path, Path]:
    if name == "tiny_lm":
        return EXAMPLE / "model.onnx", EXAMPLE / "calib.npz"
    calib = scratch / f"{name}_calib.npz"
    np.savez(calib, input_ids=np.load(FIXTURES / f"{name}.npz")["input_ids"])
    return FIXTURES / f"{name}.onnx", calib


def measure(name: str, args, scratch: Path) -> dict:
    import compiler
    from compiler.llm_rtl import ChipSimulation

    model, calib = model_and_calib(name, scratch)
    options = {"max_multipliers": args.max_multipliers} if args.max_multipliers else {}
    design = compiler.compile(model, calib=calib, **options)
    decoder = design.report()["design"]["decoder"]
    started = time.time()
    build = design.rtl_build()
    built = time.time() - started
    spatial = design.executor("spatial")
    exact = 0
    prompts = prompts_of(name)
    tokens = min(args.tokens, decoder["context"] - max(len(p) for p in prompts) + 1)
    for seed, prompt in enumerate(prompts):
        chip = ChipSimulation(spatial, build, stall_in=args.stall, stall_out=args.stall, seed=seed)
        exact += chip.generate(prompt, tokens).tokens == design.generate(prompt, tokens, level="int")
    started = time.time()
    run = ChipSimulation(spatial, build).generate(prompts[-1], tokens)
    simulated = time.time() - started
    first_predicted = (len(prompts[-1]) - 1) * decoder["prefill_cycles_per_token"] + decoder["decode_cycles_per_token"]
    return {"name": name, "exact": f"{exact}/{len(prompts)}", "tokens": tokens,
            "decode": run.decode_cycles_per_token, "decode_predicted": decoder["decode_cycles_per_token"],
            "first": run.out_cycles[0], "first_predicted": first_predicted, "build_s": built,
            "cycles_per_s": run.total_cycles / simulated, "kv_bits": decoder["kv_cache_bits"],
            "cached": bool(build.simulator.cache_hit)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"fixtures (default: all): {', '.join(DECODERS)}")
    parser.add_argument("--example", action="store_true", help="also the trained example examples/tiny_lm")
    parser.add_argument("--max-multipliers", type=int, help="fold every chip within this budget")
    parser.add_argument("--tokens", type=int, default=8, help="tokens generated per prompt (default 8)")
    parser.add_argument("--stall", type=float, default=0.3, help="random backpressure (default 0.3)")
    args = parser.parse_args()
    names = (args.names or DECODERS) + (["tiny_lm"] if args.example else [])
    print(f"{'model':20} {'exact':>6} {'decode cyc/token':>17} {'predicted':>10} {'first token':>12} "
          f"{'predicted':>10} {'build s':>8} {'sim cycles/s':>13} {'K/V bits':>9}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            row = measure(name, args, Path(scratch))
            print(f"{row['name']:20} {row['exact']:>6} {row['decode']:>17,.1f} {row['decode_predicted']:>10,} "
                  f"{row['first']:>12,} {row['first_predicted']:>10,} "
                  f"{row['build_s']:>8.1f}{'*' if row['cached'] else ' '} {row['cycles_per_s']:>12,.0f} "
                  f"{row['kv_bits']:>9,}", flush=True)
    print("exact: prompts whose chip generation (random stalls) equals the integer executor's; "
          "* the Verilator build came from the cache")


if __name__ == "__main__":
    main()
