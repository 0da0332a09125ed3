// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @transpose
// CHECK:         %nhwc = nn.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x3x4x5xf32>) -> tensor<1x4x5x3xf32>
// CHECK:         %t = nn.transpose %m {perm = array<i64: 1, 0>} : (tensor<2x7xf32>) -> tensor<7x2xf32>
func.func @transpose(%x: tensor<1x3x4x5xf32>, %m: tensor<2x7xf32>) -> (tensor<1x4x5x3xf32>, tensor<7x2xf32>) {
  %nhwc = nn.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x3x4x5xf32>) -> tensor<1x4x5x3xf32>
  %t = nn.transpose %m {perm = array<i64: 1, 0>} : (tensor<2x7xf32>) -> tensor<7x2xf32>
  func.return %nhwc, %t : tensor<1x4x5x3xf32>, tensor<7x2xf32>
}
