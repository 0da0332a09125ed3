"""cocotb test bench of an hwc build (written by hwc into `tb/`; run it with `python tb/run.py`).

The design's top has one AXI4-Stream input (`s_axis_*`), one AXI4-Stream output
(`m_axis_*`), a clock `clk` and a synchronous active-high reset `rst`. The bench
streams the input beats of `in_beats.hex` (the quantized samples of
`vectors.npz`, packed as hwc packs them) and checks every output beat against
`out_beats.hex` (what hwc's integer executor computes for those samples).
`bench.json` holds the stream widths, the number of samples and the report's
prediction of cycles per inference.

    backpressure     withholds s_axis_tvalid and m_axis_tready at random (seeded)
                     on every cycle: not a bit of the output may change
    throughput       no stalls: the beats again, and the measured cycles per
                     inference (the steady-state interval between completed
                     output frames) within `cycle_tolerance` of the prediction
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

HERE = Path(__file__).resolve().parent
CONFIG = json.loads((HERE / "bench.json").read_text())


def read_beats(name: str) -> list[int]:
    """The beats of a hex file of this folder, one per line."""
    return [int(line, 16) for line in (HERE / name).read_text().split()]


async def reset(dut) -> None:
    """Start the clock and hold `rst` for `reset_cycles` rising edges."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(CONFIG["reset_cycles"]):
        await RisingEdge(dut.clk)
    dut.rst.value = 0


async def stream(dut, stall_in: float, stall_out: float, seed: int) -> list[int]:
    """Stream every input beat through the design and check each output beat as it
    comes; the cycle (0 = first after reset) at which each output frame completed."""
    inputs, expected = read_beats("in_beats.hex"), read_beats("out_beats.hex")
    per_frame = CONFIG["out_beats_per_frame"]
    rng = random.Random(seed)
    await reset(dut)
    offering, next_in, received, cycle = False, 0, 0, 0
    frames_done = []
    while next_in < len(inputs) or received < len(expected):
        assert cycle < CONFIG["max_cycles"], (
            f"design stalled: {received} of {len(expected)} output beats after {cycle} cycles "
            f"({next_in} of {len(inputs)} input beats accepted)")
        if not offering and next_in < len(inputs) and not rng.random() < stall_in:
            offering = True
            dut.s_axis_tdata.value = inputs[next_in]
        dut.s_axis_tvalid.value = int(offering)
        dut.m_axis_tready.value = int(not rng.random() < stall_out)
        await ReadOnly()
        if offering and dut.s_axis_tready.value:
            offering, next_in = False, next_in + 1
        if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
            beat = dut.m_axis_tdata.value.to_unsigned()
            assert received < len(expected), f"an output beat more than the {len(expected)} expected"
            sample, index = divmod(received, per_frame)
            assert beat == expected[received], (
                f"sample {sample}, output beat {index}: {beat:#x} instead of {expected[received]:#x}")
            received += 1
            if received % per_frame == 0:
                frames_done.append(cycle)
        await RisingEdge(dut.clk)
        cycle += 1
    return frames_done


def cycles_per_inference(frames_done: list[int]) -> float:
    """The steady-state interval between completed output frames: the average over the
    later half of the run (the first frames also pay for filling the pipeline)."""
    if len(frames_done) < 2:
        return float(frames_done[-1] + 1)
    first = (len(frames_done) - 1) // 2
    return (frames_done[-1] - frames_done[first]) / (len(frames_done) - 1 - first)


@cocotb.test()
async def backpressure(dut):
    """Every output beat as expected while both sides stall at random."""
    stall = CONFIG["stall"]
    await stream(dut, stall, stall, CONFIG["seed"])
    dut._log.info("%d samples bit-exact with %.0f%% random stalls on both streams",
                  CONFIG["samples"], 100 * stall)


@cocotb.test()
async def throughput(dut):
    """Every output beat as expected, and cycles per inference as the report predicts."""
    measured = cycles_per_inference(await stream(dut, 0.0, 0.0, CONFIG["seed"]))
    predicted = CONFIG["predicted_cycles_per_inference"]
    dut._log.info("cycles per inference: %g measured, %d predicted by the report", measured, predicted)
    tolerance = CONFIG["cycle_tolerance"]
    assert abs(measured - predicted) <= tolerance * predicted, (
        f"{measured:g} cycles per inference measured, {predicted} predicted (tolerance {tolerance:.0%})")
