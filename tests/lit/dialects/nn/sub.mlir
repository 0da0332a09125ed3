// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// Same shapes, and numpy broadcasting in both directions.
// CHECK-LABEL: func.func @sub
// CHECK:         %same = nn.sub %a, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK:         %row = nn.sub %a, %r : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK:         %outer = nn.sub %c, %r : (tensor<2x1xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK:         %ints = nn.sub %i, %i : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
func.func @sub(%a: tensor<2x3xf32>, %r: tensor<3xf32>, %c: tensor<2x1xf32>, %i: tensor<4xi32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<4xi32>) {
  %same = nn.sub %a, %a : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %row = nn.sub %a, %r : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %outer = nn.sub %c, %r : (tensor<2x1xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %ints = nn.sub %i, %i : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  func.return %same, %row, %outer, %ints : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<4xi32>
}
