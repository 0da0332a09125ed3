// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @where
// CHECK:         %mask = nn.constant dense<{{\[}}[true, false], [true, true]]> : tensor<2x2xi1>
// CHECK:         %y = nn.where %mask, %x, %fill : (tensor<2x2xi1>, tensor<1x3x2x2xf32>, tensor<f32>) -> tensor<1x3x2x2xf32>
func.func @where(%x: tensor<1x3x2x2xf32>, %fill: tensor<f32>) -> tensor<1x3x2x2xf32> {
  %mask = nn.constant dense<[[true, false], [true, true]]> : tensor<2x2xi1>
  %y = nn.where %mask, %x, %fill : (tensor<2x2xi1>, tensor<1x3x2x2xf32>, tensor<f32>) -> tensor<1x3x2x2xf32>
  func.return %y : tensor<1x3x2x2xf32>
}
