// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%ids: tensor<1x5xf32>, %table: tensor<10x4xf32>) -> tensor<1x5x4xf32> {
  // CHECK: nn.embedding: ids must be integers
  %y = nn.embedding %ids, %table : (tensor<1x5xf32>, tensor<10x4xf32>) -> tensor<1x5x4xf32>
  func.return %y : tensor<1x5x4xf32>
}

// -----

func.func @f(%ids: tensor<1x5xi64>, %table: tensor<10x4x2xf32>) -> tensor<1x5x4xf32> {
  // CHECK: nn.embedding: the table must be [rows, features], it is [10, 4, 2]
  %y = nn.embedding %ids, %table : (tensor<1x5xi64>, tensor<10x4x2xf32>) -> tensor<1x5x4xf32>
  func.return %y : tensor<1x5x4xf32>
}

// -----

func.func @f(%ids: tensor<1x5xi64>, %table: tensor<10x4xf32>) -> tensor<1x4xf32> {
  // CHECK: nn.embedding: result shape [1, 4] should be [1, 5, 4]
  %y = nn.embedding %ids, %table : (tensor<1x5xi64>, tensor<10x4xf32>) -> tensor<1x4xf32>
  func.return %y : tensor<1x4xf32>
}
