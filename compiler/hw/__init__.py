"""Hardware generators: one `hw.module` per spatial PE (see `passes/lower_spatial_to_hw.py`).

`lowering` assembles them (the work of `lower-spatial-to-hw`, and the record
`HwLowering` it returns); `context` is what a generator gets besides its op,
`names` the Verilog module names; `builder` (with `bits` and `requant`) is the
small API the generators are written with; `streams` (fifo, dup, resize,
reshape, concat), `mvu`, `elementwise` (requant, lookup, eltwise), `swu` and
`pool` generate the PE modules; `harness` simulates modules on their own.
"""
