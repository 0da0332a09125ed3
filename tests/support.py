"""Test plumbing shared by test modules (conftest.py turns some into fixtures):
the repository's folders, a console tool run in this process as if it were a
process of its own, the `hwc` command line, and onnxruntime as the float oracle."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from compiler.oracle import AS_WRITTEN

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
DIGITS = ROOT / "examples" / "digits_mlp"
"""The digits example: model.onnx, calib.npz, test.npz."""
BIN = Path(sys.executable).parent
HWC = BIN / "hwc"
"""The installed `hwc` entry point of the interpreter running the tests."""
HWC_OPT = BIN / "hwc-opt"

CLI_TIMEOUT_SECONDS = 120


class _KeptBytes(io.BytesIO):
    """A byte buffer that outlives its stream: a tool may close its stdout."""

    def close(self) -> None:
        pass


class _Streams:
    """Text streams with a byte buffer beneath, as a real process's std streams have."""

    def __init__(self, stdin: bytes):
        self.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        self.out_bytes, self.err_bytes = _KeptBytes(), _KeptBytes()
        self.stdout = io.TextIOWrapper(self.out_bytes, encoding="utf-8", write_through=True)
        self.stderr = io.TextIOWrapper(self.err_bytes, encoding="utf-8", write_through=True)

    def merge_stderr_into_stdout(self) -> None:
        self.stderr = self.stdout

    def values(self) -> tuple[bytes, bytes]:
        for stream in (self.stdout, self.stderr):
            if not stream.closed:
                stream.flush()
        return self.out_bytes.getvalue(), self.err_bytes.getvalue()


def _write_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _python_default_warning_filters() -> None:
    """The filters a fresh `python` starts with (no -W, no PYTHONWARNINGS)."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (ResourceWarning, ImportWarning, PendingDeprecationWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)


def run_in_process(tool: Callable[[list[str]], int | None], argv: Sequence[str], *, stdin: bytes = b"",
                   cwd: Path | None = None, merge_stderr: bool = False) -> tuple[int, bytes, bytes]:
    """(exit status, stdout, stderr) of the console tool `tool(argv[1:])` (argv[0]
    its program name) run as if it were a process of its own: its streams,
    sys.argv, working folder and warning filters swapped in, SystemExit and
    uncaught exceptions turned into an exit status as the interpreter would.
    Starting a Python costs ~1 s with hwc's imports; this costs nothing."""
    streams = _Streams(stdin)
    if merge_stderr:
        streams.merge_stderr_into_stdout()
    saved = sys.stdin, sys.stdout, sys.stderr, sys.argv
    before = os.getcwd()
    sys.stdin, sys.stdout, sys.stderr = streams.stdin, streams.stdout, streams.stderr
    sys.argv = list(argv)
    try:
        os.chdir(cwd if cwd is not None else before)
        with warnings.catch_warnings():
            _python_default_warning_filters()
            warnings.showwarning = _write_warning
            try:
                status = tool(list(argv[1:])) or 0
            except SystemExit as exit_:
                code = exit_.code
                status = code if isinstance(code, int) else (0 if code is None else 1)
                if code is not None and not isinstance(code, int):
                    sys.stderr.write(f"{code}\n")
            except Exception:  # noqa: BLE001 - an uncaught exception is exit status 1
                traceback.print_exc(file=sys.stderr)
                status = 1
    finally:
        sys.stdin, sys.stdout, sys.stderr, sys.argv = saved
        os.chdir(before)
    out, err = streams.values()
    return status, out, err


def _hwc_main(argv: list[str]) -> int:
    from compiler.cli import main
    from compiler.weights import separate_process_stores

    with separate_process_stores():
        return main(argv)


def run_hwc_command(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`hwc ARGS...` as a user would run it, but inside this process (`run_in_process`):
    the finished "process" with its exit status and text output.
    (`run_hwc_subprocess` starts the installed entry point for real.)"""
    argv = ["hwc", *map(str, args)]
    status, out, err = run_in_process(_hwc_main, argv, cwd=cwd)
    return subprocess.CompletedProcess(argv, status, out.decode(errors="replace"), err.decode(errors="replace"))


def _hwc_opt_main(argv: list[str]) -> int:
    from compiler.opt import main
    from compiler.weights import separate_process_stores

    with separate_process_stores():
        return main(argv)


def run_hwc_opt(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`hwc-opt ARGS...` run inside this process as `run_hwc_command` runs `hwc`."""
    argv = ["hwc-opt", *map(str, args)]
    status, out, err = run_in_process(_hwc_opt_main, argv, cwd=cwd)
    return subprocess.CompletedProcess(argv, status, out.decode(errors="replace"), err.decode(errors="replace"))


def run_hwc_subprocess(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed `hwc ARGS...` in a subprocess; the finished process (text output).

    Requires the package to be installed (the `hwc` script next to `sys.executable`).
    """
    if not HWC.exists():
        pytest.fail(f"the hwc entry point {HWC} is not installed (pip install -e .)")
    return subprocess.run(
        [str(HWC), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
    )


def onnxruntime_session(model: Path | bytes, log_severity_level: int = 3):
    """A single-threaded CPU onnxruntime session for a model file or serialized model."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = log_severity_level
    options.add_session_config_entry(*AS_WRITTEN)
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def onnxruntime_per_sample(model_path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of a batch-1 model on inputs of any batch size, one sample at a time.

    Every input must have the same number of samples on axis 0; the outputs
    are the per-sample outputs stacked on axis 0, keyed by output name.
    """
    session = onnxruntime_session(model_path)
    names = [output.name for output in session.get_outputs()]
    samples = {len(array) for array in inputs.values()}
    assert len(samples) == 1, f"inputs disagree on the number of samples: {samples}"
    per_sample = [
        session.run(names, {name: array[i : i + 1] for name, array in inputs.items()})
        for i in range(samples.pop())
    ]
    return {name: np.concatenate([outputs[k] for outputs in per_sample]) for k, name in enumerate(names)}
