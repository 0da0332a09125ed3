// RUN: hwc-opt %s -p lower-spatial-to-hw | filecheck %s
// RUN: hwc-opt %s -p "lower-spatial-to-hw{const-mult=mul}" | filecheck %s --check-prefix=MUL

// A fully unrolled MVU with constant weights [3, -4, 0]. Shift-and-add (the
// default), in signed digits: 3·x0 - 4·x1 = (x0 << 2) - (x0 + (x1 << 2)), x2 * 0
// vanishes. The signed inputs enter in offset binary (top bit flipped: x + 128,
// zero-extended, never sign-extended); the negative terms add x1 only above
// x0's two low bits, which pass through ((x0 >> 2) + x1, 9 bits, then x0's low
// bits appended); one subtraction at the 12 bits the sum's range needs; the
// offsets come back as one constant added above the bits it leaves alone (i5
// over the low 7); no comb.mul. With const-mult=mul: one comb.mul per nonzero
// weight, left to synthesis.

builtin.module {
  rom.rom @fc_w : tensor<1x3xi4> = dense<[[3, -4, 0]]> : tensor<1x3xi4>
  spatial.graph @main {
  ^bb0(%x : !spatial.stream<3xi8, 3>):
    %y = spatial.mvu %x {layer = "fc", weights = @fc_w, pe = 1 : i64, simd = 3 : i64} : (!spatial.stream<3xi8, 3>) -> !spatial.stream<1xi12, 1>
    spatial.yield %y : !spatial.stream<1xi12, 1>
  }
}

// The beat the MVU reads is its input's skid buffer output (the skid register's beat
// while it holds one, else the port's).
// CHECK:       hw.module @fc_mvu
// CHECK-NOT:   comb.mul
// CHECK:       %[[IN:.*]] = comb.mux %in0_skid_valid, %in0_skid_data, %in0_data : i24
// CHECK:       %[[X0:.*]] = comb.extract %[[IN]] from 0 : (i24) -> i8
// CHECK:       %[[X1:.*]] = comb.extract %[[IN]] from 8 : (i24) -> i8
// CHECK:       %[[BIAS:.*]] = hw.constant -128 : i8
// CHECK:       %[[X0B:.*]] = comb.xor %[[X0]], %[[BIAS]] : i8
// CHECK:       %[[X0HIGH:.*]] = comb.extract %[[X0B]] from 2 : (i8) -> i6
// CHECK:       %[[UPPER:.*]] = comb.add %{{.*}}, %{{.*}} : i9
// CHECK:       %[[X0LOW:.*]] = comb.extract %[[X0B]] from 0 : (i8) -> i2
// CHECK:       %[[MINUS:.*]] = comb.concat %[[UPPER]], %[[X0LOW]] : i9, i2
// CHECK:       %[[PLUS:.*]] = comb.concat %{{.*}}, %{{.*}} : i10, i2
// CHECK:       %[[DIFF:.*]] = comb.sub %[[PLUS]], %{{.*}} : i12
// CHECK:       %[[FIX:.*]] = comb.add %{{.*}}, %{{.*}} : i5
// CHECK:       %[[DOT:.*]] = comb.concat %[[FIX]], %{{.*}} : i5, i7
// CHECK:       seq.firreg {{.*}} {name = "dot1_0"} : i12
// CHECK-NOT:   comb.mul
// CHECK:       hw.module @main_top

// MUL:         hw.module @fc_mvu
// MUL-COUNT-2: comb.mul
// MUL-NOT:     comb.mul
// MUL:         hw.module @main_top
