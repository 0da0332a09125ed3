"""The verification ladder of a language model (a graph of token ids): the
float rung against onnxruntime on random ids (every logit within 1e-4 of the
largest logit's magnitude: float32 sums reordered over many layers differ by
more than a fixed 1e-5), then

* int: the integer model's greedy next token against the float model's, at
  every position of the evaluation windows (the text given with `--text`, else
  random ids), agreeing when at least `INT_TOP1_AGREEMENT` of them match; the
  detail gives both perplexities on the text;
* int step: the token-by-token graph with its integer K/V caches computes the
  same integers as the whole sequence at every position of one window
  (bit-exact: the hardware runs the step graph).

* spatial: the chip's dataflow graph (MVUs and vector units holding the K/V
  caches on chip), fed one token a frame from empty caches, computes the integer
  whole sequence's logits at every position of one window (bit-exact).

* rtl: the chip in Verilator (`compiler.llm_rtl`, logits mode) on the same
  window: every position's logits bit-exact, prefill cycles per token against the
  prediction (the bottleneck's ii) within `CYCLE_TOLERANCE`.
"""

from __future__ import annotations

import numpy as np

from compiler.driver import Design
from compiler.llm_eval import load_token_ids, score_text, text_windows
from compiler.verify import INT_TOP1_AGREEMENT, Rung, float_rung, random_inputs

EVAL_WINDOWS = 64
"""At most this many windows of the text are scored."""


CYCLE_TOLERANCE = 0.05
"""Measured cycles per token may differ from the prediction by this fraction."""


def language_model_ladder(design: Design, samples: int, seed: int = 0, text=None, rtl: bool = True) -> list[Rung]:
    """The rungs above, on `samples` random windows or on `text` (at most EVAL_WINDOWS windows)."""
    inputs = random_inputs(design, samples, seed)
    rungs = [float_rung(design, inputs, tensor_relative=True)]
    length = design.input_shapes()[design.input_names[0]][-1]
    if text is not None:
        windows = text_windows(load_token_ids(text, design.vocabulary()), length, EVAL_WINDOWS)
    else:
        windows = next(iter(inputs.values())).reshape(-1, length)[:samples]
    rungs.append(int_language_rung(design, windows, text is not None))
    rungs.append(step_rung(design, windows[0]))
    rungs.append(spatial_rung(design, windows[0]))
    if rtl:
        rungs.append(rtl_rung(design, windows[0]))
    return rungs


def int_language_rung(design: Design, windows: np.ndarray, on_text: bool) -> Rung:
    floats = score_text(design, windows, "float")
    ints = score_text(design, windows, "int")
    agreement = ints.agreement(floats)
    detail = f"next-token agreement {agreement:.1%} over {floats.choices.size} positions"
    if on_text:
        change = ints.perplexity / floats.perplexity - 1
        detail += (f"; perplexity {floats.perplexity:.3f} (float) -> {ints.perplexity:.3f} (int), {change:+.1%}; "
                   f"{floats.bits_per_token:.3f} -> {ints.bits_per_token:.3f} bits per token")
    options = design.options
    bits = f"w{options.wbits}a{options.abits}" + (f" g{options.group_size}" if options.group_size else "")
    return Rung(level=f"int ({bits})", oracle="float executor",
                contract=f"next-token agreement >= {INT_TOP1_AGREEMENT:.0%}",
                agreed=agreement >= INT_TOP1_AGREEMENT, detail=detail)


def step_rung(design: Design, window: np.ndarray) -> Rung:
    """The integer step graph against the integer whole sequence, position by position."""
    from compiler.generate import Generator

    whole = design.executor("int").run_int({design.input_names[0]: window[None]})[design.output_names[0]][0]
    generator = Generator(design.rom_module, integer=True)
    state = {n: np.zeros(generator.plan.ir_input_shapes[n], generator.plan.input_dtypes[n])
             for n in generator.cache_names}
    first = None
    for position, token in enumerate(window):
        logits, state = generator.step(int(token), position, state)
        if first is None and not np.array_equal(logits.reshape(-1), whole[position].reshape(-1)):
            first = position
    detail = f"{len(window)} positions bit-identical" if first is None else f"first differs at position {first}"
    return Rung(level="int step (K/V caches)", oracle="int whole sequence", contract="bit-exact",
                agreed=first is None, detail=detail)


def spatial_rung(design: Design, window: np.ndarray) -> Rung:
    """The chip's spatial graph, one token a frame, against the integer whole sequence."""
    whole = design.executor("int").run_int({design.input_names[0]: window[None]})[design.output_names[0]][0]
    executor = design.executor("spatial")
    executor.states.reset()
    token, position = executor.input_names
    first = None
    for index, value in enumerate(window):
        logits = executor.run_int({token: np.array([[int(value)]]), position: np.array([index])})
        if first is None and not np.array_equal(logits[executor.output_names[0]].reshape(-1),
                                                whole[index].reshape(-1)):
            first = index
    executor.states.reset()
    detail = f"{len(window)} tokens bit-identical" if first is None else f"first differs at position {first}"
    return Rung(level="spatial (chip, one token a frame)", oracle="int whole sequence", contract="bit-exact",
                agreed=first is None, detail=detail)


def rtl_rung(design: Design, window: np.ndarray) -> Rung:
    """The chip in Verilator, logits mode, against the integer whole sequence."""
    from compiler.llm_rtl import ChipSimulation

    whole = design.executor("int").run_int({design.input_names[0]: window[None]})[design.output_names[0]][0]
    run = ChipSimulation(design.executor("spatial"), design.rtl_build()).logits([int(t) for t in window])
    rows = whole.reshape(len(window), -1)
    differing = [i for i in range(len(window)) if not np.array_equal(run.logits[i], rows[i])]
    beats = design.executor("spatial").port(design.output_names[0]).stream.beats
    frames = [run.out_cycles[(k + 1) * beats - 1] for k in range(len(window))]
    measured = (frames[-1] - frames[0]) / (len(frames) - 1) if len(frames) > 1 else float("nan")
    predicted = design.executor("spatial").cycles_per_inference
    timed = len(frames) < 2 or abs(measured - predicted) <= CYCLE_TOLERANCE * predicted
    detail = (f"{len(window)} positions bit-identical" if not differing else f"first differs at position {differing[0]}")
    detail += f"; prefill {measured:,.0f} cycles per token (predicted {predicted:,})"
    return Rung(level="rtl (Verilator, the chip)", oracle="int whole sequence", contract="bit-exact, cycles within 5%",
                agreed=not differing and timed, detail=detail)
