"""Hand-written hardware designs for the back-end tests, with independent Python
models of what they compute.

`mac_unit_text(rom_kind)` is a two-stage pipelined AXI4-Stream unit: stage 1
adds `OFFSET` to an 8-bit input beat and looks up `ROM[i % 16]` for the i-th
beat (i counted since reset); stage 2 multiplies the two into a 24-bit output
beat. Handshake: a stage loads when it is empty or the stage after it moves
(`ready_k = !valid_k | ready_{k+1}`), so with no stalls it takes a beat every
cycle and answers two cycles later. `rom_kind` chooses how the ROM is built:

* "array": `hw.aggregate_constant` + `hw.array_get` of the stage-1 index;
* "memory": `seq.firmem` of read latency 1 loaded from `rom/w.hex`, read one
  cycle ahead (the address is the beat counter when stage 1 loads, else the
  stage-1 index, so a stall keeps the word it needs).

`wide_adder_text(width)` registers `x + WIDE_CONSTANT` (mod 2**width) with a
one-stage handshake: beats wider than 64 bits exercise Verilator's VlWide ports.
"""

from __future__ import annotations

import numpy as np

OFFSET = 7
ROM = [(37 * i + 11) % 256 for i in range(16)]
IN_WIDTH, OUT_WIDTH = 8, 24
TOP = "mac_unit"
ROM_FILE = "rom/w.hex"


def mac_model(beats) -> list[int]:
    """What the MAC unit must output for the input beats, in order."""
    return [((int(x) + OFFSET) * ROM[i % 16]) % (1 << OUT_WIDTH) for i, x in enumerate(beats)]


def rom_hex() -> str:
    """The ROM as a `$readmemh` file: word i on line i."""
    return "".join(f"{value:02x}\n" for value in ROM)


def _rom_lookup(rom_kind: str) -> str:
    if rom_kind == "array":
        # CIRCT lists aggregate fields from the highest index down to index 0.
        fields = ", ".join(f"{value} : i8" for value in reversed(ROM))
        return f"""
    %rom = hw.aggregate_constant [{fields}] : !hw.array<16xi8>
    %w = hw.array_get %rom[%idx1] : !hw.array<16xi8>, i4"""
    if rom_kind == "memory":
        return f"""
    %rom = seq.firmem 1, 1, undefined, undefined {{init = #seq.firmem.init<"{ROM_FILE}", false, true>}} : <16 x 8>
    %rom_addr = comb.mux %ready1, %count, %idx1 : i4
    %w = seq.firmem.read_port %rom[%rom_addr], clock %clk enable %true : <16 x 8>"""
    raise ValueError(rom_kind)


def mac_unit_text(rom_kind: str) -> str:
    """The MAC unit as a `builtin.module` in xDSL/CIRCT syntax."""
    return f"""builtin.module {{
  hw.module @{TOP}(in %clk : !seq.clock, in %rst : i1,
                   in %s_axis_tdata : i8, in %s_axis_tvalid : i1, out s_axis_tready : i1,
                   out m_axis_tdata : i24, out m_axis_tvalid : i1, in %m_axis_tready : i1) {{
    %true = hw.constant true
    %false = hw.constant false
    %c0_i4 = hw.constant 0 : i4
    %c1_i4 = hw.constant 1 : i4
    %c0_i8 = hw.constant 0 : i8
    %c0_i16 = hw.constant 0 : i16
    %offset = hw.constant {OFFSET} : i16

    %not_v2 = comb.xor %v2, %true : i1
    %ready2 = comb.or %not_v2, %m_axis_tready : i1
    %not_v1 = comb.xor %v1, %true : i1
    %ready1 = comb.or %not_v1, %ready2 : i1
    %accept = comb.and %s_axis_tvalid, %ready1 : i1

    %v1_next = comb.mux %ready1, %s_axis_tvalid, %v1 : i1
    %v1 = seq.firreg %v1_next clock %clk reset sync %rst, %false : i1
    %x16 = comb.concat %c0_i8, %s_axis_tdata : i8, i8
    %sum = comb.add %x16, %offset : i16
    %d1_next = comb.mux %accept, %sum, %d1 : i16
    %d1 = seq.firreg %d1_next clock %clk : i16
    %count_inc = comb.add %count, %c1_i4 : i4
    %count_next = comb.mux %accept, %count_inc, %count : i4
    %count = seq.firreg %count_next clock %clk reset sync %rst, %c0_i4 : i4
    %idx1_next = comb.mux %accept, %count, %idx1 : i4
    %idx1 = seq.firreg %idx1_next clock %clk : i4
{_rom_lookup(rom_kind)}

    %v2_next = comb.mux %ready2, %v1, %v2 : i1
    %v2 = seq.firreg %v2_next clock %clk reset sync %rst, %false : i1
    %d1_wide = comb.concat %c0_i8, %d1 : i8, i16
    %w_wide = comb.concat %c0_i16, %w : i16, i8
    %product = comb.mul %d1_wide, %w_wide : i24
    %d2_next = comb.mux %ready2, %product, %d2 : i24
    %d2 = seq.firreg %d2_next clock %clk : i24
    hw.output %ready1, %d2, %v2 : i1, i24, i1
  }}
}}
"""


WIDE_CONSTANT = (1 << 150) + 0xABCDEF


def wide_model(beats, width: int) -> list[int]:
    return [(int(x) + WIDE_CONSTANT) % (1 << width) for x in beats]


def wide_adder_text(width: int) -> str:
    """A one-stage registered `x + WIDE_CONSTANT` on `width`-bit beats."""
    return f"""builtin.module {{
  hw.module @wide(in %clk : !seq.clock, in %rst : i1,
                  in %s_axis_tdata : i{width}, in %s_axis_tvalid : i1, out s_axis_tready : i1,
                  out m_axis_tdata : i{width}, out m_axis_tvalid : i1, in %m_axis_tready : i1) {{
    %true = hw.constant true
    %false = hw.constant false
    %k = hw.constant {WIDE_CONSTANT % (1 << width)} : i{width}
    %not_v = comb.xor %v, %true : i1
    %ready = comb.or %not_v, %m_axis_tready : i1
    %v_next = comb.mux %ready, %s_axis_tvalid, %v : i1
    %v = seq.firreg %v_next clock %clk reset sync %rst, %false : i1
    %sum = comb.add %s_axis_tdata, %k : i{width}
    %d_next = comb.mux %ready, %sum, %d : i{width}
    %d = seq.firreg %d_next clock %clk : i{width}
    hw.output %ready, %d, %v : i1, i{width}, i1
  }}
}}
"""


def random_beats(count: int, width: int, seed: int) -> list[int]:
    """`count` random `width`-bit beats (any width)."""
    rng = np.random.default_rng(seed)
    words = (width + 31) // 32
    raw = rng.integers(0, 1 << 32, size=(count, words), dtype=np.uint64)
    beats = []
    for row in raw:
        value = 0
        for word in row[::-1]:
            value = (value << 32) | int(word)
        beats.append(value % (1 << width))
    return beats
