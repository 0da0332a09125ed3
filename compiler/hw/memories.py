"""Arrays, ROMs and RAMs in hardware: the `ModuleBuilder` methods that store
words (`compiler.hw.builder`; every `ModuleBuilder` has them).

* `array_constant` / `array_get` / `pick` / `rom_lookup` — constant arrays and
  muxes as logic (`hw.aggregate_constant` + `hw.array_get`);
* `rom_memory` — a `seq.firmem` loaded by `$readmemh`, registered read;
* `ram` — a `seq.firmem` with a write port and a combinational read (what
  synthesis maps to LUT-RAM), `register_bank` its equivalent in flip-flops,
  `buffer` the one of the two that fits the depth.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import hw as xdsl_hw
from xdsl.dialects.builtin import IntegerType
from xdsl.dialects.hw import ArrayType
from xdsl.ir import SSAValue

from compiler.hw.bits import unsigned_bits, width_of
from dialects.circt import (
    AggregateConstantOp,
    FirMemInitAttr,
    FirMemOp,
    FirMemReadPortOp,
    FirMemType,
    FirMemWritePortOp,
    address_width,
)

REGISTER_BANK_DEPTH = 2
"""Buffers of at most this many words stay registers: a LUT-RAM would cost as
much and read no faster."""


class MemoryMethods:
    """Mixed into `ModuleBuilder`: uses its `name`, `_add`, `const`, `zext`, `reg`,
    `eq`, `and_`, `true` and `clock`."""

    def array_constant(self, values: Sequence[int], width: int, name: str | None = None) -> SSAValue:
        """`hw.aggregate_constant`: element i is values[i] (`width` bits each)."""
        array_type = ArrayType(IntegerType(width), len(values))
        return self._add(AggregateConstantOp.from_elements([int(v) for v in values], array_type), name)

    def array_get(self, array: SSAValue, index: SSAValue) -> SSAValue:
        """`hw.array_get`; `index` (unsigned) is zero-extended or truncated to the
        ceil(log2(size)) bits CIRCT requires. Arrays need at least two elements."""
        array_type = array.type
        assert isinstance(array_type, ArrayType)
        bits = (len(array_type) - 1).bit_length()
        if bits == 0:
            raise ValueError("hw.array_get of a one-element array: use the element (see rom_lookup)")
        return self._add(xdsl_hw.ArrayGetOp(array, self.zext(index, bits)))

    def pick(self, values: Sequence[SSAValue], index: SSAValue) -> SSAValue:
        """values[index] of equal-typed values (`hw.array_create` + `hw.array_get`;
        one value needs no index)."""
        if len(values) == 1:
            return values[0]
        array = self._add(xdsl_hw.ArrayCreateOp(*reversed(list(values))))
        return self.array_get(array, index)

    def rom_lookup(self, values: Sequence[int], width: int, index: SSAValue, name: str | None = None) -> SSAValue:
        """values[index] as `width`-bit logic: a constant when there is one value,
        else `hw.aggregate_constant` + `hw.array_get`."""
        if len(values) == 1:
            return self.const(int(values[0]), width)
        return self.array_get(self.array_constant(values, width, name), index)

    def rom_memory(
        self, name: str, init_file: str, depth: int, width: int, address: SSAValue, enable: SSAValue
    ) -> SSAValue:
        """A `seq.firmem` of `depth` words, loaded by `$readmemh(init_file)` inside
        the memory's own Verilog module (an inline init, which synthesis reads),
        with one read port of latency 1: the data is the word at the `address`
        presented (with `enable` high) at the previous clock edge."""
        assert self.clock is not None
        init = FirMemInitAttr(init_file, is_inline=True)
        memory = self._add(FirMemOp(FirMemType(depth, width), init=init, name=name), name)
        return self._add(FirMemReadPortOp(memory, self.zext(address, address_width(depth)), self.clock, enable))

    def ram(self, name: str, depth: int, write_address: SSAValue, write_data: SSAValue,
            write_enable: SSAValue, read_address: SSAValue) -> SSAValue:
        """A `seq.firmem` of `depth` words of `write_data`'s width, written at the
        clock edge (`write_data` at `write_address` when `write_enable` is high)
        and read combinationally (read latency 0): the data is the word at
        `read_address` now, the one written at this edge only after it. This is
        the form synthesis maps to LUT-RAM (distributed RAM). Its contents before
        the first write are undefined (the Verilog `reg` array, no reset)."""
        assert self.clock is not None
        width = width_of(write_data)
        bits = address_width(depth)
        memory = self._add(FirMemOp(FirMemType(depth, width), read_latency=0, name=name), name)
        self.block.add_op(FirMemWritePortOp(memory, self.zext(write_address, bits), write_data, self.clock,
                                            write_enable))
        return self._add(FirMemReadPortOp(memory, self.zext(read_address, bits), self.clock, self.true()))

    def buffer(self, name: str, depth: int, write_address: SSAValue, data: SSAValue,
               write_enable: SSAValue, read_address: SSAValue) -> SSAValue:
        """`depth` words written at the clock edge and read combinationally: a
        `ram` named `<module>_<name>` when `depth > REGISTER_BANK_DEPTH`, else a
        `register_bank` of registers `<name>_<i>`."""
        if depth > REGISTER_BANK_DEPTH:
            return self.ram(f"{self.name}_{name}", depth, write_address, data, write_enable, read_address)
        return self.register_bank(name, depth, write_address, data, write_enable, read_address)

    def register_bank(self, name: str, depth: int, write_address: SSAValue, data: SSAValue,
                      write_enable: SSAValue, read_address: SSAValue) -> SSAValue:
        """`ram` in flip-flops: `depth` registers `<name>_<i>`, register
        `write_address` loaded with `data` when `write_enable` is high, the one at
        `read_address` read through a mux."""
        slots = []
        for index in range(depth):
            slot = self.reg(f"{name}_{index}", width_of(data))
            hit = self.eq(write_address, self.const(index, unsigned_bits(depth))) if depth > 1 else self.true()
            slot.set_next(data, enable=self.and_(write_enable, hit))
            slots.append(slot.value)
        return self.pick(slots, read_address)
