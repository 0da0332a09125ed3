// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @gather
// CHECK:         %y = nn.gather %x {indices = array<i64: 5, 0, 5>, axis = 2 : i64} : (tensor<1x4x6xf32>) -> tensor<1x4x3xf32>
func.func @gather(%x: tensor<1x4x6xf32>) -> tensor<1x4x3xf32> {
  %y = nn.gather %x {indices = array<i64: 5, 0, 5>, axis = 2 : i64} : (tensor<1x4x6xf32>) -> tensor<1x4x3xf32>
  func.return %y : tensor<1x4x3xf32>
}
