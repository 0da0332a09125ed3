// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.gelu: approximate must be one of none, tanh, got 'fast'
  %y = nn.gelu %x {approximate = "fast"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%x: tensor<3xf32>, %s: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.prelu: the slope must broadcast to the input's shape
  %y = nn.prelu %x, %s : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%x: tensor<2x3xf32>, %e: tensor<2xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.pow: shapes [2, 3] and [2] do not broadcast
  %y = nn.pow %x, %e : (tensor<2x3xf32>, tensor<2xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: property 'alpha' expected in operation 'nn.elu'
  %y = nn.elu %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // CHECK: nn.is_nan: the result must be i1
  %y = nn.is_nan %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

func.func @f(%x: tensor<2x3xf32>) -> tensor<3x2xi1> {
  // CHECK: nn.is_nan: result shape [3, 2] should be [2, 3]
  %y = nn.is_nan %x : (tensor<2x3xf32>) -> tensor<3x2xi1>
  func.return %y : tensor<3x2xi1>
}
