// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%c: tensor<2x2xf32>, %x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  // CHECK: nn.where: the condition must be i1
  %y = nn.where %c, %x, %x : (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  func.return %y : tensor<2x2xf32>
}

// -----

func.func @f(%c: tensor<2x2xi1>, %x: tensor<2x2xf32>, %z: tensor<2x2xi32>) -> tensor<2x2xf32> {
  // CHECK: nn.where: element types differ: ['f32', 'i32']
  %y = nn.where %c, %x, %z : (tensor<2x2xi1>, tensor<2x2xf32>, tensor<2x2xi32>) -> tensor<2x2xf32>
  func.return %y : tensor<2x2xf32>
}
