"""What a build folder holds for the flows hardware engineers already use, beside
hwc's own files: the cocotb test bench (`tb/`, `compiler.backend.cocotb_bench`)
and the FuseSoC core file (`hwc_<model>.core`, `compiler.backend.fusesoc_core`).

    written = write_flows(design, build, staging, directory)   # by Design.write, emit sv

Requires: an exported RTL build (`compiler.rtl.RtlBuild`) of a design with one
input and one output stream (the AXI4-Stream top); a design with more ports gets
neither (the RTL level does not run it either), a decoder's chip only the core
(its requests are simulated by `compiler.llm_rtl`). Guarantees: the files depend only
on the design and its calibration file, so builds stay byte-identical.

The bench's samples are the first `BENCH_SAMPLES` of the calibration file (inputs
like those the design was quantized for), else standard-normal ones (seed 0);
the integer executor quantizes them and computes the expected outputs, which
the spatial level and the RTL must reproduce bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compiler.backend.cocotb_bench import BENCH_SAMPLES, BenchVectors, write_bench
from compiler.backend.fusesoc_core import write_core


def write_flows(design, build, staging: Path, directory: Path) -> list[Path]:
    """Write `tb/` and the core file of `design` (exported as `build`) into `staging`;
    the paths they will have under `directory`."""
    if design.is_decoder:  # the chip's requests are not frames of samples: its bench is compiler.llm_rtl
        written = write_core(staging, core_name(design.model), build)
        return [directory / path.relative_to(staging) for path in written]
    int_executor = design.executor("int")
    if len(int_executor.input_names) != 1 or len(int_executor.output_names) != 1:
        return []
    vectors = bench_vectors(design, BENCH_SAMPLES)
    report = design.report()
    written = write_bench(staging, vectors, top=build.top, in_width=build.in_width,
                          out_width=build.out_width, prediction=report["design"])
    written += write_core(staging, core_name(design.model), build)
    return [directory / path.relative_to(staging) for path in written]


def core_name(model: Path) -> str:
    """`hwc_<model>`: the model file's stem in lower case, anything but letters,
    digits and `_` made `_` (a FuseSoC core name part)."""
    stem = "".join(c if c.isalnum() and c.isascii() else "_" for c in Path(model).stem.lower())
    return f"hwc_{stem or 'model'}"


def bench_vectors(design, samples: int) -> BenchVectors:
    """The bench's inputs (quantized) and expected outputs, as arrays and beats."""
    int_executor, host = design.executor("int"), design.executor("spatial").host
    (input_name,), (output_name,) = int_executor.input_names, int_executor.output_names
    floats = bench_samples(design, input_name, samples)
    inputs = int_executor.quantize_inputs({input_name: floats})[input_name]
    outputs = int_executor.run_int({input_name: inputs})[output_name]
    return BenchVectors(input_name, output_name, inputs, outputs,
                        host.stream_frames(input_name, inputs), host.stream_frames(output_name, outputs))


def bench_samples(design, input_name: str, samples: int) -> np.ndarray:
    """The first `samples` calibration samples, else standard-normal ones (seed 0)."""
    if design.options.calib is not None:
        with np.load(design.options.calib, allow_pickle=False) as archive:
            return np.asarray(archive[input_name][:samples], np.float32)
    shape = design.input_shapes()[input_name]
    rng = np.random.default_rng(0)
    return rng.standard_normal((samples * shape[0], *shape[1:])).astype(np.float32)
