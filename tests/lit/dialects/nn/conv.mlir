// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// 2-D with bias, stride 2 and padding: out = (8 + 1 + 1 - 3) / 2 + 1 = 4.
// CHECK-LABEL: func.func @conv2d
// CHECK:         %y = nn.conv %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
func.func @conv2d(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x4x4xf32> {
  %y = nn.conv %x, %w, %b {strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
  func.return %y : tensor<1x4x4x4xf32>
}

// Depthwise (group = channels), no bias, dilation 2: out = 8 - (2 * 2 + 1) + 1 = 4.
// CHECK-LABEL: func.func @depthwise
// CHECK:         %y = nn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 2, 2>, group = 4 : i64} : (tensor<2x4x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<2x4x4x4xf32>
func.func @depthwise(%x: tensor<2x4x8x8xf32>, %w: tensor<4x1x3x3xf32>) -> tensor<2x4x4x4xf32> {
  %y = nn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 2, 2>, group = 4 : i64} : (tensor<2x4x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<2x4x4x4xf32>
  func.return %y : tensor<2x4x4x4xf32>
}

// 1-D, asymmetric padding: out = 10 + 2 + 0 - 3 + 1 = 10.
// CHECK-LABEL: func.func @conv1d
// CHECK:         %y = nn.conv %x, %w {strides = array<i64: 1>, pads = array<i64: 2, 0>, dilations = array<i64: 1>, group = 1 : i64} : (tensor<1x2x10xf32>, tensor<5x2x3xf32>) -> tensor<1x5x10xf32>
func.func @conv1d(%x: tensor<1x2x10xf32>, %w: tensor<5x2x3xf32>) -> tensor<1x5x10xf32> {
  %y = nn.conv %x, %w {strides = array<i64: 1>, pads = array<i64: 2, 0>, dilations = array<i64: 1>, group = 1 : i64} : (tensor<1x2x10xf32>, tensor<5x2x3xf32>) -> tensor<1x5x10xf32>
  func.return %y : tensor<1x5x10xf32>
}
