// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<2x3xf32>) -> tensor<4x3xf32> {
  // CHECK: nn.pad: needs 4 non-negative pads
  %y = nn.pad %x {pads = array<i64: 1, 1>, mode = "constant", value = 0.0 : f32} : (tensor<2x3xf32>) -> tensor<4x3xf32>
  func.return %y : tensor<4x3xf32>
}

// -----

func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.pad: needs 4 non-negative pads
  %y = nn.pad %x {pads = array<i64: 1, 0, -1, 0>, mode = "constant", value = 0.0 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%x: tensor<2x3xf32>) -> tensor<4x3xf32> {
  // CHECK: nn.pad: mode must be one of constant, reflect, edge
  %y = nn.pad %x {pads = array<i64: 1, 0, 1, 0>, mode = "wrap", value = 0.0 : f32} : (tensor<2x3xf32>) -> tensor<4x3xf32>
  func.return %y : tensor<4x3xf32>
}

// -----

func.func @f(%x: tensor<2x3xf32>) -> tensor<4x4xf32> {
  // CHECK: nn.pad: result shape [4, 4] should be [4, 3]
  %y = nn.pad %x {pads = array<i64: 1, 0, 1, 0>, mode = "constant", value = 0.0 : f32} : (tensor<2x3xf32>) -> tensor<4x4xf32>
  func.return %y : tensor<4x4xf32>
}
