// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: property 'alpha' expected in operation 'nn.leaky_relu'
  %y = nn.leaky_relu %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: 1 : i64 should be of base attribute float
  %y = nn.leaky_relu %x {alpha = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}
