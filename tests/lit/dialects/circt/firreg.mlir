// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s

builtin.module {
  hw.module @regs(in %clk : !seq.clock, in %rst : i1, in %d : i8) {
    %zero = hw.constant 0 : i8
    %plain = seq.firreg %d clock %clk : i8
    %acc = seq.firreg %d clock %clk reset sync %rst, %zero : i8
    %async = seq.firreg %d clock %clk reset async %rst, %zero preset 5 : i8
    %r = seq.firreg %d clock %clk {name = "counter"} : i8
    hw.output
  }
}

// CHECK:      %plain = seq.firreg %d clock %clk : i8
// CHECK-NEXT: %acc = seq.firreg %d clock %clk reset sync %rst, %zero : i8
// CHECK-NEXT: %async = seq.firreg %d clock %clk reset async %rst, %zero preset 5 : i8
// CHECK-NEXT: %r = seq.firreg %d clock %clk {name = "counter"} : i8
