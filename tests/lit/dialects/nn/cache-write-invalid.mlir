// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%cache: tensor<1x4x8xf32>, %k: tensor<1x2x8xf32>, %position: tensor<1xi64>) -> tensor<1x4x8xf32> {
  // CHECK: nn.cache_write: the value must be [1, 1, 8], it is [1, 2, 8]
  %next = nn.cache_write %cache, %k, %position {axis = 1 : i64} : (tensor<1x4x8xf32>, tensor<1x2x8xf32>, tensor<1xi64>) -> tensor<1x4x8xf32>
  func.return %next : tensor<1x4x8xf32>
}

// -----

func.func @f(%cache: tensor<1x4x8xf32>, %k: tensor<1x1x8xf32>, %position: tensor<1xf32>) -> tensor<1x4x8xf32> {
  // CHECK: nn.cache_write: the position must be a one-element integer tensor
  %next = nn.cache_write %cache, %k, %position {axis = 1 : i64} : (tensor<1x4x8xf32>, tensor<1x1x8xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
  func.return %next : tensor<1x4x8xf32>
}

// -----

func.func @f(%cache: tensor<1x4x8xf32>, %k: tensor<1x1x8xf32>, %position: tensor<1xi64>) -> tensor<1x4x8xf32> {
  // CHECK: nn.cache_write: axis 3 is outside a cache of rank 3
  %next = nn.cache_write %cache, %k, %position {axis = 3 : i64} : (tensor<1x4x8xf32>, tensor<1x1x8xf32>, tensor<1xi64>) -> tensor<1x4x8xf32>
  func.return %next : tensor<1x4x8xf32>
}
