// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @slice
// CHECK:         %half = nn.slice %x {starts = array<i64: 0, 0, 0, 4>, steps = array<i64: 1, 1, 1, 1>} : (tensor<1x4x6x8xf32>) -> tensor<1x4x6x4xf32>
// CHECK:         %back = nn.slice %x {starts = array<i64: 0, 3, 5, 0>, steps = array<i64: 1, -1, -2, 3>} : (tensor<1x4x6x8xf32>) -> tensor<1x4x3x3xf32>
func.func @slice(%x: tensor<1x4x6x8xf32>) -> (tensor<1x4x6x4xf32>, tensor<1x4x3x3xf32>) {
  %half = nn.slice %x {starts = array<i64: 0, 0, 0, 4>, steps = array<i64: 1, 1, 1, 1>} : (tensor<1x4x6x8xf32>) -> tensor<1x4x6x4xf32>
  %back = nn.slice %x {starts = array<i64: 0, 3, 5, 0>, steps = array<i64: 1, -1, -2, 3>} : (tensor<1x4x6x8xf32>) -> tensor<1x4x3x3xf32>
  func.return %half, %back : tensor<1x4x6x4xf32>, tensor<1x4x3x3xf32>
}
