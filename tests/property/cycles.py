"""The cycle model against Verilator on random designs (tests/property/graphs.py).

`check(seed)` compiles a random network at its random folding, streams random
inputs through the spatial executor and through the Verilator simulation of
the exported SystemVerilog, and reports whether the outputs are bit-exact and
the measured cycles per inference equal the predicted ones.
`python -m tests.property.cycles --seeds 0-199` runs many; the test runs a few.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from tests.property.graphs import LENET5_DENSE, lenet5, random_model

SAMPLES = 6


@dataclass
class Check:
    description: str
    exact: bool
    measured: float
    predicted: int

    @property
    def ok(self) -> bool:
        return self.exact and self.measured == self.predicted

    def line(self) -> str:
        verdict = "ok" if self.ok else "MISMATCH"
        return (f"{verdict}: {self.description}: {self.measured:g} cycles measured, {self.predicted} predicted"
                + ("" if self.exact else ", outputs differ"))


def check_model(model: onnx.ModelProto, description: str, fold: str = "auto",
                target_fps: float | None = None, seed: int = 0) -> Check:
    import compiler
    from compiler.rtl import RtlExecutor

    with tempfile.TemporaryDirectory(prefix="hwc-cycles-") as scratch:
        path = Path(scratch) / "m.onnx"
        onnx.save(model, str(path))
        design = compiler.compile(path, fold=fold, target_fps=target_fps)
        spatial = design.executor("spatial")
        shape = design.input_shapes()["x"]
        x = np.random.default_rng(seed).standard_normal((SAMPLES, *shape[1:])).astype(np.float32)
        quantized = spatial.quantize_inputs({"x": x})
        expected = spatial.run_int(quantized)
        rtl = RtlExecutor(spatial, design.rtl_build())
        got = rtl.run_int(quantized)
        exact = all(np.array_equal(got[name], expected[name]) for name in expected)
        return Check(description, exact, rtl.last_run.cycles_per_inference, spatial.cycles_per_inference)


def check(seed: int) -> Check:
    drawn = random_model(seed)
    return check_model(drawn.model, drawn.description, drawn.fold, drawn.target_fps, seed)


def check_lenet(target_fps: float, dense: tuple[int, int] = LENET5_DENSE) -> Check:
    name = "LeNet-5" if dense == LENET5_DENSE else f"LeNet-5 with dense widths {dense}"
    return check_model(lenet5(dense), f"{name} [--target-fps {target_fps:g}]", target_fps=target_fps)


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.property.cycles")
    parser.add_argument("--seeds", default="0-99", help="a seed or a range, e.g. 0-199")
    parser.add_argument("--lenet", action="store_true", help="also LeNet-5 at 2e4 and 1e5 inferences/s")
    args = parser.parse_args(argv)
    checks = [check_lenet(t) for t in (2e4, 1e5)] if args.lenet else []
    for seed in _seeds(args.seeds):
        result = check(seed)
        checks.append(result)
        print(result.line(), flush=True)
    bad = [c for c in checks if not c.ok]
    print(f"{len(checks)} designs: {len(checks) - len(bad)} exact and on time, {len(bad)} not")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
