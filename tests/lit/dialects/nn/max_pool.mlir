// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// 3x3 window, stride 2, pad 1: out = (7 + 2 - 3) / 2 + 1 = 4.
// CHECK-LABEL: func.func @pool
// CHECK:         %y = nn.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, ceil_mode = 0 : i64} : (tensor<1x2x7x7xf32>) -> tensor<1x2x4x4xf32>
func.func @pool(%x: tensor<1x2x7x7xf32>) -> tensor<1x2x4x4xf32> {
  %y = nn.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, ceil_mode = 0 : i64} : (tensor<1x2x7x7xf32>) -> tensor<1x2x4x4xf32>
  func.return %y : tensor<1x2x4x4xf32>
}

// ceil_mode: 2x2 window, stride 2 on 5: floor gives 2, ceil gives 3.
// CHECK-LABEL: func.func @ceil
// CHECK:         %y = nn.max_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 1 : i64} : (tensor<1x1x5x5xf32>) -> tensor<1x1x3x3xf32>
func.func @ceil(%x: tensor<1x1x5x5xf32>) -> tensor<1x1x3x3xf32> {
  %y = nn.max_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 1 : i64} : (tensor<1x1x5x5xf32>) -> tensor<1x1x3x3xf32>
  func.return %y : tensor<1x1x3x3xf32>
}

// 1-D.
// CHECK-LABEL: func.func @pool1d
// CHECK:         %y = nn.max_pool %x {kernel_shape = array<i64: 2>, strides = array<i64: 1>, pads = array<i64: 0, 0>, ceil_mode = 0 : i64} : (tensor<1x3x6xf32>) -> tensor<1x3x5xf32>
func.func @pool1d(%x: tensor<1x3x6xf32>) -> tensor<1x3x5xf32> {
  %y = nn.max_pool %x {kernel_shape = array<i64: 2>, strides = array<i64: 1>, pads = array<i64: 0, 0>, ceil_mode = 0 : i64} : (tensor<1x3x6xf32>) -> tensor<1x3x5xf32>
  func.return %y : tensor<1x3x5xf32>
}
