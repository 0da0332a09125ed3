"""The spatial executor: runs a `spatial.graph` frame by frame, bit-exact with the
integer executor, and predicts its timing from the PEs' `ii` and `latency`.

Compilation happens once, in the constructor, with the plan machinery of the
float and integer executors (`plan.GraphPlan`): every PE becomes a numpy kernel
closure over its ROM contents (`spatial_kernels.py`), and the graph a list of
steps over numbered slots. A run pushes any number of samples through as one
batch (chunked to bound memory): a stream's value is an array [samples, *frame].
The host side (ports, scales, host ops, stream layout, beats) is `self.host`
(`host.py`), shared with the integer and RTL executors.

Entry points:

* `run_int({name: ints})` — integers in the nn layout (NCHW, batch on axis 0),
  exactly what `IntExecutor.run_int` takes and gives;
* `run({name: floats})` — the host's view, as `IntExecutor.run`;
* `run_frames({name: frames})` — integers in the stream layout [samples, *frame];
* beat level — `stream_frames(name, ints)` packs samples into AXI4-Stream beats,
  `unpack_beats(name, beats)` unpacks them, `run_beats({name: beats})` runs on beats.

Beat packing (the AXI4-Stream `tdata` layout) is described in `host.py`.

Timing: `cycles_per_inference` is the largest PE `ii` (the bottleneck: the
pipeline overlaps inferences); `latency` is the cycles until the first
inference has left, from the first frame's schedule (`compiler/schedule.py`);
`pe_timing` lists each PE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from compiler.errors import HwcError
from compiler.executor.host import HostInterface, Port, graph_ports, pack_beats, unpack_beats
from compiler.executor.plan import GraphPlan
from compiler.executor.spatial_kernels import Roms, graph_body, spatial_table
from compiler.executor.vector_kernel import VectorStates
from compiler.schedule import latency as schedule_latency
from compiler.weights import store_for
from dialects import spatial
from dialects.spatial import PROBE_ATTR, MVUOp
from dialects.stream_layout import Layout

__all__ = ["PETiming", "Port", "SpatialExecutor", "find_graph", "pack_beats", "unpack_beats"]
"""`pack_beats` and `unpack_beats` live in `host.py`; they stay importable from here."""


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
        graph = find_graph(module)
        self.graph = graph
        self.host = HostInterface(*graph_ports(graph), what="graph")
        self.inputs, self.outputs = self.host.inputs, self.host.outputs
        body = graph_body(graph, self.inputs, self.outputs)
        self.states = VectorStates()
        self.plan = GraphPlan(module, spatial_table(Roms(module, store_for(module)), self.states), body)
        self._probes = [op for op in body.ops if PROBE_ATTR in op.attributes]
        self.pe_timing: list[PETiming] = [_pe_timing(op) for op in body.ops if isinstance(op, spatial.PE_OPS)]
        self.cycles_per_inference = max((t.ii for t in self.pe_timing), default=0)
        self.latency = schedule_latency(graph)

    # ------------------------------------------------------------------ names

    @property
    def input_names(self) -> list[str]:
        return self.host.input_names

    @property
    def output_names(self) -> list[str]:
        return self.host.output_names

    def port(self, name: str) -> Port:
        return self.host.port(name)

    # ------------------------------------------------------------------ running

    def run_frames(self, frames: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Stream-layout integers in ([samples, *frame] per input) and out (int64)."""
        return self.plan.run(frames)

    def _frames(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Checked integers in the nn layout as frames of each input stream."""
        return {name: self.host.port(name).to_frames(ints) for name, ints in self.host.check_ints(inputs).items()}

    def stream_values(self, inputs: Mapping[str, np.ndarray]) -> dict[SSAValue, np.ndarray]:
        """Every stream of the graph as frames ([samples, *frame]) for integer inputs in the
        nn layout: what each PE reads and writes, to test PEs one at a time."""
        return self.plan.trace(self._frames(inputs))

    def probe(self, inputs: Mapping[str, np.ndarray]) -> dict[int, tuple[str, np.ndarray]]:
        """Every probed stream (`spatial.probe`, set by map-to-spatial) for integer inputs
        in the nn layout: {activation index: (layer, values as [samples, elements] in nn
        row-major order)}."""
        streams = self.stream_values(inputs)
        probes = {}
        for op in self._probes:
            attrs = op.attributes[PROBE_ATTR].data
            layout = Layout.of(attrs["source"].get_values(), attrs["perm"].get_values())
            frames = streams[op.results[0]]
            if isinstance(op, MVUOp) and op.padding[1]:
                frames = frames[..., :-op.padding[1]]  # `pad-neurons`' padding outputs are not the model's
            nn_order = layout.from_frames(frames, (-1,))
            probes[attrs["index"].value.data] = (op.layer.data, nn_order)
        return probes

    def run_int(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw integers in the nn layout in and out, as `IntExecutor.run_int`."""
        outputs = self.run_frames(self._frames(inputs))
        return {p.name: p.from_frames(outputs[p.name]).astype(p.dtype) for p in self.outputs}

    def quantize_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The integers the host sends for float inputs: `clamp(floor(x / s + 0.5), ±(2^(w-1)-1))`."""
        return self.host.quantize_inputs(inputs)

    def dequantize_outputs(self, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`q * scale`, then the port's host op (softmax / log_softmax over the last axis)."""
        return self.host.dequantize_outputs(outputs)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Float outputs for float inputs, as `IntExecutor.run`."""
        return self.dequantize_outputs(self.run_int(self.quantize_inputs(inputs)))

    # ------------------------------------------------------------------ beats

    def stream_frames(self, name: str, ints: np.ndarray) -> list[int]:
        """Samples of port `name` (nn layout, samples on axis 0) as AXI4-Stream beats."""
        return self.host.stream_frames(name, ints)

    def unpack_beats(self, name: str, beats: Sequence[int]) -> np.ndarray:
        """Beats of port `name` back into samples in the nn layout (the inverse of `stream_frames`)."""
        return self.host.unpack_beats(name, beats)

    def run_beats(self, beats: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
        """Input beats in, output beats out: what the hardware's AXI4-Stream ports carry."""
        ints = {name: self.unpack_beats(name, values) for name, values in beats.items()}
        outputs = self.run_int(ints)
        return {name: self.stream_frames(name, values) for name, values in outputs.items()}
