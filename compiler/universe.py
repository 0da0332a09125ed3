"""hwc's xDSL universe: makes hwc's dialects and passes visible to `xdsl-opt`
(and to any xDSL tool that reads the `xdsl.universe` entry points).

pyproject.toml declares `hwc = "compiler.universe:HWC_UNIVERSE"` under
`xdsl.universe`. xDSL refuses a universe that redefines one of its own dialects
or passes, so only the dialects xDSL does not ship (nn, rom, spatial) are
listed here; builtin, func, hw, comb and seq come from xDSL's own universe.

So plain `xdsl-opt` reads model.nn/rom/spatial.mlir and runs every hwc pass,
but cannot read model.hw.mlir: a universe cannot add the CIRCT operations hwc
defines (`dialects.circt`: seq.firreg, seq.firmem, hw.aggregate_constant) to
xDSL's own `hw` and `seq`. `hwc-opt` (compiler/opt.py) loads them and reads
every level; `xdsl-opt --allow-unregistered-dialect` reads the generic form
`hwc-opt --print-op-generic` writes.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.dialects import get_all_dialects
from xdsl.ir import Dialect
from xdsl.universe import Universe

from compiler.ir import hwc_dialects
from passes import ALL_PASSES


def _own_dialects() -> dict[str, Callable[[], Dialect]]:
    """Factories for the dialects hwc adds to those xDSL already defines."""
    xdsl_names = set(get_all_dialects())
    return {
        dialect.name: (lambda dialect=dialect: dialect)
        for dialect in hwc_dialects()
        if dialect.name not in xdsl_names
    }


HWC_UNIVERSE = Universe(all_dialects=_own_dialects(), all_passes=dict(ALL_PASSES))
