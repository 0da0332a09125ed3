// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%ids: tensor<1x5xi64>) -> tensor<5xf32> {
  // CHECK: nn.cast: result shape [5] should be [1, 5]
  %f = nn.cast %ids : (tensor<1x5xi64>) -> tensor<5xf32>
  func.return %f : tensor<5xf32>
}
