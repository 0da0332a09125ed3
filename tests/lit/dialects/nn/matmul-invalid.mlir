// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%a: tensor<1x6x8xf32>, %b: tensor<1x6x8xf32>) -> tensor<1x6x8xf32> {
  // CHECK: nn.matmul: [1, 6, 8] @ [1, 6, 8]: inner dimensions 8 and 6 differ
  %y = nn.matmul %a, %b : (tensor<1x6x8xf32>, tensor<1x6x8xf32>) -> tensor<1x6x8xf32>
  func.return %y : tensor<1x6x8xf32>
}

// -----

func.func @f(%a: tensor<2x6x8xf32>, %b: tensor<3x8x6xf32>) -> tensor<2x6x6xf32> {
  // CHECK: nn.matmul: shapes [[2], [3]] do not broadcast
  %y = nn.matmul %a, %b : (tensor<2x6x8xf32>, tensor<3x8x6xf32>) -> tensor<2x6x6xf32>
  func.return %y : tensor<2x6x6xf32>
}

// -----

func.func @f(%a: tensor<8xf32>, %b: tensor<8x6xf32>) -> tensor<6xf32> {
  // CHECK: nn.matmul: both operands must have rank >= 2
  %y = nn.matmul %a, %b : (tensor<8xf32>, tensor<8x6xf32>) -> tensor<6xf32>
  func.return %y : tensor<6xf32>
}
