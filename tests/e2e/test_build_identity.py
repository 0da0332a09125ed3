"""Restructuring the compiler must not change what it writes: the build folders
of the examples and fixtures (IR of every level, weights and ROM images,
`rtl/*.sv`, `rom/*.hex`, `report.json`) are byte-identical to those recorded in
`tests/golden/builds.json` (see `tests/golden/builds.py`). The default suite
rebuilds a few of them through the real CLI; `python -m tests.golden.builds
--all` checks all 32."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.golden.builds import MANIFEST, QUICK, build

PARALLEL_BUILDS = 2
"""Each build is a `hwc compile` process: two at a time keep two cores busy."""


@pytest.fixture(scope="module")
def built(request, tmp_path_factory) -> dict[str, dict[str, str] | Exception]:
    """The digests of every build this run selected (or why it failed), made up
    front two at a time."""
    names = [item.callspec.params["name"] for item in request.session.items
             if item.originalname == "test_build_folder_is_byte_identical"]
    work = tmp_path_factory.mktemp("golden")

    def digests_or_failure(name: str) -> dict[str, str] | Exception:
        try:
            return build(name, work)
        except Exception as error:  # noqa: BLE001 - raised again by that build's test
            return error

    with ThreadPoolExecutor(PARALLEL_BUILDS) as pool:
        return dict(zip(names, pool.map(digests_or_failure, names)))


@pytest.mark.parametrize("name", QUICK)
def test_build_folder_is_byte_identical(name: str, built):
    recorded = json.loads(MANIFEST.read_text())[name]
    if isinstance(built[name], Exception):
        raise built[name]
    changed = sorted({path for path, _ in set(built[name].items()) ^ set(recorded.items())})
    assert not changed, f"{name}: files differ from the recorded build: {changed}"
