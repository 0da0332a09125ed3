"""Greedy decoding on the step graph: what `hwc generate` and `Design.generate` run.

`Generator(nn_module)` adds the token-by-token graph (`sequence-to-stream`, in a
copy of the module) and compiles it once; `generate(prompt, max_new_tokens)` feeds
the prompt one token at a time (prefill), then feeds back each token it picks
(the argmax of the last logits) until it has `max_new_tokens` tokens or has
picked `end_token`. The K/V caches live between calls as the step graph's state
(zeros at first). Everything a user can get wrong is one HwcError line: an empty
prompt, a prompt and generation longer than the context, an id outside the
vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.func import FuncOp

from compiler.errors import HwcError
from compiler.executor.float_kernels import FLOAT_KERNELS
from compiler.executor.plan import GraphPlan, function_body
from dialects import nn
from dialects.nn.state import CACHE_PREFIX, CONTEXT_ATTR, POSITION_INPUT, STEP_FUNCTION


Progress = Callable[[int, int], None]
"""Called with (tokens done, tokens in all) after every step."""


@dataclass
class Generation:
    """Generated ids and what running them took."""

    tokens: list[int]
    prompt_length: int


class Generator:
    """The step graph of a whole-sequence module, compiled for greedy decoding:
    at the float level from the nn module, at the integer level from the integer
    (rom) module, whose step graph keeps its K/V caches as integers."""

    def __init__(self, module: ModuleOp, context: int = 0, integer: bool = False):
        from compiler.executor.int_executor import int_kernels_for
        from compiler.pipelines import run_pipeline, step_pipeline
        from compiler.weights import store_for

        module = module.clone()
        run_pipeline(module, step_pipeline(context))
        step = next(op for op in module.ops if isinstance(op, FuncOp) and op.sym_name.data == STEP_FUNCTION)
        body = function_body(module, step)
        kernels = int_kernels_for(store_for(module)) if integer else FLOAT_KERNELS
        self.plan = GraphPlan(module, kernels, body)
        self.context = step.attributes[CONTEXT_ATTR].value.data
        self.token_name = body.input_names[0]
        self.token_dtype = self.plan.input_dtypes[self.token_name]
        self.logits_name = body.output_names[0]
        self.cache_names = [n for n in body.input_names if n.startswith(CACHE_PREFIX)]
        self.vocabulary = _vocabulary(step)

    def generate(self, prompt: Sequence[int], max_new_tokens: int, end_token: int | None = None,
                 progress: Progress | None = None) -> Generation:
        """The prompt's greedy continuation (see module doc)."""
        prompt = [int(t) for t in prompt]
        self.check_request(prompt, max_new_tokens)
        state = self.initial_state()
        total = len(prompt) + max_new_tokens - 1
        logits = None
        for position, token in enumerate(prompt):
            logits, state = self.step(token, position, state)
            if progress:
                progress(position + 1, total)
        generated: list[int] = []
        while len(generated) < max_new_tokens:
            token = int(np.argmax(logits.reshape(-1)))
            generated.append(token)
            if token == end_token or len(generated) == max_new_tokens:
                break
            logits, state = self.step(token, len(prompt) + len(generated) - 1, state)
            if progress:
                progress(len(prompt) + len(generated), total)
        return Generation(generated, len(prompt))

    def initial_state(self) -> dict[str, np.ndarray]:
        """Empty K/V caches."""
        return {n: np.zeros(self.plan.ir_input_shapes[n], self.plan.input_dtypes[n]) for n in self.cache_names}

    def step(self, token: int, position: int, state: dict[str, np.ndarray]):
        """The logits after `token` at `position`, and the caches that follow."""
        outputs = self.plan.run({
            self.token_name: np.array([[token]], dtype=self.token_dtype),
            POSITION_INPUT: np.array([position], dtype=np.int64),
            **state,
        })
        return outputs[self.logits_name], {n: outputs[n] for n in self.cache_names}

    def check_request(self, prompt: list[int], max_new_tokens: int) -> None:
        if not prompt:
            raise HwcError("--prompt: give at least one token id")
        if max_new_tokens < 1:
            raise HwcError(f"--max-new-tokens {max_new_tokens}: must be at least 1")
        bad = [t for t in prompt if not 0 <= t < self.vocabulary]
        if bad:
            raise HwcError(f"--prompt: token id {bad[0]} is outside the vocabulary of {self.vocabulary} "
                           f"(ids must lie in 0..{self.vocabulary - 1})")
        needed = len(prompt) + max_new_tokens - 1
        if needed > self.context:
            raise HwcError(f"--prompt of {len(prompt)} tokens and --max-new-tokens {max_new_tokens} need "
                           f"{needed} positions, more than the context of {self.context}")


class ChipGenerator(Generator):
    """Greedy decoding on the chip's spatial graph (`SpatialExecutor` of a decoder):
    its vector units hold the K/V caches, emptied at the start of every prompt; the
    host gives each token and its position and reads the logits."""

    def __init__(self, executor):
        from dialects.nn.state import CONTEXT_ATTR

        self.executor = executor
        graph = executor.graph
        if CONTEXT_ATTR not in graph.attributes:
            raise HwcError("generate: this design is not a decoder (its chip does not take token ids)")
        self.context = graph.attributes[CONTEXT_ATTR].value.data
        self.token_name, self.position_name = executor.input_names
        self.logits_name = executor.output_names[0]
        self.vocabulary = executor.port(self.logits_name).nn_shape[-1]

    def initial_state(self) -> dict[str, np.ndarray]:
        self.executor.states.reset()
        return {}

    def step(self, token: int, position: int, state: dict[str, np.ndarray]):
        outputs = self.executor.run_int({self.token_name: np.array([[token]]),
                                         self.position_name: np.array([position])})
        return outputs[self.logits_name], state


def _vocabulary(step: FuncOp) -> int:
    """Rows of the embedding table the token ids index."""
    token = step.body.block.args[0]
    for use in token.uses:
        if isinstance(use.operation, nn.EmbeddingOp):
            return nn.shape_of(use.operation.table)[0]
    raise HwcError("the graph does not look its token ids up in an embedding table")
