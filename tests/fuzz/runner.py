"""Run one `hwc` command line in isolation and judge how it ended.

Each case runs `compiler.cli.main(argv)` in a forked child (the parent has
already imported hwc, so a case costs milliseconds, not an interpreter start),
with its stderr captured, a wall-clock timeout and an address-space limit, in
a scratch folder whose files are compared before and after. The verdicts:

* `ok` — exit status 0;
* `error` — exit status 1 and exactly one stderr line `hwc: error: ...` that
  is not an internal error: the promise to the user, kept;
* `internal` — one line, but an internal error (a bug, reported cleanly);
* `traceback`, `noisy` (more than one line or an unexpected status),
  `hang` (timeout), `crash` (killed by a signal, e.g. out of memory),
  `lost` (a file that existed before the run changed or vanished).
"""

from __future__ import annotations

import os
import resource
import select
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

GOOD = ("ok", "error")
MEMORY_LIMIT = 6 << 30
"""Address space a case may use; hwc must refuse what does not fit before allocating."""


@dataclass
class Outcome:
    verdict: str
    status: int | None
    stderr: str
    seconds: float

    def line(self) -> str:
        first = self.stderr.strip().splitlines()[-1] if self.stderr.strip() else ""
        return f"{self.verdict}: {first[:200]}"


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    files = {}
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                info = path.stat()
                files[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns)
        except OSError:
            continue
    return files


def _child(argv: list[str], cwd: Path, write_fd: int) -> None:
    try:
        os.chdir(cwd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(write_fd, 2)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        from compiler.cli import main

        status = main(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status if isinstance(status, int) else 3)
    except SystemExit as exit_:
        os._exit(exit_.code if isinstance(exit_.code, int) else 3)
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        os._exit(4)


def run_case(argv: list[str], cwd: Path, timeout: float = 60.0) -> Outcome:
    """Run `hwc argv...` in `cwd` in a forked child and judge the ending."""
    before = _snapshot(cwd)
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(argv, cwd, write_fd)
    os.close(write_fd)
    chunks: list[bytes] = []
    status = None
    timed_out = False
    while True:
        remaining = timeout - (time.monotonic() - start)
        if remaining <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.5))
        if ready:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    _, wait_status = os.waitpid(pid, 0)
    os.close(read_fd)
    seconds = time.monotonic() - start
    stderr = b"".join(chunks).decode("utf-8", "replace")
    if os.WIFEXITED(wait_status):
        status = os.WEXITSTATUS(wait_status)
    verdict = judge(stderr, status, timed_out, wait_status)
    after = _snapshot(cwd)
    if any(name not in after or after[name] != stamp for name, stamp in before.items()):
        verdict = "lost"
    return Outcome(verdict, status, stderr, seconds)


def judge(stderr: str, status: int | None, timed_out: bool, wait_status: int) -> str:
    if timed_out:
        return "hang"
    if "Traceback" in stderr:
        return "traceback"
    if status is None:
        return "crash" if os.WIFSIGNALED(wait_status) else "noisy"
    lines = [line for line in stderr.splitlines() if line.strip()]
    if status == 0:
        return "ok"
    if status == 1 and len(lines) == 1 and lines[0].startswith("hwc: error: "):
        return "internal" if "internal error" in lines[0] else "error"
    return "noisy"
