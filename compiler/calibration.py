"""Calibration: the float range of every activation of a model, from sample inputs.

The `quantize` pass chooses each activation's scale from the largest absolute
value it takes over the calibration samples (DESIGN.md, "Numerics"). The
samples come from a `.npz` file (keys = graph input names, samples stacked on
axis 0), or, when the user gives none, from a standard normal distribution
(with a warning, because such scales are only a guess).

The ranges are measured by running the float executor once on a copy of the
module whose `main` returns every activation, so that the measured values are
exactly those the float model computes. The `calibrate` pass records them on
the IR (`record_ranges`, attribute `nn.absmax`), where `quantize` reads them
(`recorded_ranges`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, FloatAttr, IntegerType, ModuleOp, StringAttr, f64
from xdsl.dialects.func import FuncOp, FunctionType, ReturnOp
from xdsl.ir import Operation, SSAValue

from compiler.boundary import load_arrays
from compiler.diagnostics import warn
from compiler.errors import HwcError
from compiler.ir import is_constant, main_function
from dialects import nn
from dialects.nn import ABSMAX_ATTR, NAME_ATTR

RANDOM_SAMPLES = 64
"""How many random inputs stand in for calibration data when the user gives none."""

NO_DATA_WARNING = "hwc: warning: no calibration data; using random normal inputs"

CHUNK_BYTES = 64 << 20
"""Samples run through the float executor in chunks whose activations stay below this."""


# --------------------------------------------------------------------------- inputs


def load_calibration(path: str | Path, input_shapes: Mapping[str, tuple[int, ...]],
                     vocabularies: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """The samples of a `.npz` file, as float32 arrays keyed by input name (int64
    for the token-id inputs named in `vocabularies`, each id below its vocabulary).

    Requires `input_shapes` to map every graph input to its per-sample shape.
    Guarantees: one array per input, of shape [n, *per-sample shape], the same
    n ≥ 1 for all. Anything else is a one-line HwcError naming the key.
    """
    path = Path(path)
    kind, arrays = load_arrays(path, "--calib")
    if kind != "npz":
        if len(input_shapes) != 1:
            raise HwcError(f"--calib {path}: the model has {len(input_shapes)} inputs; give an .npz keyed by name")
        arrays = {next(iter(input_shapes)): arrays}
    unknown = sorted(set(arrays) - set(input_shapes))
    if unknown:
        raise HwcError(
            f"{path}: key '{unknown[0]}' is not a graph input (inputs: {', '.join(input_shapes)})"
        )
    samples: dict[str, np.ndarray] = {}
    count = None
    for name, shape in input_shapes.items():
        if name not in arrays:
            raise HwcError(f"{path}: no key '{name}' for graph input '{name}'")
        array = arrays[name]
        if array.ndim == len(shape) + 2 and array.shape[1] == 1 and tuple(array.shape[2:]) == tuple(shape):
            array = array.reshape(array.shape[0], *shape)  # samples given with their batch axis of 1
        if array.ndim != len(shape) + 1 or tuple(array.shape[1:]) != tuple(shape) or not array.shape[0]:
            raise HwcError(
                f"{path}: key '{name}' has shape {list(array.shape)}; expected samples of "
                f"shape {list(shape)} stacked on axis 0"
            )
        if array.dtype.kind not in "fiu":
            raise HwcError(f"{path}: key '{name}' holds {array.dtype} data, not numbers")
        if count is not None and array.shape[0] != count:
            raise HwcError(f"{path}: key '{name}' has {array.shape[0]} samples, other keys {count}")
        count = array.shape[0]
        if vocabularies and name in vocabularies:
            samples[name] = token_ids(array, vocabularies[name], f"{path}: key '{name}'")
            continue
        samples[name] = array.astype(np.float32)
        if not np.all(np.isfinite(samples[name])):
            raise HwcError(f"{path}: key '{name}' holds NaN or infinite values")
    return samples


def token_ids(array: np.ndarray, vocabulary: int, what: str) -> np.ndarray:
    """`array` as int64 token ids; HwcError unless they are integers in 0..vocabulary-1."""
    if array.dtype.kind not in "iu" and not np.array_equal(array, np.round(array)):
        raise HwcError(f"{what} holds token ids that are not integers")
    ids = array.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= vocabulary):
        raise HwcError(f"{what} holds token id {int(ids.max() if ids.max() >= vocabulary else ids.min())}, "
                       f"outside the vocabulary of {vocabulary}")
    return ids


def random_calibration(input_shapes: Mapping[str, tuple[int, ...]], count: int = RANDOM_SAMPLES,
                       seed: int = 0, vocabularies: Mapping[str, int] | None = None,
                       quiet: bool = False) -> dict[str, np.ndarray]:
    """`count` standard-normal samples per input (deterministic; uniformly drawn
    ids for the token-id inputs named in `vocabularies`); warns on stderr unless `quiet`."""
    if not quiet:
        warn(NO_DATA_WARNING.removeprefix("hwc: warning: "))
    rng = np.random.default_rng(seed)
    vocabularies = vocabularies or {}
    return {name: rng.integers(0, vocabularies[name], (count, *shape)) if name in vocabularies
            else rng.standard_normal((count, *shape)).astype(np.float32)
            for name, shape in input_shapes.items()}


TEXT_WINDOWS = 64
"""Calibration windows cut from a text file when no sample count is given."""


def text_calibration(path: Path, input_shapes: Mapping[str, tuple[int, ...]], vocabularies: Mapping[str, int],
                     count: int | None) -> dict[str, np.ndarray]:
    """Token windows cut from a text file's bytes (a byte-level language model: vocabulary >= 256):
    consecutive windows of the input's length, the first `count` (TEXT_WINDOWS when None)."""
    from compiler.llm_eval import load_token_ids, text_windows

    (name, shape), = input_shapes.items()
    ids = load_token_ids(path, vocabularies[name], "--calib")
    return {name: text_windows(ids, int(np.prod(shape)), count or TEXT_WINDOWS).reshape(-1, *shape)}


def calibration_samples(path: str | Path | None, input_shapes: Mapping[str, tuple[int, ...]],
                        count: int | None = None, vocabularies: Mapping[str, int] | None = None,
                        quiet: bool = False) -> dict[str, np.ndarray]:
    """The samples from `path` (relative paths against the cwd), or random ones when None
    (with a warning unless `quiet`).

    `count` keeps the first `count` samples of the file (all when None), or
    draws `count` random ones (`RANDOM_SAMPLES` when None).
    """
    if count is not None and count < 1:
        raise HwcError(f"calibrate: samples={count}: must be at least 1")
    if path is None or str(path) == "":
        return random_calibration(input_shapes, RANDOM_SAMPLES if count is None else count,
                                  vocabularies=vocabularies, quiet=quiet)
    if Path(path).suffix not in (".npz", ".npy") and vocabularies and len(input_shapes) == 1:
        return text_calibration(Path(path).expanduser().absolute(), input_shapes, vocabularies, count)
    samples = load_calibration(Path(path).expanduser().absolute(), input_shapes, vocabularies)
    return {name: array[:count] for name, array in samples.items()}


def token_vocabularies(function: FuncOp) -> dict[str, int]:
    """The integer graph inputs (token ids) by name, each with the rows of the
    embedding table that reads it."""
    vocabularies = {}
    for name, arg in zip(graph_input_shapes(function), function.body.block.args):
        if isinstance(arg.type.get_element_type(), IntegerType):
            tables = [nn.shape_of(u.operation.table)[0] for u in arg.uses if isinstance(u.operation, nn.EmbeddingOp)]
            if tables:
                vocabularies[name] = min(tables)
    return vocabularies


def graph_input_shapes(function: FuncOp) -> dict[str, tuple[int, ...]]:
    """Per-sample shape (IR shape without the batch axis) of each graph input, by `nn.name`."""
    shapes = {}
    attrs = function.arg_attrs.data if function.arg_attrs else None
    for index, arg in enumerate(function.body.block.args):
        name = f"input{index}"
        if attrs is not None:
            attr = attrs[index].data.get(NAME_ATTR)
            if isinstance(attr, StringAttr):
                name = attr.data
        shapes[name] = tuple(arg.type.get_shape())[1:]
    return shapes


# --------------------------------------------------------------------------- ranges


def activations(module: ModuleOp) -> list[SSAValue]:
    """The results of `main`'s ops that depend on a graph input, in program order."""
    block = main_function(module).body.block
    dynamic: set[SSAValue] = set(block.args)
    found: list[SSAValue] = []
    for op in block.ops:
        if isinstance(op, ReturnOp) or is_constant(op):
            continue
        if any(operand in dynamic for operand in op.operands):
            dynamic.update(op.results)
            found.extend(op.results)
    return found


def probe_module(module: ModuleOp) -> ModuleOp:
    """A copy of `module` whose `main` returns every activation (see `activations`)."""
    probe = module.clone()
    function = main_function(probe)
    values = activations(probe)
    returns = [op for op in function.body.block.ops if isinstance(op, ReturnOp)]
    for old in returns:
        old.detach()
        old.erase()
    function.body.block.add_op(ReturnOp(*values))
    function.function_type = FunctionType.from_lists(
        function.function_type.inputs.data, [v.type for v in values]
    )
    function.res_attrs = None
    return probe


def activation_absmax(module: ModuleOp, samples: Mapping[str, np.ndarray]) -> dict[SSAValue, float]:
    """max |value| over all samples, for every graph input and activation of `module`'s main.

    Requires a float module the float executor can run, and `samples` keyed by the
    graph input names (as from `calibration_samples`). The keys of the result are
    the SSA values of `module` itself (block arguments and op results).
    """
    from compiler.executor import FloatExecutor

    function = main_function(module)
    values = activations(module)
    executor = FloatExecutor(probe_module(module))
    if not executor.input_names:
        raise HwcError("calibrate: the graph has no inputs to calibrate")
    absmax = np.zeros(len(values))
    count = next(iter(samples.values())).shape[0]
    per_sample = sum(int(np.prod(v.type.get_shape()[1:])) * 4 for v in values) or 1
    chunk = max(1, min(count, CHUNK_BYTES // per_sample))
    for begin in range(0, count, chunk):
        outputs = executor.run({k: v[begin:begin + chunk] for k, v in samples.items()})
        for index, name in enumerate(executor.output_names):
            absmax[index] = max(absmax[index], float(np.max(np.abs(outputs[name]), initial=0.0)))
    if not np.all(np.isfinite(absmax)):
        raise HwcError("calibrate: the float model computes NaN or infinity on the calibration data")
    ranges: dict[SSAValue, float] = dict(zip(values, absmax.tolist()))
    for arg, name in zip(function.body.block.args, executor.input_names):
        ranges[arg] = float(np.max(np.abs(samples[name]), initial=0.0))
    return ranges


# --------------------------------------------------------------------------- ranges on the IR


def record_ranges(module: ModuleOp, ranges: Mapping[SSAValue, float]) -> None:
    """Write `ranges` (as from `activation_absmax`) on `module`'s main as `nn.absmax`:
    on the arguments' attribute dictionaries and on the ops producing the values."""
    function = main_function(module)
    args = function.body.block.args
    old = function.arg_attrs.data if function.arg_attrs else [DictionaryAttr({}) for _ in args]
    entries = [dict(attrs.data) for attrs in old]
    for index, arg in enumerate(args):
        if arg in ranges:
            entries[index][ABSMAX_ATTR] = FloatAttr(ranges[arg], f64)
    function.arg_attrs = ArrayAttr([DictionaryAttr(e) for e in entries])
    for value, absmax in ranges.items():
        owner = value.owner
        if isinstance(owner, Operation):
            if len(owner.results) != 1:
                raise HwcError(f"calibrate: {owner.name} has {len(owner.results)} results (one range per op)")
            owner.attributes[ABSMAX_ATTR] = FloatAttr(absmax, f64)


def recorded_ranges(module: ModuleOp, missing_ok: bool = False) -> dict[SSAValue, float]:
    """The `nn.absmax` ranges `record_ranges` wrote, for every graph input and
    activation of `module`'s main; HwcError (one line) naming the first one without.
    With `missing_ok`, that error comes only when a value without a range is looked
    up (a model that gives its own scales needs no ranges for those values)."""
    function = main_function(module)
    ranges = _Ranges()
    attrs = function.arg_attrs.data if function.arg_attrs else [DictionaryAttr({})] * len(function.body.block.args)
    named = [(arg, entries.data.get(ABSMAX_ATTR), f"graph input '{name}'") for name, arg, entries
             in zip(graph_input_shapes(function), function.body.block.args, attrs)]
    named += [(value, value.owner.attributes.get(ABSMAX_ATTR), value.owner.name) for value in activations(module)]
    for value, attr, what in named:
        if isinstance(attr, FloatAttr) or not missing_ok:
            ranges[value] = _range(attr, what)
        else:
            ranges.missing[value] = what
    return ranges


class _Ranges(dict):
    """Ranges by value; looking up one recorded as missing raises its HwcError."""

    def __init__(self):
        super().__init__()
        self.missing: dict[SSAValue, str] = {}

    def __missing__(self, value: SSAValue) -> float:
        return _range(None, self.missing.get(value, "a value"))


def _range(attr, what: str) -> float:
    if not isinstance(attr, FloatAttr):
        raise HwcError(f"quantize: {what} has no calibrated range ({ABSMAX_ATTR}); run calibrate first")
    return float(attr.value.data)
