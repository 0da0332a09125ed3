// RUN: hwc-opt %s --split-input-file -p 'quantize{wbits=4 abits=8}' | filecheck %s
// RUN: hwc-opt %s --split-input-file -p 'quantize' 2>&1 | filecheck %s --check-prefix=MIXED

// `quantize` keeps the quantization a model states (a QDQ model as imported):
// nn.fake_quant gives an activation's scale and integer range, nn.given_scale a
// weight's scales. No nn.absmax is needed: hwc chooses no scale, and `wbits=4`
// does not apply to given weights. Every number below is derived by hand.
//
// Input: fake quant scale 0.5, int8 [-128, 127], zero point 0 -> the graph input
//   is i8 at scale 0.5 with nn.input_range [-128, 127] (the host sends the model's
//   integers, clamped to that range: no requant)
// Weights W = [[1, -0.5], [0.25, 0.75]], given scales [0.5, 0.25] per row
//   -> integers [[2, -1], [1, 3]], 3 bits (signed range -4..3)
// Bias [1, -0.5] at the accumulator scales 0.5 * [0.5, 0.25] = [0.25, 0.125] -> [4, -4]
// Accumulator bound: max((2+1)*128 + 4, (1+3)*128 + 4) = 516 -> i11
// Output: fake quant scale 0.375, zero point -128, [-128, 127] -> q - z in [0, 255], i9
// Requant ratio [0.25, 0.125] / 0.375 = [2/3, 1/3], multipliers below 2^24 (the
//   model's scale): shift 24, M = floor([11184810.67, 5592405.33] + 0.5)
//   = [11184811, 5592405], a 25-bit constant; ties round to even (`rounding = "half_even"`), as the
//   model's QuantizeLinear does

// CHECK-LABEL: func.func @main(%0: tensor<1x2xi8> {nn.name = "input", nn.scale = 5.000000e-01 : f64, nn.input_range = dense<[-128, 127]> : tensor<2xi64>}) -> (tensor<1x2xi9> {nn.name = "y", nn.scale = 3.750000e-01 : f64}) {
// CHECK-NEXT:   %1 = nn.constant dense<{{\[\[}}2, -1], [1, 3]]> : tensor<2x2xi3>
// CHECK-NEXT:   %2 = nn.constant dense<[4, -4]> : tensor<2xi11>
// CHECK-NEXT:   %3 = nn.dense %0, %1, %2 {nn.acc_bits = 11 : i64} : (tensor<1x2xi8>, tensor<2x2xi3>, tensor<2xi11>) -> tensor<1x2xi11>
// CHECK-NEXT:   %4 = nn.constant dense<[11184811, 5592405]> : tensor<2xi25>
// CHECK-NEXT:   %5 = nn.requant %3, %4 {nn.scale = 3.750000e-01 : f64, shift = 24 : i64, lo = 0 : i64, hi = 255 : i64, axis = 1 : i64, rounding = "half_even"} : (tensor<1x2xi11>, tensor<2xi25>) -> tensor<1x2xi9>
// CHECK-NEXT:   func.return %5 : tensor<1x2xi9>

func.func @main(%x: tensor<1x2xf32> {nn.name = "input"}) -> (tensor<1x2xf32> {nn.name = "y"}) {
  %q = nn.fake_quant %x {scale = 0.5 : f64, zero_point = 0 : i64, qmin = -128 : i64, qmax = 127 : i64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %w = nn.constant dense<[[1.0, -0.5], [0.25, 0.75]]> : tensor<2x2xf32> {nn.given_scale = dense<[0.5, 0.25]> : tensor<2xf64>}
  %b = nn.constant dense<[1.0, -0.5]> : tensor<2xf32>
  %y = nn.dense %q, %w, %b : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %r = nn.fake_quant %y {scale = 0.375 : f64, zero_point = -128 : i64, qmin = -128 : i64, qmax = 127 : i64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
  func.return %r : tensor<1x2xf32>
}

// -----

// A uint8 input (zero point 3: q - z in [-3, 252], 9 bits): the host sends q - z
// at the given scale, clamped to that range (nn.input_range), so no requant is
// needed. The dense after it is float in the model: hwc chooses the scale of its
// result from its range (absmax 2.54 -> a 16-bit graph output) and says so.

// CHECK-LABEL: func.func @main(%0: tensor<1x2xi9> {nn.name = "input", nn.scale = 1.250000e-01 : f64, nn.input_range = dense<[-3, 252]> : tensor<2xi64>})
// CHECK-NEXT:   %1 = nn.constant dense<{{\[\[}}7, 0], [0, 7]]> : tensor<2x2xi4>
// CHECK-NEXT:   nn.dense %0, %1

// MIXED: hwc: warning: quantize: the model quantizes only part of the graph; hwc chose the scales of 1 float value from calibration (nn.dense)

func.func @main(%x: tensor<1x2xf32> {nn.name = "input"}) -> (tensor<1x2xf32> {nn.name = "y"}) {
  %q = nn.fake_quant %x {scale = 0.125 : f64, zero_point = 3 : i64, qmin = 0 : i64, qmax = 255 : i64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %w = nn.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %y = nn.dense %q, %w {nn.absmax = 2.54 : f64} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  func.return %y : tensor<1x2xf32>
}

// -----

// A float bias the model leaves beside its integer weights (0.1, not a multiple of the
// accumulator's scale 0.5 * 0.5 = 0.25) is added at the requant's own precision, as
// its offset: ratio 0.25 / 0.375 = 2/3 at shift 24, M = floor(11184810.67 + 0.5) =
// 11184811; the bias at 2^-24 of an output step: floor(float32(0.1) / 0.375 * 2^24
// + 0.5) = 4473924 = 0 * M + 4473924, so the layer keeps no bias and the offset is
// 4473924 (24 bits). Every accumulator value |acc| <= (2 + 1) * 128 rounds as the
// model's exact arithmetic then (checked by exhaustion), so no finer multiplier.

// CHECK-LABEL: func.func @main(%0: tensor<1x2xi8> {nn.name = "input", nn.scale = 5.000000e-01 : f64, nn.input_range = dense<[-128, 127]> : tensor<2xi64>}) -> (tensor<1x1xi8> {nn.name = "y", nn.scale = 3.750000e-01 : f64}) {
// CHECK-NEXT:   %1 = nn.constant dense<{{\[\[}}2, -1]]> : tensor<1x2xi3>
// CHECK-NEXT:   %2 = nn.dense %0, %1 {nn.acc_bits = 10 : i64} : (tensor<1x2xi8>, tensor<1x2xi3>) -> tensor<1x1xi10>
// CHECK-NEXT:   %3 = nn.constant dense<11184811> : tensor<1xi25>
// CHECK-NEXT:   %4 = nn.constant dense<4473924> : tensor<1xi24>
// CHECK-NEXT:   %5 = nn.requant %2, %3, %4 {nn.scale = 3.750000e-01 : f64, shift = 24 : i64, lo = -128 : i64, hi = 127 : i64, axis = 1 : i64, rounding = "half_even"} : (tensor<1x1xi10>, tensor<1xi25>, tensor<1xi24>) -> tensor<1x1xi8>

func.func @main(%x: tensor<1x2xf32> {nn.name = "input"}) -> (tensor<1x1xf32> {nn.name = "y"}) {
  %q = nn.fake_quant %x {scale = 0.5 : f64, zero_point = 0 : i64, qmin = -128 : i64, qmax = 127 : i64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
  %w = nn.constant dense<[[1.0, -0.5]]> : tensor<1x2xf32> {nn.given_scale = dense<[0.5]> : tensor<1xf64>}
  %b = nn.constant dense<[0.1]> : tensor<1xf32>
  %y = nn.dense %q, %w, %b : (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x1xf32>
  %r = nn.fake_quant %y {scale = 0.375 : f64, zero_point = 0 : i64, qmin = -128 : i64, qmax = 127 : i64} : (tensor<1x1xf32>) -> tensor<1x1xf32>
  func.return %r : tensor<1x1xf32>
}

// -----

// QONNX's Trunc after an average pool (Brevitas' truncating pool): the pool's sum of
// four int8 values (|sum| <= 512, i11) is the Trunc's input integer at 0.125 / 4 =
// 0.03125 as it is (no requant); dropping 2 bits with FLOOR is one requant by 1 at
// shift 2 rounding down (no rounding constant: floor(t / 4) = t >> 2), clamped to int4.

// CHECK-LABEL: func.func @main(%0: tensor<1x1x2x2xi8> {nn.name = "input", nn.scale = 1.250000e-01 : f64, nn.input_range = dense<[-128, 127]> : tensor<2xi64>}) -> (tensor<1x1x1x1xi4> {nn.name = "y", nn.scale = 1.250000e-01 : f64}) {
// CHECK-NEXT:   %1 = nn.sum_pool %0 {nn.acc_bits = 11 : i64
// CHECK-NEXT:   %2 = nn.constant dense<1> : tensor<1xi16>
// CHECK-NEXT:   %3 = nn.requant %1, %2 {nn.scale = 1.250000e-01 : f64, shift = 2 : i64, lo = -8 : i64, hi = 7 : i64, axis = 3 : i64, rounding = "floor"} : (tensor<1x1x1x1xi11>, tensor<1xi16>) -> tensor<1x1x1x1xi4>

func.func @main(%x: tensor<1x1x2x2xf32> {nn.name = "input"}) -> (tensor<1x1x1x1xf32> {nn.name = "y"}) {
  %q = nn.fake_quant %x {scale = 0.125 : f64, zero_point = 0 : i64, qmin = -128 : i64, qmax = 127 : i64} : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
  %p = nn.average_pool %q {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 0 : i64, count_include_pad = 1 : i64} : (tensor<1x1x2x2xf32>) -> tensor<1x1x1x1xf32>
  %t = nn.trunc_quant %p {in_scale = 0.03125 : f64, scale = 0.125 : f64, shift = 2 : i64, in_lo = -512 : i64, in_hi = 511 : i64, qmin = -8 : i64, qmax = 7 : i64, rounding = "FLOOR"} : (tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
  func.return %t : tensor<1x1x1x1xf32>
}
