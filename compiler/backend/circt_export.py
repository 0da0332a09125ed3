"""SystemVerilog from `hw`/`comb`/`seq` IR, by CIRCT's own Python bindings.

`export_verilog(module_text, out_dir, top)` parses the text xDSL printed with
real CIRCT (firtool-1.62), lowers it with `EXPORT_PIPELINE`, and writes one
`.sv` file per module plus `filelist.f` into `out_dir`.

The pipeline, as firtool-1.62 needs it (found by trying):

* `lower-seq-firmem` — each `seq.firmem` becomes an instance of a generated
  memory module (one per distinct configuration and init file).
* `lower-seq-to-sv` — `seq.firreg`/`seq.compreg` become `always` blocks; it must
  run *before* `hw-memory-sim` too, or the verifier rejects the `sv.always` on a
  `!seq.clock` that `hw-memory-sim` creates ...
* `hw-memory-sim` — ... which writes the memories' bodies, and then
  `lower-seq-to-sv` again for the clocks it introduced. A memory with an
  inline `#seq.firmem.init<"file", false, true>` (every ROM hwc makes) gets its
  `initial $readmemh("file", Memory)` inside its own module, which synthesis
  reads (not in a `bind`-ed `<memory>_init` module, which Yosys cannot read).
  CIRCT guards that block with `` `ifdef ENABLE_INITIAL_MEM_ `` (a macro
  firtool's driver defines); `export_verilog` removes the guard, because a
  ROM's contents are its definition, not simulation-only initial values.
* `hw.module(hw-legalize-modules)` — applies the `disallowPackedArrays`
  lowering option (export alone ignores it): an `hw.array_get` of a constant
  array becomes a `casez` table, which synthesis reads as a mask ROM.
* Randomised register and memory initialisation is disabled everywhere: it
  needs a `RANDOM` macro declaration that only firtool's driver adds, and the
  hardware is defined by its reset, not by simulation-only initial values.

Unless the module sets its own `circt.loweringOptions`, `LOWERING_OPTIONS`
applies: no source-location comments, no local variables in procedural blocks
(lint-clean), no packed multi-dimensional arrays (Yosys 0.23 reads the output).

`$readmemh` paths are written exactly as in `#seq.firmem.init<"...">`: by
convention `rom/<name>.hex`, relative to the build folder, which is where the
simulator runs (`compiler.backend.verilator.Simulator`). `export_verilog`
checks that each such file exists under `data_dir` (default: the parent of
`out_dir`, i.e. the build folder when `out_dir` is `<build>/rtl`).

A CIRCT parse or pass failure is a bug in hwc, not a user mistake, but it is
raised as `HwcError` with CIRCT's first diagnostic so that it reads well.
"""

from __future__ import annotations

import re
from pathlib import Path

from compiler.errors import HwcError

EXPORT_PIPELINE = (
    "builtin.module("
    "lower-seq-firmem, "
    "lower-seq-to-sv{disable-reg-randomization}, "
    "hw-memory-sim{disable-mem-randomization disable-reg-randomization}, "
    "lower-seq-to-sv{disable-reg-randomization}, "
    "canonicalize, "
    "hw.module(hw-legalize-modules))"
)

LOWERING_OPTIONS = "locationInfoStyle=none,disallowLocalVariables,disallowPackedArrays"

_INIT_FILE = re.compile(r'#seq\.firmem\.init<"((?:[^"\\]|\\.)*)"')
_EXPORTED_SUFFIXES = (".sv", ".svh", ".f")


def export_verilog(
    module_text: str, out_dir: Path, top: str, *, data_dir: Path | None = None
) -> list[Path]:
    """Lower `module_text` (a `builtin.module` of `hw.module`s, as xDSL prints it)
    with real CIRCT and write split SystemVerilog into `out_dir`.

    Requires: `hw.module @<top>` in the text; every `#seq.firmem.init` file to
    exist relative to `data_dir` (default `out_dir.parent`).
    Guarantees: `out_dir` holds one `.sv` per module (earlier exports' `.sv`
    files are removed) and `filelist.f`; the returned paths are the files in
    `filelist.f` order, `top`'s file last.
    """
    out_dir = Path(out_dir)
    data_dir = Path(data_dir) if data_dir is not None else out_dir.parent
    _check_init_files(module_text, data_dir)

    import circt
    from circt import ir, passmanager

    context = ir.Context()
    circt.register_dialects(context)
    with context, ir.Location.unknown():
        module = _run_circt("parse", lambda: ir.Module.parse(module_text))
        _check_top(module, top)
        if "circt.loweringOptions" not in module.operation.attributes:
            module.operation.attributes["circt.loweringOptions"] = ir.StringAttr.get(LOWERING_OPTIONS)
        pipeline = passmanager.PassManager.parse(EXPORT_PIPELINE)
        _run_circt("lowering", lambda: pipeline.run(module.operation))
        _clear_previous_export(out_dir)
        _run_circt("Verilog export", lambda: circt.export_split_verilog(module, str(out_dir)))
    _unguard_memory_init(out_dir)
    return _files_in_order(out_dir, top)


def init_files(module_text: str) -> list[str]:
    """The `$readmemh` files the module's memories are loaded from, as written."""
    return sorted(set(_INIT_FILE.findall(module_text)))


def _check_init_files(module_text: str, data_dir: Path) -> None:
    missing = [name for name in init_files(module_text) if not (data_dir / name).is_file()]
    if missing:
        raise HwcError(f"memory init file {missing[0]} not found in {data_dir}")


def _check_top(module, top: str) -> None:
    names = [
        op.attributes["sym_name"].value
        for op in module.body.operations
        if op.operation.name in ("hw.module", "hw.module.extern")
    ]
    if top not in names:
        raise HwcError(f"CIRCT export: no hw.module @{top} (modules: {', '.join(names) or 'none'})")


def _run_circt(stage: str, action):
    """Run a CIRCT call; its failure becomes an HwcError naming the first diagnostic."""
    try:
        return action()
    except Exception as error:  # the bindings raise MLIRError, ValueError, RuntimeError
        raise HwcError(f"CIRCT {stage} failed: {first_diagnostic(str(error))}") from None


def first_diagnostic(message: str) -> str:
    """CIRCT's first `error: ...` line of a (multi-line) binding exception message."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("error:"):
            return line[len("error:"):].strip()
    return lines[0] if lines else "unknown error"


_GUARDED_INIT = re.compile(
    r"^(?P<indent> *)`ifdef ENABLE_INITIAL_MEM_\n"
    r"(?P<body>(?: *initial\n)? *\$readmem[hb]\([^;\n]*\);\n)"
    r" *`endif // ENABLE_INITIAL_MEM_\n",
    re.MULTILINE,
)


def unguard_memory_init(verilog: str) -> str:
    """`verilog` with each `ifdef ENABLE_INITIAL_MEM_` block that only loads a
    memory (`initial $readmemh(...)`) replaced by its body, one level less indented."""
    def body(match: re.Match) -> str:
        indent = match["indent"]
        lines = match["body"].splitlines(keepends=True)
        return "".join(indent + line[len(indent) + 2:] if line.startswith(indent + "  ") else line
                       for line in lines)
    return _GUARDED_INIT.sub(body, verilog)


def _unguard_memory_init(out_dir: Path) -> None:
    for path in sorted(out_dir.glob("*.sv")):
        text = path.read_text()
        if "ENABLE_INITIAL_MEM_" in text:
            path.write_text(unguard_memory_init(text))


def _clear_previous_export(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in out_dir.iterdir():
        if path.is_file() and path.suffix in _EXPORTED_SUFFIXES:
            path.unlink()


def _files_in_order(out_dir: Path, top: str) -> list[Path]:
    listed = (out_dir / "filelist.f").read_text().split()
    files = [out_dir / name for name in listed]
    top_file = out_dir / f"{top}.sv"
    if top_file in files:
        files.remove(top_file)
        files.append(top_file)
    return files
