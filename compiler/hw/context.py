"""What a PE generator of `compiler/hw/` gets besides its spatial op.

    def generate_foo(op: FooOp, ctx: GeneratorContext) -> hw.HWModuleOp:
        b = ModuleBuilder(ctx.module_name)
        table = ctx.rom(op.table)                     # int64 contents of a rom.rom
        if ctx.rom_style == "memory":
            path = ctx.add_rom_file("table", hex_text)   # -> "rom/table.hex"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import hw
from xdsl.dialects.builtin import ModuleOp, SymbolRefAttr
from xdsl.ir import Operation
from xdsl.traits import SymbolTable

from compiler.errors import HwcError
from compiler.hw.names import sanitize
from compiler.ir import dense_to_numpy
from compiler.weights import WeightStore
from dialects.rom import RomOp, signed_range

ROM_STYLES = ("logic", "memory")
"""How ROMs become hardware: constant arrays (`logic`) or `seq.firmem`s loaded
by `$readmemh` from `rom/<symbol>.hex` (`memory`)."""


@dataclass
class GeneratorContext:
    """`module_name`: the `hw.module` to build; `rom_style`: one of ROM_STYLES;
    ROM contents through `rom`/`rom_width` (looked up in `module`, read inline
    or from `store`); `const_mult`: how products by constants are built; `$readmemh` files recorded with `add_rom_file` into
    `rom_files`, and modules the PE instantiates in `helper_modules` (both shared
    by the generators of one design)."""

    module_name: str
    rom_style: str
    module: ModuleOp
    store: WeightStore
    rom_files: dict[str, str] = field(default_factory=dict)
    const_mult_option: str = "shift-add"
    """`compiler.hw.const_mult.CONST_MULTS`: how products by constants are built."""
    helper_modules: list[hw.HWModuleOp] = field(default_factory=list)
    """Modules a generator's module instantiates besides the PE modules (a folded
    MVU's logic weight ROM), shared by the generators of one design."""

    @property
    def const_mult(self) -> str:
        """How products by constants are built: the option with logic ROMs; with
        memory ROMs always `mul` (weights belong in memories there)."""
        return self.const_mult_option if self.rom_style == "logic" else "mul"

    def rom_op(self, symbol: SymbolRefAttr) -> RomOp:
        rom = SymbolTable.lookup_symbol(self.module, symbol)
        if not isinstance(rom, RomOp):
            raise HwcError(f"lower-spatial-to-hw: no rom.rom @{symbol.root_reference.data}")
        return rom

    def rom(self, symbol: SymbolRefAttr) -> np.ndarray:
        """The ROM's contents as int64 (inline, or from the weight store)."""
        rom = self.rom_op(symbol)
        if rom.value is not None:
            return dense_to_numpy(rom.value).astype(np.int64)
        contents = np.asarray(self.store.get(rom.sym_name.data)).astype(np.int64)
        lo, hi = signed_range(rom.width)
        if tuple(contents.shape) != rom.shape or (contents.size and (contents.min() < lo or contents.max() > hi)):
            raise HwcError(f"ROM image: @{rom.sym_name.data} does not match its rom.rom declaration")
        return contents

    def rom_width(self, symbol: SymbolRefAttr) -> int:
        return self.rom_op(symbol).width

    def add_rom_file(self, symbol: str, contents: str) -> str:
        """Record a `$readmemh` file for `symbol`; returns its path `rom/<symbol>.hex`
        (relative to the build folder, where the simulator runs)."""
        path = f"rom/{sanitize(symbol)}.hex"
        self.rom_files[path] = contents
        return path


Generator = Callable[[Operation, GeneratorContext], hw.HWModuleOp]
"""A PE generator: the spatial op and its context in, its `hw.module` out."""
