// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s

builtin.module {
  hw.module @roms(in %clk : !seq.clock, in %en : i1, in %addr : i4, out a : i8, out b : i8) {
    %w = seq.firmem 1, 1, undefined, undefined {init = #seq.firmem.init<"rom/w.hex", false, false>} : <10 x 8>
    %a = seq.firmem.read_port %w[%addr], clock %clk enable %en : <10 x 8>
    %comb = seq.firmem 0, 1, old, port_order {name = "lut", prefix = "p_"} : <16 x 8, mask 2>
    %b = seq.firmem.read_port %comb[%addr], clock %clk : <16 x 8, mask 2>
    hw.output %a, %b : i8, i8
  }
}

// CHECK:      %w = seq.firmem 1, 1, undefined, undefined {init = #seq.firmem.init<"rom/w.hex", false, false>} : <10 x 8>
// CHECK-NEXT: %a = seq.firmem.read_port %w[%addr], clock %clk enable %en : <10 x 8>
// CHECK-NEXT: %comb = seq.firmem 0, 1, old, port_order {name = "lut", prefix = "p_"} : <16 x 8, mask 2>
// CHECK-NEXT: %b = seq.firmem.read_port %comb[%addr], clock %clk : <16 x 8, mask 2>
