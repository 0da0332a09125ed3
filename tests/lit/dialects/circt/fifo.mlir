// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s

builtin.module {
  hw.module @fifos(in %clk : !seq.clock, in %rst : i1, in %d : i8, in %rd : i1, in %wr : i1) {
    %out, %full, %empty = seq.fifo depth 4 in %d rdEn %rd wrEn %wr clk %clk rst %rst : i8
    %o, %f, %e, %af, %ae = seq.fifo depth 8 almost_full 6 almost_empty 2 in %d rdEn %rd wrEn %wr clk %clk rst %rst : i8
    hw.output
  }
}

// CHECK:      %out, %full, %empty = seq.fifo depth 4 in %d rdEn %rd wrEn %wr clk %clk rst %rst : i8
// CHECK-NEXT: %o, %f, %e, %af, %ae = seq.fifo depth 8 almost_full 6 almost_empty 2 in %d rdEn %rd wrEn %wr clk %clk rst %rst : i8
