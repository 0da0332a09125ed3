// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: nn.clip: min is greater than max
  %y = nn.clip %x {min = 2.0 : f32, max = 1.0 : f32} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
