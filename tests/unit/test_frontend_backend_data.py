"""The ONNX package's own backend test models: each imports or fails with HwcError.

Models that import are also run through the float executor (when present) and
compared with the expected outputs stored beside them by ONNX.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from compiler.errors import HwcError
from compiler.frontend import import_onnx

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
MODELS = sorted(p for folder in ("pytorch-converted", "pytorch-operator", "simple")
                for p in (DATA / folder).glob("*/model.onnx"))


def _tensors(folder: Path, prefix: str) -> list[np.ndarray]:
    return [numpy_helper.to_array(onnx.load_tensor(str(f)))
            for f in sorted(folder.glob(f"{prefix}_*.pb"))]


def test_backend_models_import_or_raise_hwc_error():
    assert MODELS, "ONNX backend test data not found"
    imported = []
    for path in MODELS:
        try:
            imported.append((path, import_onnx(path)))
        except HwcError as error:
            assert str(path) in str(error)
    assert len(imported) >= 55, f"only {len(imported)} of {len(MODELS)} models import"
    executor = pytest.importorskip("compiler.executor")
    for path, module in imported:
        model = onnx.load(path, load_external_data=False)
        initializers = {t.name for t in model.graph.initializer}
        names = [v.name for v in model.graph.input if v.name not in initializers]
        data = path.parent / "test_data_set_0"
        inputs = dict(zip(names, _tensors(data, "input")))
        outputs = executor.FloatExecutor(module).run(inputs)
        for ours, expected in zip(outputs.values(), _tensors(data, "output")):
            np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5, err_msg=str(path))
