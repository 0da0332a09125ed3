// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// The result type must be the input type.
func.func @f(%x: tensor<4xf32>) -> tensor<5xf32> {
  // CHECK: attribute tensor<4xf32> expected from variable 'T', but got tensor<5xf32>
  %y = nn.sigmoid %x : (tensor<4xf32>) -> tensor<5xf32>
  func.return %y : tensor<5xf32>
}
