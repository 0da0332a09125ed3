"""Printing and writing a plan made by `compiler.llm_plan.make_plan`.

    print_plan(plan, rich.console.Console())   # the tables `hwc plan` prints
    write_plan(plan, Path("plan.json"))         # the same figures as JSON, written whole or not at all
"""

from __future__ import annotations

import json
from pathlib import Path

from compiler.output import atomic_file

GIGA = 1e9


def _bits(value: int) -> str:
    """A bit count in full and in gigabytes when large."""
    return f"{value:,}" + (f" ({value / 8 / GIGA:,.2f} GB)" if value >= 8 * 10**7 else "")


def print_plan(plan: dict, console) -> None:
    """The model, its parameters and storage by kind, the work per token, the chip and the headline."""
    _print_storage(plan, console)
    _print_units(plan, console)
    _print_headline(plan, console)


def _print_storage(plan: dict, console) -> None:
    from rich.table import Table

    model, form = plan["model"], plan["format"]
    group = f" in groups of {form['group_size']}" if form["group_size"] else " per output channel"
    console.print(
        f"{model['model_type'] or model['family']}: hidden {model['hidden']}, {model['layers']} layers, "
        f"{model['heads']} heads / {model['kv_heads']} KV heads of {model['head_dim']}, "
        f"intermediate {model['intermediate']}, vocabulary {model['vocab']:,}, context {form['context']:,} "
        f"(of {model['max_positions']:,}), {'tied' if model['tie_word_embeddings'] else 'separate'} head")
    console.print(f"weights {form['wbits']}-bit{group}, activations and K/V cache {form['abits']}-bit")
    table = Table(title="parameters and ROM", title_justify="left")
    for column in ("kind", "parameters", "ROM bits", "bits/parameter"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, bits in plan["rom_bits"].items():
        count = plan["parameters"].get(kind, 0)
        per = f"{bits / count:.3f}" if count else "-"
        table.add_row(kind, f"{count:,}", _bits(bits), per, style="bold" if kind == "total" else None)
    console.print(table)
    work = plan["work_per_token"]
    console.print(f"K/V cache SRAM bits {_bits(plan['sram_bits'])}")
    console.print(f"per token: {work['weight_macs']:,} weight MACs; attention {work['attention_macs_full_context']:,} "
                  f"MACs at the full context, {work['attention_macs_average']:,} on average over a generation "
                  "that fills it")


def _print_units(plan: dict, console) -> None:
    from rich.table import Table

    chip = plan["chip"]
    table = Table(title="multiplying units (per token; 'x count' copies in the pipeline)", title_justify="left")
    for column in ("unit", "count", "outputs x inputs", "MACs", "ideal mults", "folded pe x simd", "folded mults"):
        table.add_column(column, justify="left" if column == "unit" else "right")
    for unit in chip["units"]:
        table.add_row(unit["unit"], str(unit["count"]), f"{unit['outputs']:,} x {unit['inputs']:,}",
                      f"{unit['macs']:,}", f"{unit['multipliers_ideal']:,}", f"{unit['pe']} x {unit['simd']}",
                      f"{unit['multipliers_folded']:,}")
    console.print(table)


def _print_headline(plan: dict, console) -> None:
    from rich.table import Table

    chip, hc1 = plan["chip"], plan["hc1"]
    aim = (f"target {chip['target_tps']:,g} tokens/s" if chip["mode"] == "target"
           else f"budget {chip['max_multipliers']:,} multipliers")
    table = Table(title=f"the chip for one user at {chip['clock_mhz']:g} MHz, {aim}", title_justify="left")
    for column in ("design", "cycles/token", "tokens/s", "multipliers", "for weights", "for attention"):
        table.add_column(column, justify="left" if column == "design" else "right")
    for model in ("ideal", "folded"):
        d = chip[model]
        table.add_row(model, f"{d['cycles_per_token']:,}", f"{d['tokens_per_s']:,.0f}", f"{d['multipliers']:,}",
                      f"{d['multipliers_weights']:,}", f"{d['multipliers_attention']:,}")
    table.add_row("Taalas HC1", "", f"{hc1['tokens_per_s']:,}", "", "", "")
    console.print(table)
    console.print(f"ROM bits {_bits(plan['rom_bits']['total'])}, SRAM bits {_bits(plan['sram_bits'])}, "
                  f"ROM+SRAM bits per parameter {plan['rom_sram_bits_per_parameter']:.2f} "
                  f"(ROM alone {plan['rom_bits_per_parameter']:.2f}; HC1: {hc1['weights']} weights)")
    for model in ("ideal", "folded"):
        if chip[model].get("fits_budget") is False:
            console.print(f"the {model} design exceeds the budget of {chip['max_multipliers']:,} multipliers")
    transistors = plan["storage_transistors"]
    console.print(f"storage transistors: ROM at most {transistors['rom_at_most']:,} (1 per bit), K/V SRAM "
                  f"{transistors['sram']:,} (6 per bit); logic not counted. HC1: {hc1['parameters']:,} parameters, "
                  f"{hc1['transistors']:,} transistors in all")
    for note in plan["notes"]:
        console.print(f"note: {note}")


def write_plan(plan: dict, path: Path) -> None:
    with atomic_file(path) as staging:
        Path(staging).write_text(json.dumps(plan, indent=2, ensure_ascii=False) + "\n")
