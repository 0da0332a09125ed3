// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @bn
// CHECK:         %y = nn.batch_norm %x, %s, %b, %m, %v {epsilon = 1.000000e-05 : f32} : (tensor<1x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
// CHECK:         %z = nn.batch_norm %x2, %s, %b, %m, %v {epsilon = 1.000000e-03 : f32} : (tensor<5x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<5x3xf32>
func.func @bn(%x: tensor<1x3x4x4xf32>, %x2: tensor<5x3xf32>, %s: tensor<3xf32>, %b: tensor<3xf32>, %m: tensor<3xf32>, %v: tensor<3xf32>) -> (tensor<1x3x4x4xf32>, tensor<5x3xf32>) {
  %y = nn.batch_norm %x, %s, %b, %m, %v {epsilon = 1.0e-05 : f32} : (tensor<1x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
  %z = nn.batch_norm %x2, %s, %b, %m, %v {epsilon = 1.0e-03 : f32} : (tensor<5x3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<5x3xf32>
  func.return %y, %z : tensor<1x3x4x4xf32>, tensor<5x3xf32>
}
