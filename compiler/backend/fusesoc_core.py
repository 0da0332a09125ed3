"""The FuseSoC core file of a build folder (`hwc_<model>.core`, CAPI2), so that a
project built with FuseSoC can depend on the design as a library core.

    write_core(folder, "hwc_mlp", build)     # -> folder/hwc_mlp.core, folder/rtl/waivers.vlt

The core is named `hwc:model:<model>:0` (vendor:library:name:version). Its file
sets: `rtl` (the SystemVerilog in `rtl/filelist.f` order), `rom` (the
`$readmemh` images of `--rom memory`, copied to `rom/` of the work folder, where
the simulator looks for them), `lint` (`rtl/waivers.vlt`, Verilator waivers for
what CIRCT generates on purpose) and `cocotb` (the bench of `tb/`, copied to the
work folder). Targets:

    default    rtl + rom, the top as toplevel: what a depending core uses
    lint       Verilator --lint-only -Wall (`fusesoc run --target lint hwc:model:<model>`)
    cocotb     edalize's sim flow on Verilator with the cocotb module `hwc_bench`

Strings are written as JSON strings, which YAML reads unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

from compiler.backend.cocotb_bench import BENCH_DIR, BENCH_SOURCES
from compiler.backend.verilator import LINT_WAIVERS

WAIVERS = "rtl/waivers.vlt"
BENCH_DATA = ("bench.json", "in_beats.hex", "out_beats.hex")


def write_core(folder: Path, name: str, build) -> list[Path]:
    """Write `folder/<name>.core` for the exported `build` (an `RtlBuild` whose
    files lie under `folder`) and the waivers it names; the paths written."""
    folder = Path(folder)
    waivers = folder / WAIVERS
    waivers.write_text(LINT_WAIVERS)
    path = folder / f"{name}.core"
    path.write_text(core_text(name, build.top, rtl_files(folder), rom_files(folder)))
    return [waivers, path]


def rtl_files(folder: Path) -> list[str]:
    """The RTL files relative to `folder`, in the order of `rtl/filelist.f`."""
    return [f"rtl/{line}" for line in (folder / "rtl" / "filelist.f").read_text().split()]


def rom_files(folder: Path) -> list[str]:
    """The ROM images under `folder/rom`, relative to `folder`, sorted."""
    rom = folder / "rom"
    return sorted(f"rom/{p.name}" for p in rom.iterdir()) if rom.is_dir() else []


def core_text(name: str, top: str, rtl: list[str], roms: list[str]) -> str:
    """The CAPI2 text (see the module docstring)."""
    q = json.dumps
    model = name.removeprefix("hwc_")
    lines = [
        "CAPI=2:",
        f"name: {q(f'hwc:model:{model}:0')}",
        f"description: {q(f'{model} compiled by hwc: AXI4-Stream in, AXI4-Stream out, top {top}')}",
        "",
        "filesets:",
        "  rtl:",
        "    file_type: systemVerilogSource",
        "    files:",
        *(f"      - {q(f)}" for f in rtl),
    ]
    if roms:
        lines += ["  rom:", "    file_type: user", "    files:",
                  *(f"      - {q(f)}: {{copyto: {q(f)}}}" for f in roms)]
    lines += [
        "  lint:",
        "    file_type: vlt",
        "    files:",
        f"      - {q(WAIVERS)}",
        "  cocotb:",
        "    file_type: user",
        "    files:",
        *(f"      - {q(f'{BENCH_DIR}/{f}')}: {{copyto: {q(f)}}}" for f in (*BENCH_SOURCES, *BENCH_DATA)),
        "",
        "targets:",
        "  default:",
        f"    filesets: [{', '.join(['rtl', 'rom'] if roms else ['rtl'])}]",
        f"    toplevel: {q(top)}",
        "  lint:",
        "    flow: lint",
        "    flow_options:",
        "      tool: verilator",
        "      verilator_options: [-Wall]",
        "    filesets: [rtl, lint]",
        f"    toplevel: {q(top)}",
        "  cocotb:",
        "    flow: sim",
        "    flow_options:",
        "      tool: verilator",
        "      cocotb_module: hwc_bench",
        "      verilator_options: [-Wno-fatal]",
        f"    filesets: [{', '.join(['rtl', 'rom', 'cocotb'] if roms else ['rtl', 'cocotb'])}]",
        f"    toplevel: {q(top)}",
    ]
    return "\n".join(lines) + "\n"
