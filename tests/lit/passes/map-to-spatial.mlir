// RUN: hwc-opt %s --split-input-file -p map-to-spatial | filecheck %s

// A 2x2 conv over 2 channels: the weights W[n, c, kh, kw] become a new ROM in the
// SWU's (kh, kw, c) order — c0 = [[1, 2], [3, 4]], c1 = [[5, 6], [7, 8]] gives
// [1, 5, 2, 6, 3, 7, 4, 8]; the NCHW ROM nothing reads any more is removed; the
// requant is fused into the MVU; the smallest folding, with ii and latency:
// SWU ii = 12, the line buffer's period: 8 beats in and 8 out, but the buffer's
// 2 + 1 rows take only one row of the next frame before the window has left
// (frame 1's row 1 goes in at 16, its window at 20..27, 12 after frame 0's 8..15);
// latency = (1·2 + 1 + 1) pixels · 2 beats + 1 = 9;
// MVU ii = 1 vector · 1 · 8 = 8, latency = 8 + 3 = 11.

// CHECK-LABEL: builtin.module {
// CHECK-NEXT:  rom.rom @conv_bias : tensor<1xi16>
// CHECK-NEXT:  rom.rom @conv_multiplier : tensor<1xi16>
// CHECK-NEXT:  rom.rom @conv_weight_hwc : tensor<1x8xi8> = dense<{{\[\[}}1, 5, 2, 6, 3, 7, 4, 8]]> : tensor<1x8xi8>
// CHECK-NEXT:  spatial.graph @main attributes {spatial.inputs = [{nn.name = "x", nn.scale = 5.000000e-01 : f64, nn.shape = array<i64: 1, 2, 2, 2>, spatial.source = array<i64: 2, 2, 2>, spatial.perm = array<i64: 1, 2, 0>}], spatial.outputs = [{nn.name = "y", nn.scale = 2.500000e-01 : f64, nn.shape = array<i64: 1, 1, 1, 1>, spatial.source = array<i64: 1, 1, 1>, spatial.perm = array<i64: 1, 2, 0>}]} {
// CHECK-NEXT:  ^bb0(%0: !spatial.stream<2x2x2xi8, 1>):
// CHECK-NEXT:    %1 = spatial.swu %0 {{.*}}layer = "conv_swu", kernel = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, pad_value = 0 : i64, ii = 12 : i64, latency = 9 : i64} : (!spatial.stream<2x2x2xi8, 1>) -> !spatial.stream<1x1x8xi8, 1>
// CHECK-NEXT:    %2 = spatial.mvu %1 {{.*}}layer = "conv", weights = @conv_weight_hwc, pe = 1 : i64, simd = 1 : i64, bias = @conv_bias, multiplier = @conv_multiplier, shift = 4 : i64, lo = 0 : i64, hi = 127 : i64, ii = 8 : i64, latency = 11 : i64} : (!spatial.stream<1x1x8xi8, 1>) -> !spatial.stream<1x1x1xi8, 1>
// CHECK-NEXT:    spatial.yield %2 : !spatial.stream<1x1x1xi8, 1>
// CHECK-NOT:   rom.rom @conv_weight :
builtin.module {
  rom.rom @conv_weight : tensor<1x2x2x2xi8> = dense<[[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]]> : tensor<1x2x2x2xi8>
  rom.rom @conv_bias : tensor<1xi16> = dense<3> : tensor<1xi16>
  rom.rom @conv_multiplier : tensor<1xi16> = dense<9> : tensor<1xi16>
  func.func @main(%x: tensor<1x2x2x2xi8> {nn.name = "x", nn.scale = 0.5 : f64}) -> (tensor<1x1x1x1xi8> {nn.name = "y", nn.scale = 0.25 : f64}) {
    %w = rom.read @conv_weight : tensor<1x2x2x2xi8>
    %b = rom.read @conv_bias : tensor<1xi16>
    %acc = nn.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x2x2x2xi8>, tensor<1x2x2x2xi8>, tensor<1xi16>) -> tensor<1x1x1x1xi16>
    %m = rom.read @conv_multiplier : tensor<1xi16>
    %y = nn.requant %acc, %m {shift = 4 : i64, lo = 0 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x1x1x1xi16>, tensor<1xi16>) -> tensor<1x1x1x1xi8>
    func.return %y : tensor<1x1x1x1xi8>
  }
}

// -----

// A dense layer after a Flatten of an NCHW [2, 1, 2] tensor: nn order (c, h, w) is
// [c0w0, c0w1, c1w0, c1w1], the stream's NHWC order [c0w0, c1w0, c0w1, c1w1], so the
// weight columns [1, 2, 3, 4] become [1, 3, 2, 4]. The flatten is a spatial.reshape;
// a dense without a requant outputs its exact accumulator.

// CHECK-LABEL: builtin.module {
// CHECK-NEXT:  rom.rom @fc_weight_stream_order : tensor<1x4xi8> = dense<{{\[\[}}1, 3, 2, 4]]> : tensor<1x4xi8>
// CHECK-NEXT:  spatial.graph @main
// CHECK-NEXT:  ^bb0(%0: !spatial.stream<1x2x2xi8, 1>):
// CHECK-NEXT:    %1 = spatial.reshape %0 {{.*}}layer = "reshape0", ii = 4 : i64, latency = 0 : i64} : (!spatial.stream<1x2x2xi8, 1>) -> !spatial.stream<4xi8, 1>
// CHECK-NEXT:    %2 = spatial.mvu %1 {{.*}}layer = "fc", weights = @fc_weight_stream_order, pe = 1 : i64, simd = 1 : i64, ii = 4 : i64, latency = 7 : i64} : (!spatial.stream<4xi8, 1>) -> !spatial.stream<1xi18, 1>
// CHECK-NEXT:    spatial.yield %2 : !spatial.stream<1xi18, 1>
builtin.module {
  rom.rom @fc_weight : tensor<1x4xi8> = dense<[[1, 2, 3, 4]]> : tensor<1x4xi8>
  func.func @main(%x: tensor<1x2x1x2xi8> {nn.name = "x"}) -> (tensor<1x1xi18> {nn.name = "y"}) {
    %f = nn.reshape %x : (tensor<1x2x1x2xi8>) -> tensor<1x4xi8>
    %w = rom.read @fc_weight : tensor<1x4xi8>
    %y = nn.dense %f, %w : (tensor<1x4xi8>, tensor<1x4xi8>) -> tensor<1x1xi18>
    func.return %y : tensor<1x1xi18>
  }
}

// -----

// One value with two consumers goes through spatial.dup.

// CHECK-LABEL: builtin.module {
// CHECK:         %1, %2 = spatial.dup %0 {{.*}}layer = "input_dup", ii = 4 : i64, latency = 1 : i64}
// CHECK-NEXT:    %3 = spatial.lookup %1 {{.*}}layer = "lookup0", table = @t
// CHECK-NEXT:    %4 = spatial.lookup %2 {{.*}}layer = "lookup1", table = @t
builtin.module {
  rom.rom @t : tensor<4xi2> = dense<[1, 1, 0, -1]> : tensor<4xi2>
  func.func @main(%x: tensor<1x4xi2> {nn.name = "x"}) -> (tensor<1x4xi2> {nn.name = "a"}, tensor<1x4xi2> {nn.name = "b"}) {
    %t = rom.read @t : tensor<4xi2>
    %a = nn.lookup %x, %t : (tensor<1x4xi2>, tensor<4xi2>) -> tensor<1x4xi2>
    %b = nn.lookup %x, %t : (tensor<1x4xi2>, tensor<4xi2>) -> tensor<1x4xi2>
    func.return %a, %b : tensor<1x4xi2>, tensor<1x4xi2>
  }
}
