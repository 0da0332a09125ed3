"""hwc: compile a trained neural network into a fixed-function chip description."""

from compiler.driver import CompileOptions, Design, compile

__all__ = ["CompileOptions", "Design", "compile"]
