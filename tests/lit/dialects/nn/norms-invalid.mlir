// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<2x3x8xf32>, %g: tensor<3xf32>) -> tensor<2x3x8xf32> {
  // CHECK: nn.layer_norm: scale of shape [3] does not broadcast over the normalised shape [8]
  %y = nn.layer_norm %x, %g {axis = 2 : i64, epsilon = 1.0e-5 : f32} : (tensor<2x3x8xf32>, tensor<3xf32>) -> tensor<2x3x8xf32>
  func.return %y : tensor<2x3x8xf32>
}

// -----

func.func @f(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>) -> tensor<2x3x8xf32> {
  // CHECK: nn.rms_norm: axis 3 out of range for rank 3
  %y = nn.rms_norm %x, %g {axis = 3 : i64, epsilon = 1.0e-5 : f32} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  func.return %y : tensor<2x3x8xf32>
}

// -----

func.func @f(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.rms_norm: result shape [2, 3] should be [2, 3, 8]
  %y = nn.rms_norm %x, %g {axis = 2 : i64, epsilon = 1.0e-5 : f32} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.lrn: size must be >= 1
  %y = nn.lrn %x {size = 0 : i64, alpha = 1.0e-4 : f32, beta = 0.75 : f32, bias = 1.0 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}
