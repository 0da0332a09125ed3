"""The host interface shared by the integer, spatial and RTL executors
(`compiler/executor/host.py`): integer checks, float conversion with scales and
host ops, and the ports read from a quantized function, with values by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compiler.errors import HwcError
from compiler.executor.host import HostInterface, Port, function_ports
from compiler.ir import main_function, parse_module

X = Port("x", (1, 3), 8, np.dtype(np.int8), 0.5, None)
Y = Port("y", (1, 2), 16, np.dtype(np.int16), 0.25, "softmax")
Z = Port("z", (1, 2), 16, np.dtype(np.int16), None, None)


def test_quantize_rounds_half_up_and_clamps_to_the_narrow_range():
    host = HostInterface([X], [Y], what="module")
    q = host.quantize_inputs({"x": np.array([[1.0, -0.74, 100.0]])})["x"]
    assert q.tolist() == [[2, -1, 127]]  # floor(x / 0.5 + 0.5), clamped to ±127


def test_dequantize_scales_then_applies_the_host_op():
    host = HostInterface([X], [Y], what="module")
    y = host.dequantize_outputs({"y": np.array([[0, 4]])})["y"]  # 0 and 4·0.25 = 1
    e = math.e
    assert np.allclose(y, [[1 / (1 + e), e / (1 + e)]])


def test_integer_checks_name_the_port():
    host = HostInterface([X], [Z], what="graph")
    assert host.check_ints({"x": np.array([[1, -127, 127]], np.int16)})["x"].dtype == np.int64
    with pytest.raises(HwcError, match="unknown input 'q'"):
        host.check_ints({"x": np.zeros((1, 3), np.int64), "q": np.zeros(1)})
    with pytest.raises(HwcError, match="missing input 'x'"):
        host.check_ints({})
    with pytest.raises(HwcError, match="expected integers"):
        host.check_ints({"x": np.zeros((1, 3))})
    with pytest.raises(HwcError, match="outside the 8-bit range"):
        host.check_ints({"x": np.array([[0, 0, 128]])})
    with pytest.raises(HwcError, match="has no nn.scale: the graph is not quantized"):
        host.dequantize_outputs({"z": np.zeros((1, 2), np.int64)})


QUANTIZED = """
builtin.module {
  func.func @main(%a: tensor<1x3xi8> {nn.name = "a", nn.scale = 0.5 : f64})
      -> (tensor<1x3xi8> {nn.name = "b", nn.scale = 0.125 : f64, nn.host_op = "log_softmax"}) {
    %b = nn.relu %a : (tensor<1x3xi8>) -> tensor<1x3xi8>
    func.return %b : tensor<1x3xi8>
  }
}
"""


def test_function_ports_read_names_widths_scales_and_host_ops():
    (a,), (b,) = function_ports(main_function(parse_module(QUANTIZED)))
    assert (a.name, a.nn_shape, a.width, a.scale, a.host_op) == ("a", (1, 3), 8, 0.5, None)
    assert (b.name, b.width, b.scale, b.host_op) == ("b", 8, 0.125, "log_softmax")


def test_a_host_op_outside_the_host_ops_is_an_error():
    module = parse_module(QUANTIZED.replace('"log_softmax"', '"argmax"'))
    with pytest.raises(HwcError, match="nn.host_op must be one of softmax, log_softmax"):
        function_ports(main_function(module))
