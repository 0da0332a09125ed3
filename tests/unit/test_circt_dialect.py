"""The CIRCT ops of dialects/circt.py: xDSL round trip, builders, verifiers, and
that real CIRCT (the `circt` 1.62 bindings) parses exactly what xDSL prints."""

from __future__ import annotations

import pytest
from xdsl.context import Context
from xdsl.dialects import hw as xdsl_hw
from xdsl.dialects import seq as xdsl_seq
from xdsl.dialects.builtin import Builtin, IntegerType, ModuleOp, i8
from xdsl.dialects.comb import Comb
from xdsl.dialects.hw import ArrayType
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

from compiler.ir import make_context
from dialects.circt import (
    HW_EXTENSION_OPS,
    SEQ_EXTENSION_OPS,
    AggregateConstantOp,
    FirMemInitAttr,
    FirMemOp,
    FirMemReadPortOp,
    FirMemType,
    FirRegOp,
    load_extensions,
)

EVERY_OP = """builtin.module {
  hw.module @every_op(in %clk : !seq.clock, in %rst : i1, in %a : i8, in %addr : i2, in %en : i1, out y : i8, out z : i8, out w : i8, out f : i8) {
    %rom = hw.aggregate_constant [4 : i8, 3 : i8, 2 : i8, 1 : i8] : !hw.array<4xi8>
    %nested = hw.aggregate_constant [[1 : i4, 2 : i4], [3 : i4, 4 : i4]] : !hw.array<2x!hw.array<2xi4>>
    %g = hw.array_get %rom[%addr] : !hw.array<4xi8>, i2
    %zero = hw.constant 0 : i8
    %acc = seq.firreg %a clock %clk reset sync %rst, %zero : i8
    %plain = seq.firreg %a clock %clk : i8
    %named = seq.firreg %a clock %clk {name = "counter"} : i8
    %async = seq.firreg %a clock %clk reset async %rst, %zero preset 5 : i8
    %mem = seq.firmem 1, 1, undefined, undefined {init = #seq.firmem.init<"rom/w.hex", false, false>} : <4 x 8>
    %rd = seq.firmem.read_port %mem[%addr], clock %clk enable %en : <4 x 8>
    %rd0 = seq.firmem.read_port %mem[%addr], clock %clk : <4 x 8>
    %ram = seq.firmem 0, 1, undefined, undefined : <4 x 8>
    seq.firmem.write_port %ram[%addr] = %a, clock %clk enable %en : <4 x 8>
    seq.firmem.write_port %ram[%addr] = %a, clock %clk : <4 x 8>
    %rr = seq.firmem.read_port %ram[%addr], clock %clk : <4 x 8>
    hw.output %g, %acc, %rd, %rd0 : i8, i8, i8, i8
  }
}
"""


def parse_xdsl(text: str, ctx: Context | None = None) -> ModuleOp:
    module = Parser(ctx or make_context(), text).parse_module()
    module.verify()
    return module


def circt_generic(text: str) -> str:
    """CIRCT's parse of `text`, printed in generic form (names and all properties)."""
    import circt
    from circt import ir

    ctx = ir.Context()
    circt.register_dialects(ctx)
    with ctx:
        return ir.Module.parse(text).operation.get_asm(print_generic_op_form=True)


def test_xdsl_round_trip_is_stable():
    printed = str(parse_xdsl(EVERY_OP))
    assert str(parse_xdsl(printed)) == printed
    for line in ("seq.firreg %a clock %clk reset sync %rst, %zero : i8",
                 "seq.firreg %a clock %clk reset async %rst, %zero preset 5 : i8",
                 'seq.firreg %a clock %clk {name = "counter"} : i8',
                 "seq.firmem.read_port %mem[%addr], clock %clk enable %en : <4 x 8>",
                 "seq.firmem.write_port %ram[%addr] = %a, clock %clk enable %en : <4 x 8>",
                 "seq.firmem.write_port %ram[%addr] = %a, clock %clk : <4 x 8>"):
        assert line in printed


def test_real_circt_parses_what_xdsl_prints():
    generic = circt_generic(str(parse_xdsl(EVERY_OP)))
    # Every op arrives with the meaning xDSL gave it, checked on CIRCT's generic form.
    assert '"hw.aggregate_constant"() {fields = [4 : i8, 3 : i8, 2 : i8, 1 : i8]}' in generic
    assert "!hw.array<2xarray<2xi4>>" in generic
    assert '<{name = "acc"}> : (i8, !seq.clock, i1, i8) -> i8' in generic
    assert '<{name = "counter"}> : (i8, !seq.clock) -> i8' in generic
    assert '<{isAsync, name = "async", preset = 5 : i8}>' in generic
    assert ('<{init = #seq.firmem.init<"rom/w.hex", false, false>, name = "mem", readLatency = 1 : i32, '
            'ruw = 0 : i32, writeLatency = 1 : i32, wuw = 0 : i32}> : () -> !seq.firmem<4 x 8>') in generic
    assert "(!seq.firmem<4 x 8>, i2, !seq.clock, i1) -> i8" in generic
    assert "(!seq.firmem<4 x 8>, i2, !seq.clock) -> i8" in generic
    # write ports: memory, address, clock, enable?, data (operand segments as CIRCT defines them)
    assert ('"seq.firmem.write_port"(%11, %arg3, %arg0, %arg4, %arg2) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>}>'
            in generic)
    assert ('"seq.firmem.write_port"(%11, %arg3, %arg0, %arg2) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 0>}>'
            in generic)


def test_builders_print_what_circt_parses():
    block_text = """builtin.module {
  hw.module @built(in %clk : !seq.clock, in %rst : i1, in %d : i8, in %addr : i3, out q : i8, out m : i8) {
    hw.output %d, %d : i8, i8
  }
}"""
    module = parse_xdsl(block_text)
    hw_module = next(iter(module.ops))
    block = hw_module.body.block
    clk, rst, d, addr = block.args
    output = block.last_op
    zero = xdsl_hw.ConstantOp(0, 8)
    register = FirRegOp(d, clk, reset=(rst, zero), name="acc")
    memory = FirMemOp(FirMemType(5, 8), read_latency=0, init=FirMemInitAttr("rom/m.hex"), name="lut")
    read = FirMemReadPortOp(memory, addr, clk)
    for op in (zero, register, memory, read):
        block.insert_op_before(op, output)
    output.operands = [register.data, read.data]
    module.verify()
    generic = circt_generic(str(module))
    assert '<{name = "acc"}> : (i8, !seq.clock, i1, i8) -> i8' in generic
    assert '#seq.firmem.init<"rom/m.hex", false, false>, name = "lut", readLatency = 0 : i32' in generic
    assert "(!seq.firmem<5 x 8>, i3, !seq.clock) -> i8" in generic


def test_aggregate_constant_from_elements_uses_index_order():
    op = AggregateConstantOp.from_elements([1, 2, -1], ArrayType(i8, 3))
    # highest index first; xDSL keeps signless values in signed form
    assert [f.value.data for f in op.fields.data] == [-1, 2, 1]
    assert op.element_values() == [1, 2, 255]
    nested = AggregateConstantOp.from_elements([[1, 2], [3, 4]], ArrayType(ArrayType(IntegerType(4), 2), 2))
    assert nested.element_values() == [[1, 2], [3, 4]]
    nested.verify()


def test_verifiers_reject_malformed_ops():
    with pytest.raises(VerifyException, match="needs 3 fields"):
        parse_xdsl("""hw.module @m() {
  %r = hw.aggregate_constant [1 : i8] : !hw.array<3xi8>
  hw.output
}""")
    with pytest.raises(VerifyException, match="depth 10 needs an i4 address"):
        parse_xdsl("""hw.module @m(in %clk : !seq.clock, in %a : i3) {
  %m = seq.firmem 0, 1, undefined, undefined : <10 x 8>
  %r = "seq.firmem.read_port"(%m, %a, %clk) : (!seq.firmem<10 x 8>, i3, !seq.clock) -> i8
  hw.output
}""")


def test_extensions_load_into_a_context_with_xdsl_own_hw_and_seq():
    """What hwc-opt does: xDSL's hw/seq registered lazily, our ops loaded on top."""
    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.register_dialect("hw", lambda: xdsl_hw.HW)
    ctx.register_dialect("seq", lambda: xdsl_seq.Seq)
    ctx.register_dialect("comb", lambda: Comb)
    load_extensions(ctx)
    load_extensions(ctx)  # idempotent
    assert str(parse_xdsl(EVERY_OP, ctx)) == str(parse_xdsl(EVERY_OP))


def test_xdsl_still_lacks_every_op_we_define():
    """DESIGN.md: define only what xDSL lacks. When this fails, xDSL has gained one
    of them: use xDSL's and delete ours (plain `xdsl-opt` then reads more of hwc's IR)."""
    ours = {op.name for op in (*HW_EXTENSION_OPS, *SEQ_EXTENSION_OPS)}
    xdsl = {op.name for op in (*xdsl_hw.HW.operations, *xdsl_seq.Seq.operations)}
    assert ours and not ours & xdsl


REGISTER = """builtin.module {
  hw.module @counter(in %clk : !seq.clock, in %rst : i1, in %en : i1, out q : i8) {
    %zero = hw.constant 0 : i8
    %one = hw.constant 1 : i8
    %next = comb.add %count, %one : i8
    %d = comb.mux %en, %next, %count : i8
    %count = REGISTER : i8
    hw.output %count : i8
  }
}"""


def test_xdsl_compreg_exports_other_verilog_than_firreg(tmp_path):
    """Why `seq.firreg` stays (dialects/circt/firreg.py): the same register with
    xDSL's `seq.compreg` and a synchronous reset is other Verilog from CIRCT
    (its own `always_ff` block, no enable), and hwc's Verilog must not change."""
    from compiler.backend.circt_export import export_verilog

    verilog = {}
    for kind, register in (("firreg", "seq.firreg %d clock %clk reset sync %rst, %zero"),
                           ("compreg", "seq.compreg %d, %clk reset %rst, %zero")):
        text = str(parse_xdsl(REGISTER.replace("REGISTER", register)))
        (file,) = export_verilog(text, tmp_path / kind, "counter")
        verilog[kind] = file.read_text()
    assert "always @(posedge clk)" in verilog["firreg"] and "always_ff" not in verilog["firreg"]
    assert "always_ff @(posedge clk)" in verilog["compreg"]
    assert verilog["firreg"] != verilog["compreg"]
