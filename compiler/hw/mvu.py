"""The matrix-vector unit (`spatial.mvu`) in hardware.

`generate_mvu(op, ctx)` (from the pass) and `build_mvu(spec)` (from plain
numbers) build one `hw.module` computing, for every input vector x of K
elements, `y[n] = requant(sum_k x[k] * W[n, k] + b[n])` (without requant: the
exact accumulator), with `pe` outputs and `simd` inputs per cycle.

Schedule (FINN-style): a vector is NF = N/pe neuron folds of SF = K/simd
synapse folds; one (nf, sf) *step* per cycle. During nf = 0 step sf reads input
beat sf from the stream and keeps it in an input buffer (a LUT-RAM of SF
beats; registers when SF <= 2); the later neuron folds read the buffer (no
buffer when NF = 1). The step counter has a twin one step ahead (`step_ahead`),
so the next step's ROM address is a register, not an incrementer. A step multiplies its `simd` inputs by
the `pe`×`simd` weights of block (nf, sf) and sums each row (adder tree).

Pipeline (one global enable `advance = !out_valid | out_ready`, so a stalled
output holds every stage; `in_ready = advance & nf == 0`):

    step (comb.: input (through the skid buffer)/buffer, weights, products, adder tree)
      → R1 dot[pe] (+ flags first/last/nf)
      → R2 acc[pe] = (first ? bias[nf] : acc) + dot
      → R3 out = requant(acc, M[nf]) — the output register, valid on a last step

so the first output leaves SF + 2 cycles after the first input beat and, never
stalled, the unit takes one step per cycle: V·NF·SF cycles per frame of V
vectors (`MVUOp.nominal_ii`). When the lanes' multipliers change between neuron
folds, `MVUOp.requant_sharing` units take the lanes in turn instead, a lane in
one or more cycles: R2's accumulators are held and the beat leaves
`ceil(pe / units) · cycles` cycles later (`compiler.hw.mvu_requant`).

Weights (`rom_style`): `logic` — a fully unrolled unit (NF = SF = 1) folds its
weights into the multipliers as constants (zero weights vanish, ±1 are wires);
otherwise the step's weights are one word of an `hw.aggregate_constant`
indexed by the step counter, in a module of its own (`<name>_weights_rom`,
`_MVUBuilder._logic_rom`) when the lowering builds the unit. `memory` — a `seq.firmem` of NF·SF step words,
loaded from `rom/<name>.hex` (word = step nf·SF + sf), read one cycle ahead:
the read port's address is the *next* step when a step fires, else the current one, so the word is there when its step runs. A fully
unrolled unit folds its weights into the multipliers in both styles. Bias and
requant multipliers are always logic (N values).

A step word holds weight (p, s) = W[nf·pe + p, sf·simd + s] in fields ordered
by p·simd + s, each as wide as that position's range over the steps needs
(`MVUSpec.field_bits`: at most wbits; unsigned when never negative; no field
when the weight never changes, which is then a constant of the logic).

Widths: each product as narrow as its operands' ranges (the input's from its producer,
each weight position's over the ROM), sums as narrow as theirs, the accumulator at `acc_bits` (the output
width without requant; else from the ROM bounds, `accumulator_bound`);
requant at `acc_bits + bits(M) + 1` (cannot overflow), arithmetic shift,
signed clamp.
"""

from __future__ import annotations

from xdsl.dialects import hw
from xdsl.ir import SSAValue

from compiler.hw.adder_tree import Ranged, bits_for, product, sum_terms
from compiler.hw.bits import unsigned_bits, width_of
from compiler.hw.builder import ModuleBuilder
from compiler.hw.const_mult import ConstantMultiplier
from compiler.hw.context import GeneratorContext
from compiler.hw.mvu_requant import lane_values, requantized_lanes, shared_requantized_lanes
from compiler.hw.mvu_spec import MVUSpec, Requant
from dialects.spatial import DupOp, FifoOp, MVUOp, PoolOp, RequantOp, ReshapeOp, ResizeOp, SWUOp, stream_of


def generate_mvu(op: MVUOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    """The `hw.module` named `ctx.module_name` realising `op`; registers the weight
    ROM file with `ctx.add_rom_file` in the memory style."""
    weights = ctx.rom(op.weights)
    spec = MVUSpec(
        name=ctx.module_name,
        weights=weights.reshape(weights.shape[0], -1),
        weight_bits=ctx.rom_width(op.weights),
        in_width=stream_of(op.input).width,
        out_width=stream_of(op.output).width,
        pe=op.pe.value.data,
        simd=op.simd.value.data,
        bias=ctx.rom(op.bias).reshape(-1) if op.bias is not None else None,
        requant=None if op.multiplier is None else Requant(
            tuple(int(m) for m in ctx.rom(op.multiplier).reshape(-1)),
            op.shift.value.data, op.lo.value.data, op.hi.value.data,
            tuple(int(c) for c in ctx.rom(op.offset).reshape(-1)) if op.offset is not None else (),
            op.rounding.data if op.rounding is not None else "half_up"),
        rom_style=ctx.rom_style,
        const_mult=ctx.const_mult,
        in_range=stream_value_range(op.input),
        requant_sharing=op.requant_sharing(),
    )
    if spec.uses_memory:
        spec.rom_file = ctx.add_rom_file(op.weights.root_reference.data, spec.rom_hex())
    return build_mvu(spec, ctx.helper_modules)


def stream_value_range(stream: SSAValue) -> tuple[int, int] | None:
    """The bounds every value of `stream` keeps, when its producer clamps them:
    an MVU's or requant's [lo, hi], through FIFOs, duplication, re-beating, max
    pools and sliding windows (whose padding value must lie within); None otherwise."""
    owner = stream.owner
    pads: list[int] = []
    while isinstance(owner, (FifoOp, DupOp, ResizeOp, ReshapeOp, SWUOp)) or (
            isinstance(owner, PoolOp) and owner.kind.data == "max"):
        if isinstance(owner, SWUOp):
            pads.append(owner.pad_value.value.data)
        owner = owner.input.owner
    if not isinstance(owner, (MVUOp, RequantOp)) or owner.multiplier is None:
        return None
    lo, hi = owner.lo.value.data, owner.hi.value.data
    return (lo, hi) if all(lo <= pad <= hi for pad in pads) else None


def build_mvu(spec: MVUSpec, children: list[hw.HWModuleOp] | None = None) -> hw.HWModuleOp:
    """The MVU module of `spec` (see the module docstring). With `children`, a
    folded unit's logic weight ROM is a module of its own, appended there and
    instantiated (`_MVUBuilder._logic_rom`); without, it is inline."""
    spec.validate()
    return _MVUBuilder(spec, children).build()


class _MVUBuilder:
    def __init__(self, spec: MVUSpec, children: list[hw.HWModuleOp] | None = None):
        self.spec = spec
        self.children = children
        self.b = ModuleBuilder(spec.name)
        self.acc_bits = spec.acc_bits()
        self.constants = ConstantMultiplier(self.b, spec.const_mult)

    def build(self) -> hw.HWModuleOp:
        spec, b = self.spec, self.b
        inp = b.stream_input("in0", spec.in_width, spec.simd)
        out = b.stream_output("out0", spec.out_width, spec.pe)
        nf_count, sf_count = spec.neuron_folds, spec.synapse_folds

        out_valid = b.reg("out_valid", 1, reset_value=0)
        advance = b.or_(b.not_(out_valid.value), out.ready)

        sf = b.reg("sf", unsigned_bits(sf_count), reset_value=0)
        nf = b.reg("nf", unsigned_bits(nf_count), reset_value=0)
        step = b.reg("step", unsigned_bits(spec.steps), reset_value=0)
        first_fold = b.eq(nf.value, b.const(0, unsigned_bits(nf_count)))
        step_valid = b.or_(b.not_(first_fold), inp.valid) if nf_count > 1 else inp.valid
        fire = b.and_(advance, step_valid)
        inp.set_ready(b.and_(advance, first_fold))

        sf_last = b.eq(sf.value, b.const(sf_count - 1, unsigned_bits(sf_count)))
        nf_last = b.eq(nf.value, b.const(nf_count - 1, unsigned_bits(nf_count)))
        sf.set_next(self._wrap_inc(sf.value, sf_last), enable=fire)
        nf.set_next(self._wrap_inc(nf.value, nf_last), enable=b.and_(fire, sf_last))
        if spec.steps > 1:
            step_next = self._step_ahead(step, fire)
        else:
            step_next = self._wrap_inc(step.value, b.and_(sf_last, nf_last))
            step.set_next(step_next, enable=fire)

        xs = self._input_lanes(inp.data, sf.value, first_fold, fire)
        weights = self._step_weights(step.value, step_next, fire)
        dots = self._dot_products(xs, weights)

        # R1: the step's dot products and where it sits in the vector.
        en1 = advance
        valid1 = b.held("valid1", fire, en1, reset_value=0)
        dot1 = [b.held(f"dot1_{p}", d, en1) for p, d in enumerate(dots)]
        first1 = b.held("first1", b.eq(sf.value, b.const(0, unsigned_bits(sf_count))), en1)
        last1 = b.held("last1", sf_last, en1)
        nf1 = b.held("nf1", nf.value, en1) if nf_count > 1 else None

        # R2: the accumulators (start from the bias), the fold index carried along.
        load2 = b.and_(advance, valid1)
        accs = []
        if self._bias_in_requant():
            for p in range(spec.pe):
                accs.append(b.held(f"acc_{p}", b.sext(dot1[p], self.acc_bits), load2))
        else:
            bias = lane_values(b, spec, self.spec.bias, nf1, self.acc_bits, "bias")
            for p in range(spec.pe):
                acc = b.reg(f"acc_{p}", self.acc_bits)
                start = b.mux(first1, bias[p], acc.value)
                acc.set_next(b.add(start, dot1[p], width=self.acc_bits), enable=load2)
                accs.append(acc.value)
        valid2 = b.held("valid2", b.and_(valid1, last1), advance, reset_value=0)
        nf2 = b.held("nf2", nf1, advance) if nf1 is not None else None

        # R3: requantize into the output register (by lane, or by units the lanes share).
        if spec.requant_sharing is None:
            lanes, done = requantized_lanes(b, spec, accs, nf2, self.constants, self._bias_in_requant()), valid2
        else:
            lanes, done = shared_requantized_lanes(b, spec, accs, nf2, valid2, advance, self.constants)
        out_data = b.reg("out_data", spec.pe * spec.out_width)
        out_data.set_next(b.pack(lanes), enable=b.and_(advance, done))
        out_valid.set_next(done, enable=advance)
        out.set(out_data.value, out_valid.value)
        return b.finish()

    # ------------------------------------------------------------------ pieces

    def _bias_in_requant(self) -> bool:
        """Whether the bias joins the requantization's constant (`(acc + bias) * M
        + rounding` as `acc * M + (bias * M + rounding)`, one adder fewer per
        lane): when each output takes one step (no accumulation) and its constant
        multiplier is built by shift-and-add."""
        spec = self.spec
        return (spec.steps == 1 and spec.bias is not None and spec.requant is not None
                and spec.const_mult == "shift-add")

    def _wrap_inc(self, value: SSAValue, last: SSAValue) -> SSAValue:
        bits = width_of(value)
        b = self.b
        return b.mux(last, b.const(0, bits), b.add(value, b.const(1, bits), width=bits, signed=False))

    def _step_ahead(self, step, fire: SSAValue) -> SSAValue:
        """`step` advances on `fire` to the value of a second register, `step_ahead`,
        which runs one step ahead: the next step's ROM address is a register, not
        an incrementer behind `fire` (a short path into the weight ROM)."""
        b, steps = self.b, self.spec.steps
        bits = width_of(step.value)
        ahead = b.reg("step_ahead", bits, reset_value=1)
        last = b.eq(ahead.value, b.const(steps - 1, bits))
        ahead.set_next(self._wrap_inc(ahead.value, last), enable=fire)
        step.set_next(ahead.value, enable=fire)
        return ahead.value

    def _input_lanes(self, data: SSAValue, sf: SSAValue, first_fold: SSAValue, fire: SSAValue) -> list[Ranged | None]:
        """The step's `simd` inputs with their range (None for a lane whose weights
        are all zero): the stream's beat `data` in the first neuron fold, the
        buffered beat in the others (`ModuleBuilder.buffer` of SF beats). Each lane
        is cut to the bits its known range needs (a nonnegative input keeps no sign
        bit), so the buffer stores and the multipliers take no more."""
        spec, b = self.spec, self.b
        lo, hi = self._input_bounds()
        bits = min(spec.in_width, bits_for(lo, hi))
        lows, highs = spec.position_ranges()
        used = [s for s in range(spec.simd) if lows[:, s].any() or highs[:, s].any()]
        if not used:
            return [None] * spec.simd
        lanes = b.unpack(data, spec.simd)
        narrow = [b.extract(lanes[s], 0, bits) for s in used]
        if spec.neuron_folds > 1:
            beat, store = b.pack(narrow), b.and_(fire, first_fold)
            beat = b.mux(first_fold, beat, b.buffer("xbuf", spec.synapse_folds, sf, beat, store, sf))
            narrow = b.unpack(beat, len(used))
        inputs: list[Ranged | None] = [None] * spec.simd
        for s, lane in zip(used, narrow):
            inputs[s] = Ranged(lane, lo, hi)
        return inputs

    def _step_weights(self, step: SSAValue, step_next: SSAValue, fire: SSAValue) -> list[list[int | Ranged]]:
        """weights[p][s] of the current step: an int where it never changes (every
        weight when the unit takes one step), else its field of the step's word
        (`MVUSpec.field_bits`) with its range."""
        spec, b = self.spec, self.b
        lows, highs = spec.position_ranges()
        widths = spec.field_bits()
        word_bits = int(widths.sum())
        if spec.steps == 1 or word_bits == 0:
            return [[int(lows[p, s]) for s in range(spec.simd)] for p in range(spec.pe)]
        if spec.uses_memory:
            address = b.mux(fire, step_next, step)
            assert spec.rom_file is not None
            word = b.rom_memory(f"{spec.name}_weights", spec.rom_file, spec.steps, word_bits,
                                address, b.true())
        else:
            word = self._logic_rom(spec.step_words(), word_bits, step)
        weights: list[list[int | Ranged]] = []
        offset = 0
        for p in range(spec.pe):
            row: list[int | Ranged] = []
            for s in range(spec.simd):
                bits, lo, hi = int(widths[p, s]), int(lows[p, s]), int(highs[p, s])
                row.append(lo if bits == 0 else Ranged(b.extract(word, offset, bits), lo, hi))
                offset += bits
            weights.append(row)
        return weights

    def _logic_rom(self, words: list[int], bits: int, step: SSAValue) -> SSAValue:
        """words[step] as logic: in a module of its own (`<name>_weights_rom`, one
        input `address`, one output `data`) when the builder collects `children`,
        else inline. Apart, synthesis keeps the step register in front of the
        decoding; inline, Yosys turns the table into a ROM, merges the step
        register into its read port and maps it back with the register behind the
        decoding, the next-step logic in front (measured on the jet MLP's folded
        fc1 at 1 M/s: 11 LUT levels, 976 LUTs and 290 FFs inline; 4, 763, 202 apart)."""
        name = f"{self.spec.name}_weights"
        if self.children is None:
            return self.b.rom_lookup(words, bits, step, name=name)
        rom = ModuleBuilder(f"{name}_rom", clocked=False)
        rom.output("data", rom.rom_lookup(words, bits, rom.input("address", width_of(step)), name=name))
        self.children.append(rom.finish())
        return self.b.instance("weights_rom", self.children[-1], {"address": step})["data"]

    def _dot_products(self, xs: list[Ranged | None], weights: list[list[int | Ranged]]) -> list[SSAValue]:
        """Each row's sum of x * w: constant weights through `self.constants`
        (their multiples of one input shared by the rows), others by `comb.mul`,
        each product as narrow as its operands' ranges (`adder_tree.product`)."""
        b, acc_bits = self.b, self.acc_bits
        if all(isinstance(w, int) for row in weights for w in row):
            lo, hi = self._input_bounds()
            values = [x.value if x is not None else b.const(0, 1) for x in xs]
            return self.constants.matrix(values, weights, acc_bits, (lo, hi))
        dots = []
        for row in weights:
            products = [(product(b, x, w if isinstance(w, Ranged) else Ranged(b.const(w, bits_for(w, w)), w, w)),
                         0, 1) for x, w in zip(xs, row) if w != 0]
            total = sum_terms(b, products)
            dots.append(b.const(0, acc_bits) if total is None else total.at_width(b, acc_bits))
        return dots

    def _input_bounds(self) -> tuple[int, int]:
        """Every input value's bounds: the producer's when known, else the input width's."""
        half = 1 << (self.spec.in_width - 1)
        return self.spec.in_range or (-half, half - 1)
