"""Which folding each PE takes: the plans `fold-parallelism` chooses among.

Each PE's foldings (`PEOp.foldings()`) sorted by preference (`PEChoices`); a
`Plan` is one folding per PE. Costs are separable, so the cheapest plan whose
bottleneck is at most T takes every PE's cheapest folding with ii <= T
(`plan_within`, balanced against the bottleneck it reaches); a throughput target
is such a T (`plan_for_target`, `target_bound`), a multiplier budget the smallest T
whose cheapest plan fits (`plan_for_budget`, a binary search). A decoder's plans
cap every PE at one bound instead (`capped_plan`): latency, not the bottleneck,
sets its token rate. The search that times those (`plan_for_token_rate`) applies
plans to the graph and lives with the pass, `passes.fold_parallelism`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from xdsl.ir import Operation

from compiler.errors import HwcError
from dialects.spatial import PE_OPS, Folding, GraphOp


def _preference(folding: Folding) -> tuple:
    """Sort key among foldings of one PE: cheapest, then slowest, then narrowest
    (fewest lanes in total), then the widest input (larger simd, fewer accumulators)."""
    return (folding.multipliers, -folding.ii, sum(folding.inputs) + sum(folding.outputs),
            -sum(folding.inputs))


@dataclass
class PEChoices:
    """A PE and its foldings in preference order."""

    op: Operation
    options: list[Folding]
    fastest: Folding = field(init=False)
    widest: Folding = field(init=False)
    narrowest: Folding = field(init=False)

    def __post_init__(self) -> None:
        self.options.sort(key=_preference)
        self.fastest = min(self.options, key=lambda f: (f.ii, f.multipliers))
        self.widest = max(self.options, key=lambda f: (sum(f.inputs) + sum(f.outputs), -f.ii))
        self.narrowest = min(self.options, key=lambda f: (sum(f.inputs) + sum(f.outputs), f.ii))

    @property
    def layer(self) -> str:
        return self.op.layer.data  # type: ignore[attr-defined]

    def best_within(self, bound: int) -> Folding | None:
        """The preferred folding with ii ≤ bound (None if even the fastest is slower)."""
        for option in self.options:
            if option.ii <= bound:
                return option
        return None


@dataclass
class Plan:
    """A folding per PE and what it comes to."""

    chosen: dict[Operation, Folding]

    @property
    def bottleneck(self) -> int:
        return max((f.ii for f in self.chosen.values()), default=1)

    @property
    def multipliers(self) -> int:
        return sum(f.multipliers for f in self.chosen.values())


def plan_within(pes: Sequence[PEChoices], bound: int) -> Plan | None:
    """The cheapest plan whose bottleneck is at most `bound`, balanced: re-folded
    against the bottleneck it achieves. None when some PE cannot meet `bound`."""
    chosen = {}
    for pe in pes:
        folding = pe.best_within(bound)
        if folding is None:
            return None
        chosen[pe.op] = folding
    achieved = Plan(chosen).bottleneck
    return Plan({pe.op: pe.best_within(achieved) for pe in pes})


def full_plan(pes: Sequence[PEChoices]) -> Plan:
    """Everything unrolled: MVU pe = N, simd = K; every stream at its full width."""
    return Plan({pe.op: pe.widest for pe in pes})


def min_plan(pes: Sequence[PEChoices]) -> Plan:
    """One multiplier per multiplying layer: every lane count 1."""
    return Plan({pe.op: pe.narrowest for pe in pes})


def fastest_bottleneck(pes: Sequence[PEChoices]) -> tuple[int, PEChoices | None]:
    """The smallest achievable cycles per inference and the PE that sets it."""
    slowest = max(pes, key=lambda pe: pe.fastest.ii, default=None)
    return (slowest.fastest.ii if slowest else 1), slowest


def target_bound(target_fps: float, clock_mhz: float) -> int:
    """Cycles per inference a target allows: floor(clock_hz / target_fps), exactly."""
    return math.floor(Fraction(str(clock_mhz)) * 1_000_000 / Fraction(str(target_fps)))


def plan_for_target(pes: Sequence[PEChoices], target_fps: float, clock_mhz: float) -> Plan:
    """The cheapest balanced plan with cycles per inference ≤ clock_hz / target_fps."""
    clock_hz = Fraction(str(clock_mhz)) * 1_000_000
    bound = target_bound(target_fps, clock_mhz)
    plan = plan_within(pes, bound) if bound >= 1 else None
    if plan is None:
        best, slowest = fastest_bottleneck(pes)
        where = f" (layer '{slowest.layer}' needs {best} cycles per inference fully unrolled)" \
            if slowest else ""
        raise HwcError(
            f"fold-parallelism: target {number_text(target_fps)} inferences/s at {number_text(clock_mhz)} MHz "
            f"is out of reach: the fastest folding gives {float(clock_hz / best):.6g} inferences/s{where}"
        )
    return plan


def plan_for_budget(pes: Sequence[PEChoices], budget: int) -> Plan:
    """The fastest balanced plan using at most `budget` multipliers."""
    cheapest = min_plan(pes).multipliers
    if budget < cheapest:
        raise HwcError(
            f"fold-parallelism: max-multipliers {budget} is below the {cheapest} the smallest "
            f"folding needs (one per multiplying layer)"
        )
    candidates = sorted({option.ii for pe in pes for option in pe.options})
    fits = lambda bound: _cost_within(pes, bound) <= budget  # noqa: E731
    index = bisect.bisect_left(range(len(candidates)), True, key=lambda i: fits(candidates[i]))
    plan = plan_within(pes, candidates[index]) if candidates else Plan({})
    assert plan is not None and plan.multipliers <= budget
    return plan


def capped_plan(pes: Sequence[PEChoices], bound: int) -> Plan:
    """Every PE at its cheapest folding with ii ≤ `bound`, or at its fastest when it
    cannot be that fast: the plan a latency target walks through."""
    return Plan({pe.op: pe.best_within(bound) or pe.fastest for pe in pes})


def capped_plan_for_budget(pes: Sequence[PEChoices], budget: int) -> Plan:
    """A decoder's fastest capped plan (`capped_plan`: latency, not the bottleneck,
    sets its token rate) using at most `budget` multipliers, else its cheapest."""
    candidates = sorted({option.ii for pe in pes for option in pe.options})
    fits = lambda i: capped_plan(pes, candidates[i]).multipliers <= budget  # noqa: E731
    index = bisect.bisect_left(range(len(candidates)), True, key=fits)
    return capped_plan(pes, candidates[min(index, len(candidates) - 1)])


def _cost_within(pes: Sequence[PEChoices], bound: int) -> float:
    plan = plan_within(pes, bound)
    return math.inf if plan is None else plan.multipliers


def number_text(value: float) -> str:
    """A target or clock as the user wrote it (`2e+06`, `200`)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def pe_choices(graph: GraphOp) -> list[PEChoices]:
    """Every PE of `graph` (no resizes) with its foldings."""
    return [PEChoices(op, op.foldings()) for op in graph.body.block.ops if isinstance(op, PE_OPS)]
