"""`hwc plan`: the LLM chip projected from a config.json (compiler/llm_shape.py, compiler/llm_plan.py).

Every expected figure is derived by hand in the comments; the parameter counts are
also checked against real models (the tiny example's ONNX initializers, the published
sizes of Llama-3.1-8B, GPT-2 and Qwen2-0.5B) and the ROM's element counts against
what `hwc` itself stores when it compiles the tiny example.
"""

from __future__ import annotations

import json
import math

import onnx
import pytest

import compiler
from compiler.errors import HwcError
from compiler.llm_plan import PlanOptions, make_plan
from compiler.llm_shape import read_config, shape_from_config
from dialects.rom import RomOp
from tests.e2e.test_cli_errors import assert_one_line_error
from tests.support import ROOT

CONFIGS = ROOT / "examples" / "llm_configs"
TINY = ROOT / "examples" / "tiny_lm"
W4G64 = PlanOptions(wbits=4, group_size=64, abits=8)

GPT2 = {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024,
        "vocab_size": 50257, "n_inner": None}
"""GPT-2 small's config.json sizes (openai-community/gpt2)."""
QWEN2_05B = {"model_type": "qwen2", "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
             "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936,
             "max_position_embeddings": 32768, "tie_word_embeddings": True}
"""Qwen/Qwen2-0.5B's config.json sizes."""
SMALL = {"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
         "num_key_value_heads": 1, "intermediate_size": 16, "vocab_size": 10, "max_position_embeddings": 4}
"""A config small enough to fold by hand: head_dim 8/2 = 4, K/V width 4."""


# --------------------------------------------------------------------------- parameters


def test_tiny_example_parameters_equal_its_onnx_initializers():
    # embedding 256·128 = 32,768; per layer q 128·128 = 16,384, k = v = 128·64 = 8,192, o 16,384,
    # gate = up = down = 128·352 = 45,056, two norms 2·128 = 256: 184,576; four layers 738,304;
    # final norm 128; head 256·128 = 32,768 (not tied). 32,768 + 738,304 + 128 + 32,768 = 803,968.
    parameters = read_config(CONFIGS / "tiny_lm.json").parameters()
    assert parameters["total"] == 803_968
    # The ONNX model's weights: its float initializers of rank 1 and 2 (the rank-4 ones are the
    # causal mask and RoPE's cos/sin by position, the rest scalars and shapes).
    model = onnx.load(TINY / "model.onnx", load_external_data=False)
    weights = [i for i in model.graph.initializer
               if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) in (1, 2) and math.prod(i.dims) > 1]
    assert parameters["total"] == sum(math.prod(i.dims) for i in weights)
    assert parameters["norms"] == sum(math.prod(i.dims) for i in weights if len(i.dims) == 1)


def test_tiny_config_is_the_one_the_example_was_trained_with():
    trained = json.loads((TINY / "reference.json").read_text())["config"]
    committed = json.loads((CONFIGS / "tiny_lm.json").read_text())
    assert {key: committed[key] for key in trained if key in committed} == \
        {key: trained[key] for key in committed if key in trained}
    assert {"hidden_size", "num_key_value_heads", "intermediate_size", "tie_word_embeddings"} <= set(trained)


def test_llama_3_1_8b_has_its_published_parameter_count():
    # embedding 128,256·4,096 = 525,336,576. Per layer: q 4,096·4,096 = 16,777,216,
    # k = v = 4,096·(8·128 = 1,024) = 4,194,304, o 16,777,216, gate = up = down = 4,096·14,336 = 58,720,256,
    # norms 2·4,096 = 8,192: 33,554,432 + 8,388,608 + 176,160,768 + 8,192 = 218,112,000; 32 layers:
    # 6,979,584,000. Final norm 4,096; head (not tied) 525,336,576.
    # 2·525,336,576 + 6,979,584,000 + 4,096 = 8,030,261,248 (Meta's published count).
    parameters = read_config(CONFIGS / "llama-3.1-8b.json").parameters()
    assert parameters["total"] == 8_030_261_248
    assert parameters["MLP gate"] == 32 * 58_720_256
    assert parameters["attention k"] == 32 * 4_194_304
    assert parameters["head"] == parameters["embedding"] == 525_336_576


def test_gpt2_counts_learned_positions_layer_norm_biases_and_a_tied_head():
    # wte 50,257·768 = 38,597,376, wpe 1,024·768 = 786,432. Per layer: ln_1 and ln_2 2·2·768 = 3,072,
    # c_attn 768·2,304 + 2,304 = 1,771,776, c_proj 768·768 + 768 = 590,592, c_fc 768·3,072 + 3,072 = 2,362,368,
    # mlp c_proj 3,072·768 + 768 = 2,360,064: 7,087,872; 12 layers 85,054,464. ln_f 1,536. Head tied.
    # 38,597,376 + 786,432 + 85,054,464 + 1,536 = 124,439,808 (published as 124 M).
    parameters = shape_from_config(GPT2).parameters()
    assert parameters["total"] == 124_439_808
    assert parameters["head"] == 0
    assert parameters["MLP gate"] == 0


def test_qwen2_has_query_key_value_biases():
    # embedding 151,936·896 = 136,134,656 (tied head). Per layer: q 896·896 + 896 = 803,712,
    # k = v = 896·128 + 128 = 114,816, o 896·896 = 802,816 (no bias), MLP 3·896·4,864 = 13,074,432,
    # norms 1,792: 14,912,384; 24 layers 357,897,216. Final norm 896. Total 494,032,768 (published as 0.49 B).
    assert shape_from_config(QWEN2_05B).parameters()["total"] == 494_032_768


# --------------------------------------------------------------------------- storage and work


def test_tiny_rom_sram_and_work_worked_by_hand():
    plan = make_plan(read_config(CONFIGS / "tiny_lm.json"), W4G64)
    rom = plan["rom_bits"]
    # A row of K = 128 inputs at w4 g64: 128·4 weight bits, ceil(128/64) = 2 group scales of 8 bits,
    # one 16-bit channel multiplier: 512 + 16 + 16 = 544 bits. K = 352 (down): 1,408 + 6·8 + 16 = 1,472.
    assert rom["embedding"] == 256 * 128 * 8 == 262_144  # a table at abits
    assert rom["attention q"] == 4 * 128 * 544 == 278_528
    assert rom["attention k"] == rom["attention v"] == 4 * 64 * 544 == 139_264
    assert rom["MLP gate"] == rom["MLP up"] == 4 * 352 * 544 == 765_952
    assert rom["MLP down"] == 4 * 128 * 1_472 == 753_664
    assert rom["norms"] == 9 * 128 * 16 == 18_432  # each norm weight a 16-bit channel multiplier
    assert rom["head"] == 256 * 544 == 139_264
    assert rom["position table"] == 64 * 32 * 8 == 16_384  # RoPE: context · head_dim at abits
    assert rom["total"] == 3_557_376  # the sum of the above
    assert plan["sram_bits"] == 2 * 4 * 2 * 32 * 64 * 8 == 262_144  # K and V · layers · kv heads · dim · ctx · abits
    work = plan["work_per_token"]
    assert work["weight_macs"] == 803_968 - 32_768 - 9 * 128 == 770_048  # every weight but embedding and norms
    assert work["attention_macs_full_context"] == 2 * 4 * 4 * 32 * 64 == 65_536
    assert work["attention_macs_average"] == 4 * 4 * 32 * 65 == 33_280  # keys 1..64: mean 32.5


def test_per_channel_format_has_no_group_scales_and_context_caps_the_cache():
    plan = make_plan(read_config(CONFIGS / "tiny_lm.json"),
                     PlanOptions(wbits=8, group_size=0, abits=8, context=16))
    assert plan["rom_bits"]["MLP down"] == 4 * 128 * (352 * 8 + 16)
    assert plan["sram_bits"] == 2 * 4 * 2 * 32 * 16 * 8
    assert plan["rom_bits"]["position table"] == 16 * 32 * 8


def test_rom_element_counts_match_what_hwc_stores_for_the_tiny_example():
    """The oracle is the compiler: its integer module's ROMs for the trained example at w4 g64."""
    design = compiler.compile(TINY / "model.onnx", wbits=4, group_size=64, calib=TINY / "calib.npz")
    roms = [op for op in design.rom_module.walk() if isinstance(op, RomOp)]
    by_suffix = lambda suffix: [r for r in roms if r.sym_name.data.endswith(suffix)]  # noqa: E731
    shape = read_config(CONFIGS / "tiny_lm.json")
    matrices = shape.matrices()
    weights = by_suffix("_weight")
    assert sum(math.prod(r.shape) for r in weights) == sum(m.count * m.weights for m in matrices)
    assert {r.width for r in weights} == {4}
    assert sum(math.prod(r.shape) for r in by_suffix("_group_scale")) == \
        sum(m.count * m.outputs * -(-m.inputs // 64) for m in matrices)
    (embedding,) = by_suffix("embedding0_table")
    assert (math.prod(embedding.shape), embedding.width) == (shape.vocab * shape.hidden, 8)


# --------------------------------------------------------------------------- the chip


def small_plan(**options) -> dict:
    return make_plan(shape_from_config(SMALL), PlanOptions(wbits=4, group_size=0, abits=8, clock_mhz=12.0,
                                                           **options))


def test_multipliers_for_a_small_config_worked_by_hand():
    # 12 MHz / 1,000,000 tokens/s = 12 cycles per token. Units (outputs x inputs = MACs):
    # q 8x8 = 64, k 4x8 = 32, v 4x8 = 32, o 8x8 = 64, gate 16x8 = 128, up 16x8 = 128, down 8x16 = 128,
    # head 10x8 = 80, Q·Kᵀ (2 heads · 4 keys) x 4 = 32, P·V (2 heads · 4 dims) x 4 keys = 32.
    # ideal, ceil(MACs/12): 6 + 3 + 3 + 6 + 11 + 11 + 11 + 7 = 58 for weights, 3 + 3 = 6 for attention.
    # folded (pe | N, simd | K, (N/pe)(K/simd) <= 12, least pe·simd): powers of two for 8 and 16, so
    # q 8, k 4, v 4, o 8, gate 16, up 16, down 16; head 80/ps <= 12 -> ps >= 7: 1x8 (pe | 10, simd | 8);
    # Q·Kᵀ 4, P·V 4: 80 for weights, 8 for attention.
    chip = small_plan(target_tps=1e6)["chip"]
    assert chip["ideal"] == {"cycles_per_token": 12, "tokens_per_s": 1e6, "multipliers_weights": 58,
                             "multipliers_attention": 6, "multipliers": 64}
    assert chip["folded"] == {"cycles_per_token": 12, "tokens_per_s": 1e6,
                              "multipliers_weights": 80, "multipliers_attention": 8, "multipliers": 88}
    head = next(u for u in chip["units"] if u["unit"] == "head")
    assert (head["pe"], head["simd"], head["multipliers_ideal"]) == (1, 8, 7)


def test_a_multiplier_budget_gives_the_rate_it_allows():
    # ideal: 64 multipliers at 12 cycles (above); at 11: 6+3+3+6+12+12+12+8 + 3+3 = 68 > 64. So 12 cycles.
    # folded: at 12..15 cycles 88 (q still needs 8 for 64/ps <= 15); at 16: 4+2+2+4+8+8+8 + head 5 (5x1)
    # + 2+2 = 45 <= 64. So 16 cycles: 12 MHz / 16 = 750,000 tokens/s.
    chip = small_plan(max_multipliers=64)["chip"]
    assert chip["mode"] == "budget"
    assert (chip["ideal"]["cycles_per_token"], chip["ideal"]["multipliers"]) == (12, 64)
    assert (chip["folded"]["cycles_per_token"], chip["folded"]["multipliers"]) == (16, 45)
    assert chip["folded"]["tokens_per_s"] == 750_000
    with pytest.raises(HwcError, match="at least 10"):  # ten units, one multiplier each at the least
        small_plan(max_multipliers=9)


def test_an_unknown_model_type_is_read_as_llama_with_a_note():
    plan = make_plan(shape_from_config({**SMALL, "model_type": "phi3"}), W4G64)
    assert plan["parameters"] == make_plan(shape_from_config(SMALL), W4G64)["parameters"]
    assert any("phi3" in note for note in plan["notes"])


def test_target_and_budget_together_say_whether_it_fits():
    chip = small_plan(target_tps=1e6, max_multipliers=70)["chip"]
    assert chip["mode"] == "target"
    assert chip["ideal"]["fits_budget"] is True and chip["folded"]["fits_budget"] is False


# --------------------------------------------------------------------------- the command line


def test_plan_prints_the_tables_and_writes_the_json(run_hwc, tmp_path):
    out = tmp_path / "plan.json"
    result = run_hwc("plan", CONFIGS / "llama-3.1-8b.json", "--wbits", "4", "--target-tps", "17000",
                     "--json", out)
    assert result.returncode == 0, result.stderr
    assert "8,030,261,248" in result.stdout and "Taalas HC1" in result.stdout
    plan = json.loads(out.read_text())
    assert plan["parameters"]["total"] == 8_030_261_248
    # 1 GHz / 17,000 = 58,823.5 -> 58,823 cycles; the MLP gate (58,720,256 MACs) needs ceil(.../58,823) = 999
    assert plan["chip"]["ideal"]["cycles_per_token"] == 58_823
    gate = next(u for u in plan["chip"]["units"] if u["unit"] == "MLP gate")
    assert gate["multipliers_ideal"] == 999
    # K/V cache at 131,072 positions: 2·32·8·128·131,072·8 bits
    assert plan["sram_bits"] == 2 * 32 * 8 * 128 * 131_072 * 8


@pytest.mark.parametrize("config, extra, pattern", [
    ("{not json", (), "not JSON"),
    ('["a list"]', (), "not a config.json"),
    ('{"hidden_size": 64}', (), "num_hidden_layers"),
    (json.dumps({**SMALL, "hidden_size": 0}), (), "hidden_size.*positive"),
    (json.dumps({**SMALL, "vocab_size": 2**24 + 1}), (), "sizes up to"),
    (json.dumps({**SMALL, "num_key_value_heads": 3}), (), "does not divide"),
    (json.dumps({**SMALL, "tie_word_embeddings": "yes"}), (), "true or false"),
    (json.dumps(SMALL), ("--context", "5"), "4 positions"),
    (json.dumps(SMALL), ("--target-tps", "0"), "positive"),
    (json.dumps(SMALL), ("--target-tps", "2e6", "--clock-mhz", "1"), "more than one token per cycle"),
    (json.dumps(SMALL), ("--max-multipliers", "9"), "at least 10"),
    (json.dumps(SMALL), ("--clock-mhz", "-1"), "positive"),
    (json.dumps(SMALL), ("--wbits", "9"), "weight bits"),
    (json.dumps(SMALL), ("--group-size", "48"), "group size"),
])
def test_bad_configs_and_options_are_one_line(run_hwc, tmp_path, config, extra, pattern):
    path = tmp_path / "config.json"
    path.write_text(config)
    result = run_hwc("plan", path, *extra, "--json", tmp_path / "plan.json")
    assert_one_line_error(result, pattern)
    assert not (tmp_path / "plan.json").exists()


def test_a_missing_config_is_one_line(run_hwc, tmp_path):
    assert_one_line_error(run_hwc("plan", tmp_path / "config.json"), "no such file")
