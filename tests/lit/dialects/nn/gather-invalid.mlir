// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<1x4x6xf32>) -> tensor<1x4x1xf32> {
  // CHECK: nn.gather: indices must lie in [0, 6)
  %y = nn.gather %x {indices = array<i64: 6>, axis = 2 : i64} : (tensor<1x4x6xf32>) -> tensor<1x4x1xf32>
  func.return %y : tensor<1x4x1xf32>
}

// -----

func.func @f(%x: tensor<1x4x6xf32>) -> tensor<1x4x1xf32> {
  // CHECK: nn.gather: axis 3 out of range for rank 3
  %y = nn.gather %x {indices = array<i64: 0>, axis = 3 : i64} : (tensor<1x4x6xf32>) -> tensor<1x4x1xf32>
  func.return %y : tensor<1x4x1xf32>
}
