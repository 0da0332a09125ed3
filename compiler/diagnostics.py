"""Warnings for the user, held back while a command runs.

`warn` records a one-line warning. Inside `deferred()` (the command-line
driver wraps every command in it) warnings are printed to stderr only when the
command succeeds (the block ends without an exception and without calling
`drop()` on what it yields), so that an error is the only line a failed
command prints; outside it (plain Python use) they are printed at once.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

_pending: list[list[str]] = []


def warn(message: str) -> None:
    """Print `hwc: warning: <message>` now, or when the enclosing command succeeds."""
    line = f"hwc: warning: {message}"
    if _pending:
        if line not in _pending[-1]:
            _pending[-1].append(line)
    else:
        print(line, file=sys.stderr)


@contextlib.contextmanager
def deferred() -> Iterator[list[str]]:
    """Hold warnings back until the block ends; drop them if it raises, or if
    the block empties the yielded list (a command that failed without raising)."""
    held: list[str] = []
    _pending.append(held)
    try:
        yield held
    except BaseException:
        _pending.pop()
        raise
    for line in _pending.pop():
        print(line, file=sys.stderr)
