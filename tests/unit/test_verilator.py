"""compiler.backend.verilator: lint, cached builds, and the AXI4-Stream test
bench, on hand-written designs checked against independent Python models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from circt_designs import (
    IN_WIDTH,
    OUT_WIDTH,
    ROM_FILE,
    TOP,
    mac_model,
    mac_unit_text,
    random_beats,
    rom_hex,
    wide_adder_text,
    wide_model,
)
from xdsl.parser import Parser

from compiler.backend import verilator
from compiler.backend.circt_export import export_verilog
from compiler.backend.testbench import make_testbench
from compiler.errors import HwcError
from compiler.ir import make_context

BEATS = random_beats(200, IN_WIDTH, seed=7)
WIDE = 200


def export(text: str, build: Path, top: str) -> list[Path]:
    module = Parser(make_context(), text).parse_module()
    module.verify()
    (build / "rom").mkdir(parents=True, exist_ok=True)
    (build / ROM_FILE).write_text(rom_hex())
    return export_verilog(str(module), build / "rtl", top)


@pytest.fixture(scope="module", params=["array", "memory"])
def mac(request, tmp_path_factory):
    """(rom kind, exported files, build folder, simulator) of the MAC unit."""
    build = tmp_path_factory.mktemp(f"mac_{request.param}")
    files = export(mac_unit_text(request.param), build, TOP)
    simulator = verilator.build(files, TOP, in_width=IN_WIDTH, out_width=OUT_WIDTH, run_dir=build)
    return request.param, files, build, simulator


@pytest.mark.rtl
def test_lint_is_clean(mac):
    _, files, _, _ = mac
    verilator.lint(files, TOP)


def test_lint_reports_warnings(tmp_path):
    source = tmp_path / "bad.sv"
    source.write_text("module bad(input [7:0] a, input [7:0] extra, output [7:0] y);\n"
                      "  assign y = a;\nendmodule\n")
    with pytest.raises(HwcError, match=r"verilator lint: 1 message\(s\): %Warning-UNUSEDSIGNAL.*'extra'"):
        verilator.lint([source], "bad")


@pytest.mark.rtl
def test_simulation_equals_model_with_random_stalls(mac):
    _, _, _, simulator = mac
    for seed, stall_in, stall_out in ((1, 0.3, 0.3), (2, 0.1, 0.7), (3, 0.6, 0.05)):
        result = simulator.run(BEATS, stall_in=stall_in, stall_out=stall_out, seed=seed,
                               expected_output_beats=len(BEATS))
        assert result.output_beats == mac_model(BEATS), (seed, stall_in, stall_out)
        assert len(result.in_cycles) == len(BEATS)
        assert result.total_cycles > len(BEATS)  # stalls cost cycles


@pytest.mark.rtl
def test_no_stalls_take_a_beat_per_cycle(mac):
    _, _, _, simulator = mac
    result = simulator.run(np.array(BEATS, dtype=np.uint8), expected_output_beats=len(BEATS))
    assert result.output_beats == mac_model(BEATS)
    assert np.array_equal(result.in_cycles, np.arange(len(BEATS)))  # II = 1
    assert np.array_equal(result.out_cycles - result.in_cycles, np.full(len(BEATS), 2))  # 2 stages
    assert result.total_cycles == len(BEATS) + 2


@pytest.mark.rtl
def test_second_build_is_a_cache_hit(mac):
    _, files, build, simulator = mac
    again = verilator.build(files, TOP, in_width=IN_WIDTH, out_width=OUT_WIDTH, run_dir=build)
    assert again.cache_hit and again.binary == simulator.binary


@pytest.mark.rtl
def test_deadlock_is_reported(mac):
    _, _, _, simulator = mac
    with pytest.raises(verilator.SimulationStalled,
                       match=r"design stalled: 3 beats out of 5 after 50 cycles"):
        simulator.run(BEATS[:3], expected_output_beats=5, max_cycles=50)


@pytest.mark.rtl
def test_wide_beats(tmp_path):
    files = export(wide_adder_text(WIDE), tmp_path, "wide")
    verilator.lint(files, "wide")
    simulator = verilator.build(files, "wide", in_width=WIDE, out_width=WIDE)
    beats = random_beats(100, WIDE, seed=3) + [0, (1 << WIDE) - 1]
    result = simulator.run(beats, stall_in=0.2, stall_out=0.4, seed=5, expected_output_beats=len(beats))
    assert result.output_beats == wide_model(beats, WIDE)
    with pytest.raises(ValueError, match="does not fit 200 bits"):
        simulator.run([1 << WIDE], expected_output_beats=1)


@pytest.mark.rtl
def test_designs_share_one_runtime_build(tmp_path, monkeypatch):
    """Verilator's runtime is compiled once per cache: a second, different
    design links the cached objects, which no step of its build compiles."""
    cache = tmp_path / "cache"
    mac_files = export(mac_unit_text("array"), tmp_path / "mac", TOP)
    verilator.build(mac_files, TOP, in_width=IN_WIDTH, out_width=OUT_WIDTH, cache_dir=cache)
    [runtime] = runtime_entries(cache)
    made = {path.name: path.stat().st_mtime_ns for path in runtime.iterdir()}
    assert set(made) == {"verilated.o", "verilated_threads.o"}

    outputs = []
    run_verilator = verilator._run_verilator

    def recording(args, cwd):
        result = run_verilator(args, cwd)
        outputs.append((list(args), result.stdout))
        return result

    monkeypatch.setattr(verilator, "_run_verilator", recording)
    wide_files = export(wide_adder_text(WIDE), tmp_path / "wide", "wide")
    simulator = verilator.build(wide_files, "wide", in_width=WIDE, out_width=WIDE, cache_dir=cache)
    assert not simulator.cache_hit
    assert runtime_entries(cache) == [runtime]
    assert {path.name: path.stat().st_mtime_ns for path in runtime.iterdir()} == made
    compiled = [out for args, out in outputs if "-n -B" not in " ".join(args)]  # not the dry run
    assert any("tb.o" in out for out in compiled)  # make's commands are in the output ...
    assert not any("verilated.cpp" in out or "verilated_threads.cpp" in out for out in compiled)
    assert all(str(runtime / "verilated.o") in out for out in compiled if "tb.o" in out)  # ... linked
    beats = random_beats(20, WIDE, seed=4)
    result = simulator.run(beats, stall_in=0.2, stall_out=0.2, seed=1, expected_output_beats=len(beats))
    assert result.output_beats == wide_model(beats, WIDE)


@pytest.mark.rtl
def test_optimized_build_simulates_the_same(tmp_path):
    """`optimize=True` (per-cycle C++ at -O1, for long runs) is a cache entry of its
    own and computes what the model says (the -O0 build is `test_wide_beats`')."""
    files = export(wide_adder_text(WIDE), tmp_path, "wide")
    plain = verilator.build(files, "wide", in_width=WIDE, out_width=WIDE)
    optimized = verilator.build(files, "wide", in_width=WIDE, out_width=WIDE, optimize=True)
    assert optimized.binary != plain.binary
    assert "OPT_FAST=-O1" in " ".join(verilator.build_options(optimize=True))
    assert "OPT_FAST=-O1" not in " ".join(verilator.build_options())
    beats = random_beats(100, WIDE, seed=6)
    result = optimized.run(beats, stall_in=0.3, stall_out=0.3, seed=2, expected_output_beats=len(beats))
    assert result.output_beats == wide_model(beats, WIDE)


def runtime_entries(cache: Path) -> list[Path]:
    return [path for path in cache.glob(f"{verilator.RUNTIME_ENTRY_PREFIX}*") if path.is_dir()]


def test_build_key_follows_content(tmp_path):
    source = tmp_path / "m.sv"
    source.write_text("module m; endmodule\n")
    bench = make_testbench(8, 8)
    key = verilator.build_key([source], "m", bench)
    assert verilator.build_key([source], "m", bench) == key
    assert verilator.build_key([source], "m", make_testbench(8, 9)) != key
    source.write_text("module m; wire w; endmodule\n")
    assert verilator.build_key([source], "m", bench) != key


def test_testbench_uses_vlwide_only_above_64_bits():
    assert "s_axis_tdata = beat[0];" in make_testbench(32, 8)
    assert "(uint64_t)beat[1] << 32" in make_testbench(64, 8)
    assert "top->s_axis_tdata[i] = beat[i]" in make_testbench(65, 8)
    assert "beat[i] = top->m_axis_tdata[i]" in make_testbench(8, 3000)
