// RUN: hwc-opt %s --split-input-file -p decompose-norms | filecheck %s
// RUN: hwc-opt %s --split-input-file -p decompose-norms,recognise-norms | filecheck %s --check-prefix=BACK

// An RMS norm with a weight, written out; recognise-norms names it again.

// CHECK-LABEL: func.func @rms
// CHECK-NEXT:    %w = nn.constant
// CHECK-NEXT:    %0 = nn.constant dense<2.000000e+00> : tensor<f32>
// CHECK-NEXT:    %1 = nn.pow %x, %0 : (tensor<1x4x8xf32>, tensor<f32>) -> tensor<1x4x8xf32>
// CHECK-NEXT:    %2 = nn.reduce_mean %1 {axes = array<i64: 2>, keepdims = 1 : i64} : (tensor<1x4x8xf32>) -> tensor<1x4x1xf32>
// CHECK-NEXT:    %3 = nn.constant dense<1.000000e-05> : tensor<f32>
// CHECK-NEXT:    %4 = nn.add %2, %3 : (tensor<1x4x1xf32>, tensor<f32>) -> tensor<1x4x1xf32>
// CHECK-NEXT:    %5 = nn.sqrt %4 : (tensor<1x4x1xf32>) -> tensor<1x4x1xf32>
// CHECK-NEXT:    %6 = nn.reciprocal %5 : (tensor<1x4x1xf32>) -> tensor<1x4x1xf32>
// CHECK-NEXT:    %7 = nn.mul %x, %6 : (tensor<1x4x8xf32>, tensor<1x4x1xf32>) -> tensor<1x4x8xf32>
// CHECK-NEXT:    %y = nn.mul %7, %w {nn.onnx_tensor = "y"} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
// CHECK-NEXT:    func.return %y
// BACK-LABEL: func.func @rms
// BACK-NEXT:    %w = nn.constant
// BACK-NEXT:    %y = nn.rms_norm %x, %w {nn.onnx_tensor = "y", axis = 2 : i64, epsilon = 1.000000e-05 : f32}
// BACK-NEXT:    func.return
func.func @rms(%x: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %w = nn.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %y = nn.rms_norm %x, %w {nn.onnx_tensor = "y", axis = 2 : i64, epsilon = 1.0e-05 : f32} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  func.return %y : tensor<1x4x8xf32>
}

// -----

// A layer norm over the last two axes with scale and bias.

// CHECK-LABEL: func.func @layer
// CHECK-NEXT:    %s = nn.constant
// CHECK-NEXT:    %b = nn.constant
// CHECK-NEXT:    %0 = nn.reduce_mean %x {axes = array<i64: 1, 2>, keepdims = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x1x1xf32>
// CHECK-NEXT:    %1 = nn.sub %x, %0 : (tensor<2x3x4xf32>, tensor<2x1x1xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    %2 = nn.constant dense<2.000000e+00> : tensor<f32>
// CHECK-NEXT:    %3 = nn.pow %1, %2
// CHECK-NEXT:    %4 = nn.reduce_mean %3 {axes = array<i64: 1, 2>, keepdims = 1 : i64}
// CHECK-NEXT:    %5 = nn.constant dense<1.000000e-03> : tensor<f32>
// CHECK-NEXT:    %6 = nn.add %4, %5
// CHECK-NEXT:    %7 = nn.sqrt %6
// CHECK-NEXT:    %8 = nn.div %1, %7 : (tensor<2x3x4xf32>, tensor<2x1x1xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    %9 = nn.mul %8, %s : (tensor<2x3x4xf32>, tensor<3x4xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    %y = nn.add %9, %b : (tensor<2x3x4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    func.return %y
// BACK-LABEL: func.func @layer
// BACK:         %y = nn.layer_norm %x, %s, %b {axis = 1 : i64, epsilon = 1.000000e-03 : f32}
// BACK-NEXT:    func.return
func.func @layer(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %s = nn.constant dense<1.5> : tensor<3x4xf32>
  %b = nn.constant dense<[0.1, 0.2, 0.3, 0.4]> : tensor<4xf32>
  %y = nn.layer_norm %x, %s, %b {axis = 1 : i64, epsilon = 1.0e-03 : f32} : (tensor<2x3x4xf32>, tensor<3x4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
  func.return %y : tensor<2x3x4xf32>
}
