"""`hwc-opt`: xdsl-opt with hwc's dialects and passes, and hwc's weight store.

    hwc-opt FILE.mlir -p "fold-batchnorm,fold-constants" [-o OUT.mlir]
    hwc-opt - -p fold-constants < FILE.mlir

Everything xdsl-opt offers (pipeline syntax with pass options, `--split-input-file`,
`--verify-diagnostics`, `--print-op-generic`, ...) works unchanged: this is
`xdsl.xdsl_opt_main.xDSLOptMain` with three additions:

* hwc's dialects (`compiler.ir.hwc_dialects()`) and passes (`passes.ALL_PASSES`)
  are registered even when the `xdsl.universe` entry point is not installed;
* a module's weight store (`nn.weights = "w.safetensors"`) is resolved against
  the input file's folder before the passes run. Afterwards the attribute is
  written relative to where the output goes; tensors the passes created are
  saved beside the output (`OUT.safetensors`), or, when printing to stdout,
  beside the input as `<input stem>.opt.safetensors` (announced on stderr);
* a user mistake (missing file, parse or verifier error, unknown pass) is one
  line `hwc-opt: error: ...` on stderr and exit status 1, never a traceback.
  The output file is written only when everything succeeded.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from io import StringIO
from pathlib import Path
from typing import IO

from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.utils.exceptions import ArgSpecParseError
from xdsl.utils.exceptions import DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from compiler.errors import HwcError
from compiler.ir import hwc_dialects
from compiler.weights import (
    WeightStore,
    read_safetensors_header,
    save_store,
    store_for,
    used_weight_keys,
)
from dialects.circt import load_extensions
from dialects.nn import WEIGHT_STORE_ATTR
from passes import ALL_PASSES

PROGRAM = "hwc-opt"


class _DeferredOutput(StringIO):
    """The output text, held until the run has succeeded (xDSL closes it early)."""

    def close(self) -> None:
        pass


class HwcOptMain(xDSLOptMain):
    """xdsl-opt's driver, extended with hwc's dialects, passes and weight store."""

    def __init__(self, args: Sequence[str] | None = None):
        self._modules_done = 0
        self._output: _DeferredOutput | None = None
        super().__init__(description="hwc modular optimizer driver (xdsl-opt with hwc)", args=args)

    # ------------------------------------------------------------ registration

    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        registered = set(self.ctx.registered_dialect_names)
        for dialect in hwc_dialects():
            if dialect.name not in registered:
                self.ctx.register_dialect(dialect.name, lambda dialect=dialect: dialect)
        # xDSL's own hw and seq are registered above; add the CIRCT ops they lack.
        load_extensions(self.ctx)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        for name, factory in ALL_PASSES.items():
            self.register_pass(name, factory)

    # ------------------------------------------------------------ input and output

    @property
    def input_path(self) -> Path | None:
        """The input file, or None when reading stdin (no file, or `-`)."""
        name = self.args.input_file
        return None if name in (None, "-") else Path(name)

    @property
    def output_path(self) -> Path | None:
        return None if self.args.output_file in (None, "-") else Path(self.args.output_file)

    def get_input_stream(self) -> tuple[IO[bytes], str]:
        path = self.input_path
        if path is None:
            return sys.stdin.buffer, "mlir"
        try:
            stream = open(path, "rb")
        except OSError as error:
            raise HwcError(f"{path}: cannot read input ({error.strerror})") from None
        extension = path.suffix.removeprefix(".")
        return stream, extension if extension in self.available_frontends else "mlir"

    def get_input_name(self) -> str:
        return str(self.input_path) if self.input_path is not None else "<stdin>"

    def prepare_output(self) -> IO[str]:
        if self.output_path is None:
            return sys.stdout
        self._output = _DeferredOutput()
        return self._output

    def commit_output(self) -> None:
        """Write the held output text to the output file atomically."""
        if self._output is None or self.output_path is None:
            return
        _write_atomically(self.output_path, self._output.getvalue())

    # ------------------------------------------------------------ weight store

    def apply_passes(self, prog: ModuleOp) -> None:
        input_dir = self.input_path.parent if self.input_path is not None else Path.cwd()
        if WEIGHT_STORE_ATTR in prog.attributes:
            store_for(prog, input_dir)
        super().apply_passes(prog)
        self._settle_weight_store(prog)
        self._modules_done += 1

    def _settle_weight_store(self, module: ModuleOp) -> None:
        """Point the module at a weight file that holds every tensor it uses.

        Requires: the module's store was resolved (`apply_passes`).
        Guarantees: the module has no `nn.weights` attribute when it uses no
        `nn.weight`; otherwise the attribute names a safetensors file, relative
        to the folder the output IR goes to, that holds every key it uses.
        """
        if WEIGHT_STORE_ATTR not in module.attributes:
            return
        keys = used_weight_keys(module)
        store = store_for(module)
        is_memory = store.name.startswith("memory:")
        if not keys:
            if is_memory:
                del module.attributes[WEIGHT_STORE_ATTR]
            else:
                self._point_at(module, Path(store.name))
            return
        if not is_memory and not _missing_from_file(store, keys):
            self._point_at(module, Path(store.name))
            return
        target = self._new_weights_path()
        if not is_memory and target.resolve() == Path(store.name).resolve():
            raise HwcError(
                f"{target}: saving the new weights would overwrite the weight store "
                "the input reads; choose another output name"
            )
        try:
            save_store(module, target, relative_to=self._ir_dir())
        except OSError as error:
            raise HwcError(f"{target}: cannot write weights ({error.strerror})") from None
        if self.output_path is None:
            print(f"{PROGRAM}: new weights saved to {target}", file=sys.stderr)

    def _ir_dir(self) -> Path:
        """The folder the output IR is in: paths in the IR are relative to it."""
        if self.output_path is not None:
            return self.output_path.parent
        if self.input_path is not None:
            return self.input_path.parent
        return Path.cwd()

    def _new_weights_path(self) -> Path:
        """Where tensors created by the passes are saved (one file per module)."""
        if self.output_path is not None:
            stem = self.output_path.with_suffix("").name
        elif self.input_path is not None:
            stem = f"{self.input_path.with_suffix('').name}.opt"
        else:
            stem = "stdin.opt"
        if self._modules_done:
            stem = f"{stem}.{self._modules_done}"
        return self._ir_dir() / f"{stem}.safetensors"

    def _point_at(self, module: ModuleOp, weights_file: Path) -> None:
        relative = os.path.relpath(weights_file, self._ir_dir().resolve())
        module.attributes[WEIGHT_STORE_ATTR] = StringAttr(relative)


def _missing_from_file(store: WeightStore, keys: Sequence[str]) -> bool:
    """Whether some of `keys` live only in memory, not in the store's file."""
    header, _ = read_safetensors_header(Path(store.name))
    return any(key not in header for key in keys)


def _write_atomically(path: Path, text: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError as error:
        raise HwcError(f"{path}: cannot write output ({error.strerror})") from None


# ---------------------------------------------------------------- error messages


def _one_line(error: Exception, input_name: str) -> str:
    """A user-facing one-line description of `error`."""
    if isinstance(error, ParseError):
        return f"{error.span.get_location()}: {error.msg.strip().splitlines()[0]}"
    lines = str(error).strip().splitlines()
    if isinstance(error, ArgSpecParseError):
        # Heading, location, source line, caret line, message.
        if len(lines) >= 5 and "^" in lines[3]:
            column = lines[3].index("^") + 1
            return f"invalid pass pipeline '{lines[2]}' at column {column}: {lines[-1].strip()}"
        return "invalid pass pipeline: " + " ".join(line.strip() for line in lines[1:])
    message = lines[0] if lines else type(error).__name__
    if isinstance(error, DiagnosticException):
        return f"{input_name}: {message}"
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hwc-opt` console script; returns the exit status."""
    try:
        tool = HwcOptMain(args=argv)
    except (ArgSpecParseError, ValueError) as error:
        # xDSL's spelling of an unknown pass or a bad pass option.
        return _fail(_one_line(error, "<input>"))
    try:
        tool.run()
        tool.commit_output()
    except (HwcError, ParseError, DiagnosticException) as error:
        return _fail(_one_line(error, tool.get_input_name()))
    except UnicodeDecodeError:
        return _fail(f"{tool.get_input_name()}: not a text MLIR file (it is not UTF-8)")
    except RecursionError:
        return _fail(f"{tool.get_input_name()}: nested too deeply to parse")
    except Exception as error:  # noqa: BLE001 - any bug is one line, as in hwc
        if os.environ.get("HWC_DEBUG") == "1":
            raise
        return _fail(f"internal error: {type(error).__name__}: {' '.join(str(error).split())[:300]} -- "
                     "this is a bug in hwc; rerun with HWC_DEBUG=1 to see the traceback")
    return 0


def _fail(message: str) -> int:
    print(f"{PROGRAM}: error: {message}", file=sys.stderr)
    return 1

if __name__ == "__main__":
    sys.exit(main())
