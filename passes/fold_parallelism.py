"""`fold-parallelism`: choose every PE's folding, its `ii` and its `latency`.

Options (one mode per run):

    fold-parallelism{target-fps=30000 clock-mhz=200}   cheapest design meeting a throughput
    fold-parallelism{max-multipliers=512}              fastest design within a multiplier budget
    fold-parallelism{target-tps=20000 clock-mhz=200}   a decoder: cheapest design generating 20,000
                                                       tokens/s for one user (latency per token)
    fold-parallelism{full}                             everything unrolled
    fold-parallelism{min}                              one multiplier per multiplying layer
    fold-parallelism                                   `auto` (below)

`target-fps` and `max-multipliers` may be given together: the cheapest design
meeting the target, which must then fit the budget.

Folding per PE kind (each PE's `foldings()` and `multipliers()`, the
performance model of `dialects.spatial.model`; the cost is its number of
multipliers):

* `spatial.mvu`: `pe` divides N (outputs), `simd` divides K (inputs); its input
  stream has `simd` lanes, its output `pe`; ii = vectors·(N/pe)·(K/simd);
  cost pe·simd.
* `spatial.swu`, `spatial.pool`, `spatial.global_pool`: input and output lanes
  chosen independently (each divides its stream's innermost dimension, e.g. an
  SWU may emit a whole window per beat); cost 0.
* every other stream unit (requant, eltwise, lookup, concat, dup, reshape): one
  `lanes` on all its streams, dividing every innermost dimension; cost `lanes`
  for `spatial.requant` and `spatial.eltwise` of kind `mul` (a variable
  product), 0 otherwise (add/sub scales are constant coefficients, lookups are
  tables, pools are adders and comparators).

Stream units have ii = beats per frame of their widest side (`nominal_ii`).

Choice for a bottleneck bound T (cycles per inference): every PE independently
takes its cheapest folding with ii ≤ T, ties broken towards the larger ii (no
PE faster than it must be), then towards fewer lanes / larger `simd` (fewer
accumulators). Costs are separable, so this is the minimum total for T. The
achieved bottleneck B = max ii ≤ T; every PE is then re-folded against B.

* target mode: T = floor(clock_hz / fps). If some PE cannot reach ii ≤ T even
  unrolled, the error names the best achievable inferences/s.
* budget mode: the smallest T (among every ii any PE can take) whose cheapest
  design fits the budget — cost is non-increasing in T, so a binary search.
* auto: `full` if the fully unrolled design needs at most `AUTO_MULTIPLIER_BUDGET`
  multipliers, else the fastest design within that budget (budget mode). A
  decoder (a graph with `nn.context`) generates one token after another, so its
  speed is the latency per token, not the bottleneck: auto takes the fastest
  capped plan (`capped_plan`) within the budget (or `max-multipliers`), and
  `target-tps` the cheapest one meeting a token rate (`plan_for_token_rate`).

After the choice, every stream is retyped to its producer's lanes; where the
consumer expects other lanes a `spatial.resize` (layer `<producer>.resize`) is
inserted. Graph inputs take their consumer's lanes, graph outputs their
producer's. Existing `spatial.resize` ops are removed first (the pass can be
re-run); `spatial.fifo` ops are kept, retyped to the stream they buffer.

The plans and the bottleneck searches are in `passes/fold_plans.py`; this file
holds the pass, its options, the decoder's token-rate search (which times plans
applied to the graph) and applying a plan (lanes, resizes, timing).

Requires: a verified module with `spatial.graph` ops (after `map-to-spatial`).
A hand-set folding that does not divide a dimension is the verifier's message.
Guarantees: every PE has a valid folding and `ii = nominal_ii()`,
`latency = nominal_latency()`; the module verifies; the graph computes the same
integers (folding changes timing and packing only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr, i64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.arg_spec import ArgSpec
from xdsl.utils.exceptions import VerifyException

from compiler.errors import HwcError
from compiler.schedule import latency as schedule_latency
from dialects.nn.state import CONTEXT_ATTR
from dialects.spatial import PE_OPS, FifoOp, GraphOp, MVUOp, ResizeOp, StreamType, YieldOp, stream_of
from passes.fold_plans import (
    PEChoices,
    Plan,
    capped_plan,
    capped_plan_for_budget,
    full_plan,
    min_plan,
    number_text,
    pe_choices,
    plan_for_budget,
    plan_for_target,
)

AUTO_MULTIPLIER_BUDGET = 4096
"""`auto` unrolls fully when that needs at most this many multipliers (a mid-size
FPGA's DSP count; an ASIC's constant-coefficient multipliers are cheaper still),
else it builds the fastest design within this budget."""

MODES = ("auto", "full", "min")


# --------------------------------------------------------------------------- choosing a plan


def plan_for_token_rate(graph: GraphOp, pes: Sequence[PEChoices], target_tps: float, clock_mhz: float,
                        max_multipliers: int | None) -> Plan:
    """A decoder's cheapest plan generating `target_tps` tokens/s for one user: each
    generated token must leave before the next enters, so the latency of one token
    (the schedule of one frame, `compiler.schedule.latency`) must be at most
    clock_hz / target_tps. Latency is a sum along the chain of PEs, not a
    bottleneck: every PE is capped at one ii bound (`capped_plan`), and the largest
    bound (the cheapest plan) whose latency meets the target is found by binary
    search over the ii values any PE can take, each candidate applied and timed."""
    clock_hz = Fraction(str(clock_mhz)) * 1_000_000
    allowed = math.floor(clock_hz / Fraction(str(target_tps)))
    candidates = sorted({option.ii for pe in pes for option in pe.options})

    def latency_within(bound: int) -> int:
        remove_resizes(graph)
        apply_plan(graph, capped_plan(pes, bound))
        return schedule_latency(graph)

    fastest = latency_within(candidates[0]) if candidates else 0
    if fastest > allowed:
        rate = float(clock_hz / fastest) if fastest else 0.0
        raise HwcError(f"fold-parallelism: target {number_text(target_tps)} tokens/s at {number_text(clock_mhz)} MHz is out "
                       f"of reach: the fastest folding takes {fastest} cycles a token ({rate:.6g} tokens/s)")
    low, high = 0, len(candidates) - 1  # candidates[low] meets the target
    while low < high:
        middle = (low + high + 1) // 2
        if latency_within(candidates[middle]) <= allowed:
            low = middle
        else:
            high = middle - 1
    plan = capped_plan(pes, candidates[low])
    if max_multipliers is not None and plan.multipliers > max_multipliers:
        raise HwcError(f"fold-parallelism: {number_text(target_tps)} tokens/s needs {plan.multipliers} multipliers, "
                       f"over max-multipliers {max_multipliers}")
    return plan


def choose_plan(pes: Sequence[PEChoices], mode: str, target_fps: float | None,
                clock_mhz: float, max_multipliers: int | None) -> Plan:
    """The plan the options ask for (see the module docstring); HwcError on bad options."""
    _check_options(mode, target_fps, clock_mhz, max_multipliers)
    if mode == "full":
        return full_plan(pes)
    if mode == "min":
        return min_plan(pes)
    if target_fps is not None:
        plan = plan_for_target(pes, target_fps, clock_mhz)
        if max_multipliers is not None and plan.multipliers > max_multipliers:
            raise HwcError(
                f"fold-parallelism: meeting {number_text(target_fps)} inferences/s needs "
                f"{plan.multipliers} multipliers, over max-multipliers {max_multipliers}"
            )
        return plan
    if max_multipliers is not None:
        return plan_for_budget(pes, max_multipliers)
    full = full_plan(pes)
    if full.multipliers <= AUTO_MULTIPLIER_BUDGET:
        return full
    return plan_for_budget(pes, AUTO_MULTIPLIER_BUDGET)


def _check_options(mode: str, target_fps: float | None, clock_mhz: float,
                   max_multipliers: int | None) -> None:
    if mode not in MODES:
        raise HwcError(f"fold-parallelism: mode must be one of {', '.join(MODES)}, not '{mode}'")
    if not clock_mhz > 0:
        raise HwcError(f"fold-parallelism: clock-mhz must be positive, not {number_text(clock_mhz)}")
    if target_fps is not None and not target_fps > 0:
        raise HwcError(f"fold-parallelism: target-fps must be positive, not {number_text(target_fps)}")
    if max_multipliers is not None and max_multipliers < 0:
        raise HwcError(f"fold-parallelism: max-multipliers must not be negative, not {max_multipliers}")
    if mode != "auto" and (target_fps is not None or max_multipliers is not None):
        raise HwcError(f"fold-parallelism: '{mode}' takes no target-fps or max-multipliers")


def is_decoder(graph: GraphOp) -> bool:
    """A decoder's chip (`nn.context` on its graph): one token a frame, each waiting for the last."""
    return CONTEXT_ATTR in graph.attributes


def _check_token_rate(mode: str, target_fps: float | None, target_tps: float | None) -> None:
    if target_tps is None:
        return
    if not target_tps > 0:
        raise HwcError(f"fold-parallelism: target-tps must be positive, not {number_text(target_tps)}")
    if mode != "auto" or target_fps is not None:
        raise HwcError("fold-parallelism: target-tps (a decoder's tokens/s) goes alone, with mode auto")


# --------------------------------------------------------------------------- applying a plan


def _set_int(op: Operation, name: str, value: int) -> None:
    op.properties[name] = IntegerAttr(value, i64)


def _with_lanes(stream: StreamType, lanes: int) -> StreamType:
    return StreamType(stream.frame, stream.element_type, lanes)


def _retype(value: SSAValue, lanes: int) -> SSAValue:
    stream = stream_of(value)
    if stream.lanes.data == lanes:
        return value
    return Rewriter.replace_value_with_new_type(value, _with_lanes(stream, lanes))


def remove_resizes(graph: GraphOp) -> None:
    """Join every `spatial.resize`'s producer straight to its consumer (types may
    disagree until `apply_plan` retypes the graph)."""
    for op in list(graph.body.block.ops):
        if isinstance(op, ResizeOp):
            op.output.replace_all_uses_with(op.input)
            Rewriter.erase_op(op)


def apply_plan(graph: GraphOp, plan: Plan) -> None:
    """Set each PE's folding, retype the streams and bridge lane mismatches with resizes.

    Requires: `remove_resizes` ran; `plan` covers every PE of the graph.
    Guarantees: every stream has its producer's lanes; a consumer expecting other
    lanes reads through a new `spatial.resize`; every PE has ii and latency set.
    """
    block = graph.body.block
    for index, arg in enumerate(list(block.args)):
        (use,) = arg.uses
        _retype(block.args[index], _expected_lanes(use.operation, use.index, plan, arg))
    for op in list(block.ops):
        if isinstance(op, YieldOp):
            continue
        if isinstance(op, FifoOp):
            _retype(op.output, stream_of(op.input).lanes.data)
        else:
            folding = plan.chosen[op]
            if isinstance(op, MVUOp):
                _set_int(op, "pe", folding.outputs[0])
                _set_int(op, "simd", folding.inputs[0])
            for result, lanes in zip(list(op.results), folding.outputs):
                _retype(result, lanes)
        for result in op.results:
            (use,) = result.uses
            expected = _expected_lanes(use.operation, use.index, plan, result)
            if expected != stream_of(result).lanes.data:
                _insert_resize(op, result, use.operation, use.index, expected)
    for op in block.ops:
        if isinstance(op, PE_OPS):
            set_timing(op)


def _expected_lanes(consumer: Operation, index: int, plan: Plan, value: SSAValue) -> int:
    """The lanes `consumer` wants on operand `index` (fifos and yields take what comes)."""
    if consumer in plan.chosen:
        return plan.chosen[consumer].inputs[index]
    if isinstance(consumer, FifoOp):
        (use,) = consumer.output.uses
        return _expected_lanes(use.operation, use.index, plan, consumer.output)
    return stream_of(value).lanes.data


def _insert_resize(producer: Operation, value: SSAValue, consumer: Operation, index: int,
                   lanes: int) -> None:
    layer = producer.properties.get("layer")
    name = f"{layer.data}.resize" if isinstance(layer, StringAttr) else "resize"
    resize = ResizeOp.create(operands=[value], result_types=[_with_lanes(stream_of(value), lanes)],
                             properties={"layer": StringAttr(name)})
    Rewriter.insert_op(resize, InsertPoint.after(producer))
    consumer.operands[index] = resize.output


def set_timing(op: Operation) -> None:
    """`ii` and `latency` from the PE's folding (`nominal_ii`, `nominal_latency`)."""
    _set_int(op, "ii", op.nominal_ii())  # type: ignore[attr-defined]
    _set_int(op, "latency", op.nominal_latency())  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- entry points


def graphs_of(module: ModuleOp) -> list[GraphOp]:
    graphs = [op for op in module.walk() if isinstance(op, GraphOp)]
    if not graphs:
        raise HwcError("fold-parallelism: the module has no spatial.graph (run map-to-spatial first)")
    return graphs


def _verify(module: ModuleOp) -> None:
    try:
        module.verify()
    except VerifyException as error:
        lines = str(error).strip().splitlines()
        raise HwcError(lines[0] if lines else "the module does not verify") from None


def fold(module: ModuleOp, *, mode: str = "auto", target_fps: float | None = None,
         clock_mhz: float = 200.0, max_multipliers: int | None = None, target_tps: float | None = None) -> None:
    """Fold every `spatial.graph` of `module` in place (the pass, callable from Python).

    `mode`: "auto" (default; uses `target_fps` / `max_multipliers` when given,
    else see `AUTO_MULTIPLIER_BUDGET`), "full" or "min". Raises HwcError (one
    line) on bad options, an unreachable target or a budget below the minimum.
    """
    _check_options(mode, target_fps, clock_mhz, max_multipliers)
    _check_token_rate(mode, target_fps, target_tps)
    _verify(module)
    for graph in graphs_of(module):
        remove_resizes(graph)
        pes = pe_choices(graph)
        if target_tps is not None:
            plan = plan_for_token_rate(graph, pes, target_tps, clock_mhz, max_multipliers)
            remove_resizes(graph)
        elif is_decoder(graph) and mode == "auto" and target_fps is None:
            plan = capped_plan_for_budget(pes, max_multipliers if max_multipliers is not None
                                          else AUTO_MULTIPLIER_BUDGET)
        else:
            plan = choose_plan(pes, mode, target_fps, clock_mhz, max_multipliers)
        apply_plan(graph, plan)
    _verify(module)


@dataclass(frozen=True)
class FoldParallelismPass(ModulePass):
    """Choose every PE's folding (see the module docstring)."""

    name = "fold-parallelism"

    target_fps: int | float | None = None
    target_tps: int | float | None = None
    clock_mhz: int | float = 200.0
    max_multipliers: int | None = None
    full: bool = False
    min: bool = False

    _FLAGS: ClassVar[tuple[str, ...]] = ("full", "min")

    @classmethod
    def from_spec(cls, spec: ArgSpec):
        """Accept the bare flags `{full}` / `{min}` (xDSL reads a bare name as no value)."""
        parameters = {key: ((True,) if key in cls._FLAGS and not value else value)
                      for key, value in spec.parameters.items()}
        return super().from_spec(ArgSpec(spec.name, parameters))

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.full and self.min:
            raise HwcError("fold-parallelism: choose one of full and min")
        mode = "full" if self.full else "min" if self.min else "auto"
        fold(op, mode=mode, target_fps=self.target_fps, clock_mhz=self.clock_mhz,
             max_multipliers=self.max_multipliers, target_tps=self.target_tps)
