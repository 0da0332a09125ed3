"""The verification ladder names where a level goes wrong: a weight corrupted after
import makes the float rung fail and name that layer's ONNX node."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import compiler
from compiler.verify import float_rung, random_inputs
from compiler.weights import store_for
from dialects.nn import ConvOp, WeightOp

CNN = Path(__file__).resolve().parents[1] / "fixtures" / "cnn.onnx"


def convs_in_order(module):
    return [op for op in module.walk() if isinstance(op, ConvOp)]


def onnx_conv_names(path: Path) -> list[str]:
    return [node.name for node in onnx.load(str(path)).graph.node if node.op_type == "Conv"]


def test_agreeing_model_passes():
    design = compiler.compile(CNN)
    rung = float_rung(design, random_inputs(design, 4))
    assert rung.agreed and "first differs" not in rung.detail


def test_a_corrupted_layer_is_named():
    design = compiler.compile(CNN)
    second_conv = convs_in_order(design.nn_module)[1]
    weight = second_conv.weight.owner
    assert isinstance(weight, WeightOp)
    store = store_for(design.nn_module)
    corrupted = np.array(store.get(weight.key.data), copy=True)
    corrupted[0] += 0.5
    store.add(weight.key.data, corrupted)

    rung = float_rung(design, random_inputs(design, 4))
    assert not rung.agreed
    expected_node = onnx_conv_names(CNN)[1]
    assert f"first differs at node '{expected_node}'" in rung.detail, rung.detail


def test_a_corrupted_spatial_layer_is_named():
    """Corrupt the ROM of the residual block's second convolution in the spatial graph:
    the spatial rung fails and names that layer, not the stem or the classifier."""
    from compiler.verify import spatial_rung
    from dialects.rom import RomOp
    from dialects.spatial import MVUOp

    design = compiler.compile(CNN, fold="min")
    module = design.spatial_module
    mvus = [op for op in module.walk() if isinstance(op, MVUOp)]
    target = mvus[2]
    symbol = target.weights.root_reference.data
    rom = next(op for op in module.walk() if isinstance(op, RomOp) and op.sym_name.data == symbol)
    store = store_for(module)
    if rom.value is None:
        corrupted = np.array(store.get(symbol), copy=True)
        corrupted[0, 0] = 0 if corrupted[0, 0] != 0 else 1
        store.add(symbol, corrupted)
    else:
        raise AssertionError("the CNN's conv weights are large enough to live in the ROM image")

    rung = spatial_rung(design, random_inputs(design, 8))
    assert not rung.agreed
    assert f"first differs at layer '{target.layer.data}'" in rung.detail, rung.detail


@pytest.mark.rtl
def test_a_corrupted_hardware_pe_is_named(tmp_path):
    """Change one ROM entry inside one PE's hw.module: the design's RTL output differs,
    and simulating the PEs one by one names that PE's layer."""
    from xdsl.dialects import hw
    from xdsl.dialects.builtin import ArrayAttr, IntegerAttr

    from compiler.backend import verilator
    from compiler.backend.circt_export import export_verilog
    from compiler.rtl import RtlBuild, RtlExecutor, first_pe_differing_in_rtl, lower_to_hw
    from dialects.circt import AggregateConstantOp

    example = Path(__file__).resolve().parents[2] / "examples" / "digits_mlp"
    design = compiler.compile(example / "model.onnx", calib=example / "calib.npz", target_fps=1e6)
    spatial = design.executor("spatial")
    lowering = lower_to_hw(design.spatial_module, "logic")
    hw_module = lowering.module
    target = next(m for m in hw_module.ops if isinstance(m, hw.HWModuleOp) and m.sym_name.data == "dense1_mvu")
    # its largest constant array is the weight ROM: invert every word
    rom = max((op for op in target.walk() if isinstance(op, AggregateConstantOp)), key=lambda op: len(op.fields.data))
    fields = [IntegerAttr(~f.value.data, f.type) for f in rom.fields.data]
    rom.attributes["fields"] = ArrayAttr(fields)

    files = export_verilog(str(hw_module), tmp_path / "rtl", "main_top", data_dir=tmp_path)
    in_width, out_width = lowering.in_width, lowering.out_width
    simulator = verilator.build(files, "main_top", in_width=in_width, out_width=out_width, run_dir=tmp_path)
    build = RtlBuild(tmp_path, files, "main_top", in_width, out_width, str(hw_module), simulator)
    x = np.load(example / "test.npz")["input"][:40]
    quantized = spatial.quantize_inputs({"input": x})
    rtl = RtlExecutor(spatial, build).run_int(quantized)
    assert not np.array_equal(rtl["logits"], spatial.run_int(quantized)["logits"])

    culprit = first_pe_differing_in_rtl(spatial, design.spatial_module, lowering, quantized, tmp_path / "pes")
    assert culprit is not None and "layer 'dense1'" in culprit, culprit
