"""The RTL level: the design as SystemVerilog exported by real CIRCT, linted and
simulated by Verilator, checked against the spatial executor.

    build = build_rtl(lower_to_hw(spatial_module, "logic"), Path("build/m"))
    rtl = RtlExecutor(SpatialExecutor(spatial_module), build)
    outputs = rtl.run_int({"input": ints})          # the integers the chip computes
    rtl.last_run.cycles_per_inference               # measured, to compare with the report
    RtlExecutor(spatial, build, trace_file=Path("run.fst")).run_int(...)   # with a waveform
    build_rtl(lowering, Path("build/m"), optimize=True)  # for millions of cycles: C++ at -O1

`lower_to_hw` lowers a copy of the spatial module by the `hw` pipeline
(`lower-spatial-to-hw`, `compiler.pipelines.run_hw_pipeline`); `build_rtl`
writes the ROM images the memory style reads (`rom/*.hex`, as the lowering
returned them), exports the SystemVerilog into `rtl/` with a file list, lints
it with `verilator --lint-only -Wall` and builds (or finds in the cache) the
Verilator simulator with the AXI4-Stream test bench. The executor packs
samples into beats exactly as the spatial executor does (`stream_frames`),
streams them through the simulator, unpacks the output beats, and measures
cycles per inference from when output frames complete. With a `trace_file`
(`.fst` or `.vcd`) the run uses a simulator built with tracing (cached apart
from the untraced one) and writes the waveform of every port and signal there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from compiler.errors import HwcError
from compiler.hw.lowering import HwLowering, find_graph


@dataclass
class RtlBuild:
    """An exported, linted and built design."""

    directory: Path
    files: list[Path]
    top: str
    in_width: int
    out_width: int
    hw_text: str
    simulator: object = field(repr=False, default=None)
    traced: dict = field(repr=False, default_factory=dict)
    optimize: bool = False
    """Its simulators' per-cycle code is compiled at -O1 (`verilator.build`)."""

    def simulator_for(self, trace_file: Path | None):
        """The simulator that runs: the untraced one, or for a waveform file the
        one built with that file's tracing (built on first use)."""
        if trace_file is None:
            return self.simulator
        from compiler.backend import verilator

        kind = trace_format(trace_file)
        if kind not in self.traced:
            try:
                self.traced[kind] = verilator.build(self.files, self.top, in_width=self.in_width,
                                                    out_width=self.out_width, run_dir=self.directory, trace=kind,
                                                    optimize=self.optimize)
            except HwcError as error:
                if kind == "fst" and "lz4.h" in str(error):
                    raise HwcError(f"--trace {trace_file}: Verilator's FST writer needs the lz4 C headers "
                                   "(Debian: apt-get install liblz4-dev); or write a .vcd") from None
                raise
        return self.traced[kind]


TRACE_FORMATS = {".fst": "fst", ".vcd": "vcd"}


def trace_format(path: Path | str) -> str:
    """The waveform format of a trace file by its suffix; HwcError for any other."""
    kind = TRACE_FORMATS.get(Path(path).suffix.lower())
    if kind is None:
        raise HwcError(f"--trace {path}: give a waveform file ending in .fst or .vcd")
    return kind


@dataclass
class RtlRun:
    """What one simulation measured."""

    samples: int
    total_cycles: int
    frame_done_cycles: list[int]

    @property
    def cycles_per_inference(self) -> float:
        """Steady-state interval between completed output frames: the average over
        the later half of the run (the first frames may also pay for filling the
        pipeline and its FIFOs, which is latency, not throughput); the whole run's
        cycles when there is a single frame."""
        done = self.frame_done_cycles
        if len(done) < 2:
            return float(self.total_cycles)
        first = (len(done) - 1) // 2
        return (done[-1] - done[first]) / (len(done) - 1 - first)

    @property
    def latency(self) -> int:
        """Cycles until the first output frame completed."""
        return self.frame_done_cycles[0] if self.frame_done_cycles else self.total_cycles


def lower_to_hw(spatial_module: ModuleOp, rom_style: str = "logic", const_mult: str = "shift-add") -> HwLowering:
    """A copy of `spatial_module` lowered to CIRCT hw/comb/seq by the `hw` pipeline,
    with what the lowering made besides the IR (module names, ROM files)."""
    from compiler.pipelines import run_hw_pipeline

    return run_hw_pipeline(spatial_module.clone(), rom_style, const_mult)


def write_rom_files(rom_files: dict[str, str], out_dir: Path | str) -> list[Path]:
    """Write every `rom/<name>.hex` of a lowering (`HwLowering.rom_files`) under
    `out_dir` (the build folder, where the simulator runs); returns the paths written."""
    written = []
    for relative, contents in rom_files.items():
        path = Path(out_dir) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(contents)
        written.append(path)
    return written


def build_rtl(lowering: HwLowering, directory: Path, simulate: bool = True, optimize: bool = False) -> RtlBuild:
    """Export, lint and (with `simulate`) build a lowered design into `directory`
    (`rtl/*.sv`, `rtl/filelist.f`, `rom/*.hex`); `optimize`: a simulator for long
    runs (its per-cycle C++ at -O1, `verilator.build`)."""
    from compiler.backend import verilator
    from compiler.backend.circt_export import export_verilog

    directory = Path(directory)
    write_rom_files(lowering.rom_files, directory)
    hw_text = str(lowering.module)
    files = export_verilog(hw_text, directory / "rtl", lowering.top, data_dir=directory)
    verilator.lint(files, lowering.top)
    build = RtlBuild(directory, files, lowering.top, lowering.in_width, lowering.out_width, hw_text,
                     optimize=optimize)
    if simulate:
        build.simulator = verilator.build(files, lowering.top, in_width=lowering.in_width,
                                          out_width=lowering.out_width, run_dir=directory, optimize=optimize)
    return build


class RtlExecutor:
    """The Verilator simulation of a design, run like the other executors.

    `stall_in` / `stall_out`: the probability that the test bench withholds
    `s_axis_tvalid` / `m_axis_tready` on a cycle (random backpressure, seeded).
    """

    def __init__(self, spatial_executor, build: RtlBuild, *, stall_in: float = 0.0,
                 stall_out: float = 0.0, seed: int = 0, trace_file: Path | None = None):
        if build.simulator is None:
            raise HwcError("the RTL build was made without a simulator")
        self.spatial, self.host = spatial_executor, spatial_executor.host  # the host side: executor/host.py
        self.build = build
        self.stall_in, self.stall_out, self.seed = stall_in, stall_out, seed
        self.trace_file = trace_file
        self.last_run: RtlRun | None = None
        if len(spatial_executor.input_names) != 1 or len(spatial_executor.output_names) != 1:
            raise HwcError("the RTL level needs a model with one input and one output")

    @property
    def input_names(self) -> list[str]:
        return self.host.input_names

    @property
    def output_names(self) -> list[str]:
        return self.host.output_names

    def run_int(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Integers in (nn layout, samples on axis 0), the simulated design's integers out."""
        (in_name,), (out_name,) = self.input_names, self.output_names
        ints = self.host.check_ints(inputs)[in_name]
        samples = len(ints)
        beats = self.host.stream_frames(in_name, ints)
        out_per_frame = self.host.port(out_name).stream.beats
        result = self.build.simulator_for(self.trace_file).run(
            beats, stall_in=self.stall_in, stall_out=self.stall_out, seed=self.seed,
            expected_output_beats=out_per_frame * samples,
            max_cycles=self.cycle_budget(len(beats), out_per_frame * samples, samples),
            trace_file=self.trace_file,
        )
        done = [result.out_cycles[(k + 1) * out_per_frame - 1] for k in range(samples)]
        self.last_run = RtlRun(samples, result.total_cycles, done)
        return {out_name: self.host.unpack_beats(out_name, result.output_beats)}

    def cycle_budget(self, in_beats: int, out_beats: int, samples: int) -> int:
        """Cycles after which the run counts as stalled: ten times what the spatial
        model predicts (latency + one bottleneck `ii` per further sample, slowed by
        the stall probabilities), and never less than ten cycles per beat. A
        folded design takes many cycles per beat (an MVU at pe = simd = 1 needs
        N·K cycles per vector), so a budget from beat counts alone would report
        a slow design as a deadlocked one."""
        flow = (1.0 - self.stall_in) * (1.0 - self.stall_out)
        predicted = int(self.spatial.latency) + int(self.spatial.cycles_per_inference) * samples
        return int((1000 + 10 * max(in_beats + out_beats, predicted)) / flow)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Floats in, floats out: the host quantizes, the RTL computes, the host dequantizes."""
        return self.host.dequantize_outputs(self.run_int(self.host.quantize_inputs(inputs)))


def first_pe_differing_in_rtl(spatial_executor, spatial_module: ModuleOp, lowering: HwLowering,
                              quantized: dict[str, np.ndarray], directory: Path,
                              trace_dir: Path | None = None) -> str | None:
    """The first PE whose `hw.module`, simulated alone on the beats the spatial executor
    gives it, does not produce the beats the spatial executor says it must.

    Only PEs with one clocked input and one output stream are tried (the harness
    drives one AXI4-Stream input); the answer names the PE's layer. With
    `trace_dir`, that PE's run is simulated again with tracing and its waveform
    kept there as `<PE module>.vcd`, named in the answer.
    """
    from xdsl.dialects import hw

    from compiler.backend import verilator
    from compiler.executor.spatial_executor import pack_beats
    from compiler.hw.harness import export_modules
    from dialects import spatial
    from dialects.spatial import stream_of

    streams = spatial_executor.stream_values(quantized)
    modules = {m.sym_name.data: m for m in lowering.module.ops if isinstance(m, hw.HWModuleOp)}
    graph_ops = [op for op in find_graph(spatial_module).body.block.ops if not isinstance(op, spatial.YieldOp)]
    for op, name in zip(graph_ops, lowering.pe_modules, strict=True):
        if len(op.operands) != 1 or len(op.results) != 1 or name not in modules:
            continue
        if not any(p.port_name.data == "clk" for p in modules[name].module_type.ports.data):
            continue  # wires only (reshape)
        source, target = stream_of(op.operands[0]), stream_of(op.results[0])
        beats_in = pack_beats(streams[op.operands[0]].reshape(-1), source.lanes.data, source.width)
        expected = pack_beats(streams[op.results[0]].reshape(-1), target.lanes.data, target.width)
        widths = {"in_width": source.lanes.data * source.width, "out_width": target.lanes.data * target.width}
        run_dir = Path(directory) / name
        files, top = export_modules(_with_instantiated(modules[name], modules), name, run_dir, lint=False)
        simulator = verilator.build(files, top, run_dir=run_dir, **widths)
        result = simulator.run(beats_in, expected_output_beats=len(expected))
        if list(result.output_beats) != list(expected):
            layer = op.properties.get("layer")
            answer = f"first differs at layer '{layer.data if layer else name}' (hw.module @{name})"
            if trace_dir is not None:
                trace = Path(trace_dir) / f"{name}.vcd"
                traced = verilator.build(files, top, run_dir=run_dir, trace="vcd", **widths)
                traced.run(beats_in, expected_output_beats=len(expected), trace_file=trace)
                answer += f"; its waveform: {trace}"
            return answer
    return None


def _with_instantiated(module, modules: dict) -> list:
    """The modules `module` instantiates (transitively, by `hw.instance`), then `module`."""
    from xdsl.dialects import hw

    found: list = []
    for op in module.walk():
        if isinstance(op, hw.InstanceOp):
            child = modules[op.module_name.root_reference.data]
            found += [m for m in _with_instantiated(child, modules) if m not in found]
    return found + [module]

