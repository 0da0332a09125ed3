"""The Python face of hwc: `compile(model, ...)` gives a `Design` that runs at
every level of the pipeline reached so far.

The command line (`compiler/cli.py`) is a thin layer over this module, so that
everything it does can be scripted:

    design = compiler.compile("model.onnx")
    outputs = design.run({"input": x}, level="float")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.printer import Printer

from compiler.errors import HwcError
from compiler.output import atomic_directory

LEVELS = ("float",)
"""Levels a design can run at, top of the verification ladder first."""

EMIT_LEVELS = ("nn",)


@dataclass
class CompileOptions:
    """Options shared by every subcommand (see DESIGN.md, command line)."""

    weights: Path | None = None
    shapes: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Design:
    """A compiled model: its IR at each level and an executor per level."""

    model: Path
    options: CompileOptions
    nn_module: ModuleOp
    _executors: dict = field(default_factory=dict)

    def executor(self, level: str):
        if level not in LEVELS:
            raise HwcError(f"level '{level}' is not available; choose one of {', '.join(LEVELS)}")
        if level not in self._executors:
            from compiler.executor import FloatExecutor

            self._executors[level] = FloatExecutor(self.nn_module)
        return self._executors[level]

    @property
    def input_names(self) -> list[str]:
        return list(self.executor("float").input_names)

    @property
    def output_names(self) -> list[str]:
        return list(self.executor("float").output_names)

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """The inputs' shapes in the IR (batch axis included, usually 1)."""
        return dict(self.executor("float").plan.ir_input_shapes)

    def run(self, inputs: dict[str, np.ndarray] | np.ndarray, level: str = "float") -> dict[str, np.ndarray]:
        """Run inputs (any number of samples stacked on axis 0) at `level`."""
        executor = self.executor(level)
        if isinstance(inputs, np.ndarray):
            if len(executor.input_names) != 1:
                raise HwcError(
                    f"the model has {len(executor.input_names)} inputs; give them by name"
                )
            inputs = {executor.input_names[0]: inputs}
        return executor.run(inputs)

    def write(self, directory: Path, emit: str = "nn") -> list[Path]:
        """Write the IR (and its weights) into `directory`, atomically."""
        if emit not in EMIT_LEVELS:
            raise HwcError(f"--emit {emit} is not available; choose one of {', '.join(EMIT_LEVELS)}")
        from compiler.weights import save_store

        with atomic_directory(directory) as staging:
            ir_path = staging / "model.nn.mlir"
            save_store(self.nn_module, staging / "weights.safetensors", relative_to=staging)
            with open(ir_path, "w") as f:
                Printer(stream=f).print_op(self.nn_module)
                f.write("\n")
        return [directory / "model.nn.mlir", directory / "weights.safetensors"]


def compile(model: str | Path, options: CompileOptions | None = None, **kwargs) -> Design:
    """Import `model` (an .onnx file) and build it as far as the pipeline reaches."""
    from compiler.frontend import import_onnx

    options = options or CompileOptions(**kwargs)
    model = Path(model)
    module = import_onnx(model, weights=options.weights, shapes=options.shapes or None)
    return Design(model=model, options=options, nn_module=module)


def load_inputs(path: Path, input_names: list[str]) -> dict[str, np.ndarray]:
    """Read `--input`: an .npz keyed by input name, or an .npy for a one-input model."""
    path = Path(path)
    if not path.exists():
        raise HwcError(f"{path}: no such file")
    try:
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if len(input_names) != 1:
                raise HwcError(
                    f"{path}: the model has {len(input_names)} inputs "
                    f"({', '.join(input_names)}); give them in an .npz keyed by name"
                )
            return {input_names[0]: array}
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise HwcError(f"{path}: not a readable .npy/.npz file ({error})") from None
    missing = [name for name in input_names if name not in arrays]
    extra = [name for name in arrays if name not in input_names]
    if missing or extra:
        raise HwcError(
            f"{path}: keys {sorted(arrays)} do not match the model's inputs {input_names}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unknown {extra})" if extra else "")
        )
    return arrays
