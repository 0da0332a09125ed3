"""The spatial kernel table: a numpy kernel per PE of a `spatial.graph`, bit-exact
with the integer executor, and the graph as a `plan.Body` (a stream's value is an
array [samples, *frame], computed in int64).

The arithmetic is the integer executor's (`compiler/numerics.py`: `requantize`,
`wrap`; the exact GEMM bound of `int_kernels.accumulator_bound`). Each kernel is
made once per op, from the op's attributes and its ROMs' contents (read once).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from xdsl.dialects.builtin import ModuleOp, SymbolRefAttr
from xdsl.ir import Operation, SSAValue

from compiler.errors import HwcError
from compiler.executor.host import Port
from compiler.executor.int_kernels import accumulator_bound
from compiler.executor.kernel_table import Binding, Kernel, KernelTable, per_sample_rule
from compiler.executor.plan import Body
from compiler.executor.vector_kernel import VectorStates, vector_kernel
from compiler.ir import dense_to_numpy
from compiler.numerics import FLOAT64_EXACT_BOUND, requantize, signed_bounds, wrap
from compiler.weights import WeightStore
from dialects import spatial
from dialects.rom import lookup_rom, signed_range


# --------------------------------------------------------------------------- ROMs


class Roms:
    """The contents of a module's ROMs, as int64 (inline, or from the ROM image)."""

    def __init__(self, module: ModuleOp, store: WeightStore):
        self.module, self.store = module, store

    def read(self, symbol: SymbolRefAttr) -> np.ndarray:
        return rom_array(self.module, self.store, symbol)


def rom_array(module: ModuleOp, store: WeightStore, symbol: SymbolRefAttr) -> np.ndarray:
    """The contents of ROM `symbol` as int64 (inline, or from the ROM image)."""
    rom = lookup_rom(module, symbol)
    if rom is None:
        raise HwcError(f"spatial executor: no rom.rom @{symbol.root_reference.data}")
    if rom.value is not None:
        return dense_to_numpy(rom.value).astype(np.int64)
    contents = np.asarray(store.get(rom.sym_name.data))
    if tuple(contents.shape) != rom.shape:
        raise HwcError(f"ROM image: @{rom.sym_name.data} has shape {list(contents.shape)}, the IR says {list(rom.shape)}")
    lo, hi = signed_range(rom.width)
    if contents.size and (contents.min() < lo or contents.max() > hi):
        raise HwcError(f"ROM image: @{rom.sym_name.data} holds values outside {rom.width} bits")
    return contents.astype(np.int64)


# --------------------------------------------------------------------------- kernels


def _frame(value: SSAValue) -> tuple[int, ...]:
    return spatial.stream_of(value).frame


def _width(value: SSAValue) -> int:
    return spatial.stream_of(value).width


def _rounding(op: Operation) -> str:
    """A requantizing PE's rounding (`compiler.numerics.requantize`): half up unless it says."""
    rounding = op.properties.get("rounding")
    return rounding.data if rounding is not None else "half_up"

def mvu(op: spatial.MVUOp, roms: Roms) -> Kernel:
    weight = roms.read(op.weights)
    bias = roms.read(op.bias) if op.bias is not None else None
    in_width, out_width = _width(op.input), _width(op.output)
    exact_in_float = accumulator_bound(weight, bias, in_width) < FLOAT64_EXACT_BOUND
    compute = np.float64 if exact_in_float else np.int64
    matrix = np.ascontiguousarray(weight.T.astype(compute))
    offset = bias.astype(compute) if bias is not None else None
    requant = None
    if op.multiplier is not None:
        requant = (roms.read(op.multiplier).reshape(-1), op.shift.value.data, op.lo.value.data, op.hi.value.data,
                   roms.read(op.offset).reshape(-1) if op.offset is not None else None, _rounding(op))
    out_frame = _frame(op.output)

    def run(x: np.ndarray):
        vectors = x.reshape(-1, matrix.shape[0]).astype(compute)
        acc = vectors @ matrix
        if offset is not None:
            acc += offset
        acc = acc.astype(np.int64)
        if requant is not None:
            acc = requantize(acc, *requant)
        return wrap(acc, out_width).reshape(x.shape[0], *out_frame)

    return run

def swu(op: spatial.SWUOp, roms: Roms) -> Kernel:
    kernel, strides = op.kernel.get_values(), op.strides.get_values()
    pads, dilations = op.pads.get_values(), op.dilations.get_values()
    pad_value = op.pad_value.value.data
    rank = len(kernel)
    out_frame = _frame(op.output)
    widths = [(0, 0)] + [(pads[i], pads[rank + i]) for i in range(rank)] + [(0, 0)]
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]

    def run(x: np.ndarray):
        padded = np.pad(x, widths, constant_values=pad_value)
        views = sliding_window_view(padded, spans, axis=tuple(range(1, 1 + rank)))
        index = (slice(None),) + tuple(slice(0, o * s, s) for o, s in zip(out_frame, strides))
        index += (slice(None),) + tuple(slice(None, None, d) for d in dilations)
        windows = views[index]  # [B, *out, C, *kernel]
        order = (0, *range(1, 1 + rank), *range(2 + rank, 2 + 2 * rank), 1 + rank)
        return np.ascontiguousarray(windows.transpose(order)).reshape(x.shape[0], *out_frame)

    return run

def pool(op: spatial.PoolOp, roms: Roms) -> Kernel:
    window = op.window.value.data
    width = _width(op.output)
    is_max = op.kind.data == "max"
    factors = None
    if op.factors is not None:  # one per output pixel, over all channels
        factors = roms.read(op.factors).reshape(*_frame(op.output)[:-1], 1).astype(np.int64)

    def run(x: np.ndarray):
        grouped = x.reshape(*x.shape[:-1], window, x.shape[-1] // window)
        if is_max:
            return grouped.max(axis=-2)
        sums = grouped.sum(axis=-2, dtype=np.int64)
        return wrap(sums if factors is None else sums * factors, width)

    return run

def global_pool(op: spatial.GlobalPoolOp, roms: Roms) -> Kernel:
    width = _width(op.output)
    out_frame = _frame(op.output)

    def run(x: np.ndarray):
        sums = x.reshape(x.shape[0], -1, x.shape[-1]).sum(axis=1, dtype=np.int64)
        return wrap(sums, width).reshape(x.shape[0], *out_frame)

    return run

def requant(op: spatial.RequantOp, roms: Roms) -> Kernel:
    multiplier = roms.read(op.multiplier).reshape(-1)
    offset = roms.read(op.offset).reshape(-1) if op.offset is not None else None
    shift, lo, hi = op.shift.value.data, op.lo.value.data, op.hi.value.data
    width = _width(op.output)
    rounding = _rounding(op)
    return lambda x: wrap(requantize(x, multiplier, shift, lo, hi, offset, rounding), width)

def eltwise(op: spatial.EltwiseOp, roms: Roms) -> Kernel:
    kind = op.kind.data
    lhs_scale, rhs_scale = op.lhs_scale.value.data, op.rhs_scale.value.data
    requant = (np.array([op.multiplier.value.data]), op.shift.value.data, op.lo.value.data, op.hi.value.data,
               None, _rounding(op))
    width = _width(op.output)

    def run(lhs: np.ndarray, rhs: np.ndarray):
        a, b = lhs.astype(np.int64), rhs.astype(np.int64)
        if kind == "mul":
            acc = a * b
        elif kind == "add":
            acc = a * lhs_scale + b * rhs_scale
        else:
            acc = a * lhs_scale - b * rhs_scale
        return wrap(requantize(acc, *requant), width)

    return run

def lookup(op: spatial.LookupOp, roms: Roms) -> Kernel:
    table = roms.read(op.table)
    offset = -signed_bounds(_width(op.input))[0]
    return lambda x: table[x.astype(np.int64) + offset]

def concat(op: spatial.ConcatOp, roms: Roms) -> Kernel:
    return lambda *xs: np.concatenate([x.astype(np.int64) for x in xs], axis=-1)

def dup(op: spatial.DupOp, roms: Roms) -> Kernel:
    count = len(op.outputs)
    return lambda x: (x,) * count


def reframe(op: Operation, roms: Roms) -> Kernel:
    """Reshape, resize and FIFO: the same values, framed as the result stream."""
    frame = _frame(op.results[0])
    return lambda x: x.reshape(x.shape[0], *frame)


SPATIAL_KERNELS: dict[type[Operation], Callable[[Operation, Roms], Kernel]] = {
    spatial.MVUOp: mvu, spatial.SWUOp: swu, spatial.PoolOp: pool, spatial.GlobalPoolOp: global_pool,
    spatial.RequantOp: requant, spatial.EltwiseOp: eltwise, spatial.LookupOp: lookup,
    spatial.ConcatOp: concat, spatial.DupOp: dup,
    spatial.ReshapeOp: reframe, spatial.ResizeOp: reframe, spatial.FifoOp: reframe,
}
"""`make(op, roms) -> kernel(*frames)`: each op's kernel, made once at plan time."""


def spatial_table(roms: Roms, states: VectorStates | None = None) -> KernelTable:
    """The kernel table of the spatial executor, reading ROMs from `roms` and keeping
    the vector units' state in `states`. Every op of a dataflow graph computes each
    sample on its own (`per_sample_rule`)."""
    table = KernelTable("spatial executor")
    for op_type, make in SPATIAL_KERNELS.items():
        table.register(op_type, batch_rule=per_sample_rule)(_factory(make, roms))
    held = states if states is not None else VectorStates()

    def make_vector(op: spatial.VectorOp, r: Roms) -> Kernel:
        return vector_kernel(op, r.module, r.store, held)

    table.register(spatial.VectorOp, batch_rule=per_sample_rule)(_factory(make_vector, roms))
    return table


def _factory(make: Callable[[Operation, Roms], Kernel], roms: Roms):
    def factory(op: Operation, constants):
        kernel = make(op, roms)

        def instantiate(binding: Binding) -> Kernel:
            return kernel

        return instantiate

    return factory


# --------------------------------------------------------------------------- the graph as a plan body


def graph_body(graph: spatial.GraphOp, inputs: list[Port], outputs: list[Port]) -> Body:
    """The ops of `graph` as a plan body: every stream a [1, *frame] int64 value, the
    ports named by `inputs` / `outputs`."""
    block = graph.body.block
    terminator = block.last_op
    assert isinstance(terminator, spatial.YieldOp)
    return Body(
        ops=[op for op in block.ops if op is not terminator],
        inputs=list(block.args),
        outputs=list(terminator.values),
        input_names=[p.name for p in inputs],
        output_names=[p.name for p in outputs],
        shape_of=lambda value: (1, *_frame(value)),
        dtype_of=lambda value: np.dtype(np.int64),
    )
