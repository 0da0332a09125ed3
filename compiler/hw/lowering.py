"""The spatial graph lowered to CIRCT hardware IR: the work of the pass
`lower-spatial-to-hw` (`passes/lower_spatial_to_hw.py` says what it requires
and guarantees), as a plain function that also returns what it made besides
the IR.

    lowering = lower_spatial_to_hw(module, "memory")   # `module` is rewritten in place
    lowering.top, lowering.pe_modules                   # "main_top", ["fc1_mvu", "fc1_fifo", ...]
    lowering.rom_files                                  # {"rom/fc1_w.hex": "0a1f...\n", ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from xdsl.dialects import hw
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from compiler.diagnostics import warn
from compiler.errors import HwcError
from compiler.hw import elementwise, mvu, pool, streams, swu, vector
from compiler.hw.bits import width_of
from compiler.hw.llm_chip import TOKEN_BITS, build_chip, chip_out_width
from dialects.nn.attributes import NAME_ATTR
from dialects.nn.state import POSITION_INPUT
from compiler.hw.builder import ModuleBuilder
from compiler.hw.const_mult import CONST_MULTS
from compiler.hw.context import ROM_STYLES, Generator, GeneratorContext
from compiler.hw.names import pe_module_name, top_module_name
from compiler.weights import forget_unused_memory_store, store_for
from dialects import spatial
from dialects.rom import RomOp

GENERATORS: dict[type[Operation], Generator] = {
    spatial.MVUOp: mvu.generate_mvu,
    spatial.RequantOp: elementwise.generate_requant,
    spatial.LookupOp: elementwise.generate_lookup,
    spatial.EltwiseOp: elementwise.generate_eltwise,
    spatial.FifoOp: streams.generate_fifo,
    spatial.DupOp: streams.generate_dup,
    spatial.ResizeOp: streams.generate_resize,
    spatial.ReshapeOp: streams.generate_reshape,
    spatial.ConcatOp: streams.generate_concat,
    spatial.SWUOp: swu.generate_swu,
    spatial.PoolOp: pool.generate_pool,
    spatial.GlobalPoolOp: pool.generate_global_pool,
    spatial.VectorOp: vector.generate_vector,
}
"""The generator of each PE kind."""


@dataclass
class HwLowering:
    """What the lowering made besides the IR it wrote into `module`."""

    module: ModuleOp
    """The lowered module (rewritten in place)."""
    top: str
    """The AXI4-Stream top `hw.module`."""
    pe_modules: list[str]
    """The `hw.module` of each op of the graph, in graph order (the yield excluded)."""
    in_width: int
    """Bits of a beat of the top's input stream (`s_axis_tdata`)."""
    out_width: int
    """Bits of a beat of the top's output stream (`m_axis_tdata`)."""
    rom_files: dict[str, str] = field(default_factory=dict)
    """`rom/<symbol>.hex` (relative to the build folder) -> the `$readmemh`
    contents, for the ROMs of the memory style."""


NOTHING_IN_MEMORY = (
    "--rom memory: nothing in this design is read from a memory: fully unrolled layers (as with --fold full) "
    "read all their weights in every cycle, so the weights are constants in logic, multiplied by comb.mul "
    "(--rom logic makes them shift-and-add logic)")
"""Warned when `rom_style` is `memory` and no generator asked for a ROM file."""


def find_graph(module: ModuleOp) -> spatial.GraphOp:
    graphs = [op for op in module.ops if isinstance(op, spatial.GraphOp)]
    if len(graphs) != 1:
        raise HwcError(f"lower-spatial-to-hw: expected one spatial.graph, found {len(graphs)} (run map-to-spatial)")
    return graphs[0]


def beat_bits(stream: SSAValue) -> int:
    """Bits of one beat of a stream value (`lanes * width`)."""
    stream_type = spatial.stream_of(stream)
    return stream_type.lanes.data * stream_type.width


def lower_spatial_to_hw(module: ModuleOp, rom_style: str = "logic", const_mult: str = "shift-add") -> HwLowering:
    """Lower `module` in place (see `passes/lower_spatial_to_hw.py`); what it made."""
    if rom_style not in ROM_STYLES:
        raise HwcError(f"lower-spatial-to-hw: rom must be one of {', '.join(ROM_STYLES)}, not {rom_style!r}")
    if const_mult not in CONST_MULTS:
        raise HwcError(f"lower-spatial-to-hw: const-mult must be one of {', '.join(CONST_MULTS)}, not {const_mult!r}")
    graph = find_graph(module)
    block = graph.body.block
    streamed = [arg for arg in block.args if arg is not position_input(graph)]
    if len(streamed) != 1 or not isinstance(block.last_op, spatial.YieldOp) or len(block.last_op.values) != 1:
        raise HwcError("lower-spatial-to-hw: the hardware has one input and one output stream for now; "
                       f"graph @{graph.sym_name.data} has {len(block.args)} inputs and "
                       f"{len(block.last_op.values) if isinstance(block.last_op, spatial.YieldOp) else 0} outputs")
    store = store_for(module)
    rom_files: dict[str, str] = {}
    top = top_module_name(graph)
    taken: set[str] = {top}
    pe_modules: list[tuple[Operation, hw.HWModuleOp]] = []
    helper_modules: list[hw.HWModuleOp] = []
    for op in block.ops:
        if isinstance(op, spatial.YieldOp):
            continue
        generator = GENERATORS.get(type(op))
        if generator is None:
            raise HwcError(f"lower-spatial-to-hw: {op.name} has no hardware generator yet")
        context = GeneratorContext(pe_module_name(op, taken), rom_style, module, store, rom_files, const_mult,
                                   helper_modules)
        pe_modules.append((op, generator(op, context)))
    if rom_style == "memory" and not rom_files:
        warn(NOTHING_IN_MEMORY)
    lowering = HwLowering(module, top, [m.sym_name.data for _, m in pe_modules], beat_bits(block.args[0]),
                          beat_bits(block.last_op.operands[0]), dict(sorted(rom_files.items())))
    top_module = build_top(graph, top, pe_modules)
    tops = [top_module]
    if position_input(graph) is not None:
        tops.append(decoder_chip(graph, top_module, lowering, taken))

    for child in list(module.ops):
        if child is graph or isinstance(child, RomOp):
            module.body.block.detach_op(child)
            child.erase()
    module.body.block.add_ops(helper_modules + [m for _, m in pe_modules] + tops)
    forget_unused_memory_store(module)
    return lowering


def _port_names(module: hw.HWModuleOp) -> set[str]:
    return {p.port_name.data for p in module.module_type.ports.data}


def decoder_chip(graph: spatial.GraphOp, graph_top: hw.HWModuleOp, lowering: HwLowering,
                 taken: set[str]) -> hw.HWModuleOp:
    """A decoder's chip around its graph (`compiler/hw/llm_chip.py`): the design's
    top becomes it, prompt and header in, generated tokens (or logits) out."""
    logits = spatial.stream_of(graph.body.block.last_op.operands[0])
    name = f"{graph_top.sym_name.data}_chip"
    taken.add(name)
    lowering.top, lowering.in_width = name, TOKEN_BITS
    lowering.out_width = chip_out_width(logits.lanes.data, logits.width)
    return build_chip(name, graph_top, logits.lanes.data, logits.width, math.prod(logits.frame))


def position_input(graph: spatial.GraphOp) -> SSAValue | None:
    """A decoder's `position` port: the chip counts its tokens itself (from 0 after reset)."""
    ports = graph.attributes.get(spatial.INPUTS_ATTR)
    for arg, entry in zip(graph.body.block.args, ports.data if ports is not None else ()):
        name = entry.data.get(NAME_ATTR)
        if arg is not graph.body.block.args[0] and name is not None and name.data == POSITION_INPUT:
            return arg
    return None


def build_top(graph: spatial.GraphOp, name: str, pe_modules: list[tuple[Operation, hw.HWModuleOp]]) -> hw.HWModuleOp:
    """The AXI4-Stream top `name`: one instance per PE, wired stream by stream.

    A stream's `ready` comes from its consumer, which is instantiated after its
    producer: the producer's `out<k>_ready` input starts as a placeholder that is
    replaced once the consumer exists."""
    block = graph.body.block
    b = ModuleBuilder(name)
    assert b.clock is not None and b.reset is not None
    s_data = b.input("s_axis_tdata", beat_bits(block.args[0]))
    s_valid = b.input("s_axis_tvalid", 1)
    b.output("s_axis_tready")
    m_ready = b.input("m_axis_tready", 1)
    b.output("m_axis_tdata")
    b.output("m_axis_tvalid")

    streams: dict[SSAValue, tuple[SSAValue, SSAValue]] = {block.args[0]: (s_data, s_valid)}
    position = position_input(graph)
    counter = None
    if position is not None:
        counter = b.reg("position", beat_bits(position), reset_value=0)
        streams[position] = (counter.value, b.true())
    ready_placeholders: dict[SSAValue, SSAValue] = {}
    ready_of: dict[SSAValue, SSAValue] = {}

    def placeholder(stream: SSAValue) -> SSAValue:
        if stream not in ready_placeholders:
            ready_placeholders[stream] = hw.ConstantOp(0, 1).result
        return ready_placeholders[stream]

    for op, module in pe_modules:
        ports = _port_names(module)
        inputs: dict[str, SSAValue] = {}
        if "clk" in ports:
            inputs.update(clk=b.clock, rst=b.reset)
        for k, operand in enumerate(op.operands):
            inputs[f"in{k}_data"], inputs[f"in{k}_valid"] = streams[operand]
        for k, result in enumerate(op.results):
            inputs[f"out{k}_ready"] = placeholder(result)
        outs = b.instance(module.sym_name.data, module, inputs)
        for k, operand in enumerate(op.operands):
            ready_of[operand] = outs[f"in{k}_ready"]
        for k, result in enumerate(op.results):
            streams[result] = (outs[f"out{k}_data"], outs[f"out{k}_valid"])

    yielded = block.last_op.operands[0]
    ready_of[yielded] = m_ready
    for stream, value in ready_placeholders.items():
        value.replace_all_uses_with(ready_of[stream])
    b.output("s_axis_tready", ready_of[block.args[0]])
    if counter is not None:
        width = width_of(counter.value)
        counter.set_next(b.add(counter.value, b.const(1, width), width=width, signed=False), enable=ready_of[position])
    m_data, m_valid = streams[yielded]
    b.output("m_axis_tdata", m_data)
    b.output("m_axis_tvalid", m_valid)
    return b.finish()
