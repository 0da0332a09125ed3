"""compiler.backend.circt_export: real CIRCT lowers xDSL-printed hw/comb/seq to
split SystemVerilog; its failures become readable HwcErrors."""

from __future__ import annotations

from pathlib import Path

import pytest
from circt_designs import ROM_FILE, TOP, mac_unit_text, rom_hex
from xdsl.parser import Parser

from compiler.backend.circt_export import export_verilog, first_diagnostic, init_files, unguard_memory_init
from compiler.errors import HwcError
from compiler.ir import make_context


def xdsl_printed(text: str) -> str:
    """The design as xDSL prints it (what the lowering pass will hand over)."""
    module = Parser(make_context(), text).parse_module()
    module.verify()
    return str(module)


def write_rom(build: Path) -> None:
    (build / "rom").mkdir(parents=True, exist_ok=True)
    (build / ROM_FILE).write_text(rom_hex())


def test_array_rom_exports_one_module(tmp_path):
    files = export_verilog(xdsl_printed(mac_unit_text("array")), tmp_path / "rtl", TOP)
    assert [f.name for f in files] == [f"{TOP}.sv"]
    assert (tmp_path / "rtl" / "filelist.f").read_text().split() == [f"{TOP}.sv"]
    verilog = files[0].read_text()
    assert f"module {TOP}(" in verilog
    assert "input  [7:0]  s_axis_tdata" in verilog
    assert "output [23:0] m_axis_tdata" in verilog
    assert "// -:" not in verilog and "loc(" not in verilog  # no location comments
    assert "casez" in verilog  # constant array as a case table (disallowPackedArrays)


def test_memory_rom_exports_readmemh_and_top_last(tmp_path):
    write_rom(tmp_path)
    files = export_verilog(xdsl_printed(mac_unit_text("memory")), tmp_path / "rtl", TOP)
    names = [f.name for f in files]
    assert names[-1] == f"{TOP}.sv" and len(names) == 2
    memory = files[0].read_text()
    # the inline init: $readmemh in the memory's own module, not behind a macro, no bind
    assert f'  initial\n    $readmemh("{ROM_FILE}", Memory);\n' in memory
    assert "ENABLE_INITIAL_MEM_" not in memory and "bind" not in files[1].read_text()
    assert init_files(mac_unit_text("memory")) == [ROM_FILE]


def test_only_memory_loads_lose_their_guard():
    guarded = ("  `ifdef ENABLE_INITIAL_MEM_\n    initial\n      $readmemh(\"rom/a.hex\", Memory);\n"
               "  `endif // ENABLE_INITIAL_MEM_\n")
    other = "  `ifdef ENABLE_INITIAL_MEM_\n    initial\n      x = 1;\n  `endif // ENABLE_INITIAL_MEM_\n"
    assert unguard_memory_init(guarded + other) == '  initial\n    $readmemh("rom/a.hex", Memory);\n' + other


def test_reexport_removes_stale_files(tmp_path):
    write_rom(tmp_path)
    export_verilog(xdsl_printed(mac_unit_text("memory")), tmp_path / "rtl", TOP)
    export_verilog(xdsl_printed(mac_unit_text("array")), tmp_path / "rtl", TOP)
    assert sorted(p.name for p in (tmp_path / "rtl").iterdir()) == ["filelist.f", f"{TOP}.sv"]


def test_missing_init_file_is_an_error(tmp_path):
    with pytest.raises(HwcError, match="memory init file rom/w.hex not found"):
        export_verilog(mac_unit_text("memory"), tmp_path / "rtl", TOP)


def test_circt_parse_error_names_the_first_diagnostic(tmp_path):
    text = "hw.module @x(in %a : i8, out y : i8) {\n  %0 = comb.add %a, %b : i8\n  hw.output %0 : i8\n}"
    with pytest.raises(HwcError) as error:
        export_verilog(text, tmp_path / "rtl", "x")
    message = str(error.value)
    assert message.startswith("CIRCT parse failed:") and "undeclared SSA value" in message
    assert "\n" not in message


def test_circt_pass_error_is_an_hwc_error(tmp_path):
    # An unknown macro survives parsing and fails CIRCT's verifier during lowering.
    text = 'hw.module @x(out y : i32) {\n  %0 = sv.macro.ref.se @NOPE() : () -> i32\n  hw.output %0 : i32\n}'
    with pytest.raises(HwcError, match="CIRCT (parse|lowering) failed: .*NOPE"):
        export_verilog(text, tmp_path / "rtl", "x")


def test_missing_top_is_an_error(tmp_path):
    with pytest.raises(HwcError, match=r"no hw.module @nope \(modules: mac_unit\)"):
        export_verilog(xdsl_printed(mac_unit_text("array")), tmp_path / "rtl", "nope")


def test_first_diagnostic():
    message = 'Failure while executing pass pipeline:\nerror: "-":6:10: Referenced macro\n note: see'
    assert first_diagnostic(message) == '"-":6:10: Referenced macro'
    assert first_diagnostic("plain failure") == "plain failure"
