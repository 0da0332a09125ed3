// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<2x3xf32>) -> tensor<5xf32> {
  // CHECK: nn.reshape: 6 elements cannot become 5
  %y = nn.reshape %x : (tensor<2x3xf32>) -> tensor<5xf32>
  func.return %y : tensor<5xf32>
}

// -----

func.func @f(%x: tensor<2x3xf32>) -> tensor<6xi32> {
  // CHECK: nn.reshape: element types differ: ['f32', 'i32']
  %y = nn.reshape %x : (tensor<2x3xf32>) -> tensor<6xi32>
  func.return %y : tensor<6xi32>
}
