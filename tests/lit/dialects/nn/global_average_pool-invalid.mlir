// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // CHECK: nn.global_average_pool: input must be [N, C, spatial...]
  %y = nn.global_average_pool %x : (tensor<2x8xf32>) -> tensor<2x8xf32>
  func.return %y : tensor<2x8xf32>
}

// -----

func.func @f(%x: tensor<2x8x5x7xf32>) -> tensor<2x8x1xf32> {
  // CHECK: nn.global_average_pool: result shape [2, 8, 1] should be [2, 8, 1, 1]
  %y = nn.global_average_pool %x : (tensor<2x8x5x7xf32>) -> tensor<2x8x1xf32>
  func.return %y : tensor<2x8x1xf32>
}
