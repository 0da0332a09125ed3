"""`hwc`: the command-line driver.

    hwc compile MODEL [-o DIR] [--emit nn|rom|spatial|hw|sv]   (+ model options)
    hwc run MODEL --input X.npz|X.npy [-o Y.npz] [--level float|int|spatial|rtl] [--trace W.fst]
    hwc verify MODEL [--samples N] [--trace W.fst] [-o DIR]
    hwc report DIR
    hwc plan CONFIG.json [--wbits 4] [--group-size 64] [--abits 8] [--target-tps 17000]
             [--clock-mhz 1000] [--context N] [--max-multipliers N] [--json OUT.json]
    hwc synth DIR [--target xilinx|generic] [--nodsp]
    hwc ops

Model options, the same in every subcommand: --weights W.safetensors,
--shape NAME=1x3x32x32 (repeatable), --wbits N (2..8, default 8), --abits N
(2..16, default 8), --calib C.npz (calibration inputs for quantization),
--fold full|min|auto, --target-fps N (--target-tps N for a decoder), --clock-mhz F (default 200),
--max-multipliers N, --rom logic|memory, --const-mult shift-add|mul, --requant-digits N,
--weight-scales channel|tensor (compiler/cli_parser.py). A user mistake prints one line,
`hwc: error: ...`, on stderr and exits with status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np

from compiler.cli_parser import build_parser, parse_shape
from compiler.errors import HwcError


def _compile(args: argparse.Namespace):
    import compiler

    shapes = dict(parse_shape(text) for text in args.shape)
    with _progress(f"importing {args.model}"):
        return compiler.compile(args.model, weights=args.weights, shapes=shapes,
                                wbits=args.wbits, abits=args.abits, calib=args.calib,
                                group_size=args.group_size, layer_wbits=args.layer_wbits, smooth=args.smooth,
                                requant_digits=args.requant_digits, weight_scales=args.weight_scales,
                                fold=args.fold, target_fps=args.target_fps, target_tps=args.target_tps,
                                clock_mhz=args.clock_mhz, pad_neurons=args.pad_neurons,
                                max_multipliers=args.max_multipliers, rom=args.rom, const_mult=args.const_mult)


def _progress(message: str):
    from rich.console import Console

    return Console(stderr=True).status(message)


def cmd_compile(args: argparse.Namespace) -> int:
    from compiler.output import check_output_folder

    output = args.output if args.output is not None else Path("build") / args.model.stem
    check_output_folder(output)
    design = _compile(args)
    with _progress(f"writing {output}"):
        written = design.write(output, emit=args.emit)
    print(f"compiled {args.model} to {output}/")
    for entry in _summarize(written, output):
        print(f"  {entry}")
    if (output / "report.json").exists():
        _print_report(output)
    if (output / "tb" / "run.py").exists():
        from compiler.backend.cocotb_bench import run_command

        print(f"cocotb test bench: {run_command(output)}")
    return 0


def _summarize(paths: list[Path], root: Path) -> list[str]:
    """Files directly in `root` by name; each sub-folder once, with its file count."""
    entries: dict[str, int] = {}
    for path in paths:
        relative = path.relative_to(root)
        key = relative.parts[0] + ("/" if len(relative.parts) > 1 else "")
        entries[key] = entries.get(key, 0) + 1
    return [f"{key} ({count} files)" if key.endswith("/") else key for key, count in entries.items()]


def _console():
    """A console for tables: the terminal's width, or 120 columns when output is piped."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=120)


def _print_report(directory: Path) -> None:
    from compiler.report import load_report, print_report

    print_report(load_report(directory), _console())


def cmd_report(args: argparse.Namespace) -> int:
    _print_report(args.build)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from compiler.driver import load_inputs
    from compiler.output import check_output_file, save_npz

    if args.output is not None:
        check_output_file(args.output)
    _check_trace(args)
    design = _compile(args)
    inputs = load_inputs(args.input, design.input_names)
    _check_finite_inputs(inputs, args.input, args.level)
    with _traced(args.trace) as trace:
        outputs = design.run(inputs, level=args.level, trace=trace)
    _warn_non_finite_outputs(outputs)
    if args.output is not None:
        save_npz(args.output, outputs)
        print(f"wrote {', '.join(outputs)} to {args.output}")
    for name, array in outputs.items():
        print(f"{name}: shape {list(array.shape)} dtype {array.dtype}")
        with np.printoptions(precision=5, threshold=20, edgeitems=5, suppress=True):
            print(f"  {array.reshape(len(array), -1)[0] if array.ndim else array}")
    return 0


def _check_trace(args: argparse.Namespace) -> None:
    """`--trace` only with the RTL level, only to a .fst/.vcd file that can be written."""
    if args.trace is None:
        return
    from compiler.output import check_output_file
    from compiler.rtl import trace_format

    if getattr(args, "level", "rtl") != "rtl":
        raise HwcError(f"--trace writes the waveform of the Verilator simulation: it needs --level rtl, "
                       f"not {args.level}")
    trace_format(args.trace)
    check_output_file(args.trace, example="out.fst")


@contextlib.contextmanager
def _traced(target: Path | None):
    """The path the simulator writes the waveform to (renamed to `target` when the
    command is through, then named on stdout); None without `--trace`."""
    if target is None:
        yield None
        return
    from compiler.output import atomic_file

    with atomic_file(target) as staging:
        yield staging
    print(f"wrote the waveform to {target}")


def parse_prompt(text: str) -> list[int]:
    """`5,17,99` -> [5, 17, 99]; HwcError (one line) for anything else."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(p.lstrip("-").isdigit() for p in parts):
        raise HwcError(f"--prompt {text!r}: give token ids as integers separated by commas, e.g. 5,17,99")
    return [int(p) for p in parts]


def cmd_generate(args: argparse.Namespace) -> int:
    from compiler.output import atomic_file, check_output_file

    prompt = parse_prompt(args.prompt) if args.prompt is not None else list(args.prompt_text.encode("utf-8"))
    if args.output is not None:
        check_output_file(args.output, example="tokens.npy")
    design = _compile(args)
    if args.prompt_text is not None and design.vocabulary() != 256:
        raise HwcError(f"--prompt-text: the model's vocabulary has {design.vocabulary()} tokens, not the 256 bytes "
                       "of a byte-level model; give token ids with --prompt")
    with _progress("generating") as status:
        def progress(done: int, total: int) -> None:
            status.update(f"generating: {done}/{total} positions")

        tokens = design.generate(prompt, args.max_new_tokens, level=args.level, context=args.context,
                                 end_token=args.end_token, progress=progress)
    if args.output is not None:
        with atomic_file(args.output) as staging:
            with open(staging, "wb") as f:
                np.save(f, np.array(tokens, dtype=np.int64))
    print(",".join(str(t) for t in tokens))
    if args.prompt_text is not None:
        print(args.prompt_text + bytes(tokens).decode("utf-8", errors="replace"))
    return 0


def _check_finite_inputs(inputs: dict[str, np.ndarray], path: Path, level: str) -> None:
    """Integer levels quantize their inputs: NaN or infinity has no integer, so refuse it."""
    if level == "float":
        return
    for name, array in inputs.items():
        if np.asarray(array).dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise HwcError(f"--input {path}: '{name}' holds NaN or infinite values, which the "
                           f"{level} level cannot quantize")


def _warn_non_finite_outputs(outputs: dict[str, np.ndarray]) -> None:
    from compiler.diagnostics import warn

    for name, array in outputs.items():
        if np.asarray(array).dtype.kind == "f" and not np.all(np.isfinite(array)):
            warn(f"output '{name}' holds NaN or infinite values")


def cmd_verify(args: argparse.Namespace) -> int:
    from rich.table import Table

    from compiler.verify import run_ladder
    from compiler.verify_llm import language_model_ladder

    if args.samples < 1:
        raise HwcError("--samples must be at least 1")
    _check_trace(args)
    if args.output is not None:
        from compiler.output import check_output_folder

        check_output_folder(args.output)
    design = _compile(args)
    language_model = design.is_decoder
    if args.text is not None and not language_model:
        raise HwcError("--text: only a language model (token-id input) is scored on text")
    if language_model and (args.trace is not None or args.output is not None):
        raise HwcError(f"{'--trace' if args.trace is not None else '-o'}: not yet for a language model "
                       "(write its build folder with 'hwc compile -o')")
    with _traced(args.trace) as trace, _progress(f"running the ladder on {args.samples} samples"):
        if language_model:
            rungs = language_model_ladder(design, args.samples, args.seed, args.text, rtl=not args.no_rtl)
        else:
            rungs = run_ladder(design, args.samples, args.seed, rtl=not args.no_rtl, trace_file=trace)
    if args.output is not None:
        _write_verified_build(design, rungs, args.output)
    table = Table(title=f"verification ladder: {args.model.name}, {args.samples} samples")
    for column in ("level", "oracle", "contract", "result", "detail"):
        table.add_column(column)
    for rung in rungs:
        result = "[green]agree[/green]" if rung.agreed else "[red]DIFFER[/red]"
        table.add_row(rung.level, rung.oracle, rung.contract, result, rung.detail)
    _console().print(table)
    failed = [rung for rung in rungs if not rung.agreed]
    if failed:
        print(f"hwc: error: level '{failed[0].level}' differs from {failed[0].oracle}", file=sys.stderr)
        return 1
    return 0


def _write_verified_build(design, rungs, output: Path) -> None:
    """The build folder of `design` with the ladder's rungs in verify.json and report.html."""
    import dataclasses
    import json

    from compiler.report_html import VERIFY_JSON, write_report_html

    with _progress(f"writing {output}"):
        design.write(output, emit="sv")
        rungs_json = [{**dataclasses.asdict(r), "agreed": bool(r.agreed)} for r in rungs]
        (output / VERIFY_JSON).write_text(json.dumps(rungs_json, indent=2) + "\n")
        write_report_html(output, design.model.stem)
    print(f"wrote {output}/ with the ladder in {output / VERIFY_JSON} and {output / 'report.html'}")


def cmd_plan(args: argparse.Namespace) -> int:
    from compiler.llm_plan import PlanOptions, make_plan
    from compiler.llm_plan_report import print_plan, write_plan
    from compiler.llm_shape import read_config
    from compiler.output import check_output_file

    if args.json is not None:
        check_output_file(args.json, example="plan.json")
    options = PlanOptions(args.wbits, args.group_size, args.abits, args.target_tps, args.clock_mhz, args.context,
                          args.max_multipliers)
    plan = make_plan(read_config(args.config), options)
    print_plan(plan, _console())
    if args.json is not None:
        write_plan(plan, args.json)
        print(f"wrote {args.json}")
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    from compiler.frontend import SUPPORTED_OPS

    for op_type, note in sorted(SUPPORTED_OPS.items()):
        print(f"{op_type:24} {note}")
    return 0


# --------------------------------------------------------------------------- hwc synth BUILD


def cmd_synth(args: argparse.Namespace) -> int:
    from compiler.synth import summary_lines, synthesize

    targets = tuple(dict.fromkeys(args.target or ["xilinx", "generic"]))
    results = synthesize(args.build, targets, nodsp=args.nodsp,
                         progress=lambda message: print(message, file=sys.stderr, flush=True))
    print(f"synthesised {args.build} (results in {args.build / 'report.json'}, logs in {args.build / 'synth'}/)")
    for line in summary_lines(results):
        print(f"  {line}")
    return 0


COMMANDS = {"compile": cmd_compile, "run": cmd_run, "verify": cmd_verify, "generate": cmd_generate,
            "report": cmd_report, "plan": cmd_plan, "synth": cmd_synth, "ops": cmd_ops}


DEBUG_VARIABLE = "HWC_DEBUG"
"""Set to 1 to see the Python traceback of an internal error."""


def _run_command(argv: list[str] | None) -> int:
    """Parse `argv` and run its command, warnings held back until it succeeds and
    numpy's floating-point warnings silenced (results are checked explicitly)."""
    from compiler.diagnostics import deferred

    with deferred() as held_warnings, warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        args = build_parser().parse_args(argv)
        status = COMMANDS[args.command](args)
        if status != 0:
            held_warnings.clear()
        return status


def _internal_error(error: BaseException) -> str:
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    place = f" at {Path(where.filename).name}:{where.lineno}" if where else ""
    message = " ".join(str(error).split()) or "no message"
    return (f"internal error{place}: {type(error).__name__}: {message[:300]} -- this is a bug in hwc; "
            f"rerun with {DEBUG_VARIABLE}=1 to see the traceback, and send it with the command line in a bug report")


def main(argv: list[str] | None = None) -> int:
    try:
        return _run_command(argv)
    except HwcError as error:
        print(f"hwc: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hwc: interrupted", file=sys.stderr)
        return 130
    except RecursionError:
        print("hwc: error: the model is nested too deeply to process (recursion limit reached)", file=sys.stderr)
        return 1
    except MemoryError:
        print("hwc: error: out of memory", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the one place that turns any bug into one line
        if os.environ.get(DEBUG_VARIABLE) == "1":
            raise
        print(f"hwc: error: {_internal_error(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
