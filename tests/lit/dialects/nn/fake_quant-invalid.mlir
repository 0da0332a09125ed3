// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: nn.fake_quant: scale must be a positive number, not 0.0
  %y = nn.fake_quant %x {scale = 0.0 : f64, zero_point = 0 : i64, qmin = -128 : i64, qmax = 127 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}

// -----

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: nn.fake_quant: qmin must be less than qmax
  %y = nn.fake_quant %x {scale = 1.0 : f64, zero_point = 0 : i64, qmin = 5 : i64, qmax = 5 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}

// -----

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: nn.fake_quant: the zero point must lie in [qmin, qmax]
  %y = nn.fake_quant %x {scale = 1.0 : f64, zero_point = 300 : i64, qmin = 0 : i64, qmax = 255 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
