// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @gap
// CHECK:         %y = nn.global_average_pool %x : (tensor<2x8x5x7xf32>) -> tensor<2x8x1x1xf32>
// CHECK:         %z = nn.global_average_pool %x1 : (tensor<1x4x9xf32>) -> tensor<1x4x1xf32>
func.func @gap(%x: tensor<2x8x5x7xf32>, %x1: tensor<1x4x9xf32>) -> (tensor<2x8x1x1xf32>, tensor<1x4x1xf32>) {
  %y = nn.global_average_pool %x : (tensor<2x8x5x7xf32>) -> tensor<2x8x1x1xf32>
  %z = nn.global_average_pool %x1 : (tensor<1x4x9xf32>) -> tensor<1x4x1xf32>
  func.return %y, %z : tensor<2x8x1x1xf32>, tensor<1x4x1xf32>
}
