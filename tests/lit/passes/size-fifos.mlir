// RUN: hwc-opt %s -p "fold-parallelism{min},size-fifos" | filecheck %s --check-prefix=MIN
// RUN: hwc-opt %s -p "fold-parallelism{full},size-fifos" | filecheck %s --check-prefix=FULL
// RUN: hwc-opt %s -p "fold-parallelism{max-multipliers=6},size-fifos" | filecheck %s --check-prefix=RESIZE
// RUN: hwc-opt %s -p "fold-parallelism{min},size-fifos,size-fifos" | filecheck %s --check-prefix=MIN

// A residual block: the 3x3 conv's first output needs the pixels up to (1, 1), i.e.
// (W + 2)·C / lanes beats from the dup; the skip path holds them all but the one the
// eltwise has already taken: (4 + 2)·2 - 1 = 11 beats at lanes 1, 6 - 1 = 5 at lanes 2
// (the deadlock-free minimum, `join_depths`, checked in tests/unit/test_size_fifos.py).
// The depth written is larger: the timed schedule at the bottleneck's rate
// (`timed_depths`) also covers the long branch's pipeline and rate skew, so the
// join does not throttle the design below its ii. This test checks where the FIFOs
// go; their depths are checked where they can be derived independently: the
// deadlock minimum by hand and by simulation (tests/unit/test_size_fifos.py), the
// throughput by the Verilator co-simulation (tests/e2e/test_rtl.py).
// MIN:      %[[D:.*]], %[[SKIP:.*]] = spatial.dup %x
// MIN:      %[[C:.*]] = spatial.mvu
// MIN-NEXT: %[[F:.*]] = spatial.fifo %[[SKIP]] {depth = {{[0-9]+}} : i64} : (!spatial.stream<4x4x2xi8, 1>) -> !spatial.stream<4x4x2xi8, 1>
// MIN-NEXT: spatial.eltwise %[[C]], %[[F]]
// MIN-NOT:  spatial.fifo

// FULL: spatial.fifo %{{.*}} {depth = {{[0-9]+}} : i64} : (!spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<4x4x2xi8, 2>

// The conv's 2 output lanes meet the eltwise's 1 through a resize; the fifo stays on the skip path.
// RESIZE:      %[[R:.*]] = spatial.resize %{{.*}} {layer = "conv.resize", ii = 32 : i64, latency = 2 : i64} : (!spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<4x4x2xi8, 1>
// RESIZE-NEXT: %[[F:.*]] = spatial.fifo %{{.*}} {depth = {{[0-9]+}} : i64}
// RESIZE-NEXT: spatial.eltwise %[[R]], %[[F]]

builtin.module {
  rom.rom @conv_weight : tensor<2x18xi8> = dense<1> : tensor<2x18xi8>
  rom.rom @conv_multiplier : tensor<2xi16> = dense<1> : tensor<2xi16>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<4x4x2xi8, 1>):
    %d:2 = spatial.dup %x {layer = "dup"} : (!spatial.stream<4x4x2xi8, 1>) -> (!spatial.stream<4x4x2xi8, 1>, !spatial.stream<4x4x2xi8, 1>)
    %w = spatial.swu %d#0 {layer = "conv.swu", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, pad_value = 0 : i64} : (!spatial.stream<4x4x2xi8, 1>) -> !spatial.stream<4x4x18xi8, 1>
    %c = spatial.mvu %w {layer = "conv", weights = @conv_weight, multiplier = @conv_multiplier, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<4x4x18xi8, 1>) -> !spatial.stream<4x4x2xi8, 1>
    %y = spatial.eltwise %c, %d#1 {layer = "add", kind = "add", lhs_scale = 1 : i64, rhs_scale = 1 : i64, multiplier = 1 : i64, shift = 0 : i64, lo = -127 : i64, hi = 127 : i64} : (!spatial.stream<4x4x2xi8, 1>, !spatial.stream<4x4x2xi8, 1>) -> !spatial.stream<4x4x2xi8, 1>
    spatial.yield %y : !spatial.stream<4x4x2xi8, 1>
  }
}
