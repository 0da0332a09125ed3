// RUN: hwc-opt %s -p "pad-neurons{target-fps=4000000 clock-mhz=200}" | filecheck %s
// RUN: hwc-opt %s -p "pad-neurons{target-fps=4000000 clock-mhz=200},fold-parallelism{target-fps=4000000 clock-mhz=200}" | filecheck %s --check-prefix=FOLDED
// RUN: hwc-opt %s -p "pad-neurons{max-multipliers=4},fold-parallelism{max-multipliers=4}" | filecheck %s --check-prefix=BUDGET
// RUN: hwc-opt %s -p "pad-neurons{target-fps=2000000 clock-mhz=200}" | filecheck %s --check-prefix=NOGAIN
// RUN: hwc-opt %s -p "pad-neurons" | filecheck %s --check-prefix=NOGAIN

// 200 MHz / 4e6 fps = 50 cycles. fc1 (8 x 16, 128 MACs) needs 128/50 -> 3 multipliers,
// but 8 folds only by 1, 2, 4, 8: 4 multipliers. With a ninth, zero neuron it folds by
// 3 (pe 3, ii 3 x 16 = 48), and fc2 reads it with a zero column (ii 4 x 9 = 36, one
// multiplier): 4 multipliers in all instead of 5. The padding neuron has a zero weight
// row and bias, and its channel's multiplier repeats the last one.
// CHECK:       rom.rom @fc1_weight_padded : tensor<9x16xi8>
// CHECK-NEXT:  rom.rom @fc1_bias_padded : tensor<9xi12> = dense<[1, 2, 3, 4, 5, 6, 7, 8, 0]>
// CHECK-NEXT:  rom.rom @fc1_multiplier_padded : tensor<9xi8> = dense<[9, 10, 11, 12, 13, 14, 15, 16, 16]>
// CHECK-NEXT:  rom.rom @fc2_weight_padded : tensor<4x9xi8> = dense<{{\[\[}}1, 1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 1, 0]]>
// CHECK-NOT:   rom.rom
// CHECK:       spatial.mvu %x {{.*}}weights = @fc1_weight_padded, bias = @fc1_bias_padded, multiplier = @fc1_multiplier_padded, {{.*}}pad_out = 1 : i64
// CHECK-SAME:    -> !spatial.stream<9xi8, 1>
// CHECK-NEXT:  spatial.mvu %a {{.*}}weights = @fc2_weight_padded, {{.*}}pad_in = 1 : i64
// CHECK-SAME:    (!spatial.stream<9xi8, 1>) -> !spatial.stream<4xi32, 1>

// FOLDED:      spatial.mvu %x {{.*}}pe = 3 : i64, simd = 1 : i64, pad_out = 1 : i64, ii = 48 : i64
// FOLDED:      spatial.mvu {{.*}}pe = 1 : i64, simd = 1 : i64, pad_in = 1 : i64, ii = 36 : i64

// Four multipliers: unpadded, the fastest that fits is 64 cycles (fc1 by 2, fc2 by 1:
// 3 multipliers; 32 cycles would take 4 + 1). Padded as above, 48 cycles with 4.
// BUDGET:      spatial.mvu %x {{.*}}pe = 3 : i64, simd = 1 : i64, pad_out = 1 : i64, ii = 48 : i64
// BUDGET:      spatial.mvu {{.*}}pe = 1 : i64, simd = 1 : i64, pad_in = 1 : i64, ii = 36 : i64

// 100 cycles: 2 multipliers for fc1 (a power of two) and 1 for fc2; padding saves
// nothing and nothing changes. Without a target the pass does nothing.
// NOGAIN:      rom.rom @fc1_weight : tensor<8x16xi8>
// NOGAIN-NOT:  pad_

builtin.module {
  rom.rom @fc1_weight : tensor<8x16xi8> = dense<1> : tensor<8x16xi8>
  rom.rom @fc1_bias : tensor<8xi12> = dense<[1, 2, 3, 4, 5, 6, 7, 8]> : tensor<8xi12>
  rom.rom @fc1_multiplier : tensor<8xi8> = dense<[9, 10, 11, 12, 13, 14, 15, 16]> : tensor<8xi8>
  rom.rom @fc2_weight : tensor<4x8xi8> = dense<1> : tensor<4x8xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<16xi8, 1>):
    %a = spatial.mvu %x {layer = "fc1", weights = @fc1_weight, bias = @fc1_bias, multiplier = @fc1_multiplier, shift = 8 : i64, lo = 0 : i64, hi = 127 : i64, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<16xi8, 1>) -> !spatial.stream<8xi8, 1>
    %b = spatial.mvu %a {layer = "fc2", weights = @fc2_weight, pe = 1 : i64, simd = 1 : i64} : (!spatial.stream<8xi8, 1>) -> !spatial.stream<4xi32, 1>
    spatial.yield %b : !spatial.stream<4xi32, 1>
  }
}
