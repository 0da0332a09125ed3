"""lower-spatial-to-hw on a hand-written dense → fifo → dense graph: exported by
real CIRCT, lint-clean, simulated with Verilator (with random stalls) bit-exact
against an independent numpy model, and at the predicted cycles per inference."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects import hw

from compiler.backend import verilator
from compiler.backend.circt_export import export_verilog
from compiler.errors import HwcError
from compiler.executor.int_kernels import requantize, wrap
from compiler.executor.spatial_executor import pack_beats, unpack_beats
from compiler.ir import parse_module
from dialects.spatial import GraphOp, MVUOp
from passes.lower_spatial_to_hw import ROM_FILES_ATTR, lower_spatial_to_hw, write_rom_files

RNG = np.random.default_rng(11)
K, H, N = 8, 16, 4
W1 = RNG.integers(-8, 8, size=(H, K))
B1 = RNG.integers(-200, 200, size=H)
M1 = RNG.integers(50, 400, size=H)
SHIFT1 = 11
W2 = RNG.integers(-8, 8, size=(N, H))
OUT_WIDTH = 16


def _dense(values: np.ndarray, type_text: str) -> str:
    return f"dense<{values.tolist()}> : {type_text}"


def graph_text(pe1=4, simd1=2, pe2=2, simd2=4) -> str:
    s_in = f"!spatial.stream<{K}xi8, {simd1}>"
    s_mid = f"!spatial.stream<{H}xi8, {pe1}>"
    s_out = f"!spatial.stream<{N}xi{OUT_WIDTH}, {pe2}>"
    assert pe1 == simd2
    return f"""builtin.module {{
  rom.rom @fc1_w : tensor<{H}x{K}xi4> = {_dense(W1, f"tensor<{H}x{K}xi4>")}
  rom.rom @fc1_b : tensor<{H}xi16> = {_dense(B1, f"tensor<{H}xi16>")}
  rom.rom @fc1_m : tensor<{H}xi16> = {_dense(M1, f"tensor<{H}xi16>")}
  rom.rom @fc2_w : tensor<{N}x{H}xi4> = {_dense(W2, f"tensor<{N}x{H}xi4>")}
  spatial.graph @main {{
  ^bb0(%x : {s_in}):
    %h = spatial.mvu %x {{layer = "fc1", weights = @fc1_w, bias = @fc1_b, multiplier = @fc1_m, shift = {SHIFT1} : i64, lo = -128 : i64, hi = 127 : i64, pe = {pe1} : i64, simd = {simd1} : i64}} : ({s_in}) -> {s_mid}
    %f = spatial.fifo %h {{depth = 2 : i64}} : ({s_mid}) -> {s_mid}
    %y = spatial.mvu %f {{layer = "fc2", weights = @fc2_w, pe = {pe2} : i64, simd = {simd2} : i64}} : ({s_mid}) -> {s_out}
    spatial.yield %y : {s_out}
  }}
}}
"""


def model(x: np.ndarray) -> np.ndarray:
    """The integer semantics of the graph, written independently of the hardware."""
    hidden = requantize(x @ W1.T + B1, M1, SHIFT1, -128, 127)
    return wrap((hidden @ W2.T).astype(np.int64), OUT_WIDTH)


def lowered(rom_style: str, **folding):
    module = parse_module(graph_text(**folding))
    graph = next(op for op in module.ops if isinstance(op, GraphOp))
    ii = max(op.nominal_ii() for op in graph.body.block.ops if isinstance(op, MVUOp))
    lower_spatial_to_hw(module, rom_style)
    module.verify()
    return module, ii


def test_structure_after_lowering():
    module, _ = lowered("logic")
    names = [op.sym_name.data for op in module.ops if isinstance(op, hw.HWModuleOp)]
    assert names == ["fc1_mvu", "fc1_fifo", "fc2_mvu", "main_top"]
    assert not [op for op in module.ops if not isinstance(op, hw.HWModuleOp)]
    assert ROM_FILES_ATTR not in module.attributes


def test_several_outputs_are_refused():
    text = graph_text().replace("spatial.yield %y", "%d:2 = spatial.dup %y {layer = \"d\"} : (!spatial.stream<4xi16, 2>) -> (!spatial.stream<4xi16, 2>, !spatial.stream<4xi16, 2>)\n    spatial.yield %d#0, %d#1").replace(
        "spatial.yield %d#0, %d#1 : !spatial.stream<4xi16, 2>", "spatial.yield %d#0, %d#1 : !spatial.stream<4xi16, 2>, !spatial.stream<4xi16, 2>")
    module = parse_module(text)
    with pytest.raises(HwcError, match="one input and one output stream"):
        lower_spatial_to_hw(module)


@pytest.mark.rtl
@pytest.mark.parametrize("rom_style", ["logic", "memory"])
def test_dense_dense_in_rtl(rom_style, tmp_path):
    module, ii = lowered(rom_style)
    if rom_style == "memory":
        assert set(write_rom_files(module, tmp_path)) == {tmp_path / "rom/fc1_w.hex", tmp_path / "rom/fc2_w.hex"}
    files = export_verilog(str(module), tmp_path / "rtl", "main_top")
    verilator.lint(files, "main_top")
    simulator = verilator.build(files, "main_top", in_width=2 * 8, out_width=2 * OUT_WIDTH, run_dir=tmp_path)

    frames = 40
    x = RNG.integers(-128, 128, size=(frames, K))
    beats = pack_beats(x, 2, 8)
    expected = pack_beats(model(x), 2, OUT_WIDTH)
    result = simulator.run(beats, stall_in=0.3, stall_out=0.3, seed=5, expected_output_beats=len(expected))
    assert result.output_beats == expected
    assert np.array_equal(unpack_beats(result.output_beats, 2, OUT_WIDTH).reshape(frames, N), model(x))

    steady = simulator.run(beats, expected_output_beats=len(expected))
    assert steady.output_beats == expected
    per_frame = len(expected) // frames
    frame_ends = steady.out_cycles[per_frame - 1::per_frame]
    cycles_per_inference = (frame_ends[-1] - frame_ends[0]) / (frames - 1)
    assert abs(cycles_per_inference - ii) <= 0.05 * ii, (cycles_per_inference, ii)
