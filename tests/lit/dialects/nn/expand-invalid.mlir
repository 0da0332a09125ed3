// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<1x2x8xf32>) -> tensor<1x3x8xf32> {
  // CHECK: nn.expand: shapes [[1, 2, 8], [1, 3, 8]] do not broadcast
  %y = nn.expand %x : (tensor<1x2x8xf32>) -> tensor<1x3x8xf32>
  func.return %y : tensor<1x3x8xf32>
}

// -----

func.func @f(%x: tensor<4x8xf32>) -> tensor<8xf32> {
  // CHECK: nn.expand: [4, 8] does not broadcast to [8]
  %y = nn.expand %x : (tensor<4x8xf32>) -> tensor<8xf32>
  func.return %y : tensor<8xf32>
}
