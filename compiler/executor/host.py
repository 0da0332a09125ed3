"""The host interface of a quantized design, shared by the integer, spatial and
RTL executors: what the host sends and receives at each graph port.

A `Port` is a graph input or output: its name (`nn.name`), its nn shape (batch
axis first), its integers' width and numpy dtype, its `nn.scale`, its host op
(`nn.host_op`, outputs only) and, for a spatial stream, the stream and how it
holds the nn tensor (`dialects/stream_layout.Layout`). A `HostInterface` holds
the ports and does the host's side of a run:

* check the integers sent (`check_ints`: every input present, of the port's
  shape with samples stacked on axis 0, within the port's width);
* convert floats (`quantize_inputs` / `dequantize_outputs`, the rules of
  `compiler/numerics.py`: `quantize_input`, `dequantize_output`, `HOST_OPS`);
* pack samples into AXI4-Stream beats and back (`stream_frames`,
  `unpack_beats`, stream ports only).

Beat packing (the AXI4-Stream `tdata` layout): a frame is streamed in row-major
frame order (NHWC, channel innermost), `lanes` consecutive elements per beat,
frames one after another. Element l of a beat is `tdata[l·w + w-1 : l·w]`
(lane 0 in the least significant bits), each element a `w`-bit two's-complement
integer, `w` the stream's element width. A beat is a Python int (tdata read as
unsigned).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ArrayAttr, DenseIntOrFPElementsAttr, DictionaryAttr, FloatAttr, IntegerType, StringAttr
from xdsl.ir import Attribute, SSAValue

from compiler.errors import HwcError
from compiler.ir import numpy_dtype
from compiler.numerics import HOST_OPS, dequantize_output, quantize_input, signed_bounds
from dialects import spatial
from dialects.nn import HOST_OP_ATTR, INPUT_RANGE_ATTR, NAME_ATTR, SCALE_ATTR
from dialects.spatial import INPUTS_ATTR, OUTPUTS_ATTR
from dialects.stream_layout import PERM_KEY, SHAPE_KEY, SOURCE_KEY, Layout

Shape = tuple[int, ...]


# --------------------------------------------------------------------------- port attributes


def entry_attribute(attrs, index: int, key: str) -> Attribute | None:
    """Attribute `key` of entry `index` of an `arg_attrs` / `res_attrs`-like array (or None)."""
    if attrs is None:
        return None
    entry = attrs.data[index]
    assert isinstance(entry, DictionaryAttr)
    return entry.data.get(key)


def port_names(attrs, count: int, prefix: str) -> list[str]:
    """The `nn.name` of each of `count` entries, `f"{prefix}{i}"` where there is none."""
    names = []
    for i in range(count):
        name = entry_attribute(attrs, i, NAME_ATTR)
        names.append(name.data if isinstance(name, StringAttr) else f"{prefix}{i}")
    return names


def port_scale(attrs, index: int, what: str) -> float | None:
    """The entry's `nn.scale`, which must be a positive float when present."""
    attr = entry_attribute(attrs, index, SCALE_ATTR)
    if attr is None:
        return None
    if not isinstance(attr, FloatAttr) or not attr.value.data > 0:
        raise HwcError(f"{what}: nn.scale must be a positive float, got {attr}")
    return float(attr.value.data)


def port_host_op(attrs, index: int, what: str) -> str | None:
    """The entry's `nn.host_op`, which must be one of `HOST_OPS` when present."""
    attr = entry_attribute(attrs, index, HOST_OP_ATTR)
    if attr is not None and not (isinstance(attr, StringAttr) and attr.data in HOST_OPS):
        raise HwcError(f"{what}: nn.host_op must be one of {', '.join(HOST_OPS)}")
    return attr.data if attr is not None else None


def port_bounds(attrs, index: int) -> tuple[int, int] | None:
    """The entry's `nn.input_range` as (lo, hi), or None."""
    attr = entry_attribute(attrs, index, INPUT_RANGE_ATTR)
    if not isinstance(attr, DenseIntOrFPElementsAttr):
        return None
    lo, hi = (int(v) for v in attr.get_values())
    return lo, hi


def integer_width(tensor_type, name: str) -> int:
    element = tensor_type.get_element_type()
    if not isinstance(element, IntegerType):
        raise HwcError(f"the integer executor needs integer graph inputs and outputs; {name!r} is {element}")
    return element.width.data


# --------------------------------------------------------------------------- ports


@dataclass(frozen=True)
class Port:
    """A graph input or output as the host sees it (module docstring)."""

    name: str
    nn_shape: Shape
    width: int
    dtype: np.dtype
    """The numpy dtype the integers are returned in."""
    scale: float | None
    host_op: str | None
    stream: spatial.StreamType | None = None
    layout: Layout | None = None
    bounds: tuple[int, int] | None = None
    """An input's range when the model gives it (`nn.input_range`), else None: narrow symmetric."""

    @property
    def frame(self) -> Shape:
        return self.stream.frame

    @property
    def lanes(self) -> int:
        return self.stream.lanes.data

    def to_frames(self, ints: np.ndarray) -> np.ndarray:
        """[samples, *nn_shape[1:]] → [samples, *frame]."""
        return self.layout.to_frames(ints, self.frame)

    def from_frames(self, frames: np.ndarray) -> np.ndarray:
        """[samples, *frame] → [samples, *nn_shape[1:]]."""
        return self.layout.from_frames(frames, self.nn_shape[1:])


def function_ports(function) -> tuple[list[Port], list[Port]]:
    """The ports of a quantized `func.func`: tensors whose attributes carry the names,
    scales and host ops."""
    types = function.function_type
    ports = []
    for attrs, tensor_types, prefix in ((function.arg_attrs, types.inputs.data, "input"),
                                        (function.res_attrs, types.outputs.data, "output")):
        names = port_names(attrs, len(tensor_types), prefix)
        ports.append([
            Port(name, tuple(t.get_shape()), integer_width(t, name), numpy_dtype(t.get_element_type()),
                 port_scale(attrs, i, f"{prefix} {name!r}"),
                 port_host_op(attrs, i, f"{prefix} {name!r}") if prefix == "output" else None,
                 bounds=port_bounds(attrs, i) if prefix == "input" else None)
            for i, (name, t) in enumerate(zip(names, tensor_types))
        ])
    return ports[0], ports[1]


def graph_ports(graph: spatial.GraphOp) -> tuple[list[Port], list[Port]]:
    """The ports of a `spatial.graph`: its streams, described by the graph's
    `spatial.inputs` / `spatial.outputs` entries (name, scale, host op, nn shape, layout)."""
    block = graph.body.block
    terminator = block.last_op
    assert isinstance(terminator, spatial.YieldOp)
    return (_stream_ports(graph, INPUTS_ATTR, list(block.args)),
            _stream_ports(graph, OUTPUTS_ATTR, list(terminator.values)))


def _stream_ports(graph: spatial.GraphOp, key: str, streams: Sequence[SSAValue]) -> list[Port]:
    attr = graph.attributes.get(key)
    if not isinstance(attr, ArrayAttr) or len(attr.data) != len(streams):
        raise HwcError(f"spatial executor: graph attribute {key} must describe each of its {len(streams)} ports "
                       "(run map-to-spatial)")
    names = port_names(attr, len(streams), "port")
    ports = []
    for index, (name, value) in enumerate(zip(names, streams)):
        data = attr.data[index].data
        stream = spatial.stream_of(value)
        ports.append(Port(
            name, tuple(data[SHAPE_KEY].get_values()), stream.width, numpy_dtype(stream.element_type),
            port_scale(attr, index, f"port {name!r}"), port_host_op(attr, index, f"port {name!r}"),
            stream, Layout.of(data[SOURCE_KEY].get_values(), data[PERM_KEY].get_values()),
            port_bounds(attr, index),
        ))
    return ports


# --------------------------------------------------------------------------- the interface


class HostInterface:
    """The ports of a design and the host's side of running it (module docstring).

    `what` names the design in messages ("module", "graph").
    """

    def __init__(self, inputs: list[Port], outputs: list[Port], what: str):
        self.inputs, self.outputs, self.what = inputs, outputs, what

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

    def input_port(self, name: str) -> Port:
        for port in self.inputs:
            if port.name == name:
                return port
        raise HwcError(f"unknown input {name!r} (the graph's inputs: {', '.join(self.input_names)})")

    # ------------------------------------------------------------------ integers

    def check_ints(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The inputs as int64 arrays, in port order, after checking that every input is
        given, has samples of its nn shape stacked on axis 0 and fits its width."""
        for name in inputs:
            self.input_port(name)
        checked = {}
        for port in self.inputs:
            if port.name not in inputs:
                raise HwcError(f"missing input {port.name!r}")
            checked[port.name] = self._checked(port, np.asarray(inputs[port.name]))
        return checked

    @staticmethod
    def _checked(port: Port, array: np.ndarray) -> np.ndarray:
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

    # ------------------------------------------------------------------ floats

    def quantize_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The integers the host sends for float inputs (`numerics.quantize_input`);
        an input without a scale (token ids) takes integers and sends them as they are."""
        result = {}
        for name, array in inputs.items():
            port = self.input_port(name)
            if port.scale is None and np.asarray(array).dtype.kind in "iu":
                result[name] = np.asarray(array).astype(np.int64)
                continue
            if port.scale is None:
                raise HwcError(f"input {name!r} has no nn.scale: the {self.what} is not quantized")
            result[name] = quantize_input(array, port.scale, port.width, port.bounds)
        return result

    def dequantize_outputs(self, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Floats from the design's integers: `q * scale`, then the port's host op if any."""
        result = {}
        for name, q in outputs.items():
            port = self.port(name)
            if port.scale is None:
                raise HwcError(f"output {name!r} has no nn.scale: the {self.what} is not quantized")
            result[name] = dequantize_output(q, port.scale, port.host_op)
        return result

    # ------------------------------------------------------------------ beats

    def stream_frames(self, name: str, ints: np.ndarray) -> list[int]:
        """Samples of stream port `name` (nn layout, samples on axis 0) as AXI4-Stream
        beats (module docstring: frame order, lane 0 in the least significant bits)."""
        port = self.port(name)
        frames = port.to_frames(np.asarray(ints).astype(np.int64))
        return pack_beats(frames.reshape(-1), port.lanes, port.width)

    def unpack_beats(self, name: str, beats: Sequence[int]) -> np.ndarray:
        """Beats of stream port `name` back into samples in the nn layout (the inverse
        of `stream_frames`)."""
        port = self.port(name)
        elements = unpack_beats(beats, port.lanes, port.width)
        per_frame = math.prod(port.frame)
        if elements.size % per_frame:
            raise HwcError(f"port {name!r}: {elements.size} elements are not whole frames of {per_frame}")
        return port.from_frames(elements.reshape(-1, *port.frame))


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
