"""The ONNX frontend: `import_onnx(path, weights=None, shapes=None)` gives a
verified `nn` module; `SUPPORTED_OPS` maps each supported ONNX op type to a
short note (documented in docs/operators.md).

* `loader.py`   — the file, its initializers/external data, a safetensors
  weights file, the graph inputs (one-line errors for every user mistake);
* `folding.py`  — constant sub-graphs evaluated at import (ONNX's reference evaluator);
* `ops/`        — one handler per ONNX op type (the dispatch table), by family;
* `importer.py` — the walk over the graph that ties them together.
"""

from compiler.frontend.importer import import_onnx
from compiler.frontend.ops import SUPPORTED_OPS

__all__ = ["SUPPORTED_OPS", "import_onnx"]
