"""hwc: compile a trained neural network into a fixed-function chip description."""

import sys

# A hardwired ROM row is one wide integer constant in the IR (thousands of digits for
# a 128-input row of 4-bit products); Python refuses to print such ints by default.
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)

from compiler.driver import CompileOptions, Design, compile  # noqa: E402

__all__ = ["CompileOptions", "Design", "compile"]
