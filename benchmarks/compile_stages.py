"""Time per compile stage, ONNX to a built simulator, for one model (default: the
CNN fixture): import, quantize (fold-batchnorm, fold-constants, quantize,
weights-to-rom), map, fold (fold-parallelism + size-fifos), lower
(lower-spatial-to-hw), CIRCT export (+ Verilator lint) and the Verilator build.

    python benchmarks/compile_stages.py [MODEL.onnx] [--fold auto|full|min] [--rom logic|memory]

The Verilator build runs against an empty cache (a temporary HWC_CACHE), so its
time is the cold build a user sees once per design. Each stage is also shown as
its share of the whole, which is the ratio that tells where compile time goes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Stopwatch:
    def __init__(self):
        self.stages: list[tuple[str, float]] = []

    def time(self, name: str, function):
        start = time.perf_counter()
        result = function()
        self.stages.append((name, time.perf_counter() - start))
        return result


def compile_stages(model: Path, fold: str, rom: str, build_dir: Path) -> Stopwatch:
    from compiler.backend import verilator
    from compiler.backend.circt_export import export_verilog
    from compiler.frontend import import_onnx
    from compiler.pipelines import fold_spec, rom_pipeline, run_pipeline
    from compiler.rtl import lower_to_hw, write_rom_files

    watch = Stopwatch()
    module = watch.time("import", lambda: import_onnx(model))
    watch.time("quantize", lambda: run_pipeline(module, rom_pipeline()))
    watch.time("map", lambda: run_pipeline(module, "map-to-spatial"))
    watch.time("fold", lambda: run_pipeline(module, f"{fold_spec(fold)},size-fifos"))
    lowering = watch.time("lower", lambda: lower_to_hw(module, rom))
    top, in_width, out_width = lowering.top, lowering.in_width, lowering.out_width
    write_rom_files(lowering.rom_files, build_dir)

    def export():
        files = export_verilog(str(lowering.module), build_dir / "rtl", top, data_dir=build_dir)
        verilator.lint(files, top)
        return files

    files = watch.time("CIRCT export + lint", export)
    watch.time("Verilator build", lambda: verilator.build(
        files, top, in_width=in_width, out_width=out_width, run_dir=build_dir))
    return watch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, default=ROOT / "tests" / "fixtures" / "cnn.onnx")
    parser.add_argument("--fold", default="auto")
    parser.add_argument("--rom", default="logic")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["HWC_CACHE"] = str(Path(scratch) / "cache")
        watch = compile_stages(args.model, args.fold, args.rom, Path(scratch) / "build")
    total = sum(seconds for _, seconds in watch.stages)
    print(f"model: {args.model.name}, fold {args.fold}, ROMs as {args.rom}")
    print(f"{'stage':22} {'seconds':>8} {'share':>7}")
    for name, seconds in watch.stages:
        print(f"{name:22} {seconds:8.3f} {seconds / total:7.1%}")
    print(f"{'total':22} {total:8.3f}")


if __name__ == "__main__":
    main()
