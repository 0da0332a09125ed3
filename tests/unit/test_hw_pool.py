"""compiler/hw/pool.py: max/sum pooling and global pooling in real CIRCT +
Verilator, against numpy reductions, with random stalls, and cycles per frame
against `nominal_ii` (helpers shared with test_hw_swu.py)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
from test_hw_swu import FRAMES, BuiltPE, build_pe, check_pe, pe_op

from compiler.hw.harness import simulate_modules
from compiler.hw.pool import generate_global_pool, generate_pool
from compiler.ir import parse_module


@dataclass
class PoolCase:
    name: str
    kind: str
    frame: tuple  # input frame [..., window·C]
    window: int
    lanes_in: int
    lanes_out: int
    width_in: int = 8
    width_out: int = 8

    @property
    def channels(self) -> int:
        return self.frame[-1] // self.window

    def op(self):
        shape = lambda f: "x".join(map(str, f))  # noqa: E731
        out = (*self.frame[:-1], self.channels)
        text = f'spatial.pool %x {{layer = "{self.name}", kind = "{self.kind}", window = {self.window} : i64}}'
        return pe_op(text, f"!spatial.stream<{shape(self.frame)}xi{self.width_in}, {self.lanes_in}>",
                     f"!spatial.stream<{shape(out)}xi{self.width_out}, {self.lanes_out}>")

    def model(self, frames: np.ndarray) -> np.ndarray:
        """[F, ..., window·C] → [F, ..., C]: max or sum over the window positions."""
        grouped = frames.reshape(*frames.shape[:-1], self.window, self.channels)
        return grouped.max(axis=-2) if self.kind == "max" else grouped.sum(axis=-2)


POOL_CASES = [
    PoolCase("max_2x2", "max", (3, 3, 8), 4, 1, 1),
    PoolCase("max_3x3_lanes", "max", (2, 4, 27), 9, 9, 3),
    PoolCase("max_straddle", "max", (3, 2, 12), 4, 4, 1),  # C = 3: lanes cross channels
    PoolCase("max_wide_out", "max", (4, 18), 9, 6, 2),  # 1-D, lanes_in > C
    PoolCase("sum_3x3", "sum", (3, 3, 18), 9, 2, 1, 8, 12),
    PoolCase("sum_all_lanes", "sum", (2, 2, 16), 4, 16, 4, 8, 10),
    PoolCase("sum_slow_out", "sum", (2, 2, 8), 2, 8, 1, 4, 5),  # output beats dominate
]


@pytest.mark.rtl
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: c.name)
def test_pool_equals_numpy(case: PoolCase, tmp_path):
    built = build_pe(case.op(), generate_pool, tmp_path)
    rng = np.random.default_rng(11)
    lo, hi = -(1 << (case.width_in - 1)), 1 << (case.width_in - 1)
    frames = rng.integers(lo, hi, size=(FRAMES, *case.frame))
    frames[0] = lo  # the most negative input: max must not lose it, sums reach their bound
    check_pe(built, frames, case.model(frames))


@pytest.mark.parametrize("frame,lanes_in,lanes_out,width_out",
                         [((4, 4, 6), 2, 3, 12), ((5, 3, 4), 4, 1, 12), ((7, 8), 8, 2, 11)],
                         ids=["2d_lanes", "2d_wide_in", "1d"])
@pytest.mark.rtl
def test_global_pool_sums_every_pixel(frame, lanes_in, lanes_out, width_out, tmp_path):
    shape = lambda f: "x".join(map(str, f))  # noqa: E731
    out = (*[1] * (len(frame) - 1), frame[-1])
    op = pe_op('spatial.global_pool %x {layer = "gap"}',
               f"!spatial.stream<{shape(frame)}xi8, {lanes_in}>",
               f"!spatial.stream<{shape(out)}xi{width_out}, {lanes_out}>")
    built = build_pe(op, generate_global_pool, tmp_path)
    rng = np.random.default_rng(5)
    frames = rng.integers(-128, 128, size=(FRAMES, *frame))
    frames[1] = -128
    expected = frames.reshape(FRAMES, -1, frame[-1]).sum(axis=1).reshape(FRAMES, *out)
    check_pe(built, frames, expected)


FACTORS_GRAPH = """
builtin.module {
  rom.rom @factors : tensor<6xi5> = dense<[9, 6, 9, 6, 4, 6]> : tensor<6xi5>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<2x3x18xi8, 2>):
    %y = spatial.pool %x {layer = "avg", kind = "sum", window = 9 : i64, factors = @factors} : (!spatial.stream<2x3x18xi8, 2>) -> !spatial.stream<2x3x2xi16, 1>
    spatial.yield %y : !spatial.stream<2x3x2xi16, 1>
  }
}"""


@pytest.mark.rtl
def test_sum_pool_with_factors_scales_each_pixel(tmp_path):
    """A sum pool whose pixels' sums are multiplied by per-pixel factors (an average
    pool with count_include_pad = 0: 9, 6 or 4 for L = 36) against numpy, under stalls."""
    module = parse_module(FACTORS_GRAPH)
    module.verify()
    op = module.body.block.last_op.body.block.first_op
    factors = np.array([9, 6, 9, 6, 4, 6])
    ctx = SimpleNamespace(module_name="pe_under_test", rom_style="logic", rom=lambda symbol: factors)
    pe = generate_pool(op, ctx)
    simulator = simulate_modules([pe], "pe_under_test", tmp_path, in_width=2 * 8, out_width=16)
    built = BuiltPE(op, simulator)
    rng = np.random.default_rng(12)
    frames = rng.integers(-128, 128, size=(FRAMES, 2, 3, 18))
    sums = frames.reshape(FRAMES, 2, 3, 9, 2).sum(axis=-2)
    check_pe(built, frames, sums * factors.reshape(1, 2, 3, 1))
