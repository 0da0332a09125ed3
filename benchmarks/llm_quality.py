"""What each weight format costs a language model in quality, at the integer level
hwc's hardware computes bit for bit: perplexity (and bits per token — per byte
for a byte-level model) on held-out text, and greedy next-token agreement with
the float model, in one table, all measured in the same run against the float
model as the peer.

    python benchmarks/llm_quality.py [--model examples/tiny_lm/model.onnx]
        [--text examples/tiny_lm/heldout.txt] [--calib examples/tiny_lm/calib.npz] [--windows 64]

Formats (activations 8 bits throughout; `g64`: one 8-bit integer scale per 64
inputs under each output channel's scale, `compiler/weight_formats.py`):
w8 per channel; w6, w4, w3 with groups of 64; and a mixed 3/6 setting in the
spirit of Taalas HC1 (attention projections and the output head at 6 bits,
the MLPs at 3), for a Llama-shaped model (7 weight layers per block: q, k, v,
o, gate, up, down; then the head).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import compiler  # noqa: E402
from compiler.llm_eval import load_token_ids, score_text, text_windows  # noqa: E402
from compiler.verify_llm import vocabulary  # noqa: E402

EXAMPLE = ROOT / "examples" / "tiny_lm"
LAYERS_PER_BLOCK = 7


def mixed_overrides(layers: int) -> dict[str, str]:
    """HC1-like 3/6 mix: attention (first 4 of each block's 7 layers) and the head at 6 bits."""
    blocks = (layers - 1) // LAYERS_PER_BLOCK
    overrides = {f"dense{b * LAYERS_PER_BLOCK + i}": "6:64" for b in range(blocks) for i in range(4)}
    overrides["last"] = "6:64"
    return overrides


def weight_layers(design) -> int:
    from dialects import nn

    return sum(isinstance(op, nn.DenseOp) for op in design.nn_module.walk())


def formats(layers: int) -> list[tuple[str, dict]]:
    return [
        ("w8a8 (per channel)", dict(wbits=8)),
        ("w6a8 g64", dict(wbits=6, group_size=64)),
        ("w4a8 g64", dict(wbits=4, group_size=64)),
        ("w3a8 g64", dict(wbits=3, group_size=64)),
        ("w3/w6 mixed g64 (HC1-like)", dict(wbits=3, group_size=64, layer_wbits=mixed_overrides(layers))),
    ]


def mean_weight_bits(design) -> float:
    """Weight bits per weight over the dense layers, group scales included."""
    from dialects import nn

    bits = count = 0
    for op in design.rom_module.walk():
        if isinstance(op, (nn.DenseOp, nn.GroupDenseOp)):
            weight = op.weight.type
            size = weight.get_shape()[0] * weight.get_shape()[1]
            count += size
            bits += size * weight.get_element_type().width.data
            if isinstance(op, nn.GroupDenseOp):
                scales = op.group_scale.type
                bits += scales.get_shape()[0] * scales.get_shape()[1] * (scales.get_element_type().width.data - 1)
    return bits / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=EXAMPLE / "model.onnx")
    parser.add_argument("--text", type=Path, default=EXAMPLE / "heldout.txt")
    parser.add_argument("--calib", type=Path, default=EXAMPLE / "calib.npz")
    parser.add_argument("--windows", type=int, default=64)
    args = parser.parse_args()

    base = compiler.compile(args.model, calib=args.calib)
    length = base.input_shapes()[base.input_names[0]][-1]
    windows = text_windows(load_token_ids(args.text, vocabulary(base)), length, args.windows)
    reference = score_text(base, windows, "float")
    print(f"{args.model}: {windows.shape[0]} windows of {length} tokens from {args.text} "
          f"({reference.choices.size} scored positions)\n")
    header = f"{'format':30} {'bits/weight':>11} {'perplexity':>10} {'vs float':>9} {'bits/token':>10} " \
             f"{'agreement':>9} {'time s':>7}"
    print(header)
    print("-" * len(header))
    print(f"{'float (onnx weights)':30} {32:>11.2f} {reference.perplexity:>10.4f} {'':>9} "
          f"{reference.bits_per_token:>10.4f} {'100.0%':>9} {'':>7}")
    for name, options in formats(weight_layers(base)):
        start = time.perf_counter()
        design = compiler.compile(args.model, calib=args.calib, **options)
        score = score_text(design, windows, "int")
        elapsed = time.perf_counter() - start
        change = score.perplexity / reference.perplexity - 1
        print(f"{name:30} {mean_weight_bits(design):>11.2f} {score.perplexity:>10.4f} {change:>+9.2%} "
              f"{score.bits_per_token:>10.4f} {score.agreement(reference):>9.1%} {elapsed:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
