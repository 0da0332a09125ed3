// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @concat
// CHECK:         %y = nn.concat %a, %b, %a {axis = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x3x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x7x4x4xf32>
// CHECK:         %one = nn.concat %a {axis = 0 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
func.func @concat(%a: tensor<1x2x4x4xf32>, %b: tensor<1x3x4x4xf32>) -> (tensor<1x7x4x4xf32>, tensor<1x2x4x4xf32>) {
  %y = nn.concat %a, %b, %a {axis = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<1x3x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x7x4x4xf32>
  %one = nn.concat %a {axis = 0 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  func.return %y, %one : tensor<1x7x4x4xf32>, tensor<1x2x4x4xf32>
}
