// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @pad
// CHECK:         %c = nn.pad %x {pads = array<i64: 0, 0, 1, 2, 0, 0, 3, 0>, mode = "constant", value = 5.000000e-01 : f32} : (tensor<1x2x3x3xf32>) -> tensor<1x2x7x5xf32>
// CHECK:         %r = nn.pad %x {pads = array<i64: 0, 0, 1, 1, 0, 0, 1, 1>, mode = "reflect", value = 0.000000e+00 : f32} : (tensor<1x2x3x3xf32>) -> tensor<1x2x5x5xf32>
// CHECK:         %e = nn.pad %x {pads = array<i64: 0, 0, 2, 0, 0, 0, 0, 2>, mode = "edge", value = 0.000000e+00 : f32} : (tensor<1x2x3x3xf32>) -> tensor<1x2x5x5xf32>
func.func @pad(%x: tensor<1x2x3x3xf32>) -> (tensor<1x2x7x5xf32>, tensor<1x2x5x5xf32>, tensor<1x2x5x5xf32>) {
  %c = nn.pad %x {pads = array<i64: 0, 0, 1, 2, 0, 0, 3, 0>, mode = "constant", value = 0.5 : f32} : (tensor<1x2x3x3xf32>) -> tensor<1x2x7x5xf32>
  %r = nn.pad %x {pads = array<i64: 0, 0, 1, 1, 0, 0, 1, 1>, mode = "reflect", value = 0.0 : f32} : (tensor<1x2x3x3xf32>) -> tensor<1x2x5x5xf32>
  %e = nn.pad %x {pads = array<i64: 0, 0, 2, 0, 0, 0, 0, 2>, mode = "edge", value = 0.0 : f32} : (tensor<1x2x3x3xf32>) -> tensor<1x2x5x5xf32>
  func.return %c, %r, %e : tensor<1x2x7x5xf32>, tensor<1x2x5x5xf32>, tensor<1x2x5x5xf32>
}
