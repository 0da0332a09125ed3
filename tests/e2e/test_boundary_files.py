"""Files read back from outside at the boundary: a `report.json` that lacks what
`hwc report` prints, and binary input to `hwc-opt`, are one error line each."""

from __future__ import annotations

import json

import pytest

from tests.support import run_hwc_command, run_hwc_opt


def _one_error(result, program: str, *words: str) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error: "), result.stderr
    assert "internal error" not in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("report, missing", [
    ({"layers": [], "design": {}}, "clock_mhz"),
    ({"design": {"clock_mhz": 200}}, "cycles_per_inference"),
    ({"layers": [{"layer": "a"}], "inputs": [], "outputs": [], "design": {
        "clock_mhz": 200, "cycles_per_inference": 3, "inferences_per_second": 1.0, "latency_cycles": 3,
        "multipliers": 1, "macs": 1, "rom_bits": 1, "fifo_beats": 0, "bottleneck": "a"}}, "kind"),
])
def test_a_report_missing_what_is_printed_is_one_line(tmp_path, report, missing):
    (tmp_path / "report.json").write_text(json.dumps(report))
    result = run_hwc_command("report", tmp_path)
    _one_error(result, "hwc", "not an hwc report", missing)
    assert result.stdout == "", "nothing may be printed before the error"


@pytest.mark.parametrize("data", [bytes(range(256)), b"\xff\xfe\x00module", b"\x93NUMPY\x01\x00"])
def test_binary_input_to_hwc_opt_is_one_line(tmp_path, data):
    path = tmp_path / "binary.mlir"
    path.write_bytes(data)
    _one_error(run_hwc_opt(path, "-p", "fold-constants"), "hwc-opt", "binary.mlir")
