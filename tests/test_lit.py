"""Runs the lit/FileCheck suite (tests/lit) as part of plain `pytest`."""

import subprocess
import sys
from pathlib import Path

LIT_DIR = Path(__file__).parent / "lit"


def test_lit_suite():
    """Every lit test passes; on failure, lit's own report is the assertion message."""
    result = subprocess.run(
        # The `lit` package has no __main__; this is what its console script runs.
        [sys.executable, "-c", "import sys, lit.main; sys.exit(lit.main.main())", "-v", str(LIT_DIR)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"lit failed:\n{result.stdout}\n{result.stderr}"
