"""Hardware generators: one `hw.module` per spatial PE (see `passes/lower_spatial_to_hw.py`).

`builder` is the small API the generators are written with; `streams` (fifo,
dup, resize, reshape, concat), `mvu`, `elementwise` (requant, lookup,
eltwise), `swu` and `pool` generate the PE modules.
"""
