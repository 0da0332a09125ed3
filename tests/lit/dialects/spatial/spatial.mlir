// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// Round trip of every spatial op, with folding, lanes, timing and a FIFO.

// CHECK:       spatial.graph @main attributes {spatial.inputs = [{nn.name = "x"}]} {
// CHECK-NEXT:  ^bb0(%0: !spatial.stream<4x4x2xi8, 2>, %1: !spatial.stream<4x4x2xi8, 2>):
// CHECK-NEXT:    %2 = spatial.swu %0 {layer = "c_swu", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, pad_value = 0 : i64, ii = 288 : i64, latency = 5 : i64} : (!spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<4x4x18xi8, 1>
// CHECK-NEXT:    %3 = spatial.mvu %2 {layer = "c", weights = @w, bias = @b, multiplier = @m, shift = 8 : i64, lo = -127 : i64, hi = 127 : i64, pe = 2 : i64, simd = 1 : i64, ii = 288 : i64, latency = 21 : i64} : (!spatial.stream<4x4x18xi8, 1>) -> !spatial.stream<4x4x2xi8, 2>
// CHECK-NEXT:    %4, %5 = spatial.dup %3 {layer = "d", ii = 16 : i64} : (!spatial.stream<4x4x2xi8, 2>) -> (!spatial.stream<4x4x2xi8, 2>, !spatial.stream<4x4x2xi8, 2>)
// CHECK-NEXT:    %6 = spatial.eltwise %4, %1 {layer = "e", kind = "add", lhs_scale = 3 : i64, rhs_scale = 1 : i64, multiplier = 5 : i64, shift = 2 : i64, lo = 0 : i64, hi = 127 : i64} : (!spatial.stream<4x4x2xi8, 2>, !spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<4x4x2xi8, 2>
// CHECK-NEXT:    %7 = spatial.fifo %6 {depth = 4 : i64} : (!spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<4x4x2xi8, 2>
// CHECK-NEXT:    %8 = spatial.swu %7 {layer = "p_swu", kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, pad_value = -128 : i64} : (!spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<2x2x8xi8, 2>
// CHECK-NEXT:    %9 = spatial.pool %8 {layer = "p", kind = "max", window = 4 : i64} : (!spatial.stream<2x2x8xi8, 2>) -> !spatial.stream<2x2x2xi8, 2>
// CHECK-NEXT:    %10 = spatial.lookup %9 {layer = "l", table = @t} : (!spatial.stream<2x2x2xi8, 2>) -> !spatial.stream<2x2x2xi8, 2>
// CHECK-NEXT:    %11 = spatial.global_pool %5 {layer = "g"} : (!spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<1x1x2xi12, 2>
// CHECK-NEXT:    %12 = spatial.requant %11 {layer = "r", multiplier = @m, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64} : (!spatial.stream<1x1x2xi12, 2>) -> !spatial.stream<1x1x2xi8, 2>
// CHECK-NEXT:    %13 = spatial.reshape %10 {layer = "f"} : (!spatial.stream<2x2x2xi8, 2>) -> !spatial.stream<8xi8, 2>
// CHECK-NEXT:    %14 = spatial.resize %13 {layer = "z", ii = 4 : i64, latency = 5 : i64} : (!spatial.stream<8xi8, 2>) -> !spatial.stream<8xi8, 8>
// CHECK-NEXT:    %15 = spatial.resize %12 {layer = "z2"} : (!spatial.stream<1x1x2xi8, 2>) -> !spatial.stream<1x1x2xi8, 1>
// CHECK-NEXT:    %16 = spatial.reshape %15 {layer = "f2"} : (!spatial.stream<1x1x2xi8, 1>) -> !spatial.stream<2xi8, 1>
// CHECK-NEXT:    %17 = spatial.resize %14 {layer = "z3"} : (!spatial.stream<8xi8, 8>) -> !spatial.stream<8xi8, 1>
// CHECK-NEXT:    %18 = spatial.concat %17, %16 {layer = "k"} : (!spatial.stream<8xi8, 1>, !spatial.stream<2xi8, 1>) -> !spatial.stream<10xi8, 1>
// CHECK-NEXT:    spatial.yield %18 : !spatial.stream<10xi8, 1>
// CHECK-NEXT:  }
builtin.module {
  rom.rom @w : tensor<2x18xi8>
  rom.rom @b : tensor<2xi16> = dense<[1, -1]> : tensor<2xi16>
  rom.rom @m : tensor<1xi16> = dense<3> : tensor<1xi16>
  rom.rom @t : tensor<256xi8>
  spatial.graph @main attributes {spatial.inputs = [{nn.name = "x"}]} {
  ^bb0(%0: !spatial.stream<4x4x2xi8, 2>, %1: !spatial.stream<4x4x2xi8, 2>):
    %2 = spatial.swu %0 {layer = "c_swu", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, pad_value = 0 : i64, ii = 288 : i64, latency = 5 : i64} : (!spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<4x4x18xi8, 1>
    %3 = spatial.mvu %2 {layer = "c", weights = @w, bias = @b, multiplier = @m, shift = 8 : i64, lo = -127 : i64, hi = 127 : i64, pe = 2 : i64, simd = 1 : i64, ii = 288 : i64, latency = 21 : i64} : (!spatial.stream<4x4x18xi8, 1>) -> !spatial.stream<4x4x2xi8, 2>
    %4, %5 = spatial.dup %3 {layer = "d", ii = 16 : i64} : (!spatial.stream<4x4x2xi8, 2>) -> (!spatial.stream<4x4x2xi8, 2>, !spatial.stream<4x4x2xi8, 2>)
    %6 = spatial.eltwise %4, %1 {layer = "e", kind = "add", lhs_scale = 3 : i64, rhs_scale = 1 : i64, multiplier = 5 : i64, shift = 2 : i64, lo = 0 : i64, hi = 127 : i64} : (!spatial.stream<4x4x2xi8, 2>, !spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<4x4x2xi8, 2>
    %7 = spatial.fifo %6 {depth = 4 : i64} : (!spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<4x4x2xi8, 2>
    %8 = spatial.swu %7 {layer = "p_swu", kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, pad_value = -128 : i64} : (!spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<2x2x8xi8, 2>
    %9 = spatial.pool %8 {layer = "p", kind = "max", window = 4 : i64} : (!spatial.stream<2x2x8xi8, 2>) -> !spatial.stream<2x2x2xi8, 2>
    %10 = spatial.lookup %9 {layer = "l", table = @t} : (!spatial.stream<2x2x2xi8, 2>) -> !spatial.stream<2x2x2xi8, 2>
    %11 = spatial.global_pool %5 {layer = "g"} : (!spatial.stream<4x4x2xi8, 2>) -> !spatial.stream<1x1x2xi12, 2>
    %12 = spatial.requant %11 {layer = "r", multiplier = @m, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64} : (!spatial.stream<1x1x2xi12, 2>) -> !spatial.stream<1x1x2xi8, 2>
    %13 = spatial.reshape %10 {layer = "f"} : (!spatial.stream<2x2x2xi8, 2>) -> !spatial.stream<8xi8, 2>
    %14 = spatial.resize %13 {layer = "z", ii = 4 : i64, latency = 5 : i64} : (!spatial.stream<8xi8, 2>) -> !spatial.stream<8xi8, 8>
    %15 = spatial.resize %12 {layer = "z2"} : (!spatial.stream<1x1x2xi8, 2>) -> !spatial.stream<1x1x2xi8, 1>
    %16 = spatial.reshape %15 {layer = "f2"} : (!spatial.stream<1x1x2xi8, 1>) -> !spatial.stream<2xi8, 1>
    %17 = spatial.resize %14 {layer = "z3"} : (!spatial.stream<8xi8, 8>) -> !spatial.stream<8xi8, 1>
    %18 = spatial.concat %17, %16 {layer = "k"} : (!spatial.stream<8xi8, 1>, !spatial.stream<2xi8, 1>) -> !spatial.stream<10xi8, 1>
    spatial.yield %18 : !spatial.stream<10xi8, 1>
  }
}
