"""The argument parser of `hwc` (compiler/cli.py runs the commands): the
subcommands, their options, and the model options every model command shares.
A usage mistake is one line (`HwcError`), as every other user mistake."""

from __future__ import annotations

import argparse
from pathlib import Path

from compiler.errors import HwcError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit status 1."""

    def error(self, message: str):  # type: ignore[override]
        raise HwcError(f"{message} (see '{self.prog} --help')")


def parse_shape(text: str) -> tuple[str, list[int]]:
    """`name=1x3x32x32` -> ("name", [1, 3, 32, 32])."""
    name, sep, dims = text.rpartition("=")
    try:
        shape = [int(d) for d in dims.lower().split("x")]
    except ValueError:
        shape = []
    if not sep or not name or not shape or any(d < 1 for d in shape):
        raise HwcError(f"--shape {text}: expected NAME=DxDx...D with positive dimensions, e.g. input=1x3x32x32")
    return name, shape


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="the .onnx model")
    parser.add_argument("--weights", type=Path, help="safetensors file supplying the model's weights by name")
    parser.add_argument("--shape", action="append", default=[], metavar="NAME=1x3x32x32",
                        help="static shape for an input with dynamic dimensions (repeatable)")
    parser.add_argument("--wbits", type=int, default=8, help="weight bits, 2..8 (default 8)")
    parser.add_argument("--abits", type=int, default=8, help="activation bits, 2..16 (default 8)")
    parser.add_argument("--group-size", type=int, default=0, metavar="G",
                        help="dense weights get one small integer scale per G inputs (16..256) under their "
                             "channel's scale; default 0: one scale per output channel")
    parser.add_argument("--layer-wbits", action="append", default=[], metavar="NAME=BITS[:G]",
                        help="another weight format for the layers NAME names: dense<i> (i-th weight layer), "
                             "first, last, a weight or ONNX node name, or a glob of these (repeatable)")
    parser.add_argument("--requant-digits", type=int, default=0, metavar="N",
                        help="choose each layer's per-channel weight scales (at most ~20%% coarser for N=2) so that "
                             "every requant multiplier has at most N signed digits: N-1 adders per output channel in "
                             "hardwired logic; default 0: the closest multipliers")
    parser.add_argument("--weight-scales", default="channel", choices=["channel", "tensor"],
                        help="one weight scale per output channel (default) or one per layer: every channel then "
                             "shares one requant multiplier, a constant even in folded layers")
    parser.add_argument("--smooth", type=float, metavar="ALPHA",
                        help="before quantizing, move activation range into the weights (SmoothQuant, "
                             "alpha in 0..1, e.g. 0.5); default off")
    parser.add_argument("--calib", type=Path, metavar="C.npz",
                        help="calibration inputs (.npz keyed by input name); default: random normal, with a warning")
    parser.add_argument("--fold", default="auto", metavar="full|min|auto",
                        help="folding: full (every layer unrolled), min (one multiplier per layer), "
                             "auto (default: full if it fits the multiplier budget, else the target)")
    parser.add_argument("--target-fps", type=float, help="inferences per second the design must reach")
    parser.add_argument("--target-tps", type=float,
                        help="a decoder: tokens per second the chip must generate for one user")
    parser.add_argument("--clock-mhz", type=float, default=200.0, help="clock frequency (default 200)")
    parser.add_argument("--max-multipliers", type=int, help="multiplier budget for the whole design")
    parser.add_argument("--no-padding", dest="pad_neurons", action="store_false",
                        help="with --target-fps or --max-multipliers, fold dense layers only by divisors of "
                             "their sizes (default: add a few zero neurons where that saves multipliers "
                             "or cycles)")
    parser.add_argument("--rom", default="logic", metavar="logic|memory",
                        help="ROMs as logic (constants in the datapath, default) or memory "
                             "(seq.firmem with $readmemh files in rom/)")
    parser.add_argument("--const-mult", default="shift-add", metavar="shift-add|mul",
                        help="with --rom logic, products by constant weights and multipliers as shift-and-add "
                             "logic (default) or as multipliers left to synthesis")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hwc", description="Compile a trained neural network into a fixed-function chip.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    compile_cmd = commands.add_parser("compile", help="import and compile a model into a build folder")
    add_model_options(compile_cmd)
    compile_cmd.add_argument("-o", "--output", type=Path, help="build folder (default: build/<model name>)")
    compile_cmd.add_argument("--emit", default="sv",
                             help="last level to emit: nn (float IR), rom (also the integer IR and its ROM image), "
                                  "spatial (also the dataflow graph and report.json), hw (also the CIRCT IR), "
                                  "sv (default: also SystemVerilog in rtl/ and ROM images in rom/)")

    run_cmd = commands.add_parser("run", help="run inputs through the model at one level of the pipeline")
    add_model_options(run_cmd)
    run_cmd.add_argument("--input", type=Path, required=True, help=".npz keyed by input name, or .npy")
    run_cmd.add_argument("-o", "--output", type=Path, help=".npz to write the outputs to, keyed by output name")
    run_cmd.add_argument("--level", default="float", help="pipeline level to run at: float, int (the quantized integer model), "
                              "spatial (the dataflow graph) or rtl (the Verilator simulation)")

    verify_cmd = commands.add_parser("verify", help="run the verification ladder and print it")
    add_model_options(verify_cmd)
    verify_cmd.add_argument("--samples", type=int, default=16, help="random input samples (default 16)")
    verify_cmd.add_argument("--seed", type=int, default=0)
    verify_cmd.add_argument("--text", type=Path, metavar="FILE",
                            help="language models: text to score next-token agreement and perplexity on "
                                 "(.npy of token ids, or a text file read as bytes for a byte-level vocabulary)")
    verify_cmd.add_argument("--no-rtl", action="store_true",
                            help="skip the RTL rung (no Verilator build)")
    verify_cmd.add_argument("-o", "--output", type=Path, metavar="DIR",
                            help="also write the build folder (as 'hwc compile -o'), the ladder in its "
                                 "verify.json and report.html")
    for command in (run_cmd, verify_cmd):
        command.add_argument("--trace", type=Path, metavar="W.fst|W.vcd",
                             help="write the waveform of the RTL simulation (FST or VCD, by the suffix)")

    generate_cmd = commands.add_parser("generate", help="generate tokens greedily, one at a time with a K/V cache")
    add_model_options(generate_cmd)
    prompts = generate_cmd.add_mutually_exclusive_group(required=True)
    prompts.add_argument("--prompt", metavar="5,17,99", help="the prompt's token ids, comma-separated")
    prompts.add_argument("--prompt-text", metavar="TEXT",
                         help="a byte-level model (vocabulary 256): the prompt as text (its UTF-8 bytes); "
                              "the generated bytes are also printed as text")
    generate_cmd.add_argument("--max-new-tokens", type=int, default=16, metavar="N",
                              help="tokens to generate (default 16)")
    generate_cmd.add_argument("--end-token", type=int, metavar="ID", help="stop after generating this id")
    generate_cmd.add_argument("--context", type=int, default=0, metavar="N",
                              help="cache capacity in positions (default: the exported sequence length)")
    generate_cmd.add_argument("--level", default="float", help="pipeline level to generate at (float)")
    generate_cmd.add_argument("-o", "--output", type=Path, help=".npy to write the generated ids to")

    report_cmd = commands.add_parser("report", help="print the report of a build folder")
    report_cmd.add_argument("build", type=Path, help="a folder written by 'hwc compile --emit spatial' or later")

    _add_plan_command(commands)
    commands.add_parser("ops", help="list the supported ONNX operators")
    _add_synth_command(commands)
    return parser


def _add_plan_command(commands) -> None:
    plan_cmd = commands.add_parser("plan", help="project the LLM chip from a transformers config.json (no weights)")
    plan_cmd.add_argument("config", type=Path, help="a transformers config.json (Llama, Mistral, Qwen2 or GPT-2)")
    plan_cmd.add_argument("--wbits", type=int, default=4, help="weight bits, 2..8 (default 4)")
    plan_cmd.add_argument("--group-size", type=int, default=64, metavar="G",
                          help="an 8-bit scale per G inputs (16..256), 0: per output channel only (default 64)")
    plan_cmd.add_argument("--abits", type=int, default=8, help="activation and K/V cache bits (default 8)")
    plan_cmd.add_argument("--target-tps", type=float, help="tokens/s for one user (default 17000, Taalas HC1's)")
    plan_cmd.add_argument("--clock-mhz", type=float, default=1000.0, help="clock frequency (default 1000)")
    plan_cmd.add_argument("--context", type=int, help="K/V cache positions (default: the model's maximum)")
    plan_cmd.add_argument("--max-multipliers", type=int,
                          help="a multiplier budget: alone, the tokens/s it allows; with --target-tps, checked")
    plan_cmd.add_argument("--json", type=Path, metavar="OUT.json", help="also write the figures as JSON")


def _add_synth_command(commands) -> None:
    synth_cmd = commands.add_parser("synth", help="synthesise a build folder with Yosys: LUTs, FFs, DSPs, "
                                                  "transistors (into its report.json)")
    synth_cmd.add_argument("build", type=Path, help="a folder written by 'hwc compile' (with rtl/)")
    synth_cmd.add_argument("--target", action="append", choices=["xilinx", "generic"],
                           help="xilinx (synth_xilinx, 7-series) or generic (gates and a CMOS transistor "
                                "estimate); repeatable (default: both)")
    synth_cmd.add_argument("--nodsp", action="store_true", help="xilinx: map multipliers to LUTs, no DSP48s")
