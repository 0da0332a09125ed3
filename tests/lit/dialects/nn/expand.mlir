// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @expand
// CHECK:         %y = nn.expand %x : (tensor<1x2x1x8xf32>) -> tensor<3x1x2x4x8xf32>
func.func @expand(%x: tensor<1x2x1x8xf32>) -> tensor<3x1x2x4x8xf32> {
  %y = nn.expand %x : (tensor<1x2x1x8xf32>) -> tensor<3x1x2x4x8xf32>
  func.return %y : tensor<3x1x2x4x8xf32>
}
