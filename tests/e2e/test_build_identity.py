"""Restructuring the compiler must not change what it writes: the build folders
of the examples and fixtures (IR of every level, weights and ROM images,
`rtl/*.sv`, `rom/*.hex`, `report.json`) are byte-identical to those recorded in
`tests/golden/builds.json` (see `tests/golden/builds.py`). The default suite
rebuilds a few of them through the real CLI; `python -m tests.golden.builds
--all` checks all 32."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.golden.builds import MANIFEST, QUICK, build


@pytest.mark.parametrize("name", QUICK)
def test_build_folder_is_byte_identical(name: str, tmp_path: Path):
    recorded = json.loads(MANIFEST.read_text())[name]
    built = build(name, tmp_path)
    changed = sorted({path for path, _ in set(built.items()) ^ set(recorded.items())})
    assert not changed, f"{name}: files differ from the recorded build: {changed}"
