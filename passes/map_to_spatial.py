"""`map-to-spatial`: the integer `nn` + `rom` graph becomes a `spatial.graph` of
processing elements joined by streams (see `dialects/spatial.py`).

Requires: `quantize` and `weights-to-rom` have run — `func.func @main` is an
integer graph whose constants are all `rom.read`s, with IR batch 1.

Rewrites `func.func @main` into `spatial.graph @main` in three steps:

1. every nn op becomes its own PEs, one handler per op kind
   (`passes/spatial_handlers.py`: conv → swu + mvu, dense → mvu, pools → swu +
   pool, requant → requant, pad → a padding-only swu, add/sub/mul of two
   activations → eltwise, of an activation and a constant → a diagonal mvu, ...);
2. the PE fusions (`passes/spatial_fusions.py`, option `fusions`: a fusion's
   name, `all` (the default) or `none`) merge them: requant into the MVU or the
   eltwise before it, a scaling MVU into an eltwise operand or into the diagonal
   MVU after it, padding into the SWU after it;
3. the graph is finished: layer names made unique in graph order, a
   `spatial.dup` for every stream with several consumers, every PE's `ii` and
   `latency` (`nominal_ii()` / `nominal_latency()`) at the smallest folding
   (pe = simd = 1, one lane per stream), ROMs nothing reads removed.

The graph records what the host needs in its attributes `spatial.inputs` and
`spatial.outputs`: per port `nn.name`, `nn.scale`, `nn.host_op` (when set),
`nn.shape` (the nn shape, batch included) and the layout `spatial.source` +
`spatial.perm` (`dialects/stream_layout.py`: NCHW → NHWC for images: source
[C, H, W], perm [1, 2, 0]). Each PE records the nn value its stream carries in
`spatial.probe`.

ROMs: the `rom.rom` symbols stay; new ROMs hold re-ordered weights; ROMs
nothing reads any more are removed.

A decoder (a module with the step graph `func.func @step` of `sequence-to-stream`)
maps its step graph instead: MVUs for the matrix-vector products, a
`spatial.vector` unit for each stage of glue between them, the K/V caches as the
units' state, ports for the token id and its position (`passes/spatial_decoder.py`);
the whole-sequence `main` is removed, and the graph keeps `nn.context`.

Guarantees: the module verifies; `compiler.executor.SpatialExecutor` on it
equals `IntExecutor` on the input module bit for bit, with any choice of
fusions. Anything else is a one-line HwcError naming the layer and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, IntegerAttr, ModuleOp, StringAttr, SymbolRefAttr, i64
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import GreedyRewritePatternApplier, PatternRewriteWalker
from xdsl.utils.exceptions import VerifyException

from compiler.calibration import activations
from compiler.errors import HwcError
from compiler.ir import is_constant, main_function
from compiler.weights import store_for
from dialects import nn, spatial
from dialects.nn.state import CONTEXT_ATTR, STEP_FUNCTION
from dialects.rom import RomOp
from dialects.spatial import INPUTS_ATTR, OUTPUTS_ATTR
from dialects.stream_layout import PERM_KEY, SHAPE_KEY, SOURCE_KEY, Layout
from passes.spatial_fusions import FUSIONS, fusion_patterns
from passes.spatial_decoder import map_step_ops
from passes.spatial_handlers import HANDLERS
from passes.spatial_mapper import GraphMapper, Stream, per_sample, stream_type

PORT_KEYS_FROM_NN = (nn.NAME_ATTR, nn.SCALE_ATTR, nn.HOST_OP_ATTR, nn.INPUT_RANGE_ATTR)


# --------------------------------------------------------------------------- mapping


def map_ops(m: GraphMapper) -> list[SSAValue]:
    """Step 1: every live nn op through its handler; the nn values the graph returns."""
    old = m.function.body.block
    for arg in old.args:
        if nn.shape_of(arg)[0] != 1:
            raise HwcError(f"map-to-spatial: graph input {arg.type}: the IR batch must be 1")
    for arg in old.args:
        layout = Layout.natural(per_sample(arg))
        m.streams[arg] = Stream(m.block.insert_arg(stream_type(arg, layout.frame), len(m.block.args)), layout)
    outputs: list[SSAValue] = []
    for op in old.ops:
        if isinstance(op, ReturnOp):
            outputs = list(op.arguments)
        elif is_constant(op) or not any(result.uses for result in op.results):
            continue
        else:
            handler = HANDLERS.get(type(op))
            if handler is None:
                raise HwcError(f"map-to-spatial: layer '{m.layer_of(op)}' ({op.name}) has no "
                               f"spatial form (supported: {', '.join(sorted(t.name for t in HANDLERS))})")
            handler(m, op)
    m.block.add_op(spatial.YieldOp.create(operands=[m.stream(v, "graph output").value for v in outputs]))
    return outputs


def port(m: GraphMapper, index: int, value: SSAValue, attrs: ArrayAttr | None, kind: str) -> DictionaryAttr:
    """What the host needs to know about graph input/output `index`."""
    entries: dict[str, Attribute] = {}
    if attrs is not None:
        given = attrs.data[index]
        assert isinstance(given, DictionaryAttr)
        entries.update({k: v for k, v in given.data.items() if k in PORT_KEYS_FROM_NN})
    entries.setdefault(nn.NAME_ATTR, StringAttr(f"{kind}{index}"))
    layout = m.stream(value, "graph port").layout
    entries[SHAPE_KEY] = nn.i64_array(nn.shape_of(value))
    entries[SOURCE_KEY] = nn.i64_array(layout.source)
    entries[PERM_KEY] = nn.i64_array(layout.perm)
    return DictionaryAttr(entries)


def fuse(graph: spatial.GraphOp, names: list[str], m: GraphMapper) -> None:
    """Step 2: apply the fusions `names` until none applies."""
    if names:
        PatternRewriteWalker(GreedyRewritePatternApplier(fusion_patterns(names, m.store)),
                             apply_recursively=True).rewrite_region(graph.body)


def name_layers(block: Block, m: GraphMapper) -> None:
    """Every PE's final, unique layer name, in graph order."""
    for op in block.ops:
        if isinstance(op, spatial.PE_OPS):
            op.layer = StringAttr(m.final_layer(op.layer.data))


def name_roms(module: ModuleOp, graph: spatial.GraphOp, m: GraphMapper) -> None:
    """Every new ROM's final, unique symbol, in module order (after the layers are named)."""
    renamed: dict[str, str] = {}
    for rom in module.ops:
        if isinstance(rom, RomOp) and rom.sym_name.data in m.later_roms:
            provisional = rom.sym_name.data
            renamed[provisional] = m.final_rom(provisional)
            rom.sym_name = StringAttr(renamed[provisional])
            if rom.value is None:
                m.store.add(renamed[provisional], m.store.get(provisional))
    for op in graph.walk():
        for key, attr in list(op.properties.items()):
            if isinstance(attr, SymbolRefAttr) and attr.root_reference.data in renamed:
                op.properties[key] = SymbolRefAttr(renamed[attr.root_reference.data])


# --------------------------------------------------------------------------- graph finishing


def insert_dups(block: Block) -> None:
    """Give every stream with several consumers a `spatial.dup` (one output per consumer)."""
    position = {op: index for index, op in enumerate(block.ops)}
    values = list(block.args) + [r for op in block.ops for r in op.results]
    for value in values:
        uses = sorted(value.uses, key=lambda use: (position[use.operation], use.index))
        if len(uses) < 2:
            continue
        owner = value.owner
        layer = owner.layer.data if isinstance(owner, Operation) and hasattr(owner, "layer") else "input"
        dup = spatial.DupOp(operands=[value], result_types=[[value.type] * len(uses)],
                                   properties={"layer": StringAttr(f"{layer}_dup")})
        if isinstance(owner, Operation):
            block.insert_op_after(dup, owner)
        else:
            block.insert_op_before(dup, block.first_op)
        for use, output in zip(uses, dup.outputs):
            use.operation.operands[use.index] = output


def set_timing(block: Block) -> None:
    """Every PE's `ii` and `latency` at its current folding."""
    for op in block.ops:
        if isinstance(op, spatial.PE_OPS):
            op.ii = IntegerAttr(op.nominal_ii(), i64)
            op.latency = IntegerAttr(op.nominal_latency(), i64)


def remove_unread_roms(module: ModuleOp) -> None:
    """Erase the `rom.rom` symbols that no op names any more."""
    named: set[str] = set()
    for op in module.walk():
        for attr in (*op.properties.values(), *op.attributes.values()):
            if isinstance(attr, SymbolRefAttr):
                named.add(attr.root_reference.data)
    for op in list(module.ops):
        if isinstance(op, RomOp) and op.sym_name.data not in named:
            module.body.block.erase_op(op)


def fusion_names(option: str) -> list[str]:
    """The fusions an option value selects: `all`, `none` or one fusion's name."""
    if option == "all":
        return list(FUSIONS)
    if option == "none":
        return []
    if option not in FUSIONS:
        raise HwcError(f"map-to-spatial: unknown fusion '{option}' (all, none, {', '.join(FUSIONS)})")
    return [option]


def finish_graph(graph: spatial.GraphOp, m: GraphMapper) -> None:
    """Dups for fan-out, every PE's timing, and the verifier's verdict as one HwcError line."""
    insert_dups(m.block)
    set_timing(m.block)
    try:
        graph.verify()
    except VerifyException as error:
        raise HwcError(f"map-to-spatial: the graph does not verify: {str(error).splitlines()[0]}") from None


def step_function(module: ModuleOp) -> FuncOp | None:
    """The decoder's step graph (`sequence-to-stream`), if the module has one."""
    return next((op for op in module.ops if isinstance(op, FuncOp) and op.sym_name.data == STEP_FUNCTION), None)


def map_decoder(module: ModuleOp, step: FuncOp) -> ModuleOp:
    """The step graph as MVUs and vector units (`passes/spatial_decoder.py`); the
    whole-sequence `main` goes (the chip runs one token a frame)."""
    m = GraphMapper(module, step, store_for(module), {})
    outputs, ports, kept = map_step_ops(m)
    args = step.body.block.args
    attributes = {
        INPUTS_ATTR: ArrayAttr([port(m, i, args[i], step.arg_attrs, "input") for i in ports]),
        OUTPUTS_ATTR: ArrayAttr([port(m, i, v, step.res_attrs, "output") for i, v in zip(kept, outputs)]),
        CONTEXT_ATTR: step.attributes[CONTEXT_ATTR],
    }
    graph = spatial.GraphOp("main", Region(m.block), attributes)
    module.body.block.insert_op_before(graph, step)
    for function in [op for op in module.ops if isinstance(op, FuncOp)]:
        module.body.block.erase_op(function)
    remove_unread_roms(module)
    name_roms(module, graph, m)
    finish_graph(graph, m)
    return module


def map_module(module: ModuleOp, fusions: str = "all") -> ModuleOp:
    """Apply the rewrite to `module` in place (the plain Python form of the pass)."""
    names = fusion_names(fusions)
    step = step_function(module)
    if step is not None:
        return map_decoder(module, step)
    function = main_function(module)
    probes = {value: i for i, value in enumerate(activations(module))}
    m = GraphMapper(module, function, store_for(module), probes)
    outputs = map_ops(m)
    attributes = {
        INPUTS_ATTR: ArrayAttr([port(m, i, v, function.arg_attrs, "input")
                                for i, v in enumerate(function.body.block.args)]),
        OUTPUTS_ATTR: ArrayAttr([port(m, i, v, function.res_attrs, "output") for i, v in enumerate(outputs)]),
    }
    graph = spatial.GraphOp("main", Region(m.block), attributes)
    module.body.block.insert_op_before(graph, function)
    fuse(graph, names, m)
    module.body.block.erase_op(function)
    remove_unread_roms(module)
    name_layers(m.block, m)
    name_roms(module, graph, m)
    finish_graph(graph, m)
    return module


@dataclass(frozen=True)
class MapToSpatialPass(ModulePass):
    """`func.func @main` (integer nn + rom) → `spatial.graph @main` (see the module docstring)."""

    name = "map-to-spatial"

    fusions: str = "all"
    """Which PE fusions run: `all`, `none`, or one fusion's name (`passes/spatial_fusions.py`)."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        map_module(op, self.fusions)
