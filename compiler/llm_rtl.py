"""The LLM chip in Verilator (`compiler/hw/llm_chip.py`): requests in, generated
tokens or logits out, with what each run measured.

    chip = ChipSimulation(design.executor("spatial"), design.rtl_build())
    run = chip.generate([5, 17, 99], max_new_tokens=8)   # run.tokens, run.token_cycles
    logits = chip.logits([5, 17, 99]).logits              # [3, vocabulary] integers

`stall_in` / `stall_out` are the test bench's random backpressure (the probability
that it withholds `s_axis_tvalid` / `m_axis_tready` on a cycle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from compiler.errors import HwcError
from dialects.nn.state import CONTEXT_ATTR
from compiler.hw.llm_chip import HEADER_COUNT_BITS, HEADER_LENGTH_BITS, LOGITS_MODE_BIT


@dataclass
class ChipRun:
    """What one request did: the tokens (or logits) and the cycle each left the chip."""

    tokens: list[int]
    logits: np.ndarray | None
    out_cycles: list[int]
    prompt_accepted_cycles: list[int]
    total_cycles: int

    @property
    def decode_cycles_per_token(self) -> float:
        """Cycles between consecutive generated tokens (each waits for the one before)."""
        cycles = self.out_cycles
        return (cycles[-1] - cycles[0]) / (len(cycles) - 1) if len(cycles) > 1 else float("nan")


class ChipSimulation:
    """A decoder chip's Verilator simulation (module doc)."""

    def __init__(self, spatial_executor, build, *, stall_in: float = 0.0, stall_out: float = 0.0, seed: int = 0):
        if build.simulator is None:
            raise HwcError("the RTL build was made without a simulator")
        self.spatial, self.build = spatial_executor, build
        self.stall_in, self.stall_out, self.seed = stall_in, stall_out, seed
        self.port = spatial_executor.port(spatial_executor.output_names[0])
        self.vocabulary = int(np.prod(self.port.nn_shape))
        self.context = spatial_executor.graph.attributes[CONTEXT_ATTR].value.data

    def check(self, prompt: Sequence[int], max_new_tokens: int) -> list[int]:
        prompt = [int(t) for t in prompt]
        if not prompt:
            raise HwcError("the chip needs a prompt of at least one token")
        if any(not 0 <= t < self.vocabulary for t in prompt):
            raise HwcError(f"a prompt token lies outside the vocabulary of {self.vocabulary}")
        if len(prompt) + max_new_tokens - 1 > self.context:
            raise HwcError(f"{len(prompt)} prompt tokens and {max_new_tokens} new ones need more than the "
                           f"context of {self.context} positions")
        return prompt

    def request(self, prompt: list[int], count: int, logits: bool, expected: int):
        header = len(prompt) | (count << HEADER_LENGTH_BITS) | (int(logits) << LOGITS_MODE_BIT)
        assert count < 1 << HEADER_COUNT_BITS
        budget = 1000 + 10 * (len(prompt) + count) * (int(self.spatial.latency) + 16)
        flow = (1.0 - self.stall_in) * (1.0 - self.stall_out)
        return self.build.simulator.run([header, *prompt], stall_in=self.stall_in, stall_out=self.stall_out,
                                        seed=self.seed, expected_output_beats=expected,
                                        max_cycles=int(budget / flow))

    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> ChipRun:
        """The chip's greedy continuation of `prompt`: `max_new_tokens` ids."""
        prompt = self.check(prompt, max_new_tokens)
        result = self.request(prompt, max_new_tokens, False, max_new_tokens)
        tokens = [int(beat) & ((1 << 32) - 1) for beat in result.output_beats]
        return ChipRun(tokens, None, [int(c) for c in result.out_cycles], [int(c) for c in result.in_cycles[1:]],
                       result.total_cycles)

    def logits(self, prompt: Sequence[int]) -> ChipRun:
        """The logits of every prompt position ([n, vocabulary] integers), in logits mode."""
        prompt = self.check(prompt, 1)
        beats = self.port.stream.beats
        result = self.request(prompt, 1, True, beats * len(prompt))
        width = self.port.stream.lanes.data * self.port.stream.width
        mask = (1 << width) - 1
        ints = self.spatial.unpack_beats(self.port.name, [int(b) & mask for b in result.output_beats])
        return ChipRun([], ints.reshape(len(prompt), -1), [int(c) for c in result.out_cycles],
                       [int(c) for c in result.in_cycles[1:]], result.total_cycles)
