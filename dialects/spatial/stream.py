"""The stream type of the spatial dialect: `!spatial.stream<HxWxCxiN, lanes>`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import ArrayAttr, IntAttr, IntegerType
from xdsl.ir import Attribute, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException


@irdl_attr_definition
class StreamType(ParametrizedAttribute, TypeAttribute):
    """A valid/ready stream of frames: `!spatial.stream<HxWxCxiN, lanes>`."""

    name = "spatial.stream"
    shape: ArrayAttr[IntAttr]
    element_type: Attribute
    lanes: IntAttr

    def __init__(self, shape: Sequence[int], element_type: Attribute, lanes: int):
        super().__init__(ArrayAttr([IntAttr(d) for d in shape]), element_type, IntAttr(lanes))

    @property
    def frame(self) -> tuple[int, ...]:
        return tuple(d.data for d in self.shape.data)

    @property
    def width(self) -> int:
        """Bits per element."""
        assert isinstance(self.element_type, IntegerType)
        return self.element_type.width.data

    @property
    def beats(self) -> int:
        """Beats per frame."""
        return math.prod(self.frame) // self.lanes.data

    @property
    def beats_per_vector(self) -> int:
        """Beats carrying one innermost vector."""
        return self.frame[-1] // self.lanes.data

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> tuple:
        parser.parse_punctuation("<")
        shape, element_type = parser.parse_ranked_shape()
        parser.parse_punctuation(",")
        lanes = parser.parse_integer(allow_negative=False, allow_boolean=False)
        parser.parse_punctuation(">")
        return ArrayAttr([IntAttr(d) for d in shape]), element_type, IntAttr(lanes)

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string("<")
        printer.print_string("".join(f"{d}x" for d in self.frame))
        printer.print_attribute(self.element_type)
        printer.print_string(f", {self.lanes.data}>")

    def verify(self) -> None:
        if not isinstance(self.element_type, IntegerType):
            raise VerifyException("a stream carries integers")
        frame, lanes = self.frame, self.lanes.data
        if not frame or any(d < 1 for d in frame):
            raise VerifyException("a stream's frame needs positive dimensions")
        if lanes < 1 or frame[-1] % lanes:
            raise VerifyException(
                f"lanes {lanes} must divide the innermost dimension {frame[-1]}"
            )


def stream_of(value: SSAValue) -> StreamType:
    if not isinstance(value.type, StreamType):
        raise VerifyException(f"expected a stream, got {value.type}")
    return value.type
