// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<4x3xf32>, %w: tensor<2x4xf32>) -> tensor<4x2xf32> {
  // CHECK: nn.dense: input has 3 features but weight expects 4
  %y = nn.dense %x, %w : (tensor<4x3xf32>, tensor<2x4xf32>) -> tensor<4x2xf32>
  func.return %y : tensor<4x2xf32>
}

// -----

func.func @f(%x: tensor<4x3xf32>, %w: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<4x2xf32> {
  // CHECK: nn.dense: bias must have shape [2]
  %y = nn.dense %x, %w, %b : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<4x2xf32>
  func.return %y : tensor<4x2xf32>
}

// -----

func.func @f(%x: tensor<4x3xf32>, %w: tensor<2x3xf32>) -> tensor<4x3xf32> {
  // CHECK: nn.dense: result shape [4, 3] should be [4, 2]
  %y = nn.dense %x, %w : (tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  func.return %y : tensor<4x3xf32>
}

// -----

func.func @f(%x: tensor<4x3xf32>, %w: tensor<2x3x1xf32>) -> tensor<4x2xf32> {
  // CHECK: nn.dense: weight must be [out, in] and input at least 1-D
  %y = nn.dense %x, %w : (tensor<4x3xf32>, tensor<2x3x1xf32>) -> tensor<4x2xf32>
  func.return %y : tensor<4x2xf32>
}
