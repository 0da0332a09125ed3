"""The C++ AXI4-Stream test bench that drives a Verilated design.

`make_testbench(in_width, out_width)` fills in `axis_tb.cpp.in` (next to this
file) for a top module with ports

    clk, rst                                   (rst synchronous, active high)
    s_axis_tdata[in_width], s_axis_tvalid, s_axis_tready     (input stream)
    m_axis_tdata[out_width], m_axis_tvalid, m_axis_tready    (output stream)

Verilator gives a port of up to 64 bits a plain integer and a wider one a
`VlWide` array of 32-bit words; the bench keeps every beat as 32-bit words and
the generated `set_input`/`get_output` functions do the conversion, so any
width works.

The compiled bench is run as

    sim IN_FILE OUT_FILE EXPECTED_OUT STALL_IN STALL_OUT SEED MAX_CYCLES

IN_FILE holds one input beat per line in hexadecimal. After `RESET_CYCLES`
cycles of reset the bench streams the beats in order with AXI4-Stream
handshakes: each cycle, while no beat is on offer, it offers the next one
unless it stalls (probability STALL_IN); an offered beat stays until accepted.
`m_axis_tready` is low with probability STALL_OUT each cycle (random, from
SEED). It runs until every input beat was accepted and EXPECTED_OUT output
beats arrived, or fails (exit status 3, message "design stalled: ..." on
stderr) after MAX_CYCLES cycles. OUT_FILE then holds `I <cycle>` per accepted
input beat, `O <cycle> <hex>` per output beat, and a last line `T <cycles>`;
cycle 0 is the first cycle after reset.
"""

from __future__ import annotations

from importlib import resources

RESET_CYCLES = 4
STALLED_EXIT_STATUS = 3

_TEMPLATE = "axis_tb.cpp.in"


def words(width: int) -> int:
    """32-bit words that hold `width` bits (Verilator's VL_WORDS_I)."""
    return (width + 31) // 32


def make_testbench(in_width: int, out_width: int) -> str:
    """The C++ test bench for a design with the given stream data widths (bits)."""
    if in_width < 1 or out_width < 1:
        raise ValueError("stream widths must be at least one bit")
    template = resources.files(__package__).joinpath(_TEMPLATE).read_text()
    substitutions = {
        "@IN_BITS@": str(in_width),
        "@OUT_BITS@": str(out_width),
        "@RESET_CYCLES@": str(RESET_CYCLES),
        "@STALLED_EXIT_STATUS@": str(STALLED_EXIT_STATUS),
        "@SET_INPUT@": _set_port("s_axis_tdata", in_width),
        "@GET_OUTPUT@": _get_port("m_axis_tdata", out_width),
    }
    for key, value in substitutions.items():
        template = template.replace(key, value)
    return template


def _set_port(port: str, width: int) -> str:
    """C++ statements storing `beat` (32-bit words) into `top->port`."""
    if width > 64:
        return f"for (int i = 0; i < {words(width)}; ++i) top->{port}[i] = beat[i];"
    if width > 32:
        return f"top->{port} = (uint64_t)beat[0] | ((uint64_t)beat[1] << 32);"
    return f"top->{port} = beat[0];"


def _get_port(port: str, width: int) -> str:
    """C++ statements reading `top->port` into `beat` (32-bit words)."""
    if width > 64:
        return f"for (int i = 0; i < {words(width)}; ++i) beat[i] = top->{port}[i];"
    if width > 32:
        return (
            f"beat[0] = (uint32_t)top->{port}; "
            f"beat[1] = (uint32_t)((uint64_t)top->{port} >> 32);"
        )
    return f"beat[0] = (uint32_t)top->{port};"
