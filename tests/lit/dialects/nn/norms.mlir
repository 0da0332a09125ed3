// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// Layer norm over the last axis with scale and bias, over the last two without bias;
// RMS norm with and without a weight; LRN across channels.
// CHECK-LABEL: func.func @norms
// CHECK:         %0 = nn.layer_norm %x, %g, %b {axis = 2 : i64, epsilon = 1.000000e-05 : f32} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
// CHECK-NEXT:    %1 = nn.layer_norm %0, %g2 {axis = 1 : i64, epsilon = 1.000000e-03 : f32} : (tensor<2x3x8xf32>, tensor<3x8xf32>) -> tensor<2x3x8xf32>
// CHECK-NEXT:    %2 = nn.rms_norm %1, %g {axis = 2 : i64, epsilon = 1.000000e-06 : f32} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
// CHECK-NEXT:    %3 = nn.rms_norm %2 {axis = 2 : i64, epsilon = 1.000000e-06 : f32} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
// CHECK-NEXT:    %4 = nn.lrn %3 {size = 3 : i64, alpha = 1.000000e-04 : f32, beta = 7.500000e-01 : f32, bias = 1.000000e+00 : f32} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
func.func @norms(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>, %g2: tensor<3x8xf32>) -> tensor<2x3x8xf32> {
  %0 = nn.layer_norm %x, %g, %b {axis = 2 : i64, epsilon = 1.0e-5 : f32} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %1 = nn.layer_norm %0, %g2 {axis = 1 : i64, epsilon = 1.0e-3 : f32} : (tensor<2x3x8xf32>, tensor<3x8xf32>) -> tensor<2x3x8xf32>
  %2 = nn.rms_norm %1, %g {axis = 2 : i64, epsilon = 1.0e-6 : f32} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  %3 = nn.rms_norm %2 {axis = 2 : i64, epsilon = 1.0e-6 : f32} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %4 = nn.lrn %3 {size = 3 : i64, alpha = 1.0e-4 : f32, beta = 0.75 : f32, bias = 1.0 : f32} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  func.return %4 : tensor<2x3x8xf32>
}
