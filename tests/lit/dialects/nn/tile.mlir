// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @tile
// CHECK:         %y = nn.tile %x {repeats = array<i64: 1, 2, 3>} : (tensor<1x2x4xf32>) -> tensor<1x4x12xf32>
func.func @tile(%x: tensor<1x2x4xf32>) -> tensor<1x4x12xf32> {
  %y = nn.tile %x {repeats = array<i64: 1, 2, 3>} : (tensor<1x2x4xf32>) -> tensor<1x4x12xf32>
  func.return %y : tensor<1x4x12xf32>
}
