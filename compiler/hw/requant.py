"""The requantization datapath in hardware: the integer rule of DESIGN.md's
numerics (`compiler.numerics.requantize` is its int64 reference), built with a
`ModuleBuilder` by the MVU and the element-wise PEs."""

from __future__ import annotations

from xdsl.ir import SSAValue

from compiler.hw.bits import width_of
from compiler.hw.builder import ModuleBuilder
from compiler.hw.const_mult import ConstantMultiplier
from compiler.numerics import signed_bits


def requantize(b: ModuleBuilder, acc: SSAValue, multiplier: SSAValue | int, shift: int, lo: int, hi: int,
               out_width: int, constants: ConstantMultiplier | None = None) -> SSAValue:
    """`clamp((acc * multiplier + 2**(shift-1)) >> shift, lo, hi)` (DESIGN.md
    numerics), `out_width` bits; `multiplier` a signed value or a constant. A
    constant (an int or a `hw.constant` value) is
    multiplied by shift-and-add when `constants` has that style, else by `comb.mul`.

    Computed at a width that cannot overflow; the clamp compares the unshifted
    sum with `lo << shift` and `(hi + 1) << shift` (the same decisions as
    clamping the shifted value, and every bit of the sum is used)."""
    if isinstance(multiplier, int):
        m_bits = signed_bits(multiplier, multiplier)
    else:
        m_bits = width_of(multiplier)
    bounds = (lo << shift, ((hi + 1) << shift) - 1)
    width = max(width_of(acc) + m_bits + 1, signed_bits(min(bounds), max(bounds)) + 1)
    known = multiplier if isinstance(multiplier, int) else b.constant_value(multiplier)
    if known is not None and constants is not None and constants.style == "shift-add":
        scaled = constants.times(acc, known, width)
    elif isinstance(multiplier, int):
        scaled = b.mul_const(acc, multiplier, width)
    else:
        scaled = b.mul(acc, multiplier, width=width)
    rounding = (1 << shift) >> 1
    if rounding:
        scaled = b.add(scaled, b.const(rounding, width), width=width)
    below = b.slt(scaled, b.const(bounds[0], width))
    above = b.sgt(scaled, b.const(bounds[1], width))
    inside = b.extract(scaled, shift, out_width)
    return b.mux(below, b.const(lo, out_width), b.mux(above, b.const(hi, out_width), inside))
