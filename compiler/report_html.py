"""`report.html`: the design of a build folder to look at, self-contained (inline
SVG and CSS, no script, no network, no Graphviz).

    write_report_html(Path("build/m"))      # reads the folder's files, writes report.html

It reads `report.json` (the per-layer figures, and the `synth` section when
`hwc synth` added one), `model.spatial.mlir` (the dataflow graph: which PE feeds
which, through which FIFO) and `verify.json` when `hwc verify -o` wrote one, and
draws

- the PE dataflow graph as SVG, laid out by hwc (one row per rank: a PE sits one
  row below the lowest of its producers), each PE with its kind, folding and II,
  each edge with its stream (elements × bits, lanes) and FIFO depth;
- per-layer bars of cycles (II), multipliers and ROM bits, and per synthesised
  module its area (LUTs, FFs, DSPs; gates and transistors for the generic target);
- each layer's numerics: element widths in and out, accumulator width,
  requantization shift and clamp range, the scale of its output (the integer
  level's `nn.scale` of the activation the PE computes, found through the PE's
  `spatial.probe` index into `model.rom.mlir`'s activations) and the scales of
  the graph's ports;
- the verification ladder's rungs.

Requires a build folder written with `--emit spatial` or later. Guarantees: the
page depends only on those files (byte-identical builds stay so).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_HTML = "report.html"
VERIFY_JSON = "verify.json"

NODE_WIDTH, NODE_HEIGHT, COLUMN_GAP, ROW_GAP, MARGIN = 210, 58, 40, 62, 20


# --------------------------------------------------------------------------- the graph


@dataclass
class Node:
    key: str
    title: str
    lines: list[str]
    rank: int = 0
    column: int = 0
    bottleneck: bool = False


@dataclass
class Edge:
    source: str
    target: str
    label: str


@dataclass
class Dataflow:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def dataflow(module, report: dict[str, Any]) -> Dataflow:
    """The PEs of `module`'s spatial graph, its input and output ports as nodes, and
    an edge per stream between them (FIFOs folded into the edge they buffer)."""
    from dialects.spatial import PE_OPS, FifoOp, GraphOp, YieldOp, stream_of

    graph = next(op for op in module.walk() if isinstance(op, GraphOp))
    layers = {layer["layer"]: layer for layer in report["layers"]}
    bottleneck = report["design"].get("bottleneck")
    flow, producer = Dataflow(), {}
    for index, arg in enumerate(graph.body.block.args):
        name = report["inputs"][index]["name"] if index < len(report["inputs"]) else f"input{index}"
        flow.nodes.append(Node(f"in{index}", f"input '{name}'", [_stream_text(stream_of(arg))]))
        producer[arg] = (f"in{index}", 0)
    for op in graph.body.block.ops:
        if isinstance(op, FifoOp):
            source, depth = producer[op.operands[0]]
            producer[op.results[0]] = (source, depth + op.depth.value.data)
            continue
        if isinstance(op, YieldOp):
            for index, value in enumerate(op.operands):
                name = report["outputs"][index]["name"] if index < len(report["outputs"]) else f"output{index}"
                flow.nodes.append(Node(f"out{index}", f"output '{name}'", [_stream_text(stream_of(value))]))
                _connect(flow, producer, value, f"out{index}")
            continue
        if not isinstance(op, PE_OPS):
            continue
        key = f"pe{len(flow.nodes)}"
        layer = layers.get(op.layer.data, {})
        flow.nodes.append(Node(key, op.layer.data, [
            f"{layer.get('kind', op.name.removeprefix('spatial.'))} {layer.get('folding', '')}",
            f"II {layer.get('ii', '?')}, {layer.get('multipliers', 0)} mult.",
        ], bottleneck=op.layer.data == bottleneck))
        for value in op.operands:
            _connect(flow, producer, value, key)
        for value in op.results:
            producer[value] = (key, 0)
    _rank(flow)
    return flow


def _stream_text(stream) -> str:
    return f"{'x'.join(map(str, stream.frame))} x i{stream.width}, {stream.lanes.data} lanes"


def _connect(flow: Dataflow, producer: dict, value, target: str) -> None:
    from dialects.spatial import stream_of

    source, depth = producer[value]
    stream = stream_of(value)
    label = f"{stream.lanes.data}x{stream.width}b" + (f", FIFO {depth}" if depth else "")
    flow.edges.append(Edge(source, target, label))


def _rank(flow: Dataflow) -> None:
    """Row = one more than the lowest producer's row; column = order within the row."""
    nodes = {node.key: node for node in flow.nodes}
    for node in flow.nodes:  # program order is a topological order
        sources = [nodes[e.source].rank for e in flow.edges if e.target == node.key]
        node.rank = max(sources) + 1 if sources else 0
    columns: dict[int, int] = {}
    for node in flow.nodes:
        node.column = columns.get(node.rank, 0)
        columns[node.rank] = node.column + 1


def graph_svg(flow: Dataflow) -> str:
    """The dataflow graph as an inline SVG element."""
    width = max((n.column for n in flow.nodes), default=0) + 1
    height = max((n.rank for n in flow.nodes), default=0) + 1
    svg_width = 2 * MARGIN + width * NODE_WIDTH + (width - 1) * COLUMN_GAP + 160
    svg_height = 2 * MARGIN + height * NODE_HEIGHT + (height - 1) * ROW_GAP
    place = {n.key: _position(n) for n in flow.nodes}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{svg_width}" height="{svg_height}" '
             f'viewBox="0 0 {svg_width} {svg_height}" role="img" aria-label="dataflow graph">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
             '</marker></defs>']
    lanes = 0
    for edge in flow.edges:
        (x1, y1), (x2, y2) = place[edge.source], place[edge.target]
        if y2 - y1 > NODE_HEIGHT + ROW_GAP:  # skips rows: around them, in a lane of its own on the right
            lanes += 1
            lane = max(x1, x2) + NODE_WIDTH + 14 * lanes
            a, b = (x1 + NODE_WIDTH, y1 + NODE_HEIGHT / 2), (x2 + NODE_WIDTH, y2 + NODE_HEIGHT / 2)
            parts.append(f'<path d="M{a[0]},{a[1]:.0f} H{lane} V{b[1]:.0f} H{b[0]}" class="edge skip" '
                         'marker-end="url(#arrow)"/>')
            parts.append(f'<text x="{lane + 4}" y="{(a[1] + b[1]) / 2:.0f}" class="elabel">'
                         f'{html.escape(edge.label)}</text>')
            continue
        start, end = (x1 + NODE_WIDTH / 2, y1 + NODE_HEIGHT), (x2 + NODE_WIDTH / 2, y2)
        bend = ROW_GAP / 2
        parts.append(f'<path d="M{start[0]:.0f},{start[1]:.0f} C{start[0]:.0f},{start[1] + bend:.0f} '
                     f'{end[0]:.0f},{end[1] - bend:.0f} {end[0]:.0f},{end[1]:.0f}" class="edge" '
                     'marker-end="url(#arrow)"/>')
        parts.append(f'<text x="{(start[0] + end[0]) / 2 + 6:.0f}" y="{(start[1] + end[1]) / 2 + 4:.0f}" '
                     f'class="elabel">{html.escape(edge.label)}</text>')
    for node in flow.nodes:
        x, y = place[node.key]
        kind = "port" if node.key.startswith(("in", "out")) else ("pe hot" if node.bottleneck else "pe")
        parts.append(f'<g class="{kind}"><rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6"/>')
        parts.append(f'<text x="{x + 8}" y="{y + 17}" class="title">{html.escape(node.title)}</text>')
        for index, line in enumerate(node.lines):
            parts.append(f'<text x="{x + 8}" y="{y + 34 + 15 * index}">{html.escape(line)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def _position(node: Node) -> tuple[int, int]:
    return (MARGIN + node.column * (NODE_WIDTH + COLUMN_GAP), MARGIN + node.rank * (NODE_HEIGHT + ROW_GAP))


# --------------------------------------------------------------------------- bars and tables


def bars(title: str, rows: list[tuple[str, float | int | None]], unit: str = "") -> str:
    """A titled horizontal bar chart (HTML, widths relative to the largest value)."""
    largest = max((value or 0 for _, value in rows), default=0) or 1
    lines = [f'<div class="chart"><h3>{html.escape(title)}</h3><table class="bars">']
    for label, value in rows:
        share = 100.0 * (value or 0) / largest
        shown = "-" if value is None else f"{value:,}{unit}"
        lines.append(f'<tr><td class="name">{html.escape(label)}</td><td class="track">'
                     f'<div class="bar" style="width:{share:.1f}%"></div></td><td class="num">{shown}</td></tr>')
    lines.append("</table></div>")
    return "\n".join(lines)


def layer_bars(report: dict[str, Any]) -> str:
    layers = report["layers"]
    return "\n".join([
        bars("cycles per inference (II)", [(layer["layer"], layer["ii"]) for layer in layers]),
        bars("multipliers", [(layer["layer"], layer["multipliers"]) for layer in layers]),
        bars("ROM bits", [(layer["layer"], layer["rom_bits"]) for layer in layers]),
    ])


AREA_KEYS = (("luts", "LUTs"), ("ffs", "flip-flops"), ("dsps", "DSPs"), ("gates", "gates"),
             ("transistors", "transistors"))


def area_bars(report: dict[str, Any]) -> str:
    """Per synthesised module, the resources each target of `hwc synth` measured."""
    synth = report.get("synth")
    if not isinstance(synth, dict) or not synth:
        return '<p class="note">No area yet: run <code>hwc synth BUILD</code> to add it.</p>'
    parts = []
    for target, result in sorted(synth.items()):
        modules = result.get("layers", []) if isinstance(result, dict) else []
        for key, title in AREA_KEYS:
            values = [(m.get("module", "?"), m.get(key)) for m in modules]
            if any(isinstance(v, (int, float)) for _, v in values):
                parts.append(bars(f"{title} ({target}; design total {result.get(key, '-')})", values))
    return "\n".join(parts) or '<p class="note">The synth section lists no modules.</p>'


def numerics_table(module, report: dict[str, Any], rom_module=None) -> str:
    """Per layer: element widths in and out, accumulator width, requantization,
    output scale (with `rom_module`, the integer level); the ports' scales."""
    from dialects.spatial import INPUTS_ATTR, OUTPUTS_ATTR, PE_OPS, GraphOp, stream_of

    graph = next(op for op in module.walk() if isinstance(op, GraphOp))
    acc = {layer["layer"]: layer["acc_bits"] for layer in report["layers"]}
    scales = probe_scales(rom_module) if rom_module is not None else {}
    rows = []
    for op in graph.body.block.ops:
        if not isinstance(op, PE_OPS):
            continue
        widths_in = "/".join(str(stream_of(v).width) for v in op.operands)
        widths_out = "/".join(str(stream_of(v).width) for v in op.results)
        bits = acc.get(op.layer.data)
        scale = scales.get(_probe_index(op))
        rows.append(f"<tr><td>{html.escape(op.layer.data)}</td><td>{html.escape(op.name.removeprefix('spatial.'))}"
                    f"</td><td>{widths_in}</td><td>{widths_out}</td><td>{'' if bits is None else bits}</td>"
                    f"<td>{html.escape(_requant_text(op))}</td><td>{'' if scale is None else f'{scale:.6g}'}</td></tr>")
    ports = [f"<li>{kind[:-1]} '{html.escape(p['name'])}': {p['element_bits']}-bit elements, "
             f"{p['lanes']} lanes per beat{_scale_text(p, port_scale(graph, key, index))}</li>"
             for kind, key in (("inputs", INPUTS_ATTR), ("outputs", OUTPUTS_ATTR))
             for index, p in enumerate(report[kind])]
    return ("<table class=\"grid\"><tr><th>layer</th><th>kind</th><th>bits in</th><th>bits out</th>"
            "<th>accumulator bits</th><th>requantization</th><th>output scale</th></tr>"
            + "\n".join(rows) + "</table>" + "<ul>" + "".join(ports) + "</ul>")


def probe_scales(rom_module) -> dict[int, float]:
    """Activation index (`compiler.calibration.activations` of the integer module) ->
    the `nn.scale` of the op that computes it, for every op that has one."""
    from compiler.calibration import activations
    from dialects.nn import SCALE_ATTR

    scales = {}
    for index, value in enumerate(activations(rom_module)):
        scale = value.owner.attributes.get(SCALE_ATTR)
        if scale is not None and hasattr(scale, "value"):
            scales[index] = float(scale.value.data)
    return scales


def _probe_index(op) -> int | None:
    from dialects.spatial import PROBE_ATTR

    probe = op.attributes.get(PROBE_ATTR)
    index = probe.data.get("index") if probe is not None and hasattr(probe, "data") else None
    return index.value.data if index is not None else None


def port_scale(graph, key: str, index: int) -> float | None:
    """The `nn.scale` of graph input/output `index` (`key`: spatial.inputs/outputs)."""
    from dialects.nn import SCALE_ATTR

    entries = graph.attributes.get(key)
    if entries is None or index >= len(entries.data):
        return None
    scale = entries.data[index].data.get(SCALE_ATTR)
    return float(scale.value.data) if scale is not None else None


def _requant_text(op) -> str:
    """`x · multiplier >> shift, clamped to [lo, hi]` as far as the PE has them."""
    props = {**op.attributes, **op.properties}
    parts = []
    if "shift" in props:
        parts.append(f"multiplier >> {props['shift'].value.data}")
    if "lo" in props and "hi" in props:
        parts.append(f"clamp [{props['lo'].value.data}, {props['hi'].value.data}]")
    return ", ".join(parts)


def _scale_text(port: dict[str, Any], scale: float | None) -> str:
    host = f", host applies {port['host_op']}" if port.get("host_op") else ""
    return (f", scale {scale:.6g}" if isinstance(scale, (int, float)) else "") + host


def ladder_table(rungs: list[dict[str, Any]] | None) -> str:
    if not rungs:
        return ('<p class="note">Not verified yet: <code>hwc verify MODEL ... -o BUILD</code> '
                'adds the verification ladder here.</p>')
    rows = [f"<tr class=\"{'ok' if r.get('agreed') else 'bad'}\"><td>{html.escape(str(r.get('level')))}</td>"
            f"<td>{html.escape(str(r.get('oracle')))}</td><td>{html.escape(str(r.get('contract')))}</td>"
            f"<td>{'agree' if r.get('agreed') else 'DIFFER'}</td><td>{html.escape(str(r.get('detail')))}</td></tr>"
            for r in rungs]
    return ("<table class=\"grid\"><tr><th>level</th><th>oracle</th><th>contract</th><th>result</th>"
            "<th>detail</th></tr>" + "\n".join(rows) + "</table>")


# --------------------------------------------------------------------------- the page

TITLE_PREFIX = "hwc design: "


STYLE = """
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
h3 { font-size: 14px; margin: 12px 0 4px; }
.summary td { padding: 2px 12px 2px 0; }
.edge { fill: none; stroke: #555; stroke-width: 1.4; } .edge.skip { stroke: #8a5a00; stroke-dasharray: 5 3; }
.elabel { font-size: 11px; fill: #335; }
.pe rect { fill: #e8f0fe; stroke: #3367d6; } .pe.hot rect { fill: #fde8e8; stroke: #c5221f; }
.port rect { fill: #eef7ee; stroke: #2e7d32; }
svg text { font-size: 12px; } svg .title { font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 28px; }
.bars td.name { padding-right: 8px; font-size: 12px; white-space: nowrap; }
.bars td.track { width: 240px; background: #f3f3f3; }
.bar { height: 12px; background: #3367d6; }
.bars td.num { padding-left: 8px; font-size: 12px; text-align: right; }
.grid { border-collapse: collapse; font-size: 13px; }
.grid td, .grid th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
tr.ok td:nth-child(4) { color: #2e7d32; font-weight: bold; }
tr.bad td:nth-child(4) { color: #c5221f; font-weight: bold; }
.note { color: #666; font-style: italic; }
"""


def render(report: dict[str, Any], module, rungs: list[dict[str, Any]] | None = None,
           title: str = "hwc design", rom_module=None) -> str:
    """The whole page."""
    design = report["design"]
    rate = design.get("inferences_per_second")
    summary = [
        ("cycles per inference", f"{design['cycles_per_inference']:,} (bottleneck {design.get('bottleneck')})"),
        ("inferences per second", "-" if rate is None else f"{rate:,.0f} at {design['clock_mhz']:g} MHz"),
        ("latency", f"{design['latency_cycles']:,} cycles"),
        ("multipliers", f"{design['multipliers']:,}"), ("MACs", f"{design['macs']:,}"),
        ("ROM bits", f"{design['rom_bits']:,}"), ("FIFO beats", f"{design['fifo_beats']:,}"),
    ]
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in summary)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>", f'<table class="summary">{rows}</table>',
        "<h2>Dataflow graph</h2>", graph_svg(dataflow(module, report)),
        "<h2>Per layer</h2>", f'<div class="charts">{layer_bars(report)}</div>',
        "<h2>Area</h2>", f'<div class="charts">{area_bars(report)}</div>',
        "<h2>Numerics</h2>", numerics_table(module, report, rom_module),
        "<h2>Verification ladder</h2>", ladder_table(rungs),
        "</body></html>", "",
    ])


def write_report_html(folder: Path, model_name: str | None = None) -> Path:
    """Render `folder`'s report.json, model.spatial.mlir and verify.json (if any)
    into `folder/report.html`, titled after `model_name` (default: the name the
    folder's report.html has, else the folder's name); its path. Whatever adds
    to those files afterwards (`hwc synth`, `hwc verify -o`) calls it again."""
    from compiler.ir import parse_module
    from compiler.report import load_report

    folder = Path(folder)
    report = load_report(folder)
    spatial = folder / "model.spatial.mlir"
    module = parse_module(spatial.read_text(), str(spatial), base_dir=folder)
    rom = folder / "model.rom.mlir"
    rom_module = parse_module(rom.read_text(), str(rom), base_dir=folder) if rom.is_file() else None
    verified = folder / VERIFY_JSON
    rungs = json.loads(verified.read_text()) if verified.is_file() else None
    path = folder / REPORT_HTML
    if model_name is None:
        model_name = _previous_title(path) or folder.name
    path.write_text(render(report, module, rungs, title=f"{TITLE_PREFIX}{model_name}", rom_module=rom_module))
    return path


def _previous_title(path: Path) -> str | None:
    """The model name in the title of an earlier `report.html` at `path`."""
    import re

    if not path.is_file():
        return None
    found = re.search(f"<title>{re.escape(html.escape(TITLE_PREFIX))}(.*?)</title>", path.read_text())
    return html.unescape(found.group(1)) if found else None
