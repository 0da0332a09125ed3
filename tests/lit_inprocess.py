"""The lit tests of `tests/lit`, run inside this Python process.

`lit -v tests/lit` runs every RUN line in lit's shell, which starts a new Python
for each `hwc-opt` and `filecheck` (about a second each, and there are ~170).
This runner reads the same RUN lines, parses them with lit's own shell parser
(`lit.ShUtil`), and runs

* `hwc-opt`, `xdsl-opt` and `filecheck` as calls in this process (their real
  entry points, with stdin, stdout, stderr and the working folder swapped in);
* `echo` and `cd` as builtins, as lit's shell does;
* anything else (`%python script.py`, `cp`, `rm`, `mkdir`, `ls` ...) as a
  subprocess, as lit's shell does.

It keeps lit's semantics for what hwc's tests use: the RUN lines of a file
(a trailing `\\` continues a line) run in order and the first failure fails the
test; pipelines fail when any stage fails (lit's pipefail); `&&`, `||`, `;`,
`not`, and the redirections `<`, `>`, `>>`, `2>`, `2>>`, `2>&1`, `&>`; the
substitutions `%s %S %p %t %T %python %%`. Anything else is reported as an
error of the runner naming the construct, never skipped. `lit.cfg.py` takes its
test suffixes, exclusions and tool names from here, so both runners see the
same tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lit.ShCommands import Command, GlobItem, Pipeline, Seq
from lit.ShUtil import ShParser

from tests.support import run_in_process

LIT_DIR = Path(__file__).resolve().parent / "lit"
SUFFIXES = (".mlir",)
EXCLUDES = ("Inputs", "lit.cfg.py")
TOOLS = ("hwc-opt", "xdsl-opt", "filecheck")
"""Commands that RUN lines name by their bare name (lit.cfg.py resolves them)."""
SUBPROCESS_TIMEOUT_SECONDS = 300


def lit_tests(root: Path = LIT_DIR) -> list[Path]:
    """Every test file under `root`, as lit discovers them with lit.cfg.py."""
    return sorted(
        path for path in root.rglob("*")
        if path.is_file() and path.suffix in SUFFIXES
        and not any(part in EXCLUDES for part in path.relative_to(root).parts)
    )


def run_lines(path: Path) -> list[str]:
    """The RUN lines of a test file, continuation lines joined (as lit reads them)."""
    lines: list[str] = []
    continued = False
    for match in re.finditer(r"RUN:(.*)$", path.read_text(), re.MULTILINE):
        text = match.group(1).rstrip()
        if continued:
            lines[-1] += " " + text.strip()
        else:
            lines.append(text.strip())
        continued = lines[-1].endswith("\\")
        if continued:
            lines[-1] = lines[-1][:-1].rstrip()
    if continued:
        raise ValueError(f"{path}: the last RUN line ends with '\\'")
    return lines


def substitute(line: str, source: Path, temporary: Path) -> str:
    """lit's substitutions of a RUN line: `%t` is `temporary`, `%s` the test file."""
    marker = "#_PERCENT_#"
    line = line.replace("%%", marker)
    for key, value in (
        ("%python", sys.executable),
        ("%s", str(source)),
        ("%S", str(source.parent)),
        ("%p", str(source.parent)),
        ("%t", str(temporary)),
        ("%T", str(temporary.parent)),
    ):
        line = line.replace(key, value)
    return line.replace(marker, "%")


# --------------------------------------------------------------------------- results


@dataclass
class CommandRun:
    """One command of a pipeline, as it ran."""

    args: list[str]
    status: int
    stdout: str
    stderr: str


@dataclass
class LitResult:
    """A test file's run: every command that ran, and whether the test passed."""

    path: Path
    script: list[str]
    passed: bool = False
    commands: list[CommandRun] = field(default_factory=list)
    error: str | None = None

    def report(self) -> str:
        """What lit -v prints for a failed test: the script, then each command's output."""
        lines = [f"{self.path}:", "Script:", *self.script, "", "Commands:"]
        for run in self.commands:
            lines.append("$ " + " ".join(f'"{arg}"' for arg in run.args))
            if run.stdout:
                lines += ["# command stdout:", run.stdout.rstrip()]
            if run.stderr:
                lines += ["# command stderr:", run.stderr.rstrip()]
            if run.status:
                lines.append(f"error: command failed with exit status: {run.status}")
        if self.error:
            lines.append(f"runner error: {self.error}")
        return "\n".join(lines)


class UnsupportedShell(Exception):
    """A RUN line uses a shell construct this runner does not implement."""


# --------------------------------------------------------------------------- in-process tools


def _hwc_opt(argv: list[str]) -> int | None:
    from compiler.opt import main
    from compiler.weights import separate_process_stores

    with separate_process_stores():
        return main(argv)


def _xdsl_opt(argv: list[str]) -> int | None:
    # What the `xdsl-opt` script (xdsl.tools.xdsl_opt.main) does, with argv given.
    from xdsl.xdsl_opt_main import xDSLOptMain

    from compiler.weights import separate_process_stores

    warnings.filterwarnings("default", category=DeprecationWarning)
    with separate_process_stores():
        xDSLOptMain(args=argv).run()
    return 0


def _filecheck(argv: list[str]) -> int | None:
    from filecheck.main import main

    return main(["filecheck", *argv])


IN_PROCESS: dict[str, Callable[[list[str]], int | None]] = {
    "hwc-opt": _hwc_opt,
    "xdsl-opt": _xdsl_opt,
    "filecheck": _filecheck,
}


# --------------------------------------------------------------------------- the shell


class Shell:
    """Runs one test file's parsed RUN lines; `cwd` follows `cd`."""

    def __init__(self, result: LitResult, cwd: Path):
        self.result = result
        self.cwd = cwd
        self.env = dict(os.environ)
        bin_dir = str(Path(sys.executable).parent)
        self.env["PATH"] = os.pathsep.join([bin_dir, self.env.get("PATH", "")])

    def run(self, node: Seq | Pipeline) -> int:
        if isinstance(node, Seq):
            return self._sequence(node)
        return self._pipeline(node)

    def _sequence(self, node: Seq) -> int:
        status = self.run(node.lhs)
        if node.op == ";":
            return self.run(node.rhs)
        if node.op == "&&":
            return self.run(node.rhs) if status == 0 else status
        if node.op == "||":
            return self.run(node.rhs) if status != 0 else status
        raise UnsupportedShell(f"shell operator '{node.op}'")

    def _pipeline(self, node: Pipeline) -> int:
        if node.negate:
            raise UnsupportedShell("'!' before a pipeline")
        data = b""
        status = 0
        last = len(node.commands) - 1
        for index, command in enumerate(node.commands):
            stage, data = self._command(command, data, piped=index < last)
            if stage != 0 or not node.pipe_err:
                status = stage
        return status

    def _command(self, command: Command, stdin: bytes, piped: bool) -> tuple[int, bytes]:
        """(exit status, what goes down the pipe) of one pipeline stage."""
        args = self._expand(command.args)
        negate = 0
        while args and args[0] == "not":
            args.pop(0)
            negate += 1
        if not args:
            raise UnsupportedShell("'not' without a command")
        stdin, out_file, err_file, merge = self._redirections(command.redirects, stdin)
        if args[0] == "cd":
            status, out, err = self._cd(args)
        elif args[0] == "echo":
            status, out, err = self._echo(args)
        elif args[0] in IN_PROCESS:
            status, out, err = run_in_process(IN_PROCESS[args[0]], args, stdin=stdin, cwd=self.cwd,
                                              merge_stderr=merge)
        else:
            status, out, err = self._subprocess(args, stdin, merge)
        if negate % 2:
            status = 0 if status != 0 else 1
        self.result.commands.append(CommandRun(
            list(command.args), status, out.decode(errors="replace"), err.decode(errors="replace")))
        self._deliver(out_file, out)
        self._deliver(err_file, err)
        return status, (out if out_file is None else b"")

    def _expand(self, args: Sequence[str | GlobItem]) -> list[str]:
        expanded: list[str] = []
        for arg in args:
            if isinstance(arg, GlobItem):
                expanded += arg.resolve(str(self.cwd))  # lit's own expansion
            else:
                expanded.append(arg)
        return expanded

    def _path(self, name: str) -> Path:
        path = Path(name)
        return path if path.is_absolute() else self.cwd / path

    def _redirections(self, redirects, stdin: bytes):
        """(stdin, stdout file, stderr file, stderr merged into stdout); a file is (path, mode)."""
        out_file = err_file = None
        merge = False
        for (op, *fd), target in redirects:
            fd = fd[0] if fd else None
            if op == "<" and fd is None:
                stdin = self._path(target).read_bytes()
            elif op in (">", ">>") and fd in (None, 1):
                out_file = (self._path(target), "ab" if op == ">>" else "wb")
            elif op in (">", ">>") and fd == 2:
                err_file = (self._path(target), "ab" if op == ">>" else "wb")
            elif op == ">&" and fd == 2 and target == "1":
                merge = True
            elif op == "&>" and fd is None:
                out_file, merge = (self._path(target), "wb"), True
            else:
                raise UnsupportedShell(f"redirection {op}{fd if fd is not None else ''} {target}")
        if merge and err_file is not None:
            raise UnsupportedShell("2>&1 together with 2> FILE")
        return stdin, out_file, err_file, merge

    @staticmethod
    def _deliver(file, data: bytes) -> None:
        if file is not None:
            path, mode = file
            with open(path, mode) as stream:
                stream.write(data)

    def _cd(self, args: list[str]) -> tuple[int, bytes, bytes]:
        if len(args) != 2:
            return 1, b"", b"cd: takes one folder\n"
        folder = self._path(args[1])
        if not folder.is_dir():
            return 1, b"", f"cd: {folder}: no such folder\n".encode()
        self.cwd = folder
        return 0, b"", b""

    @staticmethod
    def _echo(args: list[str]) -> tuple[int, bytes, bytes]:
        words, newline = args[1:], "\n"
        if words and words[0] == "-n":
            words, newline = words[1:], ""
        return 0, (" ".join(words) + newline).encode(), b""

    def _subprocess(self, args: list[str], stdin: bytes, merge: bool) -> tuple[int, bytes, bytes]:
        program = shutil.which(args[0], path=self.env["PATH"]) or args[0]
        try:
            done = subprocess.run(
                [program, *args[1:]], input=stdin, cwd=self.cwd, env=self.env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                timeout=SUBPROCESS_TIMEOUT_SECONDS,
            )
        except OSError as error:
            return 127, b"", f"{args[0]}: {error.strerror}\n".encode()
        return done.returncode, done.stdout, done.stderr or b""


def run_lit_test(path: Path, scratch: Path) -> LitResult:
    """Run the test file `path` with `%t` under the folder `scratch`."""
    path = Path(path).resolve()
    output = Path(scratch) / "Output"
    output.mkdir(parents=True, exist_ok=True)
    temporary = output / f"{path.name}.tmp"
    result = LitResult(path, [])
    try:
        result.script = [substitute(line, path, temporary) for line in run_lines(path)]
        commands = [ShParser(line, win32Escapes=False, pipefail=True).parse() for line in result.script]
    except ValueError as error:  # lit's parser and run_lines say so
        result.error = f"cannot parse the RUN lines: {error}"
        return result
    if not commands:
        result.error = "no RUN lines"
        return result
    shell = Shell(result, cwd=Path(scratch))  # lit runs a test in its exec folder, the parent of Output/
    try:
        result.passed = all(shell.run(command) == 0 for command in commands)
    except UnsupportedShell as error:
        result.error = f"unsupported in RUN lines: {error}"
    return result
