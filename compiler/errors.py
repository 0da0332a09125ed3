"""The one exception type for user mistakes.

Anything the user can cause (a bad file, an unsupported operator, an option out
of range) raises `HwcError` with a one-line message. The command-line driver
prints it as `hwc: error: <message>` and exits with status 1; any other
exception is a bug in hwc.
"""


class HwcError(Exception):
    """A user-facing error: its message is one line, fit to print as is."""

    def __init__(self, message: str):
        super().__init__(" ".join(message.split("\n")))
