"""The verification ladder (DESIGN.md): each level checked against the one above.

A rung compares a level's outputs with its oracle's on the same inputs and
says whether they agree under the level's contract. Rungs for the levels the
pipeline does not reach yet are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.driver import Design
from compiler.oracle import onnxruntime_run

FLOAT_RTOL = 1e-4
FLOAT_ATOL = 1e-5


@dataclass
class Rung:
    level: str
    oracle: str
    contract: str
    agreed: bool
    detail: str


def random_inputs(design: Design, samples: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal inputs, `samples` stacked on axis 0 of each input."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, shape in design.input_shapes().items():
        stacked = (samples * shape[0], *shape[1:])
        inputs[name] = rng.standard_normal(stacked).astype(np.float32)
    return inputs


def float_rung(design: Design, inputs: dict[str, np.ndarray]) -> Rung:
    """Float executor against onnxruntime: every output within rtol/atol."""
    ours = design.run(inputs, level="float")
    ir_batch = max(next(iter(design.input_shapes().values()))[0], 1)
    theirs = onnxruntime_run(design.model, inputs, ir_batch, design.output_names,
                             weights=design.options.weights)
    worst_name, worst_error, agreed = "", 0.0, True
    for name in design.output_names:
        a, b = ours[name].astype(np.float64), theirs[name].astype(np.float64)
        error = float(np.max(np.abs(a - b))) if a.size else 0.0
        if error >= worst_error:
            worst_name, worst_error = name, error
        agreed &= a.shape == b.shape and bool(np.allclose(a, b, rtol=FLOAT_RTOL, atol=FLOAT_ATOL))
    return Rung(
        level="float", oracle="onnxruntime", contract=f"rtol {FLOAT_RTOL:g}, atol {FLOAT_ATOL:g}",
        agreed=agreed, detail=f"max |error| {worst_error:.3g} on '{worst_name}'",
    )


def run_ladder(design: Design, samples: int, seed: int = 0) -> list[Rung]:
    inputs = random_inputs(design, samples, seed)
    return [float_rung(design, inputs)]
