// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// A QuantizeLinear -> DequantizeLinear pair (uint8, zero point 3) and a float weight
// the model gave as integers times per-row scales.
// CHECK-LABEL: func.func @fake_quant
// CHECK:         %q = nn.fake_quant %x {scale = 1.250000e-01 : f64, zero_point = 3 : i64, qmin = 0 : i64, qmax = 255 : i64} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK:         %w = nn.constant dense<{{\[\[}}1.000000e+00, -5.000000e-01]]> : tensor<1x2xf32> {nn.given_scale = dense<5.000000e-01> : tensor<1xf64>}
func.func @fake_quant(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<1x2xf32>) {
  %q = nn.fake_quant %x {scale = 0.125 : f64, zero_point = 3 : i64, qmin = 0 : i64, qmax = 255 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  %w = nn.constant dense<[[1.0, -0.5]]> : tensor<1x2xf32> {nn.given_scale = dense<0.5> : tensor<1xf64>}
  func.return %q, %w : tensor<4xf32>, tensor<1x2xf32>
}
