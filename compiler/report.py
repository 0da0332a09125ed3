"""The design report: what a folded spatial design costs and how fast it runs.

    report = build_report(module, clock_mhz=200.0)   # JSON-ready dict
    write_report(report, build_dir / "report.json")
    print_report(report, rich.console.Console())
    load_report(build_dir)                            # what `hwc report DIR` prints

Per layer (every PE of the `spatial.graph`, in graph order): kind, MACs per
inference, folding (MVU: pe × simd; stream units: lanes in → out), multipliers
(the PE's `multipliers()`, the cost `fold-parallelism` minimises), ii, latency,
ROM bits (width × elements of every ROM it reads, `rom_references`) and accumulator width (MVU: its exact accumulator —
the bias ROM's width, else the output width without requantization, else the
bound of its weights; sum pools: input width + ceil(log2(window)); eltwise: the
bound of `lhs·lhs_scale ± rhs·rhs_scale` or of the product).

Design: cycles per inference = max ii (the bottleneck: inferences overlap),
inferences/s = clock / that, latency = the cycles until the first inference's
last output beat has left (`compiler.schedule.latency`), total ROM bits (every `rom.rom` of the module)
and multipliers, FIFO beats, the packing of each graph input/output stream
(frame in NHWC order, lanes per beat, element width, beats per frame) and the
host ops (e.g. softmax) the host applies to an output.

A decoder (a graph with `nn.context`) adds `design.decoder`: decode cycles and
tokens/s (a generated token must leave before the next enters: the latency per
token), prefill cycles and tokens/s (the prompt pipelines: the bottleneck's ii),
the K/V cache's bits of on-chip memory and the context.

Requires: a module with one `spatial.graph` whose PEs have `ii` and `latency`
(after `fold-parallelism`); a missing one is computed from the folding.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, StringAttr
from xdsl.ir import Operation, SSAValue

from compiler.errors import HwcError
from compiler.schedule import latency as schedule_latency
from compiler.numerics import width_for
from dialects.nn import HOST_OP_ATTR, NAME_ATTR
from dialects.nn.state import CONTEXT_ATTR
from dialects.rom import RomOp
from dialects.spatial import (
    INPUTS_ATTR,
    OUTPUTS_ATTR,
    PE_OPS,
    EltwiseOp,
    FifoOp,
    GlobalPoolOp,
    GraphOp,
    MVUOp,
    PEOp,
    PoolOp,
    VectorOp,
    rom_references,
    stream_of,
)

REPORT_FILE = "report.json"


# --------------------------------------------------------------------------- building


def build_report(module: ModuleOp, clock_mhz: float) -> dict[str, Any]:
    """The report of `module`'s spatial graph at `clock_mhz` (a JSON-ready dict)."""
    if not clock_mhz > 0:
        raise HwcError(f"report: clock-mhz must be positive, not {clock_mhz}")
    graph = _the_graph(module)
    roms = {op.sym_name.data: op for op in module.ops if isinstance(op, RomOp)}
    pes = [op for op in graph.body.block.ops if isinstance(op, PE_OPS)]
    layers = [_layer_entry(op, roms, module) for op in pes]
    cycles = max((layer["ii"] for layer in layers), default=0)
    design = {
        "clock_mhz": clock_mhz,
        "cycles_per_inference": cycles,
        "inferences_per_second": clock_mhz * 1e6 / cycles if cycles else None,
        "latency_cycles": schedule_latency(graph),
        "multipliers": sum(layer["multipliers"] for layer in layers),
        "macs": sum(layer["macs"] for layer in layers),
        "rom_bits": sum(rom_bits(rom) for rom in roms.values()),
        "fifo_beats": sum(op.depth.value.data for op in graph.body.block.ops if isinstance(op, FifoOp)),
        "bottleneck": next((layer["layer"] for layer in layers if layer["ii"] == cycles), None),
    }
    if CONTEXT_ATTR in graph.attributes:
        design["decoder"] = decoder_figures(graph, design, pes)
    return {
        "design": design,
        "layers": layers,
        "inputs": _ports(graph, INPUTS_ATTR, list(graph.body.block.args)),
        "outputs": _ports(graph, OUTPUTS_ATTR, list(graph.body.block.last_op.operands)),
    }


def decoder_figures(graph: GraphOp, design: dict[str, Any], pes: list[PEOp]) -> dict[str, Any]:
    """A decoder chip's figures: one token a frame. Decoding waits for each token's
    logits before the next token can enter, so it takes the latency per token;
    a prompt's tokens are all known, so prefill pipelines at the bottleneck's ii."""
    clock = design["clock_mhz"] * 1e6
    decode, prefill = design["latency_cycles"], design["cycles_per_inference"]
    return {
        "context": graph.attributes[CONTEXT_ATTR].value.data,
        "kv_cache_bits": sum(op.state_bits() for op in pes if isinstance(op, VectorOp)),
        "decode_cycles_per_token": decode,
        "decode_tokens_per_second": clock / decode if decode else None,
        "prefill_cycles_per_token": prefill,
        "prefill_tokens_per_second": clock / prefill if prefill else None,
    }


def _the_graph(module: ModuleOp) -> GraphOp:
    graphs = [op for op in module.walk() if isinstance(op, GraphOp)]
    if len(graphs) != 1:
        raise HwcError(f"report: expected one spatial.graph, found {len(graphs)}")
    return graphs[0]


def _layer_entry(op: PEOp, roms: dict[str, RomOp], module: ModuleOp) -> dict[str, Any]:
    names = [ref.string_value() for _, ref in rom_references(op)]
    if isinstance(op, VectorOp):
        names += op.rom_symbols()
    read = [roms[name] for name in names if name in roms]
    entry: dict[str, Any] = {
        "layer": op.layer.data,
        "kind": op.name.removeprefix("spatial."),
        "macs": macs(op),
        "folding": folding_text(op),
        "multipliers": op.multipliers(),
        "ii": op.effective_ii(),
        "latency": op.effective_latency(),
        "rom_bits": sum(rom_bits(rom) for rom in read),
        "roms": [rom.sym_name.data for rom in read],
        "acc_bits": accumulator_bits(op, roms),
    }
    if isinstance(op, MVUOp):
        entry["pe"], entry["simd"] = op.pe.value.data, op.simd.value.data
    if isinstance(op, VectorOp):
        entry["state_bits"] = op.state_bits()
    return entry


def macs(op: Operation) -> int:
    """The model's multiply-accumulates per inference (MVU: vectors·N·K, padding
    not counted; other PEs: 0)."""
    if isinstance(op, MVUOp):
        return op.vectors * op.model_weights()
    if isinstance(op, VectorOp):
        return op.macs()
    return 0


def folding_text(op: Operation) -> str:
    if isinstance(op, MVUOp):
        pad_in, pad_out = op.padding
        padding = "".join(f" {side}+{count}" for side, count in (("K", pad_in), ("N", pad_out)) if count)
        return f"{op.pe.value.data}x{op.simd.value.data}{padding}"
    lanes_in = sorted({stream_of(v).lanes.data for v in op.operands})
    lanes_out = sorted({stream_of(v).lanes.data for v in op.results})
    text = lambda lanes: "/".join(map(str, lanes))  # noqa: E731
    return text(lanes_in) if lanes_in == lanes_out else f"{text(lanes_in)}->{text(lanes_out)}"


def rom_bits(rom: RomOp) -> int:
    return rom.width * math.prod(rom.shape)


def accumulator_bits(op: Operation, roms: dict[str, RomOp]) -> int | None:
    """The width of `op`'s exact accumulator (None for PEs without one)."""
    if isinstance(op, MVUOp):
        if op.bias is not None and op.bias.string_value() in roms:
            return roms[op.bias.string_value()].width
        if op.multiplier is None:
            return stream_of(op.output).width
        weights = roms.get(op.weights.string_value())
        largest_input = 1 << (stream_of(op.input).width - 1)
        if weights is not None and weights.value is not None:
            from compiler.ir import dense_to_numpy

            row_sums = np.abs(dense_to_numpy(weights.value).astype(np.int64)).sum(axis=1)
            return width_for(int(row_sums.max(initial=0)) * largest_input)
        weight_bound = 1 << (weights.width - 1) if weights is not None else 1
        return width_for(op.in_features * weight_bound * largest_input)
    if isinstance(op, PoolOp) and op.kind.data == "sum":
        return stream_of(op.input).width + math.ceil(math.log2(op.window.value.data))
    if isinstance(op, GlobalPoolOp):
        pixels = math.prod(stream_of(op.input).frame[:-1])
        return stream_of(op.input).width + math.ceil(math.log2(max(pixels, 1)))
    if isinstance(op, EltwiseOp):
        lhs, rhs = (1 << (stream_of(v).width - 1) for v in (op.lhs, op.rhs))
        if op.kind.data == "mul":
            return width_for(lhs * rhs)
        return width_for(lhs * abs(op.lhs_scale.value.data) + rhs * abs(op.rhs_scale.value.data))
    return None


def _ports(graph: GraphOp, key: str, values: list[SSAValue]) -> list[dict[str, Any]]:
    """Name, packing and host op of each graph input or output stream."""
    described = graph.attributes.get(key)
    entries = described.data if isinstance(described, ArrayAttr) else ()
    ports = []
    for index, value in enumerate(values):
        stream = stream_of(value)
        info = entries[index].data if index < len(entries) and isinstance(entries[index], DictionaryAttr) else {}
        name = info.get(NAME_ATTR)
        host = info.get(HOST_OP_ATTR)
        ports.append({
            "name": name.data if isinstance(name, StringAttr) else f"{key.split('.')[-1][:-1]}{index}",
            "frame": list(stream.frame),
            "order": "NHWC" if len(stream.frame) == 3 else "channel innermost",
            "lanes": stream.lanes.data,
            "element_bits": stream.width,
            "beat_bits": stream.lanes.data * stream.width,
            "beats_per_frame": stream.beats,
            "host_op": host.data if isinstance(host, StringAttr) else None,
        })
    return ports


# --------------------------------------------------------------------------- files


def write_report(report: dict[str, Any], path: Path | str) -> None:
    """Write `report` as JSON to `path` atomically."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w") as stream:
            json.dump(report, stream, indent=2)
            stream.write("\n")
        os.replace(temporary, path)
    except OSError as error:
        raise HwcError(f"{path}: cannot write the report ({error.strerror})") from None


def load_report(directory: Path | str) -> dict[str, Any]:
    """The report of a build folder (its `report.json`)."""
    path = Path(directory) / REPORT_FILE
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise HwcError(f"{directory}: no {REPORT_FILE} (not a build folder?)") from None
    except (OSError, json.JSONDecodeError) as error:
        raise HwcError(f"{path}: cannot read the report ({error})") from None
    problem = report_problem(report)
    if problem:
        raise HwcError(f"{path}: not an hwc report ({problem})")
    return report


NUMBER = (int, float)
REPORT_SCHEMA = {
    "design": {"clock_mhz": NUMBER, "cycles_per_inference": int, "inferences_per_second": (*NUMBER, type(None)),
               "latency_cycles": int, "multipliers": int, "macs": int, "rom_bits": int, "fifo_beats": int,
               "bottleneck": (str, type(None))},
    "layers": {"layer": str, "kind": str, "macs": int, "folding": str, "multipliers": int, "ii": int,
               "latency": int, "rom_bits": int, "acc_bits": (int, type(None))},
    "inputs": {"name": str, "frame": list, "order": str, "lanes": int, "element_bits": int,
               "beats_per_frame": int, "host_op": (str, type(None))},
}
"""What `print_report` reads from a report (the `hwc report` boundary)."""
REPORT_SCHEMA["outputs"] = REPORT_SCHEMA["inputs"]


def _entry_problem(entry, fields: dict, where: str) -> str:
    if not isinstance(entry, dict):
        return f"{where} is not an object"
    for key, kinds in fields.items():
        if key not in entry:
            return f"{where} has no '{key}'"
        if not isinstance(entry[key], kinds) or isinstance(entry[key], bool):
            return f"{where}: '{key}' has the wrong type"
    return ""


def report_problem(report) -> str:
    """What is missing or mistyped in a loaded report ('' when it can be printed)."""
    if not isinstance(report, dict):
        return "not a JSON object"
    for section, fields in REPORT_SCHEMA.items():
        if section not in report:
            return f"no '{section}'"
        entries = [report[section]] if section == "design" else report[section]
        if not isinstance(entries, list):
            return f"'{section}' is not a list"
        for index, entry in enumerate(entries):
            problem = _entry_problem(entry, fields, section if section == "design" else f"{section}[{index}]")
            if problem:
                return problem
    return ""


# --------------------------------------------------------------------------- printing


def print_report(report: dict[str, Any], console) -> None:
    """Print `report` on a rich console: a table of layers, then the design summary."""
    from rich.table import Table

    table = Table(title="layers", title_justify="left")
    for column in ("layer", "kind", "MACs", "folding", "mults", "II", "latency", "ROM bits", "acc"):
        table.add_column(column, justify="left" if column in ("layer", "kind", "folding") else "right")
    for layer in report["layers"]:
        table.add_row(layer["layer"], layer["kind"], f"{layer['macs']:,}", layer["folding"],
                      str(layer["multipliers"]), str(layer["ii"]), str(layer["latency"]),
                      f"{layer['rom_bits']:,}", "" if layer["acc_bits"] is None else str(layer["acc_bits"]))
    console.print(table)
    design = report["design"]
    rate = design["inferences_per_second"]
    console.print(
        f"cycles per inference {design['cycles_per_inference']:,} (bottleneck {design['bottleneck']}), "
        f"{'-' if rate is None else f'{rate:,.0f}'} inferences/s at {design['clock_mhz']:g} MHz, "
        f"latency {design['latency_cycles']:,} cycles"
    )
    console.print(f"multipliers {design['multipliers']:,}, MACs {design['macs']:,}, "
                  f"ROM bits {design['rom_bits']:,}, FIFO beats {design['fifo_beats']:,}")
    decoder = design.get("decoder")
    if decoder:
        console.print(
            f"decoder: decode {decoder['decode_cycles_per_token']:,} cycles per token "
            f"({decoder['decode_tokens_per_second']:,.0f} tokens/s), prefill {decoder['prefill_cycles_per_token']:,} "
            f"cycles per token ({decoder['prefill_tokens_per_second']:,.0f} tokens/s); K/V cache "
            f"{decoder['kv_cache_bits']:,} bits of on-chip memory for a context of {decoder['context']}")
    for kind in ("inputs", "outputs"):
        for port in report[kind]:
            host = f", host applies {port['host_op']}" if port["host_op"] else ""
            console.print(
                f"{kind[:-1]} '{port['name']}': frame {port['frame']} ({port['order']}), "
                f"{port['lanes']} x {port['element_bits']}-bit lanes per beat, "
                f"{port['beats_per_frame']} beats{host}"
            )
