"""lower-spatial-to-hw on a hand-written dense → fifo → dense graph: exported by
real CIRCT, lint-clean, simulated with Verilator (with random stalls) bit-exact
against an independent numpy model, and at the predicted cycles per inference."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects import hw
from xdsl.ir import BlockArgument
from xdsl.passes import PassPipeline

from compiler.backend import verilator
from compiler.backend.circt_export import export_verilog
from compiler.errors import HwcError
from compiler.executor.int_kernels import requantize, wrap
from compiler.executor.spatial_executor import pack_beats, unpack_beats
from compiler.ir import parse_module
from dialects.spatial import GraphOp, MVUOp
from compiler.hw.lowering import lower_spatial_to_hw
from compiler.pipelines import hw_pipeline, run_hw_pipeline
from compiler.rtl import write_rom_files
from passes import ALL_PASSES
from passes.lower_spatial_to_hw import LowerSpatialToHwPass

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
    lowering = lower_spatial_to_hw(module, rom_style)
    module.verify()
    return lowering, ii


def test_structure_after_lowering():
    lowering, _ = lowered("logic")
    module = lowering.module
    names = [op.sym_name.data for op in module.ops if isinstance(op, hw.HWModuleOp)]
    # each folded MVU's logic weight ROM is a module of its own (no registers), instantiated by the MVU
    assert names == ["fc1_mvu_weights_rom", "fc2_mvu_weights_rom", "fc1_mvu", "fc1_fifo", "fc2_mvu", "main_top"]
    modules = {op.sym_name.data: op for op in module.ops if isinstance(op, hw.HWModuleOp)}
    for pe in ("fc1_mvu", "fc2_mvu"):
        rom = modules[f"{pe}_weights_rom"]
        assert [p.port_name.data for p in rom.module_type.ports.data] == ["address", "data"]
        assert not [op for op in rom.walk() if op.name.startswith("seq.")]
        assert [op.module_name.root_reference.data for op in modules[pe].walk()
                if isinstance(op, hw.InstanceOp)] == [f"{pe}_weights_rom"]
    assert not [op for op in module.ops if not isinstance(op, hw.HWModuleOp)]
    assert not module.attributes
    assert (lowering.top, lowering.pe_modules) == ("main_top", ["fc1_mvu", "fc1_fifo", "fc2_mvu"])
    assert (lowering.in_width, lowering.out_width) == (2 * 8, 2 * OUT_WIDTH)
    assert lowering.rom_files == {}


def test_memory_roms_are_returned_not_kept_in_the_ir():
    lowering, _ = lowered("memory")
    assert set(lowering.rom_files) == {"rom/fc1_w.hex", "rom/fc2_w.hex"}
    # fc2: 4x16 weights at pe=2, simd=4 -> 8 words of 2*4 lanes x 4 bits, one hex line each
    assert len(lowering.rom_files["rom/fc2_w.hex"].split()) == N * H // (2 * 4)
    text = str(lowering.module)
    assert '#seq.firmem.init<"rom/fc2_w.hex", false, true>' in text  # inline: $readmemh in the memory module
    assert lowering.rom_files["rom/fc2_w.hex"].split()[0] not in text
    assert not lowering.module.attributes


def _inputs_behind(value, module: hw.HWModuleOp) -> set[str]:
    """The input ports `value` depends on through combinational logic (stopping at
    registers and memories)."""
    names = [p.port_name.data for p in module.module_type.ports.data if p.dir.data is hw.Direction.INPUT]
    found, seen, work = set(), set(), [value]
    while work:
        v = work.pop()
        if v in seen:
            continue
        seen.add(v)
        if isinstance(v, BlockArgument):
            found.add(names[v.index])
        elif not v.owner.name.startswith("seq."):
            work.extend(v.owner.operands)
    return found


@pytest.mark.parametrize("rom_style", ["logic", "memory"])
def test_ready_is_registered_at_every_module_boundary(rom_style):
    """No combinational path from a module's input ports to its `in<k>_ready`:
    a `ready` never runs through a PE (skid buffers)."""
    lowering, _ = lowered(rom_style)
    modules = [op for op in lowering.module.ops if isinstance(op, hw.HWModuleOp)
               and op.sym_name.data in lowering.pe_modules]
    assert len(modules) == 3
    for module in modules:
        ports = [p.port_name.data for p in module.module_type.ports.data if p.dir.data is hw.Direction.OUTPUT]
        output = module.body.block.last_op
        readies = [v for name, v in zip(ports, output.operands) if name.endswith("_ready")]
        assert readies and all(_inputs_behind(v, module) == set() for v in readies), module.sym_name.data
        # while the data still flows through: out0_data depends on registers only, in0 reaches them
        assert "out0_ready" not in _inputs_behind(output.operands[ports.index("out0_valid")], module)


def test_rom_file_contents():
    """The step words of tests/lit/passes/lower-spatial-to-hw.mlir's tiny MVU
    (2x4 weights, pe = 1, simd = 2; weight (p, s) at bits 4*s), one per line."""
    module = parse_module("""builtin.module {
  rom.rom @fc_w : tensor<2x4xi4> = dense<[[1, -2, 0, 7], [3, 0, -8, 1]]> : tensor<2x4xi4>
  spatial.graph @main {
  ^bb0(%x : !spatial.stream<4xi8, 2>):
    %y = spatial.mvu %x {layer = "fc", weights = @fc_w, pe = 1 : i64, simd = 2 : i64} : (!spatial.stream<4xi8, 2>) -> !spatial.stream<2xi13, 1>
    spatial.yield %y : !spatial.stream<2xi13, 1>
  }
}""")
    assert lower_spatial_to_hw(module, "memory").rom_files == {"rom/fc_w.hex": "e1\n70\n03\n18\n"}


def test_the_hw_pipeline_gives_what_the_function_gives():
    """Through `run_pipeline` the pass keeps what it made for the caller; its
    options are only `rom`, so `hwc-opt -p` can reproduce it."""
    by_function, _ = lowered("memory")
    module = parse_module(graph_text())
    by_pipeline = run_hw_pipeline(module, "memory")
    assert by_pipeline.module is module
    assert str(module) == str(by_function.module)
    assert by_pipeline.rom_files == by_function.rom_files
    assert by_pipeline.pe_modules == by_function.pe_modules
    assert PassPipeline.parse_spec(ALL_PASSES, hw_pipeline("memory")).passes == (LowerSpatialToHwPass(rom="memory"),)
    assert "lowerings" not in str(LowerSpatialToHwPass(rom="memory").pipeline_pass_spec(include_default=True))


def test_an_unknown_rom_style_is_refused():
    with pytest.raises(HwcError, match="rom must be one of logic, memory"):
        lower_spatial_to_hw(parse_module(graph_text()), "flash")
    with pytest.raises(HwcError, match="--rom flash: choose one of logic, memory"):
        hw_pipeline("flash")


def test_several_outputs_are_refused():
    text = graph_text().replace("spatial.yield %y", "%d:2 = spatial.dup %y {layer = \"d\"} : (!spatial.stream<4xi16, 2>) -> (!spatial.stream<4xi16, 2>, !spatial.stream<4xi16, 2>)\n    spatial.yield %d#0, %d#1").replace(
        "spatial.yield %d#0, %d#1 : !spatial.stream<4xi16, 2>", "spatial.yield %d#0, %d#1 : !spatial.stream<4xi16, 2>, !spatial.stream<4xi16, 2>")
    module = parse_module(text)
    with pytest.raises(HwcError, match="one input and one output stream"):
        lower_spatial_to_hw(module)


@pytest.mark.rtl
@pytest.mark.parametrize("rom_style", ["logic", "memory"])
def test_dense_dense_in_rtl(rom_style, tmp_path):
    lowering, ii = lowered(rom_style)
    written = write_rom_files(lowering.rom_files, tmp_path)
    if rom_style == "memory":
        assert set(written) == {tmp_path / "rom/fc1_w.hex", tmp_path / "rom/fc2_w.hex"}
    files = export_verilog(str(lowering.module), tmp_path / "rtl", "main_top")
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
