// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  // CHECK: nn.tile: needs 3 repeats, each at least 1
  %y = nn.tile %x {repeats = array<i64: 1, 0, 1>} : (tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  func.return %y : tensor<1x2x4xf32>
}

// -----

func.func @f(%x: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  // CHECK: nn.tile: result shape [1, 2, 4] should be [1, 4, 4]
  %y = nn.tile %x {repeats = array<i64: 1, 2, 1>} : (tensor<1x2x4xf32>) -> tensor<1x2x4xf32>
  func.return %y : tensor<1x2x4xf32>
}
