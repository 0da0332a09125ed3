"""The builder (compiler/hw/builder.py), the stream units (streams.py) and the
element-wise PEs (elementwise.py) in real CIRCT + Verilator, with random stalls,
against independent numpy models. Units with several streams are tested inside
small hand-wired tops (dup → concat, dup → eltwise)."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects import hw

from compiler.executor.int_kernels import requantize
from compiler.executor.spatial_executor import pack_beats
from compiler.hw import elementwise, streams
from compiler.hw.builder import ModuleBuilder
from compiler.hw.harness import simulate_modules

RNG = np.random.default_rng(5)
STALLS = ((0.3, 0.3, 1), (0.0, 0.5, 2))


def check(simulator, beats, expected, *, full_rate_cycles: int | None = None):
    for stall_in, stall_out, seed in STALLS:
        result = simulator.run(beats, stall_in=stall_in, stall_out=stall_out, seed=seed,
                               expected_output_beats=len(expected))
        assert result.output_beats == expected, (stall_in, stall_out)
    result = simulator.run(beats, expected_output_beats=len(expected))
    assert result.output_beats == expected
    if full_rate_cycles is not None:
        assert result.total_cycles <= full_rate_cycles + 3


def chain(name: str, modules: list[hw.HWModuleOp]) -> hw.HWModuleOp:
    """A PE-style module (`in0` → `out0`) running `modules` one after another."""
    first = {p.port_name.data: p.type for p in modules[0].module_type.ports.data}
    last = {p.port_name.data: p.type for p in modules[-1].module_type.ports.data}
    b = ModuleBuilder(name)
    data = b.input("in0_data", first["in0_data"])
    valid = b.input("in0_valid", 1)
    b.output("in0_ready")
    ready = b.input("out0_ready", 1)
    stages = []
    from xdsl.dialects.hw import ConstantOp

    placeholders = [ConstantOp(0, 1).result for _ in modules]
    for index, module in enumerate(modules):
        ports = {p.port_name.data for p in module.module_type.ports.data}
        inputs = {"in0_data": data, "in0_valid": valid, "out0_ready": placeholders[index]}
        if "clk" in ports:
            inputs.update(clk=b.clock, rst=b.reset)
        outs = b.instance(f"u{index}", module, inputs)
        stages.append(outs)
        data, valid = outs["out0_data"], outs["out0_valid"]
    for index, placeholder in enumerate(placeholders):
        downstream = stages[index + 1]["in0_ready"] if index + 1 < len(stages) else ready
        placeholder.replace_all_uses_with(downstream)
    b.output("in0_ready", stages[0]["in0_ready"])
    b.output("out0_data", data)
    b.output("out0_valid", valid)
    assert last
    return b.finish()


# --------------------------------------------------------------------------- builder


@pytest.mark.rtl
def test_builder_module_through_circt_and_verilator(tmp_path):
    b = ModuleBuilder("add3")
    x = b.stream_input("in0", width=8, lanes=2)
    y = b.stream_output("out0", width=9, lanes=2)
    sums = [b.add(e, b.const(3, 8)) for e in x.elements()]
    data, valid, ready = b.pipeline_stage("s1", b.pack(sums), x.valid, y.ready)
    x.set_ready(ready)
    y.set(data, valid)
    module = b.finish()
    names = [p.port_name.data for p in module.module_type.ports.data]
    assert names == ["clk", "rst", "in0_data", "in0_valid", "out0_ready", "in0_ready", "out0_data", "out0_valid"]
    simulator = simulate_modules([module], "add3", tmp_path, in_width=16, out_width=18)
    values = RNG.integers(-128, 128, size=200)
    check(simulator, pack_beats(values, 2, 8), pack_beats(values + 3, 2, 9), full_rate_cycles=100)


def test_builder_refuses_unconnected_registers_and_outputs():
    b = ModuleBuilder("bad")
    b.reg("r", 4)
    with pytest.raises(ValueError, match="registers without a next value"):
        b.finish()
    b = ModuleBuilder("bad")
    b.stream_output("out0", 8)
    with pytest.raises(ValueError, match="outputs not driven"):
        b.finish()


# --------------------------------------------------------------------------- fifo, reshape, resize


@pytest.mark.rtl
@pytest.mark.parametrize("lanes_in,lanes_out,depth", [(2, 6, 3), (6, 4, 1)])
def test_fifo_reshape_resize(lanes_in, lanes_out, depth, tmp_path):
    width = 8
    modules = [streams.build_fifo("fifo", lanes_in * width, depth),
               streams.build_reshape("reshape", lanes_in * width),
               streams.build_resize("resize", width, lanes_in, lanes_out)]
    top = chain("plumbing", modules)
    simulator = simulate_modules([*modules, top], "plumbing", tmp_path,
                                 in_width=lanes_in * width, out_width=lanes_out * width)
    values = RNG.integers(-128, 128, size=12 * 30)
    beats = pack_beats(values, lanes_in, width)
    check(simulator, beats, pack_beats(values, lanes_out, width),
          full_rate_cycles=max(len(beats), len(values) // lanes_out) + 2)


# --------------------------------------------------------------------------- requant, lookup


@pytest.mark.rtl
def test_requant_then_lookup(tmp_path):
    channels, lanes, in_width = 6, 2, 14
    multipliers = RNG.integers(1, 700, size=channels)
    shift, lo, hi = 10, -60, 50
    table = RNG.integers(-128, 128, size=256)
    modules = [elementwise.build_requant("rq", channels, lanes, in_width, 8, multipliers, shift, lo, hi),
               elementwise.build_lookup("lut", lanes, 8, 8, table)]
    top = chain("rq_lut", modules)
    simulator = simulate_modules([*modules, top], "rq_lut", tmp_path, in_width=lanes * in_width, out_width=lanes * 8)
    x = RNG.integers(-(1 << 13), 1 << 13, size=(40, channels))
    x[0] = (1 << 13) - 1
    x[1] = -(1 << 13)
    y = table[requantize(x, multipliers, shift, lo, hi) + 128]
    check(simulator, pack_beats(x, lanes, in_width), pack_beats(y, lanes, 8), full_rate_cycles=x.size // lanes + 2)


# --------------------------------------------------------------------------- dup, concat, eltwise


def fork_join(name: str, dup: hw.HWModuleOp, join: hw.HWModuleOp, delay: hw.HWModuleOp) -> hw.HWModuleOp:
    """in → dup → (out0 → fifo → join.in0, out1 → fifo → join.in1) → join → out
    (equal latencies on both branches, as size-fifos makes them, so the pair
    moves a beat per cycle)."""
    ports = {p.port_name.data: p.type for p in dup.module_type.ports.data}
    b = ModuleBuilder(name)
    data = b.input("in0_data", ports["in0_data"])
    valid = b.input("in0_valid", 1)
    b.output("in0_ready")
    ready = b.input("out0_ready", 1)
    from xdsl.dialects.hw import ConstantOp

    r0, r1, j0, j1 = (ConstantOp(0, 1).result for _ in range(4))
    clk = {"clk": b.clock, "rst": b.reset}
    d = b.instance("dup", dup, {**clk, "in0_data": data, "in0_valid": valid, "out0_ready": r0, "out1_ready": r1})
    f0 = b.instance("delay0", delay, {**clk, "in0_data": d["out0_data"], "in0_valid": d["out0_valid"], "out0_ready": j0})
    f1 = b.instance("delay1", delay, {**clk, "in0_data": d["out1_data"], "in0_valid": d["out1_valid"], "out0_ready": j1})
    j = b.instance("join", join, {**clk, "in0_data": f0["out0_data"], "in0_valid": f0["out0_valid"],
                                  "in1_data": f1["out0_data"], "in1_valid": f1["out0_valid"], "out0_ready": ready})
    r0.replace_all_uses_with(f0["in0_ready"])
    r1.replace_all_uses_with(f1["in0_ready"])
    j0.replace_all_uses_with(j["in0_ready"])
    j1.replace_all_uses_with(j["in1_ready"])
    b.output("in0_ready", d["in0_ready"])
    b.output("out0_data", j["out0_data"])
    b.output("out0_valid", j["out0_valid"])
    return b.finish()


@pytest.mark.rtl
def test_dup_then_concat(tmp_path):
    channels, lanes, lanes_out = 4, 2, 4
    dup = streams.build_dup("dup", lanes * 8, 2)
    join = streams.build_concat("cat", 8, [(lanes, channels), (lanes, channels)], lanes_out)
    delay = streams.build_fifo("delay", lanes * 8, 2)
    top = fork_join("dup_cat", dup, join, delay)
    simulator = simulate_modules([dup, join, delay, top], "dup_cat", tmp_path,
                                 in_width=lanes * 8, out_width=lanes_out * 8)
    x = RNG.integers(-128, 128, size=(30, channels))
    expected = np.concatenate([x, x], axis=-1)  # per pixel: the channels of input 0, then of input 1
    check(simulator, pack_beats(x, lanes, 8), pack_beats(expected, lanes_out, 8))


@pytest.mark.rtl
@pytest.mark.parametrize("kind", ["add", "mul"])
def test_dup_then_eltwise(kind, tmp_path):
    lanes = 3
    lhs_scale, rhs_scale, multiplier, shift, lo, hi = 5, -3, 77, 7, -128, 127
    dup = streams.build_dup("dup", lanes * 8, 2)
    join = elementwise.build_eltwise("elt", kind, lanes, 8, 8, 8, lhs_scale, rhs_scale, multiplier, shift, lo, hi)
    delay = streams.build_fifo("delay", lanes * 8, 3)
    top = fork_join("dup_elt", dup, join, delay)
    simulator = simulate_modules([dup, join, delay, top], "dup_elt", tmp_path, in_width=lanes * 8, out_width=lanes * 8)
    x = RNG.integers(-128, 128, size=lanes * 60)
    acc = x * x if kind == "mul" else x * lhs_scale + x * rhs_scale
    expected = requantize(acc, np.array([multiplier]), shift, lo, hi)
    check(simulator, pack_beats(x, lanes, 8), pack_beats(expected, lanes, 8), full_rate_cycles=60 + 2)
