"""The spatial executor: runs a `spatial.graph` frame by frame, bit-exact with the
integer executor, and predicts its timing from the PEs' `ii` and `latency`.

Compilation happens once, in the constructor: every PE becomes a numpy kernel
closure over its ROM contents (read once), and the graph a list of steps over
numbered slots. A run pushes any number of samples through as one batch
(chunked to bound memory): a stream's value is an array [samples, *frame].
The arithmetic reuses the integer executor's functions (`int_kernels`): the
exact GEMM bound, `requantize`, `wrap`.

Entry points:

* `run_int({name: ints})` — integers in the nn layout (NCHW, batch on axis 0),
  exactly what `IntExecutor.run_int` takes and gives;
* `run({name: floats})` — the host's view, as `IntExecutor.run`;
* `run_frames({name: frames})` — integers in the stream layout [samples, *frame];
* beat level — `stream_frames(name, ints)` packs samples into AXI4-Stream beats,
  `unpack_beats(name, beats)` unpacks them, `run_beats({name: beats})` runs on beats.

Beat packing (the AXI4-Stream `tdata` layout): a frame is streamed in row-major
frame order (NHWC, channel innermost), `lanes` consecutive elements per beat,
frames one after another. Element l of a beat is `tdata[l·w + w-1 : l·w]`
(lane 0 in the least significant bits), each element a `w`-bit two's-complement
integer, `w` the stream's element width. A beat is returned as a Python int
(tdata read as unsigned).

Timing: `cycles_per_inference` is the largest PE `ii` (the bottleneck: the
pipeline overlaps inferences); `latency` is the cycles until the first
inference has left, from the first frame's schedule (`compiler/schedule.py`);
`pe_timing` lists each PE.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
)
from xdsl.ir import Operation, SSAValue
from xdsl.traits import SymbolTable

from compiler.errors import HwcError
from compiler.schedule import latency as schedule_latency
from compiler.executor.int_kernels import accumulator_bound
from compiler.ir import dense_to_numpy, numpy_dtype
from compiler.numerics import (
    FLOAT64_EXACT_BOUND, HOST_OPS, dequantize_output, quantize_input, requantize, signed_bounds, wrap,
)
from compiler.weights import WeightStore, store_for
from dialects import spatial
from dialects.nn import HOST_OP_ATTR, NAME_ATTR, SCALE_ATTR
from dialects.spatial import INPUTS_ATTR, OUTPUTS_ATTR, PROBE_ATTR
from dialects.stream_layout import PERM_KEY, SHAPE_KEY, SOURCE_KEY, Layout
from dialects.rom import RomOp, signed_range

MAX_CHUNK_BYTES = 256 << 20
"""Samples run in chunks whose streams stay below this many bytes (as int64)."""

Kernel = Callable[..., tuple[np.ndarray, ...]]


# --------------------------------------------------------------------------- ports


@dataclass(frozen=True)
class Port:
    """A graph input or output: its stream and how the host's nn tensor maps onto it."""

    name: str
    stream: spatial.StreamType
    nn_shape: tuple[int, ...]
    layout: Layout
    scale: float | None
    host_op: str | None

    @property
    def frame(self) -> tuple[int, ...]:
        return self.stream.frame

    @property
    def width(self) -> int:
        return self.stream.width

    def to_frames(self, ints: np.ndarray) -> np.ndarray:
        """[samples, *nn_shape[1:]] → [samples, *frame]."""
        return self.layout.to_frames(ints, self.frame)

    def from_frames(self, frames: np.ndarray) -> np.ndarray:
        """[samples, *frame] → [samples, *nn_shape[1:]]."""
        return self.layout.from_frames(frames, self.nn_shape[1:])


def _ports(graph: spatial.GraphOp, key: str, streams: Sequence[SSAValue]) -> list[Port]:
    attr = graph.attributes.get(key)
    if not isinstance(attr, ArrayAttr) or len(attr.data) != len(streams):
        raise HwcError(f"spatial executor: graph attribute {key} must describe each of its {len(streams)} ports "
                       "(run map-to-spatial)")
    ports = []
    for entry, value in zip(attr.data, streams):
        assert isinstance(entry, DictionaryAttr)
        data = entry.data
        name = data.get(NAME_ATTR)
        scale = data.get(SCALE_ATTR)
        host_op = data.get(HOST_OP_ATTR)
        if host_op is not None and not (isinstance(host_op, StringAttr) and host_op.data in HOST_OPS):
            raise HwcError(f"spatial executor: nn.host_op must be one of {', '.join(HOST_OPS)}")
        ports.append(Port(
            name=name.data if isinstance(name, StringAttr) else f"port{len(ports)}",
            stream=spatial.stream_of(value),
            nn_shape=tuple(data[SHAPE_KEY].get_values()),
            layout=Layout.of(data[SOURCE_KEY].get_values(), data[PERM_KEY].get_values()),
            scale=float(scale.value.data) if isinstance(scale, FloatAttr) else None,
            host_op=host_op.data if host_op is not None else None,
        ))
    return ports


# --------------------------------------------------------------------------- ROMs


def rom_array(module: ModuleOp, store: WeightStore, symbol: SymbolRefAttr) -> np.ndarray:
    """The contents of ROM `symbol` as int64 (inline, or from the ROM image)."""
    rom = SymbolTable.lookup_symbol(module, symbol)
    if not isinstance(rom, RomOp):
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


class _Kernels:
    """Kernel factories: `factory(op) -> fn(*operand arrays) -> tuple of result arrays`."""

    def __init__(self, module: ModuleOp, store: WeightStore):
        self.module = module
        self.store = store

    def rom(self, symbol: SymbolRefAttr) -> np.ndarray:
        return rom_array(self.module, self.store, symbol)

    def build(self, op: Operation) -> Kernel:
        factory = getattr(self, "k_" + op.name.split(".")[1], None)
        if factory is None:
            raise HwcError(f"the spatial executor does not support {op.name}")
        return factory(op)

    @staticmethod
    def _frame(value: SSAValue) -> tuple[int, ...]:
        return spatial.stream_of(value).frame

    @staticmethod
    def _width(value: SSAValue) -> int:
        return spatial.stream_of(value).width

    def k_mvu(self, op: spatial.MVUOp) -> Kernel:
        weight = self.rom(op.weights)
        bias = self.rom(op.bias) if op.bias is not None else None
        in_width, out_width = self._width(op.input), self._width(op.output)
        exact_in_float = accumulator_bound(weight, bias, in_width) < FLOAT64_EXACT_BOUND
        compute = np.float64 if exact_in_float else np.int64
        matrix = np.ascontiguousarray(weight.T.astype(compute))
        offset = bias.astype(compute) if bias is not None else None
        requant = None
        if op.multiplier is not None:
            requant = (self.rom(op.multiplier).reshape(-1), op.shift.value.data, op.lo.value.data, op.hi.value.data)
        out_frame = self._frame(op.output)

        def run(x: np.ndarray):
            vectors = x.reshape(-1, matrix.shape[0]).astype(compute)
            acc = vectors @ matrix
            if offset is not None:
                acc += offset
            acc = acc.astype(np.int64)
            if requant is not None:
                acc = requantize(acc, *requant)
            return (wrap(acc, out_width).reshape(x.shape[0], *out_frame),)

        return run

    def k_swu(self, op: spatial.SWUOp) -> Kernel:
        kernel, strides = op.kernel.get_values(), op.strides.get_values()
        pads, dilations = op.pads.get_values(), op.dilations.get_values()
        pad_value = op.pad_value.value.data
        rank = len(kernel)
        out_frame = self._frame(op.output)
        widths = [(0, 0)] + [(pads[i], pads[rank + i]) for i in range(rank)] + [(0, 0)]
        spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]

        def run(x: np.ndarray):
            padded = np.pad(x, widths, constant_values=pad_value)
            views = sliding_window_view(padded, spans, axis=tuple(range(1, 1 + rank)))
            index = (slice(None),) + tuple(slice(0, o * s, s) for o, s in zip(out_frame, strides))
            index += (slice(None),) + tuple(slice(None, None, d) for d in dilations)
            windows = views[index]  # [B, *out, C, *kernel]
            order = (0, *range(1, 1 + rank), *range(2 + rank, 2 + 2 * rank), 1 + rank)
            return (np.ascontiguousarray(windows.transpose(order)).reshape(x.shape[0], *out_frame),)

        return run

    def k_pool(self, op: spatial.PoolOp) -> Kernel:
        window = op.window.value.data
        width = self._width(op.output)
        is_max = op.kind.data == "max"

        def run(x: np.ndarray):
            grouped = x.reshape(*x.shape[:-1], window, x.shape[-1] // window)
            if is_max:
                return (grouped.max(axis=-2),)
            return (wrap(grouped.sum(axis=-2, dtype=np.int64), width),)

        return run

    def k_global_pool(self, op: spatial.GlobalPoolOp) -> Kernel:
        width = self._width(op.output)
        out_frame = self._frame(op.output)

        def run(x: np.ndarray):
            sums = x.reshape(x.shape[0], -1, x.shape[-1]).sum(axis=1, dtype=np.int64)
            return (wrap(sums, width).reshape(x.shape[0], *out_frame),)

        return run

    def k_requant(self, op: spatial.RequantOp) -> Kernel:
        multiplier = self.rom(op.multiplier).reshape(-1)
        shift, lo, hi = op.shift.value.data, op.lo.value.data, op.hi.value.data
        width = self._width(op.output)
        return lambda x: (wrap(requantize(x, multiplier, shift, lo, hi), width),)

    def k_eltwise(self, op: spatial.EltwiseOp) -> Kernel:
        kind = op.kind.data
        lhs_scale, rhs_scale = op.lhs_scale.value.data, op.rhs_scale.value.data
        requant = (np.array([op.multiplier.value.data]), op.shift.value.data, op.lo.value.data, op.hi.value.data)
        width = self._width(op.output)

        def run(lhs: np.ndarray, rhs: np.ndarray):
            a, b = lhs.astype(np.int64), rhs.astype(np.int64)
            if kind == "mul":
                acc = a * b
            elif kind == "add":
                acc = a * lhs_scale + b * rhs_scale
            else:
                acc = a * lhs_scale - b * rhs_scale
            return (wrap(requantize(acc, *requant), width),)

        return run

    def k_lookup(self, op: spatial.LookupOp) -> Kernel:
        table = self.rom(op.table)
        offset = -signed_bounds(self._width(op.input))[0]
        return lambda x: (table[x.astype(np.int64) + offset],)

    def k_concat(self, op: spatial.ConcatOp) -> Kernel:
        return lambda *xs: (np.concatenate([x.astype(np.int64) for x in xs], axis=-1),)

    def k_dup(self, op: spatial.DupOp) -> Kernel:
        count = len(op.outputs)
        return lambda x: (x,) * count

    def _reframe(self, op: Operation) -> Kernel:
        frame = self._frame(op.results[0])
        return lambda x: (x.reshape(x.shape[0], *frame),)

    k_reshape = _reframe
    k_resize = _reframe
    k_fifo = _reframe


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class PETiming:
    layer: str
    kind: str
    ii: int
    latency: int


def _pe_timing(op: Operation) -> PETiming:
    ii = op.ii.value.data if op.ii is not None else op.nominal_ii()
    latency = op.latency.value.data if op.latency is not None else op.nominal_latency()
    return PETiming(op.layer.data, op.name, ii, latency)


# --------------------------------------------------------------------------- the executor


def find_graph(module: ModuleOp) -> spatial.GraphOp:
    graphs = [op for op in module.ops if isinstance(op, spatial.GraphOp)]
    for graph in graphs:
        if graph.sym_name.data == "main":
            return graph
    if len(graphs) == 1:
        return graphs[0]
    raise HwcError("module has no spatial.graph @main (run map-to-spatial)")


class SpatialExecutor:
    """A `spatial.graph @main` compiled into numpy kernels over frames (module docstring).

    Requires a verified module as `map-to-spatial` (and later folding passes)
    produce. Inputs are samples stacked on axis 0.
    """

    def __init__(self, module: ModuleOp):
        store = store_for(module)
        graph = find_graph(module)
        block = graph.body.block
        self.inputs = _ports(graph, INPUTS_ATTR, list(block.args))
        terminator = block.last_op
        assert isinstance(terminator, spatial.YieldOp)
        self.outputs = _ports(graph, OUTPUTS_ATTR, list(terminator.values))
        kernels = _Kernels(module, store)
        slot_of: dict[SSAValue, int] = {}
        for arg in block.args:
            slot_of[arg] = len(slot_of)
        self._steps: list[tuple[Kernel, tuple[int, ...], tuple[int, ...]]] = []
        self._slot_bytes = sum(8 * spatial.stream_of(a).beats * spatial.stream_of(a).lanes.data for a in block.args)
        timings: list[PETiming] = []
        for op in block.ops:
            if isinstance(op, spatial.YieldOp):
                continue
            operands = tuple(slot_of[v] for v in op.operands)
            for result in op.results:
                slot_of[result] = len(slot_of)
                self._slot_bytes += 8 * int(np.prod(spatial.stream_of(result).frame))
            self._steps.append((kernels.build(op), operands, tuple(slot_of[r] for r in op.results)))
            if isinstance(op, spatial.PE_OPS):
                timings.append(_pe_timing(op))
        self._slot_count = len(slot_of)
        self._output_slots = [slot_of[v] for v in terminator.values]
        self._probes = [(slot_of[op.results[0]], op) for op in block.ops if PROBE_ATTR in op.attributes]
        self._slot_of = slot_of
        self.pe_timing: list[PETiming] = timings
        self.cycles_per_inference = max((t.ii for t in timings), default=0)
        self.latency = schedule_latency(graph)

    # ------------------------------------------------------------------ names

    @property
    def input_names(self) -> list[str]:
        return [p.name for p in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [p.name for p in self.outputs]

    def port(self, name: str) -> Port:
        for port in (*self.inputs, *self.outputs):
            if port.name == name:
                return port
        raise HwcError(f"no graph input or output {name!r} (ports: {', '.join(self.input_names + self.output_names)})")

    # ------------------------------------------------------------------ running

    def run_frames(self, frames: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Stream-layout integers in ([samples, *frame] per input) and out."""
        arrays = []
        for port in self.inputs:
            if port.name not in frames:
                raise HwcError(f"missing input {port.name!r}")
            array = np.asarray(frames[port.name])
            if array.ndim != len(port.frame) + 1 or array.shape[1:] != port.frame:
                raise HwcError(f"input {port.name!r}: expected frames of shape {list(port.frame)} on axis 0, "
                               f"got {list(array.shape)}")
            arrays.append(array.astype(np.int64))
        count = arrays[0].shape[0] if arrays else 1
        chunk = max(1, MAX_CHUNK_BYTES // max(self._slot_bytes, 1))
        pieces: list[list[np.ndarray]] = [[] for _ in self.outputs]
        for begin in range(0, count, chunk):
            results = self._run_chunk([a[begin:begin + chunk] for a in arrays])
            for out, piece in zip(pieces, results):
                out.append(piece)
        return {p.name: np.concatenate(parts) for p, parts in zip(self.outputs, pieces)}

    def _run_chunk(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        slots: list = [None] * self._slot_count
        slots[:len(arrays)] = arrays
        for kernel, operands, results in self._steps:
            for slot, value in zip(results, kernel(*[slots[i] for i in operands])):
                slots[slot] = value
        return [np.asarray(slots[s]) for s in self._output_slots]

    def _all_slots(self, inputs: Mapping[str, np.ndarray]) -> list:
        frames = {port.name: port.to_frames(self._checked_ints(port, inputs[port.name])) for port in self.inputs}
        slots: list = [None] * self._slot_count
        slots[:len(self.inputs)] = [frames[p.name].astype(np.int64) for p in self.inputs]
        for kernel, operands, results in self._steps:
            for slot, value in zip(results, kernel(*[slots[i] for i in operands])):
                slots[slot] = value
        return slots

    def stream_values(self, inputs: Mapping[str, np.ndarray]) -> dict[SSAValue, np.ndarray]:
        """Every stream of the graph as frames ([samples, *frame]) for integer inputs in the
        nn layout: what each PE reads and writes, to test PEs one at a time."""
        slots = self._all_slots(inputs)
        return {value: np.asarray(slots[slot]) for value, slot in self._slot_of.items()}

    def probe(self, inputs: Mapping[str, np.ndarray]) -> dict[int, tuple[str, np.ndarray]]:
        """Every probed stream (`spatial.probe`, set by map-to-spatial) for integer inputs
        in the nn layout: {activation index: (layer, values as [samples, elements] in nn
        row-major order)}."""
        slots = self._all_slots(inputs)
        probes = {}
        for slot, op in self._probes:
            attrs = op.attributes[PROBE_ATTR].data
            layout = Layout.of(attrs["source"].get_values(), attrs["perm"].get_values())
            frame = np.asarray(slots[slot])
            nn_order = layout.from_frames(frame, (-1,))
            probes[attrs["index"].value.data] = (op.layer.data, nn_order)
        return probes

    def run_int(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw integers in the nn layout in and out, as `IntExecutor.run_int`."""
        unknown = sorted(set(inputs) - set(self.input_names))
        if unknown:
            raise HwcError(f"unknown input {unknown[0]!r} (the graph's inputs: {', '.join(self.input_names)})")
        frames = {}
        for port in self.inputs:
            if port.name not in inputs:
                raise HwcError(f"missing input {port.name!r}")
            frames[port.name] = port.to_frames(self._checked_ints(port, inputs[port.name]))
        outputs = self.run_frames(frames)
        return {p.name: p.from_frames(outputs[p.name]).astype(numpy_dtype(p.stream.element_type))
                for p in self.outputs}

    @staticmethod
    def _checked_ints(port: Port, array) -> np.ndarray:
        array = np.asarray(array)
        expected = port.nn_shape[1:]
        if array.ndim != len(expected) + 1 or array.shape[1:] != expected or array.shape[0] == 0:
            raise HwcError(f"input {port.name!r}: expected samples of shape {list(expected)} stacked on axis 0, "
                           f"got shape {list(array.shape)}")
        if array.dtype.kind not in "iu":
            raise HwcError(f"input {port.name!r}: expected integers, got {array.dtype} data")
        lo, hi = signed_bounds(port.width)
        if array.size and (array.min() < lo or array.max() > hi):
            raise HwcError(f"input {port.name!r}: values outside the {port.width}-bit range [{lo}, {hi}]")
        return array.astype(np.int64)

    def quantize_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The integers the host sends for float inputs: `clamp(floor(x / s + 0.5), ±(2^(w-1)-1))`."""
        result = {}
        for name, array in inputs.items():
            port = self.port(name)
            if port.scale is None:
                raise HwcError(f"input {name!r} has no nn.scale: the graph is not quantized")
            result[name] = quantize_input(array, port.scale, port.width)
        return result

    def dequantize_outputs(self, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`q * scale`, then the port's host op (softmax / log_softmax over the last axis)."""
        result = {}
        for port in self.outputs:
            if port.scale is None:
                raise HwcError(f"output {port.name!r} has no nn.scale: the graph is not quantized")
            result[port.name] = dequantize_output(outputs[port.name], port.scale, port.host_op)
        return result

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Float outputs for float inputs, as `IntExecutor.run`."""
        return self.dequantize_outputs(self.run_int(self.quantize_inputs(inputs)))

    # ------------------------------------------------------------------ beats

    def stream_frames(self, name: str, ints: np.ndarray) -> list[int]:
        """Samples of port `name` (nn layout, samples on axis 0) as AXI4-Stream beats
        (module docstring: frame order, lane 0 in the least significant bits)."""
        port = self.port(name)
        frames = port.to_frames(np.asarray(ints).astype(np.int64))
        return pack_beats(frames.reshape(-1), port.stream.lanes.data, port.width)

    def unpack_beats(self, name: str, beats: Sequence[int]) -> np.ndarray:
        """Beats of port `name` back into samples in the nn layout (the inverse of `stream_frames`)."""
        port = self.port(name)
        elements = unpack_beats(beats, port.stream.lanes.data, port.width)
        per_frame = int(np.prod(port.frame))
        if elements.size % per_frame:
            raise HwcError(f"port {name!r}: {elements.size} elements are not whole frames of {per_frame}")
        return port.from_frames(elements.reshape(-1, *port.frame))

    def run_beats(self, beats: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
        """Input beats in, output beats out: what the hardware's AXI4-Stream ports carry."""
        ints = {name: self.unpack_beats(name, values) for name, values in beats.items()}
        outputs = self.run_int(ints)
        return {name: self.stream_frames(name, values) for name, values in outputs.items()}


def pack_beats(elements: np.ndarray, lanes: int, width: int) -> list[int]:
    """Row-major `elements` as beats of `lanes` `width`-bit two's-complement fields, lane 0 lowest."""
    if elements.size % lanes:
        raise HwcError(f"{elements.size} elements are not whole beats of {lanes} lanes")
    mask = (1 << width) - 1
    fields = [int(v) & mask for v in elements.reshape(-1)]
    beats = []
    for begin in range(0, len(fields), lanes):
        beat = 0
        for lane, value in enumerate(fields[begin:begin + lanes]):
            beat |= value << (lane * width)
        beats.append(beat)
    return beats


def unpack_beats(beats: Sequence[int], lanes: int, width: int) -> np.ndarray:
    """The int64 elements of `beats` (inverse of `pack_beats`), sign-extended."""
    mask, sign = (1 << width) - 1, 1 << (width - 1)
    values = []
    for beat in beats:
        for lane in range(lanes):
            field = (int(beat) >> (lane * width)) & mask
            values.append(field - (1 << width) if field & sign else field)
    return np.array(values, np.int64)


