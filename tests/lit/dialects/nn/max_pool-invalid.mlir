// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<1x2x7x7xf32>) -> tensor<1x2x5x5xf32> {
  // CHECK: nn.max_pool: kernel rank must match input spatial rank
  %y = nn.max_pool %x {kernel_shape = array<i64: 3>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 0 : i64} : (tensor<1x2x7x7xf32>) -> tensor<1x2x5x5xf32>
  func.return %y : tensor<1x2x5x5xf32>
}

// -----

func.func @f(%x: tensor<1x2x7x7xf32>) -> tensor<1x2x5x5xf32> {
  // CHECK: nn.max_pool: 'strides' values must be >= 1
  %y = nn.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 0, 1>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 0 : i64} : (tensor<1x2x7x7xf32>) -> tensor<1x2x5x5xf32>
  func.return %y : tensor<1x2x5x5xf32>
}

// -----

func.func @f(%x: tensor<1x2x7x7xf32>) -> tensor<1x2x5x5xf32> {
  // CHECK: nn.max_pool: 'pads' needs 4 values, got 2
  %y = nn.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0>, ceil_mode = 0 : i64} : (tensor<1x2x7x7xf32>) -> tensor<1x2x5x5xf32>
  func.return %y : tensor<1x2x5x5xf32>
}

// -----

func.func @f(%x: tensor<1x2x7x7xf32>) -> tensor<1x2x7x7xf32> {
  // CHECK: nn.max_pool: result shape [1, 2, 7, 7] should be [1, 2, 5, 5]
  %y = nn.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 0 : i64} : (tensor<1x2x7x7xf32>) -> tensor<1x2x7x7xf32>
  func.return %y : tensor<1x2x7x7xf32>
}

// -----

func.func @f(%x: tensor<1x2x2x2xf32>) -> tensor<1x2x1x1xf32> {
  // CHECK: nn.max_pool: window larger than padded input
  %y = nn.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 0 : i64} : (tensor<1x2x2x2xf32>) -> tensor<1x2x1x1xf32>
  func.return %y : tensor<1x2x1x1xf32>
}
