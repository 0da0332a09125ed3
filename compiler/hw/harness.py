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
from compiler.hw.builder import ModuleBuilder

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


def axis_wrapper(module: xdsl_hw.HWModuleOp, top_name: str) -> xdsl_hw.HWModuleOp:
    """A top module with AXI4-Stream port names (`clk`, `rst`, `s_axis_tdata/tvalid/
    tready`, `m_axis_tdata/tvalid/tready`) around a PE module with one input
    stream `in0` and one output stream `out0` (the test bench's interface)."""
    ports = {p.port_name.data: p.type for p in module.module_type.ports.data}
    b = ModuleBuilder(top_name)
    s_data = b.input("s_axis_tdata", ports["in0_data"])
    s_valid = b.input("s_axis_tvalid", 1)
    b.output("s_axis_tready")
    m_ready = b.input("m_axis_tready", 1)
    assert b.clock is not None and b.reset is not None
    outs = b.instance("pe", module, {"clk": b.clock, "rst": b.reset, "in0_data": s_data,
                                     "in0_valid": s_valid, "out0_ready": m_ready})
    b.output("s_axis_tready", outs["in0_ready"])
    b.output("m_axis_tdata", outs["out0_data"])
    b.output("m_axis_tvalid", outs["out0_valid"])
    return b.finish()
