// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// CHECK: seq.firmem.read_port: a memory of depth 10 needs an i4 address, got i3
builtin.module {
  hw.module @rom(in %clk : !seq.clock, in %addr : i3) {
    %w = seq.firmem 0, 1, undefined, undefined : <10 x 8>
    %a = "seq.firmem.read_port"(%w, %addr, %clk) : (!seq.firmem<10 x 8>, i3, !seq.clock) -> i8
    hw.output
  }
}
