// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<1x8xf32>) -> tensor<1x5xf32> {
  // CHECK: nn.slice: axis 1: 5 elements from 4 every 1 do not lie inside its 8
  %y = nn.slice %x {starts = array<i64: 0, 4>, steps = array<i64: 1, 1>} : (tensor<1x8xf32>) -> tensor<1x5xf32>
  func.return %y : tensor<1x5xf32>
}

// -----

func.func @f(%x: tensor<1x8xf32>) -> tensor<1x2xf32> {
  // CHECK: nn.slice: axis 1: 2 elements from 0 every 0 do not lie inside its 8
  %y = nn.slice %x {starts = array<i64: 0, 0>, steps = array<i64: 1, 0>} : (tensor<1x8xf32>) -> tensor<1x2xf32>
  func.return %y : tensor<1x2xf32>
}

// -----

func.func @f(%x: tensor<1x8xf32>) -> tensor<1x2xf32> {
  // CHECK: nn.slice: needs 2 starts, steps and result dimensions
  %y = nn.slice %x {starts = array<i64: 0>, steps = array<i64: 1>} : (tensor<1x8xf32>) -> tensor<1x2xf32>
  func.return %y : tensor<1x2xf32>
}
