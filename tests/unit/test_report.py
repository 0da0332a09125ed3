"""The design report: numbers derived by hand for small graphs, files, printing."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from compiler.errors import HwcError
from compiler.ir import parse_module
from compiler.report import build_report, load_report, print_report, write_report

GRAPH = """
builtin.module {
  rom.rom @fc1_weight : tensor<4x6xi4> = dense<[[1, -2, 3, 0, 0, 0], [7, 7, 7, 7, 7, 7], [0, 0, 0, 0, 0, 1], [-8, 0, 0, 0, 0, 0]]> : tensor<4x6xi4>
  rom.rom @fc1_bias : tensor<4xi14> = dense<0> : tensor<4xi14>
  rom.rom @fc1_multiplier : tensor<4xi16> = dense<3> : tensor<4xi16>
  rom.rom @fc2_weight : tensor<2x4xi8> = dense<[[1, 2, 3, 4], [-5, 6, -7, 8]]> : tensor<2x4xi8>
  rom.rom @fc2_multiplier : tensor<1xi16> = dense<5> : tensor<1xi16>
  spatial.graph @main attributes {spatial.outputs = [{nn.name = "logits", nn.host_op = "softmax"}], spatial.inputs = [{nn.name = "x"}]} {
  ^bb0(%x: !spatial.stream<6xi8, 3>):
    %a = spatial.mvu %x {layer = "fc1", weights = @fc1_weight, bias = @fc1_bias, multiplier = @fc1_multiplier, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, pe = 2 : i64, simd = 3 : i64, ii = 4 : i64, latency = 5 : i64} : (!spatial.stream<6xi8, 3>) -> !spatial.stream<4xi8, 2>
    %r = spatial.resize %a {layer = "fc1.resize", ii = 4 : i64, latency = 1 : i64} : (!spatial.stream<4xi8, 2>) -> !spatial.stream<4xi8, 1>
    %b = spatial.mvu %r {layer = "fc2", weights = @fc2_weight, multiplier = @fc2_multiplier, shift = 4 : i64, lo = -32767 : i64, hi = 32767 : i64, pe = 1 : i64, simd = 1 : i64, ii = 8 : i64, latency = 7 : i64} : (!spatial.stream<4xi8, 1>) -> !spatial.stream<2xi16, 1>
    spatial.yield %b : !spatial.stream<2xi16, 1>
  }
}
"""


@pytest.fixture
def report():
    return build_report(parse_module(GRAPH), clock_mhz=100.0)


def test_layers(report):
    fc1, resize, fc2 = report["layers"]
    assert (fc1["layer"], fc1["kind"], fc1["folding"]) == ("fc1", "mvu", "2x3")
    assert fc1["macs"] == 24 and fc2["macs"] == 8          # 4·6, 2·4
    assert fc1["multipliers"] == 6 and fc2["multipliers"] == 1 and resize["multipliers"] == 0
    assert fc1["rom_bits"] == 4 * 6 * 4 + 4 * 14 + 4 * 16  # weights + bias + multiplier = 216
    assert fc2["rom_bits"] == 2 * 4 * 8 + 16               # 80
    assert fc1["acc_bits"] == 14                           # the bias ROM's width
    # fc2 (no bias): largest |row| sum 26 times the largest input 128 = 3328 -> 12 bits + sign.
    assert fc2["acc_bits"] == 13
    assert resize["folding"] == "2->1" and resize["acc_bits"] is None
    assert [layer["ii"] for layer in report["layers"]] == [4, 4, 8]


def test_design(report):
    design = report["design"]
    assert design["cycles_per_inference"] == 8 and design["bottleneck"] == "fc2"
    assert design["inferences_per_second"] == pytest.approx(100e6 / 8)
    # First frame's schedule (compiler/schedule.py): x's 2 beats at cycles 0, 1;
    # fc1 needs the whole vector (ready 1), depth 3, one beat per K/simd = 2: 4, 6;
    # resize 2→1 lanes, depth 1, one beat per cycle: 5, 6, 7, 8;
    # fc2 needs all 4 beats (ready 8), depth 3, one beat per 4 cycles: 11, 15.
    # The first inference has left after cycle 15: latency 16.
    assert design["latency_cycles"] == 16
    assert design["multipliers"] == 7
    assert design["rom_bits"] == 216 + 80
    (port_in,), (port_out,) = report["inputs"], report["outputs"]
    assert port_in == {"name": "x", "frame": [6], "order": "channel innermost", "lanes": 3,
                       "element_bits": 8, "beat_bits": 24, "beats_per_frame": 2, "host_op": None}
    assert port_out["name"] == "logits" and port_out["host_op"] == "softmax"
    assert port_out["lanes"] == 1 and port_out["element_bits"] == 16 and port_out["beats_per_frame"] == 2


def test_write_load_print(report, tmp_path):
    write_report(report, tmp_path / "report.json")
    loaded = load_report(tmp_path)
    assert loaded == json.loads(json.dumps(report))
    console = Console(record=True, width=140)
    print_report(loaded, console)
    text = console.export_text()
    assert "fc1" in text and "2x3" in text and "cycles per inference 8 (bottleneck fc2)" in text
    assert "12,500,000 inferences/s at 100 MHz" in text and "host applies softmax" in text


def test_load_errors(tmp_path):
    with pytest.raises(HwcError, match="no report.json"):
        load_report(tmp_path)
    (tmp_path / "report.json").write_text("{")
    with pytest.raises(HwcError, match="cannot read the report"):
        load_report(tmp_path)
