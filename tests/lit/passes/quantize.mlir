// RUN: %python -c "import numpy as np; np.savez('%t.npz', input=np.array([[0.77, 0.0], [-1.27, 0.0], [0.0, 1.27]], np.float32))"
// RUN: hwc-opt %s -p 'quantize{wbits=4 abits=8 calib="%t.npz"}' | filecheck %s
// RUN: not hwc-opt %s -p 'quantize{wbits=9}' 2>&1 | filecheck %s --check-prefix=WBITS
// RUN: not hwc-opt %s -p 'quantize{calib="%t.missing.npz"}' 2>&1 | filecheck %s --check-prefix=CALIB
// RUN: hwc-opt %s -p 'quantize' 2>&1 | filecheck %s --check-prefix=RANDOM

// A 2 -> 2 dense layer followed by a ReLU, quantized with 4-bit weights and
// 8-bit activations. Every number below is derived by hand.
//
// Calibration samples x: [0.77, 0], [-1.27, 0], [0, 1.27]
//   input absmax 1.27                      -> s_x = 1.27 / 127 = 0.01
//   y = relu(x·Wᵀ + b): y0 = [1.27, 0, 0], y1 = [0, 0, 0.385]
//   y is the graph output, requantized to 16 bits (max 32767)
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
// The ReLU is absorbed: lo = 0, hi = 32767.

// CHECK:      func.func @main(%0: tensor<1x2xi8> {nn.name = "input", nn.scale = {{0\.0099999|0\.0100000}}{{[0-9]*}} : f64}) -> (tensor<1x2xi16> {nn.name = "y", nn.scale = {{3\.8758|3\.8759}}{{[0-9]*}}e-05 : f64}) {
// CHECK-NEXT:   %1 = nn.constant dense<{{\[\[}}7, -3], [4, 7]]> : tensor<2x2xi4>
// CHECK-NEXT:   %2 = nn.constant dense<[350, -350]> : tensor<2xi12>
// CHECK-NEXT:   %3 = nn.dense %0, %1, %2 {nn.acc_bits = 12 : i64} : (tensor<1x2xi8>, tensor<2x2xi4>, tensor<2xi12>) -> tensor<1x2xi12>
// CHECK-NEXT:   %4 = nn.constant dense<[18871, 9436]> : tensor<2xi16>
// CHECK-NEXT:   %5 = nn.requant %3, %4 {nn.scale = {{.*}} : f64, shift = 9 : i64, lo = 0 : i64, hi = 32767 : i64, axis = 1 : i64} : (tensor<1x2xi12>, tensor<2xi16>) -> tensor<1x2xi16>
// CHECK-NEXT:   func.return %5 : tensor<1x2xi16>

// WBITS: hwc-opt: error: quantize: wbits=9 is not supported (2..8)
// CALIB: hwc-opt: error: calibration file {{.*}}.missing.npz does not exist
// RANDOM: hwc: warning: no calibration data; using random normal inputs

func.func @main(%x: tensor<1x2xf32> {nn.name = "input"}) -> (tensor<1x2xf32> {nn.name = "y"}) {
  %w = nn.constant dense<[[1.0, -0.5], [0.25, 0.5]]> : tensor<2x2xf32>
  %b = nn.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %y = nn.dense %x, %w, %b : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %r = nn.relu %y : (tensor<1x2xf32>) -> tensor<1x2xf32>
  func.return %r : tensor<1x2xf32>
}
