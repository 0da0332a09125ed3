// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<1x3x4x4xf32>, %s: tensor<3xf32>, %v: tensor<4xf32>) -> tensor<1x3x4x4xf32> {
  // CHECK: nn.batch_norm: var must have shape [3]
  %y = nn.batch_norm %x, %s, %s, %s, %v {epsilon = 1.0e-05 : f32} : (tensor<1x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<4xf32>) -> tensor<1x3x4x4xf32>
  func.return %y : tensor<1x3x4x4xf32>
}

// -----

func.func @f(%x: tensor<3xf32>, %s: tensor<3xf32>) -> tensor<3xf32> {
  // CHECK: nn.batch_norm: input must be at least [N, C]
  %y = nn.batch_norm %x, %s, %s, %s, %s {epsilon = 1.0e-05 : f32} : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  func.return %y : tensor<3xf32>
}

// -----

func.func @f(%x: tensor<1x3x4x4xf32>, %s: tensor<3xf32>) -> tensor<1x3x4x3xf32> {
  // CHECK: nn.batch_norm: result shape [1, 3, 4, 3] should be [1, 3, 4, 4]
  %y = nn.batch_norm %x, %s, %s, %s, %s {epsilon = 1.0e-05 : f32} : (tensor<1x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x4x3xf32>
  func.return %y : tensor<1x3x4x3xf32>
}
