"""The named pass pipelines: which passes take a model from one level to the next.

Each level after `nn` is reached from the one before it by a pipeline written
in `hwc-opt -p` syntax, so that what the driver runs can be re-run by hand:

    hwc-opt model.nn.mlir -p "$(python -m compiler.pipelines rom --wbits 4)"

Levels, in pipeline order: `nn` (the imported float graph, no passes), `rom`
(integer graph, every weight a ROM): fold-batchnorm, fold-constants,
calibrate{calib}, quantize{wbits abits}, weights-to-rom; and `spatial` (one PE per layer,
folded, FIFOs sized): the rom pipeline, then map-to-spatial,
fold-parallelism{...}, size-fifos.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import PassPipeline

from compiler.errors import HwcError
from compiler.numerics import check_bits


def quantize_spec(wbits: int = 8, abits: int = 8) -> str:
    """`quantize{...}` with the options."""
    check_bits(wbits, abits)
    return f"quantize{{wbits={wbits} abits={abits}}}"


def rom_pipeline(wbits: int = 8, abits: int = 8, calib: str | Path | None = None) -> str:
    """The pipeline from the float `nn` level to the integer `nn + rom` level; a
    calibration path is made absolute."""
    calibrate = "calibrate"
    if calib is not None:
        path = os.path.abspath(calib)
        if '"' in path:
            raise HwcError(f"--calib {calib}: the path must not contain '\"'")
        calibrate = f'calibrate{{calib="{path}"}}'
    return ",".join(["fold-batchnorm", "fold-constants", calibrate, quantize_spec(wbits, abits), "weights-to-rom"])


FOLD_MODES = ("auto", "full", "min")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def fold_spec(fold: str = "auto", target_fps: float | None = None, clock_mhz: float = 200.0,
              max_multipliers: int | None = None) -> str:
    """`fold-parallelism{...}` for the command line's folding options."""
    if fold not in FOLD_MODES:
        raise HwcError(f"--fold {fold}: choose one of {', '.join(FOLD_MODES)}")
    if fold != "auto" and (target_fps is not None or max_multipliers is not None):
        raise HwcError(f"--fold {fold} unrolls by itself; --target-fps and --max-multipliers go with --fold auto")
    options = [fold] if fold != "auto" else []
    if target_fps is not None:
        options.append(f"target-fps={_number(target_fps)}")
    options.append(f"clock-mhz={_number(clock_mhz)}")
    if max_multipliers is not None:
        options.append(f"max-multipliers={int(max_multipliers)}")
    return f"fold-parallelism{{{' '.join(options)}}}"


def spatial_pipeline(fold: str = "auto", target_fps: float | None = None, clock_mhz: float = 200.0,
                     max_multipliers: int | None = None) -> str:
    """The pipeline from the `nn + rom` level to the folded `spatial` level."""
    return ",".join(["map-to-spatial", fold_spec(fold, target_fps, clock_mhz, max_multipliers), "size-fifos"])


PIPELINES = {"rom": rom_pipeline}
"""Level name -> function(wbits, abits, calib) giving the pipeline that reaches it from `nn`."""


def run_pipeline(module: ModuleOp, spec: str) -> None:
    """Apply the passes of `spec` (hwc-opt syntax) to `module` in place."""
    from compiler.ir import make_context
    from passes import ALL_PASSES

    try:
        pipeline = PassPipeline.parse_spec(ALL_PASSES, spec)
    except ValueError as error:
        raise HwcError(f"invalid pipeline '{spec}': {error}") from None
    pipeline.apply(make_context(), module)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m compiler.pipelines",
                                     description="print a level's pipeline in hwc-opt -p syntax")
    parser.add_argument("level", choices=sorted(PIPELINES))
    parser.add_argument("--wbits", type=int, default=8)
    parser.add_argument("--abits", type=int, default=8)
    parser.add_argument("--calib", type=Path)
    args = parser.parse_args(argv)
    print(PIPELINES[args.level](args.wbits, args.abits, args.calib))


if __name__ == "__main__":
    main()
