// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<2x3x4xf32>) -> tensor<2xf32> {
  // CHECK: nn.reduce_sum: axes [2, 1] must be sorted, distinct and in 0..2
  %y = nn.reduce_sum %x {axes = array<i64: 2, 1>, keepdims = 0 : i64} : (tensor<2x3x4xf32>) -> tensor<2xf32>
  func.return %y : tensor<2xf32>
}

// -----

func.func @f(%x: tensor<2x3x4xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.reduce_mean: axes [-1] must be sorted, distinct and in 0..2
  %y = nn.reduce_mean %x {axes = array<i64: -1>, keepdims = 0 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  // CHECK: nn.reduce_max: axes [] must be sorted, distinct and in 0..2
  %y = nn.reduce_max %x {axes = array<i64>, keepdims = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  func.return %y : tensor<2x3x4xf32>
}

// -----

func.func @f(%x: tensor<2x3x4xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.reduce_mean: result shape [2, 3] should be [2, 3, 1]
  %y = nn.reduce_mean %x {axes = array<i64: 2>, keepdims = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%x: tensor<2x3x4xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.reduce_mean: keepdims must be 0 or 1, got 2
  %y = nn.reduce_mean %x {axes = array<i64: 2>, keepdims = 2 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}
