"""The lit/FileCheck tests of `tests/lit`, one pytest test per file, run in
this process (see tests/lit_inprocess.py): `pytest tests/test_lit.py -k quantize`
runs the files whose path names `quantize`. `lit -v tests/lit` runs the same
files in lit's own shell."""

from pathlib import Path

import pytest

from tests.lit_inprocess import LIT_DIR, lit_tests, run_lit_test


@pytest.mark.parametrize("path", lit_tests(), ids=lambda path: path.relative_to(LIT_DIR).as_posix())
def test_lit(path: Path, tmp_path: Path):
    """Every RUN line of the file succeeds; on failure, the commands and their output."""
    result = run_lit_test(path, tmp_path)
    assert result.passed, result.report()


def test_lit_tests_were_found():
    """An empty parametrization would pass vacuously."""
    assert len(lit_tests()) >= 60
