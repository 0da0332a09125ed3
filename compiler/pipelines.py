"""The named pass pipelines: which passes take a model from one level to the next.

Each level after `nn` is reached from the one before it by a pipeline written
in `hwc-opt -p` syntax, so that what the driver runs can be re-run by hand:

    hwc-opt model.nn.mlir -p "$(python -m compiler.pipelines rom --wbits 4)"

    hwc-opt model.rom.mlir -p "$(python -m compiler.pipelines spatial --target-fps 1e6)"
    hwc-opt model.spatial.mlir -p "$(python -m compiler.pipelines hw --rom memory)"

Levels, in pipeline order, each pipeline starting from the level before:
`nn` (the imported float graph, after the float pipeline `FLOAT_PIPELINE`:
recognise-norms, recognise-gelu, recognise-silu, which name RMS/layer norms,
GELUs and SiLUs written out op by op, and mask-softmax, which turns additive
attention masks into masked softmaxes); `rom` (integer graph, every weight a ROM): fold-batchnorm,
fold-constants, calibrate{calib}, quantize{wbits abits}, weights-to-rom;
`spatial` (one PE per layer, folded, FIFOs sized):
map-to-spatial, pad-neurons{...} (with a target or budget), fold-parallelism{...},
size-fifos; `hw` (CIRCT hw/comb/seq,
one module per PE): lower-spatial-to-hw{rom=logic|memory}.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline

from compiler.errors import HwcError
from compiler.hw.const_mult import CONST_MULTS
from compiler.hw.context import ROM_STYLES
from compiler.hw.lowering import HwLowering
from compiler.numerics import check_bits, check_requant_digits, check_weight_scales
from compiler.weight_formats import WeightFormat, parse_overrides


FLOAT_PIPELINE = "recognise-norms,recognise-gelu,recognise-silu,mask-softmax"
"""The passes the driver runs on the imported float graph (the `nn` level)."""


def quantize_spec(wbits: int = 8, abits: int = 8, group_size: int = 0, layer_wbits: str = "",
                  requant_digits: int = 0, weight_scales: str = "channel") -> str:
    """`quantize{...}` with the options (the defaults left out)."""
    check_bits(wbits, abits)
    check_requant_digits(requant_digits)
    check_weight_scales(weight_scales)
    WeightFormat(wbits, group_size).check("--group-size")
    options = f"wbits={wbits} abits={abits}"
    if group_size:
        options += f" group_size={group_size}"
    if layer_wbits:
        parse_overrides(layer_wbits)
        options += f' layer_wbits="{layer_wbits}"'
    if requant_digits:
        options += f" requant_digits={requant_digits}"
    if weight_scales != "channel":
        options += f' weight_scales="{weight_scales}"'
    return f"quantize{{{options}}}"


def rom_pipeline(wbits: int = 8, abits: int = 8, calib: str | Path | None = None, group_size: int = 0,
                 layer_wbits: str = "", smooth: float | None = None, requant_digits: int = 0,
                 weight_scales: str = "channel") -> str:
    """The pipeline from the float `nn` level to the integer `nn + rom` level; a
    calibration path is made absolute. `smooth` (alpha) adds `smooth-activations`
    before `calibrate`."""
    calib_option = ""
    if calib is not None:
        path = os.path.abspath(calib)
        if '"' in path:
            raise HwcError(f"--calib {calib}: the path must not contain '\"'")
        calib_option = f'calib="{path}"'
    calibrate = f"calibrate{{{calib_option}}}" if calib_option else "calibrate"
    quantize = quantize_spec(wbits, abits, group_size, layer_wbits, requant_digits, weight_scales)
    passes = ["fold-batchnorm", "fold-constants", calibrate, quantize, "weights-to-rom"]
    if smooth is not None:
        if not 0 <= smooth <= 1:
            raise HwcError(f"--smooth {smooth}: alpha must be in 0..1")
        passes.insert(2, f"smooth-activations{{alpha={_number(smooth)} {calib_option}}}".replace(" }", "}"))
    return ",".join(passes)


FOLD_MODES = ("auto", "full", "min")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def fold_spec(fold: str = "auto", target_fps: float | None = None, clock_mhz: float = 200.0,
              max_multipliers: int | None = None, target_tps: float | None = None) -> str:
    """`fold-parallelism{...}` for the command line's folding options."""
    if fold not in FOLD_MODES:
        raise HwcError(f"--fold {fold}: choose one of {', '.join(FOLD_MODES)}")
    if target_tps is not None and (fold != "auto" or target_fps is not None):
        raise HwcError("--target-tps (a decoder's tokens/s for one user) goes alone, with --fold auto")
    if fold != "auto" and (target_fps is not None or max_multipliers is not None):
        raise HwcError(f"--fold {fold} unrolls by itself; --target-fps and --max-multipliers go with --fold auto")
    options = [fold] if fold != "auto" else []
    if target_fps is not None:
        options.append(f"target-fps={_number(target_fps)}")
    if target_tps is not None:
        options.append(f"target-tps={_number(target_tps)}")
    options.append(f"clock-mhz={_number(clock_mhz)}")
    if max_multipliers is not None:
        options.append(f"max-multipliers={int(max_multipliers)}")
    return f"fold-parallelism{{{' '.join(options)}}}"


def spatial_pipeline(fold: str = "auto", target_fps: float | None = None, clock_mhz: float = 200.0,
                     max_multipliers: int | None = None, target_tps: float | None = None,
                     pad: bool = True) -> str:
    """The pipeline from the `nn + rom` level to the folded `spatial` level; with a
    throughput target or a multiplier budget (and `pad`), dense chains padded where
    that saves multipliers or cycles."""
    folding = fold_spec(fold, target_fps, clock_mhz, max_multipliers, target_tps)
    padding = []
    if pad and target_fps is not None:
        padding = [f"pad-neurons{{target-fps={_number(target_fps)} clock-mhz={_number(clock_mhz)}}}"]
    elif pad and max_multipliers is not None and target_tps is None:
        padding = [f"pad-neurons{{max-multipliers={int(max_multipliers)}}}"]
    return ",".join(["map-to-spatial", *padding, folding, "size-fifos"])


def hw_pipeline(rom: str = "logic", const_mult: str = "shift-add") -> str:
    """The pipeline from the folded `spatial` level to CIRCT `hw`/`comb`/`seq`."""
    if rom not in ROM_STYLES:
        raise HwcError(f"--rom {rom}: choose one of {', '.join(ROM_STYLES)}")
    if const_mult not in CONST_MULTS:
        raise HwcError(f"--const-mult {const_mult}: choose one of {', '.join(CONST_MULTS)}")
    extra = f" const-mult={const_mult}" if const_mult != "shift-add" else ""
    return f"lower-spatial-to-hw{{rom={rom}{extra}}}"


def step_pipeline(context: int = 0) -> str:
    """Add the token-by-token `@step` graph to a whole-sequence nn module."""
    return f"sequence-to-stream{{context={context}}}" if context else "sequence-to-stream"


def run_pipeline(module: ModuleOp, spec: str) -> tuple[ModulePass, ...]:
    """Apply the passes of `spec` (hwc-opt syntax) to `module` in place; the passes run."""
    from compiler.ir import make_context
    from passes import ALL_PASSES

    try:
        pipeline = PassPipeline.parse_spec(ALL_PASSES, spec)
    except ValueError as error:
        raise HwcError(f"invalid pipeline '{spec}': {error}") from None
    pipeline.apply(make_context(), module)
    return pipeline.passes


def run_hw_pipeline(module: ModuleOp, rom: str = "logic", const_mult: str = "shift-add") -> HwLowering:
    """Apply the `hw` pipeline to `module` in place; what the lowering made besides
    the IR (the module of each PE, the ROM files of the memory style)."""
    from passes.lower_spatial_to_hw import LowerSpatialToHwPass

    passes = run_pipeline(module, hw_pipeline(rom, const_mult))
    return [lowering for p in passes if isinstance(p, LowerSpatialToHwPass) for lowering in p.lowerings][-1]


PIPELINES = {"rom": rom_pipeline, "spatial": spatial_pipeline, "hw": hw_pipeline}
"""Level name -> the function giving the pipeline that reaches it from the level before."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m compiler.pipelines",
                                     description="print a level's pipeline in hwc-opt -p syntax "
                                                 "(it starts from the level before: nn, rom, spatial)")
    levels = parser.add_subparsers(dest="level", required=True)
    rom = levels.add_parser("rom", help="nn -> rom: quantize, every weight a ROM")
    rom.add_argument("--wbits", type=int, default=8)
    rom.add_argument("--abits", type=int, default=8)
    rom.add_argument("--calib", type=Path)
    rom.add_argument("--group-size", type=int, default=0)
    rom.add_argument("--layer-wbits", action="append", default=[])
    rom.add_argument("--smooth", type=float)
    spatial = levels.add_parser("spatial", help="rom -> spatial: one PE per layer, folded")
    spatial.add_argument("--fold", default="auto", choices=FOLD_MODES)
    spatial.add_argument("--target-fps", type=float)
    spatial.add_argument("--target-tps", type=float)
    spatial.add_argument("--clock-mhz", type=float, default=200.0)
    spatial.add_argument("--max-multipliers", type=int)
    hw = levels.add_parser("hw", help="spatial -> hw: CIRCT hw/comb/seq")
    hw.add_argument("--rom", default="logic", choices=ROM_STYLES)
    hw.add_argument("--const-mult", default="shift-add", choices=CONST_MULTS)
    args = parser.parse_args(argv)
    try:
        if args.level == "rom":
            print(rom_pipeline(args.wbits, args.abits, args.calib, args.group_size, ",".join(args.layer_wbits),
                               args.smooth))
        elif args.level == "spatial":
            print(spatial_pipeline(args.fold, args.target_fps, args.clock_mhz, args.max_multipliers, args.target_tps))
        else:
            print(hw_pipeline(args.rom, args.const_mult))
    except HwcError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")


if __name__ == "__main__":
    main()
