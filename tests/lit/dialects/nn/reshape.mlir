// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @reshape
// CHECK:         %flat = nn.reshape %x : (tensor<1x8x2x2xf32>) -> tensor<1x32xf32>
// CHECK:         %back = nn.reshape %flat : (tensor<1x32xf32>) -> tensor<2x4x4xf32>
func.func @reshape(%x: tensor<1x8x2x2xf32>) -> tensor<2x4x4xf32> {
  %flat = nn.reshape %x : (tensor<1x8x2x2xf32>) -> tensor<1x32xf32>
  %back = nn.reshape %flat : (tensor<1x32xf32>) -> tensor<2x4x4xf32>
  func.return %back : tensor<2x4x4xf32>
}
