"""Simulate generated hardware modules behind the AXI4-Stream test bench.

    simulator = simulate_modules([pe_module], "pe_name", build_dir, in_width=16, out_width=18)
    result = simulator.run(beats, stall_in=0.3, stall_out=0.3, seed=1, expected_output_beats=n)

`simulate_modules` wraps a PE with one input stream `in0` and one output stream
`out0` in `axis_wrapper` (unless `top` already has AXI4-Stream ports), prints
the modules into one `builtin.module`, exports them with real CIRCT
(`compiler.backend.circt_export`), lints them with `verilator --lint-only
-Wall` (when `lint=True`) and builds a cached Verilator simulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from xdsl.dialects import hw as xdsl_hw
from xdsl.dialects.builtin import ModuleOp

from compiler.backend import verilator
from compiler.backend.circt_export import export_verilog
from compiler.hw.builder import axis_wrapper

TEST_TOP = "axis_top"


def module_text(modules: Sequence[xdsl_hw.HWModuleOp]) -> str:
    """The modules as one verified `builtin.module`, printed."""
    module = ModuleOp([m.clone() for m in modules])
    module.verify()
    return str(module)


def _has_axis_ports(module: xdsl_hw.HWModuleOp) -> bool:
    return any(p.port_name.data == "s_axis_tdata" for p in module.module_type.ports.data)


def export_modules(
    modules: Sequence[xdsl_hw.HWModuleOp], top: str, build_dir: Path, *, lint: bool = True
) -> tuple[list[Path], str]:
    """Export (and lint) `modules` with `top` as the top; a PE top is wrapped in
    AXI4-Stream ports first. Returns (the .sv files, the top's name)."""
    modules = list(modules)
    top_module = next(m for m in modules if m.sym_name.data == top)
    if not _has_axis_ports(top_module):
        modules.append(axis_wrapper(top_module, TEST_TOP))
        top = TEST_TOP
    files = export_verilog(module_text(modules), Path(build_dir) / "rtl", top)
    if lint:
        verilator.lint(files, top)
    return files, top


def simulate_modules(
    modules: Sequence[xdsl_hw.HWModuleOp], top: str, build_dir: Path, *,
    in_width: int, out_width: int, lint: bool = True,
) -> verilator.Simulator:
    """A built simulator of `top` (see the module docstring); `$readmemh` files
    resolve relative to `build_dir`."""
    files, top = export_modules(modules, top, build_dir, lint=lint)
    return verilator.build(files, top, in_width=in_width, out_width=out_width, run_dir=Path(build_dir))
