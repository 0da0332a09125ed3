"""ONNX's own backend test data, through the importer and the float executor.

The cases are the ones shipped inside the installed `onnx` wheel:
`onnx/backend/test/data/{pytorch-converted,pytorch-operator,simple}/<case>/`,
each a `model.onnx` with `test_data_set_*/input_*.pb` and `output_*.pb`.

A case whose import raises `HwcError` saying that something is unsupported,
and naming the model file, is outside hwc's supported set: its test checks that
the refusal is exactly that (one line, the word "unsupported", the model's
path) and counts it as unsupported; no case is skipped. Every other exception
is a failure. A supported case must match
the stored expected outputs and onnxruntime (the float oracle) within
rtol 1e-4 / atol 1e-5; when onnxruntime cannot run the model (it has dropped
some opset-6 kernels) the stored outputs alone are the reference.

Import-time inputs: hwc needs static shapes, so an operand such as Expand's
shape must be known at import. When a model takes one as a graph input
(`import_time_inputs`: read directly as Expand's or Reshape's shape or Tile's
repeats), the harness does what a user does, `hwc run --weights bound.safetensors`:
it writes the data set's value of that input to a safetensors file keyed by the
input's name and imports with `weights=` (one import per data set); the bound
input is then a constant, not fed at run time. onnxruntime still gets every
input. Nothing else of the data set reaches the importer.

The run's tally, `ONNX conformance: X of Y cases supported, Z passed`, is
printed in pytest's terminal summary (see tests/conftest.py), and
`test_supported_and_passing_floor` fails when fewer cases than `SUPPORTED_FLOOR`
are supported or fewer than `PASSING_FLOOR` pass: a regression cannot hide by
turning a passing case into a skipped one. Raise the floors when support grows.
"""

from __future__ import annotations

import functools
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from safetensors.numpy import save_file

from compiler.errors import HwcError
from compiler.executor import FloatExecutor
from tests.support import onnxruntime_session

RTOL = 1e-4
ATOL = 1e-5
SUITES = ("pytorch-converted", "pytorch-operator", "simple")
BACKEND_DATA = Path(onnx.__file__).resolve().parent / "backend" / "test" / "data"
UNSUPPORTED = re.compile(r"\bunsupported\b|\bnot supported\b", re.IGNORECASE)
SUPPORTED_FLOOR = 111
PASSING_FLOOR = 111
"""Of the 140 cases, 111 import and all 111 pass (onnx 1.16-1.19, opsets 11-21): 60, plus
Embedding (2), GLU (2), chunk, index, repeat (2), addmm, mm and non_float_params from
integer inputs, Gather, Slice, Split, Tile and matmul of activations; PReLU (6), ELU,
SELU (2), Softplus, Softsign, Softmin, PoissonNLLLoss, exp, sqrt, pow, max, min,
reductions (4), ConvTranspose (3), InstanceNorm, Sum/Neg (3), shrink and sign from the
element-wise math, reduction and normalisation families; the float64 add cases (5:
add_broadcast, add_size1_broadcast, add_size1_right_broadcast,
add_size1_singleton_broadcast, addconstant) computed in float64; expand_shape_model1-4
with the shape input bound through `--weights` (see above). The 29 refused: 3-D
convolution and pooling (13), sequences (8), strings (6), training (Gradient, 2)."""


from tests.conftest import TALLY_PROPERTY  # noqa: E402 - the report property the summary reads


def conformance_cases() -> list[Path]:
    """Every case folder of the chosen suites that has a model and at least one data set."""
    return sorted(
        model.parent
        for suite in SUITES
        for model in (BACKEND_DATA / suite).glob("*/model.onnx")
        if any(model.parent.glob("test_data_set_*"))
    )


def case_id(case: Path) -> str:
    return f"{case.parent.name}/{case.name}"


@dataclass
class DataSet:
    """One `test_data_set_N`: inputs keyed by graph input name, expected outputs by output name."""

    name: str
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]


def read_tensor(path: Path) -> tuple[str, np.ndarray]:
    """The (name, value) of a serialized TensorProto; the name may be empty."""
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return tensor.name, numpy_helper.to_array(tensor)


def graph_input_names(model: onnx.ModelProto) -> list[str]:
    """The real graph inputs: old models also list their initializers as inputs."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    return [value.name for value in model.graph.input if value.name not in initializers]


def _by_name(files: list[Path], default_names: list[str]) -> dict[str, np.ndarray]:
    """`input_K.pb`/`output_K.pb` keyed by their own name, else by the K-th graph name."""
    named = {}
    for index, path in enumerate(sorted(files, key=lambda p: int(p.stem.split("_")[-1]))):
        name, value = read_tensor(path)
        named[name or default_names[index]] = value
    return named


def read_data_sets(case: Path, model: onnx.ModelProto) -> list[DataSet]:
    inputs = graph_input_names(model)
    outputs = [value.name for value in model.graph.output]
    return [
        DataSet(
            name=folder.name,
            inputs=_by_name(list(folder.glob("input_*.pb")), inputs),
            outputs=_by_name(list(folder.glob("output_*.pb")), outputs),
        )
        for folder in sorted(case.glob("test_data_set_*"))
    ]


IMPORT_TIME_OPERANDS = {"Expand": (1,), "Reshape": (1,), "Tile": (1,)}
"""Operands hwc needs at import time (static shapes): Expand's shape, Reshape's
shape, Tile's repeats, by op type and input position."""


def import_time_inputs(model: onnx.ModelProto) -> list[str]:
    """The real graph inputs read directly as an import-time operand: a user gives
    their values with `--weights` (a safetensors file keyed by input name)."""
    real = set(graph_input_names(model))
    return sorted({
        node.input[position]
        for node in model.graph.node
        for position in IMPORT_TIME_OPERANDS.get(node.op_type, ())
        if position < len(node.input) and node.input[position] in real
    })


def shapes_for_dynamic_inputs(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> dict[str, list[int]] | None:
    """`--shape` values for the inputs declared with symbolic or unknown dimensions."""
    bound = {tensor.name for tensor in model.graph.initializer} | set(import_time_inputs(model))
    shapes = {}
    for value in model.graph.input:
        if value.name in bound or value.name not in inputs:
            continue
        dims = value.type.tensor_type.shape.dim
        if any(not dim.HasField("dim_value") for dim in dims):
            shapes[value.name] = list(inputs[value.name].shape)
    return shapes or None


def onnxruntime_outputs(model_path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """What onnxruntime computes, or None when onnxruntime cannot load or run the model."""
    try:
        session = onnxruntime_session(model_path, log_severity_level=4)
        names = [output.name for output in session.get_outputs()]
        return dict(zip(names, session.run(names, inputs)))
    except Exception:  # noqa: BLE001 - any onnxruntime failure means "no oracle here"
        return None


def assert_matches(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], oracle: str) -> None:
    for name, want in expected.items():
        assert name in actual, f"output {name!r} missing (got {sorted(actual)}), vs {oracle}"
        got = np.asarray(actual[name])
        assert got.shape == want.shape, f"output {name!r}: shape {got.shape} != {oracle} {want.shape}"
        assert got.dtype == want.dtype, f"output {name!r}: dtype {got.dtype} != {oracle} {want.dtype}"
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"output {name!r} vs {oracle}")


@dataclass
class Outcome:
    """How one case went: unsupported (with the importer's reason), passed, or failed."""

    unsupported: str | None = None
    failure: BaseException | None = None

    @property
    def supported(self) -> bool:
        return self.unsupported is None

    @property
    def passed(self) -> bool:
        return self.supported and self.failure is None


def import_case(case: Path, model: onnx.ModelProto, data_set: DataSet):
    """The imported module of a case, with its import-time inputs (if any) bound to
    `data_set`'s values through `--weights`, as `hwc --weights bound.safetensors` does."""
    from compiler.frontend import import_onnx

    inputs = data_set.inputs
    shapes = shapes_for_dynamic_inputs(model, inputs)
    bound = {name: inputs[name] for name in import_time_inputs(model) if name in inputs}
    if not bound:
        return import_onnx(case / "model.onnx", shapes=shapes)
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "bound.safetensors"
        save_file(bound, str(weights))
        return import_onnx(case / "model.onnx", weights=weights, shapes=shapes)


def check_case(case: Path, module, data_set: DataSet) -> None:
    """The float executor matches the stored outputs and onnxruntime on `data_set`
    (the inputs bound at import are not fed again; onnxruntime gets them all)."""
    executor = FloatExecutor(module)
    fed = {name: value for name, value in data_set.inputs.items() if name in executor.input_names}
    actual = executor.run(fed)
    assert_matches(actual, data_set.outputs, f"stored {data_set.name}")
    reference = onnxruntime_outputs(case / "model.onnx", data_set.inputs)
    if reference is not None:
        assert_matches(actual, reference, "onnxruntime")


@functools.cache
def outcome(case: Path) -> Outcome:
    """Import and run `case` once per session (the floor test reuses the per-case runs)."""
    model = onnx.load(str(case / "model.onnx"))
    data_sets = read_data_sets(case, model)
    module = None
    for data_set in data_sets:  # one import for all, or one per data set when inputs are bound
        if module is None or import_time_inputs(model):
            try:
                module = import_case(case, model, data_set)
            except HwcError as error:
                if UNSUPPORTED.search(str(error)) and str(case / "model.onnx") in str(error):
                    return Outcome(unsupported=str(error))
                return Outcome(failure=error)  # a refusal must say "unsupported" and name the model
            except Exception as error:  # noqa: BLE001 - reported by the case's test
                return Outcome(failure=error)
        try:
            check_case(case, module, data_set)
        except Exception as error:  # noqa: BLE001 - reported by the case's test
            return Outcome(failure=error)
    return Outcome()


@pytest.mark.parametrize("case", conformance_cases(), ids=case_id)
def test_backend_case(case: Path, conformance_tally, record_property):
    result = outcome(case)
    conformance_tally.record(case_id(case), result.supported, result.passed)
    record_property(TALLY_PROPERTY, (case_id(case), result.supported, result.passed))
    # An unsupported case passes only as `outcome` accepted it: a clean refusal that
    # says "unsupported" and names the model (anything else is a failure); the floor
    # test below keeps supported cases from quietly becoming refusals.
    if result.failure is not None:
        raise result.failure


def test_cases_were_found():
    """The wheel ships the backend data; an empty parametrization would pass vacuously."""
    assert len(conformance_cases()) >= 100


def test_supported_and_passing_floor():
    """Support only grows: at least SUPPORTED_FLOOR cases import, at least PASSING_FLOOR pass."""
    cases = conformance_cases()
    results = {case_id(case): outcome(case) for case in cases}
    supported = sorted(name for name, result in results.items() if result.supported)
    failing = sorted(name for name, result in results.items() if result.supported and not result.passed)
    assert len(supported) >= SUPPORTED_FLOOR, (
        f"only {len(supported)} of {len(cases)} cases are supported (floor {SUPPORTED_FLOOR})")
    assert len(supported) - len(failing) >= PASSING_FLOOR, (
        f"only {len(supported) - len(failing)} cases pass (floor {PASSING_FLOOR}); failing: {failing}")
