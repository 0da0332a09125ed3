"""lit configuration for hwc's FileCheck tests (`lit -v tests/lit`).

Every `.mlir` file under this folder is a test; its `// RUN:` lines run in
lit's shell. `hwc-opt`, `xdsl-opt` and `filecheck` resolve to the commands
installed beside the Python that runs lit (the active environment), and
`%python` is that Python. `Inputs/` folders hold helper files, not tests.

Plain `pytest` runs the same files in one Python process, one test per file
(tests/test_lit.py with tests/lit_inprocess.py, which this configuration takes
its suffixes, exclusions and tool names from).
"""

import hashlib
import os
import shutil
import sys
import tempfile

import lit.formats

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tests.lit_inprocess import EXCLUDES, SUFFIXES, TOOLS  # noqa: E402 (the repository root first)

config.name = "hwc"  # noqa: F821 (lit defines `config`)
config.test_format = lit.formats.ShTest(execute_external=False)  # noqa: F821
config.suffixes = list(SUFFIXES)  # noqa: F821
config.excludes = list(EXCLUDES)  # noqa: F821
config.test_source_root = os.path.dirname(os.path.abspath(__file__))  # noqa: F821
# Scratch files (%t) go to the temporary folder, not into the source tree.
config.test_exec_root = os.path.join(  # noqa: F821
    tempfile.gettempdir(),
    "hwc-lit-" + hashlib.sha1(config.test_source_root.encode()).hexdigest()[:12],  # noqa: F821
)

_ENV_BIN = os.path.dirname(sys.executable)


def _tool(name: str) -> str:
    """The command `name` of the active environment (beside sys.executable), else on PATH."""
    candidate = os.path.join(_ENV_BIN, name)
    if os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found is None:
        lit_config.fatal(f"'{name}' is not installed in this environment")  # noqa: F821
    return found


# A tool name counts only as a whole word: not inside a path or a longer name.
_WORD = r"(?<![\w/.%-]){}(?![\w.-])"
config.substitutions.append(("%python", sys.executable))  # noqa: F821
for _name in TOOLS:
    config.substitutions.append((_WORD.format(_name), _tool(_name)))  # noqa: F821

config.environment["PATH"] = os.pathsep.join(  # noqa: F821
    [_ENV_BIN, config.environment.get("PATH", os.environ.get("PATH", ""))]  # noqa: F821
)
# `hwc-opt` runs the code of the tree these tests are in, also from a git worktree
# (the editable install points at one checkout only).
config.environment["PYTHONPATH"] = os.pathsep.join(  # noqa: F821
    [os.path.dirname(os.path.dirname(config.test_source_root)), os.environ.get("PYTHONPATH", "")]  # noqa: F821
)
