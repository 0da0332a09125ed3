"""report.html: self-contained, drawn from the build's own files (the graph's FIFO
depths and PEs as the spatial IR has them), its inline SVG well-formed. Rendering
it in a real browser needs Chromium, which is no PyPI package, so that is a script
and not a test: `python benchmarks/screenshot_report.py BUILD -o report.png`."""

from __future__ import annotations

import re

import pytest

from compiler.ir import parse_module
from dialects.spatial import FifoOp


@pytest.fixture(scope="module")
def cnn_build(tmp_path_factory, fixtures_dir):
    import compiler

    folder = tmp_path_factory.mktemp("html") / "cnn"
    compiler.compile(fixtures_dir / "cnn.onnx", target_fps=5e4).write(folder, emit="spatial")
    return folder


def test_report_html_is_self_contained_and_shows_the_graph(cnn_build):
    page = (cnn_build / "report.html").read_text()
    assert not re.search(r"(src|href)=\"?(https?:)?//", page) and "<script" not in page
    assert page.count("<svg") == 1
    module = parse_module((cnn_build / "model.spatial.mlir").read_text(), base_dir=cnn_build)
    depths = sorted(op.depth.value.data for op in module.walk() if isinstance(op, FifoOp))
    assert depths and sorted(int(d) for d in re.findall(r"FIFO (\d+)</text>", page)) == depths
    import json

    report = json.loads((cnn_build / "report.json").read_text())
    for layer in report["layers"]:
        assert f'class="title">{layer["layer"]}</text>' in page
        assert f"II {layer['ii']}," in page
    assert "Not verified yet" in page and "No area yet" in page


def test_report_html_numerics_carry_the_integer_levels_scales(cnn_build):
    from compiler.executor import IntExecutor

    page = (cnn_build / "report.html").read_text()
    rom = parse_module((cnn_build / "model.rom.mlir").read_text(), base_dir=cnn_build)
    executor = IntExecutor(rom)
    output_scale, input_scale = executor.output_scales["logits"], executor.input_scales["input"]
    assert f"output 'logits': 16-bit elements, 1 lanes per beat, scale {output_scale:.6g}" in page
    assert f"input 'input': 8-bit elements, 1 lanes per beat, scale {input_scale:.6g}" in page
    (classifier,) = re.findall(r"<tr><td>classifier</td>(.*?)</tr>", page)
    assert classifier.endswith(f"<td>{output_scale:.6g}</td>")  # the last layer computes the output


def test_report_html_graph_is_well_formed_svg(cnn_build):
    """What a browser needs of the drawing, checked without one: the inline SVG parses
    as XML and holds a titled box for every layer of the report (and the ports)."""
    import json
    import xml.etree.ElementTree as ElementTree

    page = (cnn_build / "report.html").read_text()
    svg = ElementTree.fromstring(page[page.index("<svg"):page.index("</svg>") + len("</svg>")])
    titles = [t.text for t in svg.iter() if t.tag.endswith("text") and t.get("class") == "title"]
    layers = [layer["layer"] for layer in json.loads((cnn_build / "report.json").read_text())["layers"]]
    assert len(titles) == len(set(titles)) and set(layers) <= set(titles)
    assert all(title in layers or title.startswith(("input '", "output '")) for title in titles)


def test_report_html_draws_the_area_of_a_synth_section(cnn_build, tmp_path):
    """`hwc synth` adds per-module resources to report.json; re-rendering the page
    (keeping its title) draws them as bars."""
    import json
    import shutil

    from compiler.report_html import write_report_html

    folder = tmp_path / "cnn"
    shutil.copytree(cnn_build, folder)
    report = json.loads((folder / "report.json").read_text())
    report["synth"] = {"xilinx": {"luts": 900, "ffs": 300, "dsps": 2, "layers": [
        {"module": "stem_mvu", "luts": 600, "ffs": 200, "dsps": 2},
        {"module": "classifier_mvu", "luts": 300, "ffs": 100, "dsps": 0}]}}
    (folder / "report.json").write_text(json.dumps(report))
    page = write_report_html(folder).read_text()
    assert "<title>hwc design: cnn</title>" in page and "No area yet" not in page
    assert "LUTs (xilinx; design total 900)" in page
    assert re.search(r"stem_mvu</td><td class=\"track\"><div class=\"bar\" style=\"width:100.0%\"></div></td>"
                     r"<td class=\"num\">600</td>", page)
    assert 'style="width:50.0%"></div></td><td class="num">300</td>' in page
