"""`map-to-spatial` and the spatial executor against the integer executor (the
oracle, bit for bit) on the fixtures, the digits example and a graph using every
layer kind, at the initial folding and at folded designs; plus the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compiler.errors import HwcError
from compiler.executor import IntExecutor, SpatialExecutor
from compiler.frontend import import_onnx
from compiler.ir import parse_module
from compiler.pipelines import rom_pipeline, run_pipeline
from dialects import spatial
from passes.map_to_spatial import map_module
from passes.quantize import quantize_with_samples
from passes.spatial_fusions import FUSIONS

SAMPLES = 150
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FOLDINGS = ["", "fold-parallelism{full}", "fold-parallelism{max-multipliers=24}",
            "fold-parallelism{target-fps=100000 clock-mhz=200}",
            "fold-parallelism{target-fps=400000 clock-mhz=200}"]


def rom_module(path: Path, calib: Path | None = None):
    module = import_onnx(path)
    run_pipeline(module, rom_pipeline(calib=calib))
    return module


def spatial_module(module, folding: str = "", fusions: str = "all"):
    mapped = module.clone()
    run_pipeline(mapped, f"map-to-spatial{{fusions={fusions}}}" + (f",{folding}" if folding else ""))
    mapped.verify()
    return mapped


def random_ints(executor: IntExecutor, seed: int, count: int = SAMPLES) -> dict[str, np.ndarray]:
    """Random values over the whole input range, plus the extremes."""
    rng = np.random.default_rng(seed)
    result = {}
    for name, shape in executor.input_shapes.items():
        limit = (1 << (executor.input_widths[name] - 1)) - 1
        x = rng.integers(-limit, limit + 1, size=(count, *shape))
        x[0], x[1] = limit, -limit
        result[name] = x
    return result


def assert_bit_exact(module, mapped, seed=0):
    reference, executor = IntExecutor(module), SpatialExecutor(mapped)
    inputs = random_ints(reference, seed)
    expected, actual = reference.run_int(inputs), executor.run_int(inputs)
    assert sorted(expected) == sorted(actual)
    for name in expected:
        assert expected[name].shape == actual[name].shape, name
        assert np.array_equal(expected[name], actual[name]), name
    return executor


@pytest.fixture(scope="module", params=["mlp", "cnn", "digits"])
def model(request, fixtures_dir):
    if request.param == "digits":
        folder = EXAMPLES / "digits_mlp"
        return rom_module(folder / "model.onnx", folder / "calib.npz")
    return rom_module(fixtures_dir / f"{request.param}.onnx")


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("folding", FOLDINGS)
def test_bit_exact_with_the_integer_executor(model, folding):
    executor = assert_bit_exact(model, spatial_module(model, folding))
    assert executor.cycles_per_inference == max(t.ii for t in executor.pe_timing)


def test_folding_shortens_the_bottleneck(model):
    slow = SpatialExecutor(spatial_module(model))
    fast = SpatialExecutor(spatial_module(model, "fold-parallelism{full}"))
    assert fast.cycles_per_inference < slow.cycles_per_inference
    assert fast.latency < slow.latency


def test_float_run_equals_the_integer_executor(fixtures_dir):
    module = rom_module(fixtures_dir / "cnn.onnx")
    x = {"input": np.random.default_rng(5).standard_normal((20, 3, 16, 16)).astype(np.float32)}
    expected = IntExecutor(module).run(x)
    actual = SpatialExecutor(spatial_module(module)).run(x)
    assert np.array_equal(expected["logits"], actual["logits"])


def test_cnn_graph_shape(fixtures_dir):
    """conv → swu + mvu with (kh, kw, c) weights, the residual is an eltwise fed by a dup,
    the flatten a reshape, and the ROMs of the NCHW conv weights are gone."""
    mapped = spatial_module(rom_module(fixtures_dir / "cnn.onnx"))
    graph = next(op for op in mapped.ops if isinstance(op, spatial.GraphOp))
    kinds = [op.name for op in graph.body.block.ops]
    assert kinds.count("spatial.swu") == 4 and kinds.count("spatial.mvu") == 4
    assert {"spatial.pool", "spatial.eltwise", "spatial.dup", "spatial.reshape"} <= set(kinds)
    roms = {op.sym_name.data: op for op in mapped.ops if op.name == "rom.rom"}
    assert "stem_weight" not in roms and roms["stem_weight_hwc"].shape == (8, 27)
    assert all(op.ii is not None and op.latency is not None
               for op in graph.body.block.ops if isinstance(op, spatial.PE_OPS))


# --------------------------------------------------------------------------- every layer kind


OPS_GRAPH = """
builtin.module {
  func.func @main(%x: tensor<1x2x6x6xf32> {nn.name = "input"}) -> (tensor<1x4xf32> {nn.name = "logits"}, tensor<1x7x2x2xf32> {nn.name = "features"}) {
    %p = nn.pad %x {pads = array<i64: 0, 0, 1, 1, 0, 0, 1, 1>, mode = "constant", value = 0.0 : f32} : (tensor<1x2x6x6xf32>) -> tensor<1x2x8x8xf32>
    %gw = nn.constant dense<[[[[0.5, -1.0, 0.25], [1.0, 0.5, -0.5], [0.0, 0.75, 1.0]]], [[[-0.5, 1.0, 0.5], [0.25, -1.0, 0.5], [1.0, 0.0, -0.25]]], [[[1.0, 1.0, -1.0], [0.5, 0.5, 0.5], [-0.5, 0.25, 0.0]]], [[[0.0, -0.5, 1.0], [-1.0, 0.75, 0.25], [0.5, -0.25, 1.0]]]]> : tensor<4x1x3x3xf32>
    %gb = nn.constant dense<[0.1, -0.2, 0.3, 0.0]> : tensor<4xf32>
    %cv = nn.conv %p, %gw, %gb {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 2 : i64} : (tensor<1x2x8x8xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>) -> tensor<1x4x6x6xf32>
    %r = nn.relu %cv : (tensor<1x4x6x6xf32>) -> tensor<1x4x6x6xf32>
    %mp = nn.max_pool %r {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, ceil_mode = 1 : i64} : (tensor<1x4x6x6xf32>) -> tensor<1x4x4x4xf32>
    %s = nn.sigmoid %mp : (tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
    %pw = nn.constant dense<[[[[1.0]], [[-0.5]], [[0.25]], [[0.75]]], [[[0.5]], [[0.5]], [[-1.0]], [[0.0]]], [[[-0.25]], [[1.0]], [[0.5]], [[-0.5]]]]> : tensor<3x4x1x1xf32>
    %pc = nn.conv %mp, %pw {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x4x4x4xf32>, tensor<3x4x1x1xf32>) -> tensor<1x3x4x4xf32>
    %c = nn.concat %s, %pc {axis = 1 : i64} : (tensor<1x4x4x4xf32>, tensor<1x3x4x4xf32>) -> tensor<1x7x4x4xf32>
    %cr = nn.relu %c : (tensor<1x7x4x4xf32>) -> tensor<1x7x4x4xf32>
    %k = nn.constant dense<[0.5, -2.0, 1.5, 1.0, 0.25, -0.75, 1.0]> : tensor<7xf32>
    %kb = nn.constant dense<[0.1, 0.2, -0.3, 0.0, 0.5, 1.0, -0.1]> : tensor<7xf32>
    %km = nn.constant dense<[0.0, 0.1, 0.2, -0.1, 0.0, 0.3, 0.0]> : tensor<7xf32>
    %kv = nn.constant dense<[1.0, 0.5, 2.0, 1.5, 1.0, 0.8, 1.0]> : tensor<7xf32>
    %bn = nn.batch_norm %cr, %k, %kb, %km, %kv {epsilon = 1.0e-05 : f32} : (tensor<1x7x4x4xf32>, tensor<7xf32>, tensor<7xf32>, tensor<7xf32>, tensor<7xf32>) -> tensor<1x7x4x4xf32>
    %a = nn.average_pool %bn {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 0 : i64, count_include_pad = 0 : i64} : (tensor<1x7x4x4xf32>) -> tensor<1x7x2x2xf32>
    %m = nn.mul %a, %a : (tensor<1x7x2x2xf32>, tensor<1x7x2x2xf32>) -> tensor<1x7x2x2xf32>
    %e = nn.sub %m, %a : (tensor<1x7x2x2xf32>, tensor<1x7x2x2xf32>) -> tensor<1x7x2x2xf32>
    %half = nn.constant dense<[[[0.5]], [[1.0]], [[0.25]], [[0.75]], [[0.5]], [[1.0]], [[2.0]]]> : tensor<7x1x1xf32>
    %d = nn.mul %e, %half : (tensor<1x7x2x2xf32>, tensor<7x1x1xf32>) -> tensor<1x7x2x2xf32>
    %g = nn.global_average_pool %d : (tensor<1x7x2x2xf32>) -> tensor<1x7x1x1xf32>
    %fg = nn.reshape %g : (tensor<1x7x1x1xf32>) -> tensor<1x7xf32>
    %w1 = nn.constant dense<[[1.0, -1.0, 0.5, 0.0, 2.0, -0.5, 0.1], [0.3, 0.2, -0.1, 1.0, -1.0, 0.7, 0.0], [-0.4, 0.9, 0.0, 0.2, 0.1, 0.6, 0.5], [0.5, 0.5, 0.5, -0.5, -0.5, 0.1, -1.0]]> : tensor<4x7xf32>
    %y1 = nn.dense %fg, %w1 : (tensor<1x7xf32>, tensor<4x7xf32>) -> tensor<1x4xf32>
    %fa = nn.reshape %e : (tensor<1x7x2x2xf32>) -> tensor<1x28xf32>
    %w2 = nn.constant dense<[[1.0, -1.0, 0.5, 0.0, 2.0, -0.5, 0.1, 0.3, 0.2, -0.1, 1.0, -1.0, 0.7, 0.0, -0.4, 0.9, 0.0, 0.2, 0.1, 0.6, 0.5, 0.5, 0.5, 0.5, -0.5, -0.5, 0.1, -1.0], [0.5, 0.25, -0.75, 1.0, 0.0, 0.5, -0.5, 1.0, -1.0, 0.5, 0.25, 0.0, 0.3, -0.3, 0.6, -0.6, 0.9, -0.9, 0.1, -0.1, 0.4, -0.4, 0.8, -0.8, 0.2, -0.2, 0.7, -0.7], [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, -0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8, -0.9, -1.0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]]> : tensor<4x28xf32>
    %y2 = nn.dense %fa, %w2 : (tensor<1x28xf32>, tensor<4x28xf32>) -> tensor<1x4xf32>
    %y = nn.add %y1, %y2 : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
    %sm = nn.softmax %y {axis = 1 : i64} : (tensor<1x4xf32>) -> tensor<1x4xf32>
    func.return %sm, %a : tensor<1x4xf32>, tensor<1x7x2x2xf32>
  }
}
"""


@pytest.fixture(scope="module")
def ops_module():
    module = parse_module(OPS_GRAPH)
    samples = {"input": np.random.default_rng(4).standard_normal((64, 2, 6, 6)).astype(np.float32)}
    quantize_with_samples(module, samples, wbits=8, abits=8)
    run_pipeline(module, "weights-to-rom")
    return module


@pytest.mark.parametrize("folding", FOLDINGS)
def test_every_layer_kind_is_bit_exact(ops_module, folding):
    mapped = spatial_module(ops_module, folding)
    graph = next(op for op in mapped.ops if isinstance(op, spatial.GraphOp))
    kinds = {op.name for op in graph.body.block.ops}
    assert {"spatial.swu", "spatial.mvu", "spatial.pool", "spatial.lookup", "spatial.concat",
            "spatial.requant", "spatial.eltwise", "spatial.global_pool", "spatial.reshape",
            "spatial.dup"} <= kinds
    pools = {op.kind.data for op in graph.body.block.ops if isinstance(op, spatial.PoolOp)}
    assert pools == {"max", "sum"}
    executor = assert_bit_exact(ops_module, mapped, seed=3)
    x = {"input": np.random.default_rng(6).standard_normal((10, 2, 6, 6)).astype(np.float32)}
    expected, actual = IntExecutor(ops_module).run(x), executor.run(x)
    assert np.array_equal(expected["logits"], actual["logits"])
    assert np.allclose(actual["logits"].sum(axis=1), 1.0, atol=1e-5)  # softmax on the host


@pytest.mark.parametrize("fusions", ["none", *FUSIONS])
def test_every_layer_kind_is_bit_exact_with_each_fusion_alone(ops_module, fusions):
    """Each handler's PEs compute the nn op alone, and each fusion keeps the integers."""
    mapped = spatial_module(ops_module, fusions=fusions)
    assert_bit_exact(ops_module, mapped, seed=7)


def test_fusions_merge_pes(ops_module):
    """The every-layer graph gives each fusion something to merge, and together they merge more."""
    def count(fusions: str) -> int:
        graph = next(op for op in spatial_module(ops_module, fusions=fusions).ops
                     if isinstance(op, spatial.GraphOp))
        return sum(1 for op in graph.body.block.ops if isinstance(op, spatial.PE_OPS))

    alone = count("none")
    for name in FUSIONS:
        assert count(name) < alone, name
    assert count("all") < min(count(name) for name in FUSIONS)


def test_fused_away_ops_take_no_name(ops_module):
    """Layer names count only the PEs that stay: of the graph's muls, the batch norm's
    scale and the residual's rescalings are fused away, so the two that stay, the
    eltwise `a·a` and the MVU scaling each channel after it (a positive scalar factor
would be a requant, not a mul), are mul0 and mul1 in graph order;
    their ROMs are named after them."""
    graph = next(op for op in spatial_module(ops_module).ops if isinstance(op, spatial.GraphOp))
    muls = [op for op in graph.body.block.ops
            if isinstance(op, spatial.PE_OPS) and op.layer.data.startswith("mul")]
    assert [(op.name, op.layer.data) for op in muls] == [("spatial.eltwise", "mul0"), ("spatial.mvu", "mul1")]
    assert muls[1].weights.root_reference.data == "mul1_diagonal"


def test_unknown_fusion_is_refused(ops_module):
    with pytest.raises(HwcError, match="unknown fusion 'fast'"):
        map_module(ops_module.clone(), "fast")


# --------------------------------------------------------------------------- errors


def int_graph(body: str, arg: str, result: str) -> str:
    return f"""
    builtin.module {{
      func.func @main(%x: {arg} {{nn.name = "x"}}) -> ({result} {{nn.name = "y"}}) {{
        {body}
      }}
    }}"""


def test_transpose_is_refused_with_the_layer_name():
    module = parse_module(int_graph(
        """%t = nn.transpose %x {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x3x4xi8>) -> tensor<1x2x4x3xi8>
        func.return %t : tensor<1x2x4x3xi8>""", "tensor<1x2x3x4xi8>", "tensor<1x2x4x3xi8>"))
    with pytest.raises(HwcError, match=r"map-to-spatial: layer 'transpose0' \(nn.transpose\): .*no spatial form"):
        map_module(module)


def test_constants_must_be_roms():
    module = parse_module(int_graph(
        """%w = nn.constant dense<1> : tensor<2x2xi8>
        %y = nn.dense %x, %w : (tensor<1x2xi8>, tensor<2x2xi8>) -> tensor<1x2xi16>
        func.return %y : tensor<1x2xi16>""", "tensor<1x2xi8>", "tensor<1x2xi16>"))
    with pytest.raises(HwcError, match="run weights-to-rom first"):
        map_module(module)


def test_batch_other_than_one_is_refused():
    module = parse_module(int_graph("func.return %x : tensor<2x3xi8>", "tensor<2x3xi8>", "tensor<2x3xi8>"))
    with pytest.raises(HwcError, match="the IR batch must be 1"):
        map_module(module)


def test_unsupported_pad_is_refused():
    module = parse_module(int_graph(
        """%p = nn.pad %x {pads = array<i64: 0, 0, 1, 0, 0, 1>, mode = "edge", value = 0.0 : f32} : (tensor<1x2x3xi8>) -> tensor<1x2x5xi8>
        func.return %p : tensor<1x2x5xi8>""", "tensor<1x2x3xi8>", "tensor<1x2x5xi8>"))
    with pytest.raises(HwcError, match=r"layer 'pad0' \(nn.pad\): an nn.pad is supported only"):
        map_module(module)
