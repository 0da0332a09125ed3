// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%a: tensor<2x3xf32>) -> tensor<4x3xf32> {
  // CHECK: nn.concat: axis 2 out of range for rank 2
  %y = nn.concat %a, %a {axis = 2 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  func.return %y : tensor<4x3xf32>
}

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) -> tensor<4x3xf32> {
  // CHECK: nn.concat: inputs differ outside the concat axis
  %y = nn.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<4x3xf32>
  func.return %y : tensor<4x3xf32>
}

// -----

func.func @f(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.concat: result shape [2, 3] should be [4, 3]
  %y = nn.concat %a, %a {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x3xi8>) -> tensor<4x3xf32> {
  // CHECK: nn.concat: element types differ: ['f32', 'i8']
  %y = nn.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x3xi8>) -> tensor<4x3xf32>
  func.return %y : tensor<4x3xf32>
}
