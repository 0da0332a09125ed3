"""compiler/hw/swu.py: the sliding-window unit in real CIRCT + Verilator, against
a numpy model of the windows, with random stalls, and its cycles per frame
against `SWUOp.nominal_ii`.

The helpers at the top (`pe_op`, `build_pe`, `check_pe`, `pack`, `unpack`) are
shared with test_hw_pool.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from compiler.backend import verilator
from compiler.hw.harness import simulate_modules
from compiler.hw.swu import generate_swu
from compiler.ir import parse_module
from dialects.spatial import stream_of

FRAMES = 4
STALL = 0.3
TOLERANCE = 0.05


# --------------------------------------------------------------------------- shared helpers


def pe_op(op_text: str, in_type: str, out_type: str):
    """The single PE op of a one-op `spatial.graph` (`op_text` uses %x -> %y)."""
    module = parse_module(f"""
builtin.module {{
  spatial.graph @main {{
  ^bb0(%x: {in_type}):
    %y = {op_text} : ({in_type}) -> {out_type}
    spatial.yield %y : {out_type}
  }}
}}""")
    module.verify()
    graph = module.body.block.first_op
    return graph.body.block.first_op


def pack(elements: np.ndarray, lanes: int, width: int) -> list[int]:
    """Beats of `lanes` `width`-bit two's-complement elements, lane 0 lowest."""
    flat = [int(v) % (1 << width) for v in np.asarray(elements).reshape(-1)]
    return [sum(v << (width * lane) for lane, v in enumerate(flat[i:i + lanes]))
            for i in range(0, len(flat), lanes)]


def unpack(beats: list[int], lanes: int, width: int) -> np.ndarray:
    """The signed elements of `beats`, in order."""
    values = []
    for beat in beats:
        for lane in range(lanes):
            v = (beat >> (width * lane)) % (1 << width)
            values.append(v - (1 << width) if v >= 1 << (width - 1) else v)
    return np.array(values, dtype=np.int64)


@dataclass
class BuiltPE:
    op: object
    simulator: verilator.Simulator

    @property
    def source(self):
        return stream_of(self.op.operands[0])

    @property
    def target(self):
        return stream_of(self.op.results[0])

    def run(self, frames: np.ndarray, **stalls):
        """Output elements (signed) and the SimResult for `frames` [F, *frame]."""
        beats = pack(frames, self.source.lanes.data, self.source.width)
        expected_beats = frames.shape[0] * self.target.beats
        result = self.simulator.run(beats, expected_output_beats=expected_beats, **stalls)
        values = unpack(result.output_beats, self.target.lanes.data, self.target.width)
        return values.reshape(frames.shape[0], *self.target.frame), result


def build_pe(op, generate, tmp_path: Path) -> BuiltPE:
    """Generate `op`'s module; export it with CIRCT, lint it (-Wall), build the simulator."""
    pe = generate(op, SimpleNamespace(module_name="pe_under_test", rom_style="logic"))
    in_bits = stream_of(op.operands[0]).lanes.data * stream_of(op.operands[0]).width
    out_bits = stream_of(op.results[0]).lanes.data * stream_of(op.results[0]).width
    simulator = simulate_modules([pe], "pe_under_test", tmp_path, in_width=in_bits, out_width=out_bits)
    return BuiltPE(op, simulator)


def steady_cycles_per_frame(result, frames: int, beats_per_frame: int) -> float:
    """Cycles between the last output beats of the first and the last frame, per frame."""
    last = result.out_cycles[beats_per_frame - 1::beats_per_frame]
    assert len(last) == frames
    return float(last[-1] - last[0]) / (frames - 1)


def check_pe(built: BuiltPE, frames: np.ndarray, expected: np.ndarray) -> None:
    """Bit-exact under random stalls (two seeds), then cycles per frame without stalls."""
    for seed in (1, 2):
        got, _ = built.run(frames, stall_in=STALL, stall_out=STALL, seed=seed)
        np.testing.assert_array_equal(got, expected)
    got, result = built.run(frames)
    np.testing.assert_array_equal(got, expected)
    measured = steady_cycles_per_frame(result, frames.shape[0], built.target.beats)
    nominal = built.op.nominal_ii()
    assert abs(measured - nominal) <= TOLERANCE * nominal, (measured, nominal)
    # The model's latency is exact for the SWU; pools answer one cycle sooner.
    latency = int(result.out_cycles[0] - result.in_cycles[0])
    assert built.op.nominal_latency() - 1 <= latency <= built.op.nominal_latency(), latency


# --------------------------------------------------------------------------- the numpy model


def windows(frame: np.ndarray, kernel, strides, pads, dilations, pad_value: int) -> np.ndarray:
    """[H, W, C] (or [W, C]) → [OH, OW, KH·KW·C] (or [OW, KW·C]) in (kh, kw, c) order."""
    one_d = frame.ndim == 2
    if one_d:
        frame = frame[:, None, :]
        kernel, strides, dilations = (kernel[0], 1), (strides[0], 1), (dilations[0], 1)
        pads = (pads[0], 0, pads[1], 0)
    top, left, bottom, right = pads
    padded = np.pad(frame, ((top, bottom), (left, right), (0, 0)), constant_values=pad_value)
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    oh = (padded.shape[0] - (kh - 1) * dh - 1) // sh + 1
    ow = (padded.shape[1] - (kw - 1) * dw - 1) // sw + 1
    out = np.empty((oh, ow, kh * kw * frame.shape[2]), dtype=np.int64)
    for r in range(oh):
        for c in range(ow):
            patch = padded[r * sh:r * sh + (kh - 1) * dh + 1:dh, c * sw:c * sw + (kw - 1) * dw + 1:dw, :]
            out[r, c] = patch.reshape(-1)
    return out[:, 0, :] if one_d else out


# --------------------------------------------------------------------------- cases


@dataclass
class SwuCase:
    name: str
    frame: tuple
    kernel: tuple
    strides: tuple
    pads: tuple
    dilations: tuple
    lanes_in: int
    lanes_out: int
    pad_value: int = 0
    width: int = 8

    def op(self):
        expected = windows(np.zeros(self.frame, dtype=np.int64), self.kernel, self.strides,
                           self.pads, self.dilations, 0)
        frame = "x".join(map(str, self.frame))
        out = "x".join(map(str, expected.shape))
        arr = lambda v: "array<i64: " + ", ".join(map(str, v)) + ">"  # noqa: E731
        text = (f'spatial.swu %x {{layer = "{self.name}", kernel = {arr(self.kernel)}, '
                f'strides = {arr(self.strides)}, pads = {arr(self.pads)}, '
                f'dilations = {arr(self.dilations)}, pad_value = {self.pad_value} : i64}}')
        return pe_op(text, f"!spatial.stream<{frame}xi{self.width}, {self.lanes_in}>",
                     f"!spatial.stream<{out}xi{self.width}, {self.lanes_out}>")


CASES = [
    SwuCase("k3s1p1", (6, 5, 2), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 2),
    SwuCase("k3s1p1_wide", (5, 4, 4), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 4, 12, pad_value=-128),
    SwuCase("k2s2", (8, 6, 2), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 1, 1),
    SwuCase("k2s2_lanes", (6, 6, 4), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 2, 8),
    SwuCase("k3s2_asym", (7, 6, 3), (3, 3), (2, 2), (0, 1, 1, 0), (1, 1), 3, 9, pad_value=-5),
    SwuCase("k3_dil2", (7, 7, 2), (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 2, 3),
    SwuCase("k1s2", (6, 6, 2), (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1, 1),
    SwuCase("d1_k3", (10, 2), (3,), (1,), (1, 1), (1,), 1, 2),
    SwuCase("d1_k2s2", (12, 3), (2,), (2,), (0, 0), (1,), 3, 1),
]


@pytest.mark.rtl
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_swu_equals_numpy_windows(case: SwuCase, tmp_path):
    op = case.op()
    built = build_pe(op, generate_swu, tmp_path)
    rng = np.random.default_rng(7)
    lo, hi = -(1 << (case.width - 1)), 1 << (case.width - 1)
    frames = rng.integers(lo, hi, size=(FRAMES, *case.frame))
    expected = np.stack([windows(f, case.kernel, case.strides, case.pads, case.dilations, case.pad_value)
                         for f in frames])
    check_pe(built, frames, expected)
