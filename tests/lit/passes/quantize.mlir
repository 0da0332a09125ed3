// RUN: hwc-opt %s --split-input-file -p 'quantize{wbits=4 abits=8}' | filecheck %s
// RUN: not hwc-opt %s --split-input-file -p 'quantize{wbits=9}' 2>&1 | filecheck %s --check-prefix=WBITS
// RUN: not hwc-opt %S/Inputs/no-ranges.mlir -p quantize 2>&1 | filecheck %s --check-prefix=RANGES

// A 2 -> 2 dense layer followed by a ReLU, quantized with 4-bit weights and
// 8-bit activations from the ranges `calibrate` recorded (nn.absmax). Every
// number below is derived by hand.
//
// Input absmax 1.27                        -> s_x = 1.27 / 127 = 0.01
// The ReLU is y's only user, so the requant produces the ReLU's value: its
// scale comes from the ReLU's range (1.27), not from y's (2.54). relu(y) is the
// graph output, requantized to 16 bits (max 32767)
//                                          -> s_out = 1.27 / 32767
// Weights W = [[1, -0.5], [0.25, 0.5]], per output channel, 4 bits (max 7):
//   s_w = [1/7, 0.5/7]
//   W0 / s_w0 = [7, -3.5]  -> [7, -3]      (round half up: floor(-3.5 + 0.5) = -3)
//   W1 / s_w1 = [3.5, 7]   -> [4, 7]       (floor(3.5 + 0.5) = 4)
// Bias b = [0.5, -0.25] at the accumulator scale s_x * s_w = [0.01/7, 0.005/7]:
//   [0.5 * 700, -0.25 * 1400] = [350, -350]
// Accumulator bound: (7+3)*127 + 350 = 1620 and (4+7)*127 + 350 = 1747 < 2^11 -> i12
// Requant ratio r = s_x * s_w / s_out = [0.01/7, 0.005/7] * 32767/1.27
//   = [32767/889, 32767/1778] = [36.858..., 18.429...]; the largest shift with
// max M < 2^15 is 9 (r0 * 2^10 = 37742.9 would not fit):
//   M = floor(r * 2^9 + 0.5) = [floor(18871.43 + 0.5), floor(9435.72 + 0.5)] = [18871, 9436]
// The ReLU is absorbed: lo = 0, hi = 32767. No nn.absmax is left.

// CHECK-LABEL: func.func @main(%0: tensor<1x2xi8> {nn.name = "input", nn.scale = 1.000000e-02 : f64}) -> (tensor<1x2xi16> {nn.name = "y", nn.scale = 3.87585{{[0-9]*}}e-05 : f64}) {
// CHECK-NEXT:   %1 = nn.constant dense<{{\[\[}}7, -3], [4, 7]]> : tensor<2x2xi4>
// CHECK-NEXT:   %2 = nn.constant dense<[350, -350]> : tensor<2xi12>
// CHECK-NEXT:   %3 = nn.dense %0, %1, %2 {nn.acc_bits = 12 : i64} : (tensor<1x2xi8>, tensor<2x2xi4>, tensor<2xi12>) -> tensor<1x2xi12>
// CHECK-NEXT:   %4 = nn.constant dense<[18871, 9436]> : tensor<2xi16>
// CHECK-NEXT:   %5 = nn.requant %3, %4 {nn.scale = 3.87585{{[0-9]*}}e-05 : f64, shift = 9 : i64, lo = 0 : i64, hi = 32767 : i64, axis = 1 : i64} : (tensor<1x2xi12>, tensor<2xi16>) -> tensor<1x2xi16>
// CHECK-NEXT:   func.return %5 : tensor<1x2xi16>
// CHECK-NOT:  nn.absmax

// WBITS: hwc-opt: error: quantize: wbits=9: must be an integer from 2 to 8

// Without calibrate there are no ranges: one line names the first value without one.
// RANGES: hwc-opt: error: quantize: nn.dense has no calibrated range (nn.absmax); run calibrate first

func.func @main(%x: tensor<1x2xf32> {nn.name = "input", nn.absmax = 1.27 : f64}) -> (tensor<1x2xf32> {nn.name = "y"}) {
  %w = nn.constant dense<[[1.0, -0.5], [0.25, 0.5]]> : tensor<2x2xf32>
  %b = nn.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %y = nn.dense %x, %w, %b {nn.absmax = 2.54 : f64} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %r = nn.relu %y {nn.absmax = 1.27 : f64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
  func.return %r : tensor<1x2xf32>
}


// -----

// A clip and a final softmax: the softmax goes to the host (`softmax-to-host`),
// so the clip's value is the graph output, 16 bits; the requant takes the
// clip's range (0.5; y's 5.0 is not used) and the clip's bounds (`absorb-clamps`).
//
// s_x = 1.27 / 127 = 0.01; W = identity, s_w = [1/7, 1/7], W_q = [[7, 0], [0, 7]] (4 bits)
// Accumulator bound 7 * 127 = 889 < 2^10                  -> i11
// s_out = 0.5 / 32767 = 1.52592...e-05
// r = s_x * s_w / s_out = (0.01 / 7) * 32767 / 0.5 = 93.62 for both channels;
// 93.62 * 2^8 = 23966.72 < 2^15 but * 2^9 = 47933.44 is not -> shift 8,
//   M = floor(23966.72 + 0.5) = 23967 (per channel, both the same)
// Clip bounds at s_out: -0.25 / s_out = -16383.5 -> floor(-16383.5 + 0.5) = -16383;
//   0.5 / s_out = 32767 -> hi 32767.

// CHECK-LABEL: func.func @main
// CHECK-SAME:    -> (tensor<1x2xi16> {nn.name = "p", nn.scale = 1.52592{{[0-9]*}}e-05 : f64, nn.host_op = "softmax"})
// CHECK-NEXT:   %1 = nn.constant dense<{{\[\[}}7, 0], [0, 7]]> : tensor<2x2xi4>
// CHECK-NEXT:   %2 = nn.dense %0, %1 {nn.acc_bits = 11 : i64} : (tensor<1x2xi8>, tensor<2x2xi4>) -> tensor<1x2xi11>
// CHECK-NEXT:   %3 = nn.constant dense<23967> : tensor<2xi16>
// CHECK-NEXT:   %4 = nn.requant %2, %3 {nn.scale = 1.52592{{[0-9]*}}e-05 : f64, shift = 8 : i64, lo = -16383 : i64, hi = 32767 : i64, axis = 1 : i64} : (tensor<1x2xi11>, tensor<2xi16>) -> tensor<1x2xi16>
// CHECK-NEXT:   func.return %4 : tensor<1x2xi16>
// CHECK-NOT:  nn.absmax

func.func @main(%x: tensor<1x2xf32> {nn.name = "input", nn.absmax = 1.27 : f64}) -> (tensor<1x2xf32> {nn.name = "p"}) {
  %w = nn.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %y = nn.dense %x, %w {nn.absmax = 5.0 : f64} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  %c = nn.clip %y {min = -0.25 : f32, max = 0.5 : f32, nn.absmax = 0.5 : f64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %p = nn.softmax %c {axis = 1 : i64, nn.absmax = 0.6 : f64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
  func.return %p : tensor<1x2xf32>
}
