// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<2x10xf32>) -> tensor<2x10xf32> {
  // CHECK: nn.log_softmax: axis 2 out of range for rank 2
  %y = nn.log_softmax %x {axis = 2 : i64} : (tensor<2x10xf32>) -> tensor<2x10xf32>
  func.return %y : tensor<2x10xf32>
}

// -----

func.func @f(%x: tensor<2x10xf32>) -> tensor<2x10xf32> {
  // CHECK: nn.log_softmax: axis -1 out of range for rank 2
  %y = nn.log_softmax %x {axis = -1 : i64} : (tensor<2x10xf32>) -> tensor<2x10xf32>
  func.return %y : tensor<2x10xf32>
}
