// RUN: hwc-opt %s -p "fold-parallelism{target-fps=2000000 clock-mhz=200}" | filecheck %s --check-prefix=TARGET
// RUN: hwc-opt %s -p "fold-parallelism{full}" | filecheck %s --check-prefix=FULL
// RUN: hwc-opt %s -p "fold-parallelism{min}" | filecheck %s --check-prefix=MIN
// RUN: hwc-opt %s -p "fold-parallelism{max-multipliers=10}" | filecheck %s --check-prefix=BUDGET

// 200 MHz / 2e6 fps = 100 cycles: fc1 (128 MACs) needs 2 multipliers (ii 64), fc2
// (32 MACs) one (ii 32). Latency = K/simd + 3.
// TARGET:      ^bb0(%x: !spatial.stream<16xi8, 2>):
// TARGET-NEXT:   spatial.mvu %x {{.*}}pe = 1 : i64, simd = 2 : i64, ii = 64 : i64, latency = 11 : i64}
// TARGET-NEXT:   spatial.mvu {{.*}}pe = 1 : i64, simd = 1 : i64, ii = 32 : i64, latency = 11 : i64}

// Fully unrolled: one vector per cycle.
// FULL:      ^bb0(%x: !spatial.stream<16xi8, 16>):
// FULL-NEXT:   spatial.mvu %x {{.*}}pe = 8 : i64, simd = 16 : i64, ii = 1 : i64, latency = 4 : i64}
// FULL-NEXT:   spatial.mvu {{.*}}pe = 4 : i64, simd = 8 : i64, ii = 1 : i64, latency = 4 : i64}

// MIN:      ^bb0(%x: !spatial.stream<16xi8, 1>):
// MIN-NEXT:   spatial.mvu %x {{.*}}pe = 1 : i64, simd = 1 : i64, ii = 128 : i64, latency = 19 : i64}
// MIN-NEXT:   spatial.mvu {{.*}}pe = 1 : i64, simd = 1 : i64, ii = 32 : i64, latency = 11 : i64}

// Ten multipliers: 16 cycles is the fastest that fits (8 + 2; 8 cycles would need 16 + 4).
// BUDGET:      ^bb0(%x: !spatial.stream<16xi8, 4>):
// BUDGET-NEXT:   spatial.mvu %x {{.*}}pe = 2 : i64, simd = 4 : i64, ii = 16 : i64, latency = 7 : i64}
// BUDGET-NEXT:   spatial.mvu {{.*}}pe = 1 : i64, simd = 2 : i64, ii = 16 : i64, latency = 7 : i64}

// Errors are one line, exit status 1.
// RUN: not hwc-opt %s -p "fold-parallelism{target-fps=1000000000 clock-mhz=200}" 2>&1 | filecheck %s --check-prefix=FAST
// FAST: hwc-opt: error: fold-parallelism: target 1000000000 inferences/s at 200 MHz is out of reach: the fastest folding gives 2e+08 inferences/s (layer 'fc1' needs 1 cycles per inference fully unrolled)
// RUN: not hwc-opt %s -p "fold-parallelism{clock-mhz=0}" 2>&1 | filecheck %s --check-prefix=CLOCK
// CLOCK: hwc-opt: error: fold-parallelism: clock-mhz must be positive, not 0
// RUN: not hwc-opt %s -p "fold-parallelism{max-multipliers=1}" 2>&1 | filecheck %s --check-prefix=BUDGETLOW
// BUDGETLOW: hwc-opt: error: fold-parallelism: max-multipliers 1 is below the 2 the smallest folding needs (one per multiplying layer)

builtin.module {
  rom.rom @fc1_weight : tensor<8x16xi8> = dense<1> : tensor<8x16xi8>
  rom.rom @fc2_weight : tensor<4x8xi8> = dense<1> : tensor<4x8xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<16xi8, 1>):
    %a = spatial.mvu %x {layer = "fc1", weights = @fc1_weight, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<16xi8, 1>) -> !spatial.stream<8xi20, 1>
    %b = spatial.mvu %a {layer = "fc2", weights = @fc2_weight, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<8xi20, 1>) -> !spatial.stream<4xi32, 1>
    spatial.yield %b : !spatial.stream<4xi32, 1>
  }
}
