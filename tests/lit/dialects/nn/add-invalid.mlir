// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.add: shapes [2, 3] and [2] do not broadcast
  %y = nn.add %a, %b : (tensor<2x3xf32>, tensor<2xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%a: tensor<2x1xf32>, %b: tensor<3xf32>) -> tensor<2x1xf32> {
  // CHECK: nn.add: result shape [2, 1] should be [2, 3]
  %y = nn.add %a, %b : (tensor<2x1xf32>, tensor<3xf32>) -> tensor<2x1xf32>
  func.return %y : tensor<2x1xf32>
}

// -----

func.func @f(%a: tensor<3xf32>, %b: tensor<3xi32>) -> tensor<3xf32> {
  // CHECK: nn.add: element types differ: ['f32', 'i32']
  %y = nn.add %a, %b : (tensor<3xf32>, tensor<3xi32>) -> tensor<3xf32>
  func.return %y : tensor<3xf32>
}

// -----

func.func @f(%a: tensor<3xf64>, %b: tensor<3xf32>) -> tensor<3xf64> {
  // CHECK: nn.add: element types differ: ['f32', 'f64']
  %y = nn.add %a, %b : (tensor<3xf64>, tensor<3xf32>) -> tensor<3xf64>
  func.return %y : tensor<3xf64>
}
