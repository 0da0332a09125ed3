"""The LLM chip's top: a controller around a decoder's dataflow graph that takes
a prompt and gives back the tokens it generates, each fed back on chip.

Ports (AXI4-Stream naming, as every top): `s_axis_tdata` of 64 bits in,
`m_axis_tdata` out, as wide as one beat of the graph's logits (at least 32 bits).

A request is a header beat, then the prompt's token ids, one a beat:

* header: bits 0..31 the prompt length n (≥ 1), bits 32..61 the tokens to
  generate m (≥ 1), bit 62 the *logits mode*;
* generate mode: the chip streams the n prompt tokens into the graph (prefill:
  they pipeline), keeps the logits of the last one, picks its argmax (the first
  largest logit, as `numpy.argmax`) and sends that token on `m_axis` (in the low
  bits of a beat), feeds it back into the graph as the next token, and so on
  until it has sent m tokens;
* logits mode: the chip sends every logits beat of the n prompt tokens as the
  graph makes them (n frames) and generates nothing — the verification view.

After a request the graph is reset for one cycle (its position counter back to
0; the caches need no clearing: a position is written before it is read, and
positions beyond the current one are masked out), then the next header is taken.
"""

from __future__ import annotations

from xdsl.dialects import hw

from compiler.hw.bits import unsigned_bits, width_of
from compiler.hw.builder import ModuleBuilder

HEADER_LENGTH_BITS = 32
HEADER_COUNT_BITS = 30
LOGITS_MODE_BIT = 62
TOKEN_BITS = 64
"""Bits of an input beat: a header or a token id."""


def chip_out_width(logits_lanes: int, logits_width: int) -> int:
    return max(32, logits_lanes * logits_width)


def build_chip(name: str, graph_top: hw.HWModuleOp, logits_lanes: int, logits_width: int,
               vocabulary: int) -> hw.HWModuleOp:
    """The chip `name` around the graph's top module `graph_top` (see module doc)."""
    b = ModuleBuilder(name)
    assert b.clock is not None and b.reset is not None
    out_width = chip_out_width(logits_lanes, logits_width)
    s_data = b.input("s_axis_tdata", TOKEN_BITS)
    s_valid = b.input("s_axis_tvalid", 1)
    b.output("s_axis_tready")
    m_ready = b.input("m_axis_tready", 1)
    b.output("m_axis_tdata")
    b.output("m_axis_tvalid")

    running = b.reg("running", 1, reset_value=0)
    logits_mode = b.reg("logits_mode", 1, reset_value=0)
    length = b.reg("prompt_length", HEADER_LENGTH_BITS, reset_value=0)
    wanted = b.reg("tokens_wanted", HEADER_COUNT_BITS, reset_value=0)
    fed = b.reg("tokens_fed", HEADER_LENGTH_BITS, reset_value=0)
    frames = b.reg("frames_done", HEADER_LENGTH_BITS, reset_value=0)
    sent = b.reg("tokens_sent", HEADER_COUNT_BITS, reset_value=0)
    restart = b.reg("graph_restart", 1, reset_value=0)
    feedback = b.reg("feedback_token", TOKEN_BITS, reset_value=0)
    feedback_valid = b.reg("feedback_valid", 1, reset_value=0)
    out_data = b.reg("out_data", out_width, reset_value=0)
    out_valid = b.reg("out_valid", 1, reset_value=0)

    # ---- the graph's token input: the prompt from s_axis, then the fed-back tokens
    prompting = b.and_(running.value, b.ult(fed.value, length.value))
    graph_token = b.mux(prompting, s_data, feedback.value)
    graph_valid = b.mux(prompting, s_valid, b.and_(running.value, feedback_valid.value))
    graph_ready_placeholder = hw.ConstantOp(0, 1).result
    logits_ready_placeholder = hw.ConstantOp(0, 1).result
    graph_rst = b.or_(b.reset, restart.value)
    outs = b.instance("graph", graph_top, {
        "clk": b.clock, "rst": graph_rst, "s_axis_tdata": graph_token, "s_axis_tvalid": graph_valid,
        "m_axis_tready": logits_ready_placeholder,
    })
    graph_ready = outs["s_axis_tready"]
    graph_ready_placeholder.replace_all_uses_with(graph_ready)
    token_fire = b.and_(graph_valid, graph_ready)
    header_fire = b.and_(b.not_(running.value), b.not_(restart.value), s_valid)

    # ---- argmax over each logits frame
    beats = -(-vocabulary // logits_lanes)
    logits_valid = outs["m_axis_tvalid"]
    logits = b.unpack(outs["m_axis_tdata"], logits_lanes)
    index_bits = unsigned_bits(vocabulary) + 1
    beat_index = b.reg("logits_beat", unsigned_bits(beats), reset_value=0)
    best_value = b.reg("best_value", logits_width)
    best_index = b.reg("best_index", index_bits)
    first_beat = b.eq(beat_index.value, b.const(0, width_of(beat_index.value)))
    last_beat = b.eq(beat_index.value, b.const(beats - 1, width_of(beat_index.value)))
    value, index = best_value.value, best_index.value
    base = b.mul_const(b.zext(beat_index.value, index_bits), logits_lanes, index_bits)
    for lane, logit in enumerate(logits):
        take = b.sgt(logit, value) if lane else b.or_(first_beat, b.sgt(logit, value))
        value = b.mux(take, logit, value)
        index = b.mux(take, b.add(base, b.const(lane, index_bits), width=index_bits, signed=False), index)
    generating_frame = b.not_(b.ult(frames.value, b.sub(length.value, b.const(1, HEADER_LENGTH_BITS),
                                                        width=HEADER_LENGTH_BITS, signed=False)))
    token_out = b.and_(b.not_(logits_mode.value), generating_frame)
    # logits mode: every beat goes out; generate mode: the last beat of a kept frame makes a token
    sends = b.or_(logits_mode.value, b.and_(token_out, last_beat))
    out_free = b.or_(b.not_(out_valid.value), m_ready)
    logits_ready = b.or_(b.not_(sends), out_free)
    logits_ready_placeholder.replace_all_uses_with(logits_ready)
    logits_fire = b.and_(logits_valid, logits_ready)
    frame_done = b.and_(logits_fire, last_beat)
    beat_index.set_next(b.mux(last_beat, b.const(0, width_of(beat_index.value)),
                              b.add(beat_index.value, b.const(1, width_of(beat_index.value)),
                                    width=width_of(beat_index.value), signed=False)), enable=logits_fire)
    best_value.set_next(value, enable=logits_fire)
    best_index.set_next(index, enable=logits_fire)

    emit = b.and_(logits_fire, sends)
    out_word = b.mux(logits_mode.value, b.zext(outs["m_axis_tdata"], out_width), b.zext(index, out_width))
    out_data.set_next(out_word, enable=emit)
    out_valid.set_next(b.or_(emit, b.and_(out_valid.value, b.not_(m_ready))))

    # ---- counters and the end of a request
    token_made = b.and_(frame_done, token_out)
    sent_next = b.add(sent.value, b.const(1, HEADER_COUNT_BITS), width=HEADER_COUNT_BITS, signed=False)
    last_token = b.and_(token_made, b.eq(sent_next, wanted.value))
    frames_next = b.add(frames.value, b.const(1, HEADER_LENGTH_BITS), width=HEADER_LENGTH_BITS, signed=False)
    last_logits = b.and_(frame_done, logits_mode.value, b.eq(frames_next, length.value))
    finished = b.or_(last_token, last_logits)
    feedback.set_next(b.zext(index, TOKEN_BITS), enable=token_made)
    feedback_valid.set_next(b.and_(b.or_(b.and_(token_made, b.not_(last_token)),
                                         b.and_(feedback_valid.value, b.not_(b.and_(token_fire,
                                                                                     b.not_(prompting))))),
                                   b.not_(finished)))
    zero_length = b.const(0, HEADER_LENGTH_BITS)
    fed.set_next(b.mux(header_fire, zero_length,
                       b.add(fed.value, b.const(1, HEADER_LENGTH_BITS), width=HEADER_LENGTH_BITS, signed=False)),
                 enable=b.or_(header_fire, token_fire))
    frames.set_next(b.mux(header_fire, zero_length, frames_next), enable=b.or_(header_fire, frame_done))
    sent.set_next(b.mux(header_fire, b.const(0, HEADER_COUNT_BITS), sent_next),
                  enable=b.or_(header_fire, token_made))
    length.set_next(b.extract(s_data, 0, HEADER_LENGTH_BITS), enable=header_fire)
    wanted.set_next(b.extract(s_data, HEADER_LENGTH_BITS, HEADER_COUNT_BITS), enable=header_fire)
    logits_mode.set_next(b.extract(s_data, LOGITS_MODE_BIT, 1), enable=header_fire)
    running.set_next(b.mux(header_fire, b.true(), b.mux(finished, b.false(), running.value)))
    restart.set_next(finished)

    b.output("s_axis_tready", b.or_(b.and_(b.not_(running.value), b.not_(restart.value)),
                                     b.and_(prompting, graph_ready)))
    b.output("m_axis_tdata", out_data.value)
    b.output("m_axis_tvalid", out_valid.value)
    return b.finish()
