"""What a Yosys netlist (`write_json`) costs: cells counted by resource, and the
logic depth.

    counts = count_cells(module_json["cells"], "xilinx")     # {"luts": 120, "ffs": 40, ...}
    logic_depth(module_json, "xilinx")                       # the most LUTs on one path

Resources (`xilinx`, 7-series cells of `synth_xilinx`): `luts` are LUT1..LUT6
plus the LUTs that LUT-RAMs and shift registers occupy; `ffs` the FD* flip-flops;
`dsps` DSP48E1s; `brams` RAMB36E1s (a RAMB18E1 counts one half); `carries` CARRY4s;
`inverters` the INV cells Yosys leaves, apart from the LUTs (mostly on the
carry chains' inputs, where a constant's one bits meet a register or a chain;
Vivado folds an INV into the LUT driving it where it can, else makes it a LUT1).
`generic` (Yosys' internal gates after `abc -g cmos2`): `gates` the logic gates,
`ffs` the flip-flops.

Logic depth: the most weighted cells on one combinational path from a port or a
sequential cell (flip-flop, memory, DSP) to a port or a sequential cell. On
`xilinx` a LUT weighs 1 and every other cell 0 (carry chains, wide muxes and
inverters ride along with the LUTs): LUT levels. On `generic` every logic gate
weighs 1: gate levels.
"""

from __future__ import annotations

import re
from typing import Any

LUTRAM_LUTS = {
    "RAM32X1S": 1, "RAM64X1S": 1, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1S": 2, "RAM128X1D": 4,
    "RAM256X1S": 4, "RAM32M": 4, "RAM64M": 4, "SRL16E": 1, "SRLC32E": 1,
}
"""LUTs each 7-series LUT-RAM or shift-register primitive occupies."""

XILINX_SEQUENTIAL = re.compile(r"^(FD[A-Z]*|LD[A-Z]*|RAM.*|SRL.*|DSP48E1|RAMB\d+E1)$")
GENERIC_FF = re.compile(r"^\$_(S?DFF|DFFSR|ALDFF|DLATCH|SR)")


def count_cells(cell_types: dict[str, int], target: str) -> dict[str, int | float]:
    """Resources of a cell-type histogram (`stat -json`'s `num_cells_by_type`)."""
    if target == "xilinx":
        return {
            "luts": sum(n for t, n in cell_types.items() if re.fullmatch(r"LUT[1-6]", t))
            + sum(n * LUTRAM_LUTS[t] for t, n in cell_types.items() if t in LUTRAM_LUTS),
            "ffs": sum(n for t, n in cell_types.items() if re.fullmatch(r"FD[A-Z]*", t)),
            "dsps": cell_types.get("DSP48E1", 0),
            "brams": cell_types.get("RAMB36E1", 0) + cell_types.get("RAMB18E1", 0) / 2,
            "carries": cell_types.get("CARRY4", 0),
            "inverters": cell_types.get("INV", 0),
        }
    ffs = sum(n for t, n in cell_types.items() if GENERIC_FF.match(t))
    gates = sum(n for t, n in cell_types.items() if t.startswith("$_")) - ffs
    return {"gates": gates, "ffs": ffs}


def _cell_weight(cell_type: str, target: str) -> int | None:
    """None for a sequential cell (it ends and starts paths), else its weight."""
    if target == "xilinx":
        if XILINX_SEQUENTIAL.match(cell_type):
            return None
        return 1 if re.fullmatch(r"LUT[1-6]", cell_type) else 0
    if GENERIC_FF.match(cell_type) or not cell_type.startswith("$_"):
        return None
    return 1


def logic_depth(module: dict[str, Any], target: str) -> int:
    """The logic depth of one module of a `write_json` netlist (see the module docstring)."""
    driver: dict[int, str] = {}
    inputs: dict[str, list[int]] = {}
    weights: dict[str, int] = {}
    ends: list[int] = [bit for port in module.get("ports", {}).values() if port["direction"] != "input"
                       for bit in port["bits"] if isinstance(bit, int)]
    for name, cell in module.get("cells", {}).items():
        weight = _cell_weight(cell["type"], target)
        directions = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            ints = [bit for bit in bits if isinstance(bit, int)]
            if directions.get(port) == "output":
                if weight is not None:
                    for bit in ints:
                        driver[bit] = name
            elif weight is None:
                ends += ints
            else:
                inputs.setdefault(name, []).extend(ints)
        if weight is not None:
            weights[name] = weight
    return max((_depth_of_bits(ends, driver, inputs, weights)), default=0)


def _depth_of_bits(bits: list[int], driver: dict[int, str], inputs: dict[str, list[int]],
                   weights: dict[str, int]) -> list[int]:
    """The depth at each of `bits` (iteratively, so that long chains do not recurse)."""
    depth: dict[str, int] = {}
    on_stack: set[str] = set()
    for bit in bits:
        start = driver.get(bit)
        if start is None or start in depth:
            continue
        stack = [start]
        while stack:
            cell = stack[-1]
            if cell in depth:
                stack.pop()
                continue
            pending = [driver[b] for b in inputs.get(cell, ()) if b in driver and driver[b] not in depth
                       and driver[b] not in on_stack]
            if pending and cell not in on_stack:
                on_stack.add(cell)
                stack.extend(pending)
                continue
            on_stack.discard(cell)
            stack.pop()
            below = [depth.get(driver[b], 0) for b in inputs.get(cell, ()) if b in driver]
            depth[cell] = weights[cell] + max(below, default=0)
    return [depth.get(driver[bit], 0) if bit in driver else 0 for bit in bits]
