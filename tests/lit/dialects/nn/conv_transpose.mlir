// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// 2-D, stride [3, 2], pads 1, output_padding 1: out = 3 * 6 + 1 + 3 - 2 = 20 and 2 * 5 + 1 + 3 - 2 = 12.
// CHECK-LABEL: func.func @deconv2d
// CHECK:         %y = nn.conv_transpose %x, %w, %b {strides = array<i64: 3, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, output_padding = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x7x6xf32>, tensor<3x4x3x3xf32>, tensor<4xf32>) -> tensor<1x4x20x12xf32>
func.func @deconv2d(%x: tensor<1x3x7x6xf32>, %w: tensor<3x4x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x20x12xf32> {
  %y = nn.conv_transpose %x, %w, %b {strides = array<i64: 3, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, output_padding = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x7x6xf32>, tensor<3x4x3x3xf32>, tensor<4xf32>) -> tensor<1x4x20x12xf32>
  func.return %y : tensor<1x4x20x12xf32>
}

// 1-D, two groups, dilation 2, no bias: out = 9 + 2 * 2 + 1 = 14 channels 2 * 3 = 6.
// CHECK-LABEL: func.func @deconv1d
// CHECK:         %y = nn.conv_transpose %x, %w {strides = array<i64: 1>, pads = array<i64: 0, 0>, dilations = array<i64: 2>, output_padding = array<i64: 0>, group = 2 : i64} : (tensor<2x4x10xf32>, tensor<4x3x3xf32>) -> tensor<2x6x14xf32>
func.func @deconv1d(%x: tensor<2x4x10xf32>, %w: tensor<4x3x3xf32>) -> tensor<2x6x14xf32> {
  %y = nn.conv_transpose %x, %w {strides = array<i64: 1>, pads = array<i64: 0, 0>, dilations = array<i64: 2>, output_padding = array<i64: 0>, group = 2 : i64} : (tensor<2x4x10xf32>, tensor<4x3x3xf32>) -> tensor<2x6x14xf32>
  func.return %y : tensor<2x6x14xf32>
}
