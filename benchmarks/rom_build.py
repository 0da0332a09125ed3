"""Building the ROM image of a large model: peak memory, IR size and time.

    python benchmarks/rom_build.py [--params 100e6] [--width 4096]

Generates, in a temporary folder, an ONNX model of Dense layers (Gemm + Relu,
`width` x `width` each, as many as make about `params` float32 parameters)
whose weights are graph inputs supplied by a separate safetensors file (written
streaming, layer by layer, never held whole). Then, in a fresh subprocess,
times and measures the whole path to the ROM image:

    import (--weights) -> fold-batchnorm, fold-constants -> quantize (calibrated
    on 4 samples) -> weights-to-rom -> write rom.safetensors and the IR text

Peak memory is the subprocess's `ru_maxrss` minus its own RSS after importing
everything (the baseline); both are printed. The reference, in the same run, is
plain numpy reading the same safetensors and quantizing every weight per output
channel once (int8, symmetric). Printed: both times and their ratio (target
<= 1.5), peak extra memory against the float weight bytes (target <= 1.5x),
and the IR text size (target < 1 MB).

`tests/unit/test_scale.py` uses `generate_model` and `measure_rom_build`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROW_CHUNK_ELEMENTS = 1 << 22
"""Weights are generated and written in chunks of rows of about this many elements."""


# --------------------------------------------------------------------------- the model


@dataclass
class GeneratedModel:
    onnx_path: Path
    weights_path: Path
    calib_path: Path
    layers: int
    width: int

    @property
    def parameters(self) -> int:
        return self.layers * (self.width * self.width + self.width)

    @property
    def float_weight_bytes(self) -> int:
        return 4 * self.parameters


def layer_names(index: int) -> tuple[str, str]:
    return f"fc{index}.weight", f"fc{index}.bias"


def write_onnx(path: Path, layers: int, width: int) -> None:
    """Gemm(transB=1) + Relu per layer; weights and biases are graph inputs, no initializers."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, width])]
    nodes, previous = [], "input"
    for i in range(layers):
        weight, bias = layer_names(i)
        inputs += [helper.make_tensor_value_info(weight, TensorProto.FLOAT, [width, width]),
                   helper.make_tensor_value_info(bias, TensorProto.FLOAT, [width])]
        nodes.append(helper.make_node("Gemm", [previous, weight, bias], [f"fc{i}"], name=f"fc{i}", transB=1))
        previous = f"fc{i}"
        if i < layers - 1:
            nodes.append(helper.make_node("Relu", [previous], [f"relu{i}"], name=f"relu{i}"))
            previous = f"relu{i}"
    output = helper.make_tensor_value_info(previous, TensorProto.FLOAT, [1, width])
    graph = helper.make_graph(nodes, "dense_stack", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


def write_weights_streaming(path: Path, layers: int, width: int, seed: int = 0) -> None:
    """The safetensors file of the model's weights, generated and written a chunk of rows at a time."""
    shapes = {}
    for i in range(layers):
        weight, bias = layer_names(i)
        shapes[weight], shapes[bias] = (width, width), (width,)
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, ROW_CHUNK_ELEMENTS // width)
    with open(path, "wb") as f:
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for name, shape in shapes.items():
            if len(shape) == 1:
                f.write((rng.standard_normal(shape, np.float32) * 0.1).astype("<f4").tobytes())
                continue
            for begin in range(0, shape[0], rows_per_chunk):
                rows = min(rows_per_chunk, shape[0] - begin)
                chunk = rng.standard_normal((rows, shape[1]), np.float32) * np.float32(width ** -0.5)
                f.write(chunk.astype("<f4").tobytes())


def generate_model(folder: Path, parameters: float, width: int) -> GeneratedModel:
    """An ONNX Dense stack of about `parameters` float32 parameters in `folder`."""
    layers = max(1, round(parameters / (width * width + width)))
    model = GeneratedModel(folder / "model.onnx", folder / "weights.safetensors",
                           folder / "calib.npz", layers, width)
    write_onnx(model.onnx_path, layers, width)
    write_weights_streaming(model.weights_path, layers, width)
    np.savez(model.calib_path, input=np.random.default_rng(1).random((4, width), np.float32))
    return model


# --------------------------------------------------------------------------- the measured run


_PIPELINE_SCRIPT = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np, onnx
from xdsl.printer import Printer
import compiler, compiler.executor, compiler.frontend, compiler.calibration
from compiler.frontend import import_onnx
from compiler.pipelines import rom_pipeline, run_pipeline
from compiler.weights import save_store
import passes.fold_batchnorm, passes.fold_constants, passes.quantize, passes.weights_to_rom

onnx_path, weights_path, calib_path, out = (Path(a) for a in sys.argv[1:5])
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
module = import_onnx(onnx_path, weights=weights_path)
run_pipeline(module, rom_pipeline(8, 8, calib_path))
out.mkdir(parents=True, exist_ok=True)
save_store(module, out / "rom.safetensors", relative_to=out)
with open(out / "model.rom.mlir", "w") as f:
    Printer(stream=f).print_op(module)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"baseline_kb": baseline, "peak_kb": peak, "seconds": seconds,
                  "ir_bytes": (out / "model.rom.mlir").stat().st_size,
                  "rom_bytes": (out / "rom.safetensors").stat().st_size}))
"""


@dataclass
class RomBuild:
    baseline_bytes: int
    peak_bytes: int
    seconds: float
    ir_bytes: int
    rom_bytes: int

    @property
    def extra_bytes(self) -> int:
        return self.peak_bytes - self.baseline_bytes


def measure_rom_build(model: GeneratedModel, out: Path) -> RomBuild:
    """Run import -> rom pipeline -> ROM image in a fresh Python and measure it."""
    result = subprocess.run(
        [sys.executable, "-c", _PIPELINE_SCRIPT, str(model.onnx_path), str(model.weights_path),
         str(model.calib_path), str(out)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the ROM build failed:\n{result.stderr}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return RomBuild(report["baseline_kb"] * 1024, report["peak_kb"] * 1024, report["seconds"],
                    report["ir_bytes"], report["rom_bytes"])


def numpy_reference_seconds(model: GeneratedModel) -> float:
    """Plain numpy: read every weight from the safetensors file and quantize it per channel once."""
    from safetensors import safe_open

    start = time.perf_counter()
    with safe_open(str(model.weights_path), framework="numpy") as f:
        for i in range(model.layers):
            weight = f.get_tensor(layer_names(i)[0])
            scale = np.abs(weight).max(axis=1) / 127
            np.clip(np.floor(weight / scale[:, None] + 0.5), -127, 127).astype(np.int8)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=float, default=100e6, help="float parameters (default 100e6)")
    parser.add_argument("--width", type=int, default=4096, help="features per layer (default 4096)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hwc-rom-build-") as folder:
        model = generate_model(Path(folder), args.params, args.width)
        print(f"model: {model.layers} Dense layers {model.width}x{model.width}, "
              f"{model.parameters / 1e6:.1f}M parameters, {model.float_weight_bytes / 2**20:.0f} MiB float32")
        build = measure_rom_build(model, Path(folder) / "build")
        reference = numpy_reference_seconds(model)
    mib = 2 ** 20
    print(f"baseline RSS (after imports): {build.baseline_bytes / mib:.0f} MiB")
    print(f"peak RSS:                     {build.peak_bytes / mib:.0f} MiB")
    print(f"peak extra memory:            {build.extra_bytes / mib:.0f} MiB = "
          f"{build.extra_bytes / model.float_weight_bytes:.2f}x the float weights (target <= 1.5x)")
    print(f"IR text: {build.ir_bytes / 1024:.1f} KiB (target < 1 MiB); ROM image {build.rom_bytes / mib:.0f} MiB")
    print(f"hwc import -> ROM image: {build.seconds:.2f} s")
    print(f"numpy read + quantize:   {reference:.2f} s")
    print(f"ratio: {build.seconds / reference:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
