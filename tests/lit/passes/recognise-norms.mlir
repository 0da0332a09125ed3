// RUN: hwc-opt %s --split-input-file -p recognise-norms | filecheck %s

// Llama's RMSNorm as torch's dynamo exporter writes it: pow, mean over the last
// axis, + eps, sqrt, reciprocal, times x, then weight * that. One op remains,
// with the root's ONNX names; the chain and its constants go.

// CHECK-LABEL: func.func @llama_rms_norm
// CHECK-NEXT:    %w = nn.constant
// CHECK-NEXT:    %y = nn.rms_norm %x, %w {nn.onnx_tensor = "y", axis = 2 : i64, epsilon = 1.000000e-05 : f32} : (tensor<1x4x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
// CHECK-NEXT:    func.return %y
func.func @llama_rms_norm(%x: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %two = nn.constant dense<2.0> : tensor<f32>
  %eps = nn.constant dense<1.0e-05> : tensor<f32>
  %w = nn.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]> : tensor<8xf32>
  %p = nn.pow %x, %two : (tensor<1x4x8xf32>, tensor<f32>) -> tensor<1x4x8xf32>
  %m = nn.reduce_mean %p {axes = array<i64: 2>, keepdims = 1 : i64} : (tensor<1x4x8xf32>) -> tensor<1x4x1xf32>
  %a = nn.add %m, %eps : (tensor<1x4x1xf32>, tensor<f32>) -> tensor<1x4x1xf32>
  %s = nn.sqrt %a : (tensor<1x4x1xf32>) -> tensor<1x4x1xf32>
  %r = nn.reciprocal %s : (tensor<1x4x1xf32>) -> tensor<1x4x1xf32>
  %n = nn.mul %x, %r : (tensor<1x4x8xf32>, tensor<1x4x1xf32>) -> tensor<1x4x8xf32>
  %y = nn.mul %w, %n {nn.onnx_tensor = "y"} : (tensor<8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  func.return %y : tensor<1x4x8xf32>
}

// -----

// The classic TorchScript exporter's rsqrt: 1 / sqrt(...).

// CHECK-LABEL: func.func @classic_rms_norm
// CHECK-NEXT:    %w = nn.constant
// CHECK-NEXT:    %y = nn.rms_norm %x, %w {axis = 1 : i64, epsilon = 1.000000e-05 : f32} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    func.return %y
func.func @classic_rms_norm(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %two = nn.constant dense<2.0> : tensor<f32>
  %eps = nn.constant dense<1.0e-05> : tensor<f32>
  %one = nn.constant dense<1.0> : tensor<f32>
  %w = nn.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %p = nn.pow %x, %two : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
  %m = nn.reduce_mean %p {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x1xf32>
  %a = nn.add %m, %eps : (tensor<2x1xf32>, tensor<f32>) -> tensor<2x1xf32>
  %s = nn.sqrt %a : (tensor<2x1xf32>) -> tensor<2x1xf32>
  %r = nn.div %one, %s : (tensor<f32>, tensor<2x1xf32>) -> tensor<2x1xf32>
  %n = nn.mul %x, %r : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  %y = nn.mul %w, %n : (tensor<4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}

// -----

// Divided by the root mean square, x² as x * x, eps first, no weight; the
// mean over the last two axes gives axis 1.

// CHECK-LABEL: func.func @divided
// CHECK-NEXT:    %n = nn.rms_norm %x {axis = 1 : i64, epsilon = 1.000000e-06 : f32} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    func.return %n
func.func @divided(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %eps = nn.constant dense<1.0e-06> : tensor<1xf32>
  %p = nn.mul %x, %x : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %m = nn.reduce_mean %p {axes = array<i64: 1, 2>, keepdims = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x1x1xf32>
  %a = nn.add %eps, %m : (tensor<1xf32>, tensor<2x1x1xf32>) -> tensor<2x1x1xf32>
  %s = nn.sqrt %a : (tensor<2x1x1xf32>) -> tensor<2x1x1xf32>
  %n = nn.div %x, %s : (tensor<2x3x4xf32>, tensor<2x1x1xf32>) -> tensor<2x3x4xf32>
  func.return %n : tensor<2x3x4xf32>
}

// -----

// LayerNorm written out: mean, sub, pow, mean, add eps, sqrt, div, * scale, + bias.

// CHECK-LABEL: func.func @layer_norm
// CHECK-NEXT:    %g = nn.constant
// CHECK-NEXT:    %b = nn.constant
// CHECK-NEXT:    %y = nn.layer_norm %x, %g, %b {axis = 1 : i64, epsilon = 1.000000e-05 : f32} : (tensor<2x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    func.return %y
func.func @layer_norm(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %two = nn.constant dense<2.0> : tensor<f32>
  %eps = nn.constant dense<9.99999974E-6> : tensor<f32>
  %g = nn.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %b = nn.constant dense<[0.5, 0.5, 0.5, 0.5]> : tensor<4xf32>
  %mu = nn.reduce_mean %x {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x1xf32>
  %d = nn.sub %x, %mu : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  %p = nn.pow %d, %two : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
  %v = nn.reduce_mean %p {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x1xf32>
  %a = nn.add %v, %eps : (tensor<2x1xf32>, tensor<f32>) -> tensor<2x1xf32>
  %s = nn.sqrt %a : (tensor<2x1xf32>) -> tensor<2x1xf32>
  %n = nn.div %d, %s : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  %m = nn.mul %n, %g : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %y = nn.add %m, %b : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}

// -----

// Stays: the mean is not over the trailing axes; the square is of another value.

// CHECK-LABEL: func.func @not_norms
// CHECK-NOT:     nn.rms_norm %x
// CHECK:         %n1 = nn.mul %x, %r1
// CHECK:         %n2 = nn.mul %x, %r2
// CHECK:         func.return %n1, %n2
func.func @not_norms(%x: tensor<2x3x4xf32>, %z: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<2x3x4xf32>) {
  %two = nn.constant dense<2.0> : tensor<f32>
  %eps = nn.constant dense<1.0e-05> : tensor<f32>
  %p1 = nn.pow %x, %two : (tensor<2x3x4xf32>, tensor<f32>) -> tensor<2x3x4xf32>
  %m1 = nn.reduce_mean %p1 {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x1x4xf32>
  %a1 = nn.add %m1, %eps : (tensor<2x1x4xf32>, tensor<f32>) -> tensor<2x1x4xf32>
  %s1 = nn.sqrt %a1 : (tensor<2x1x4xf32>) -> tensor<2x1x4xf32>
  %r1 = nn.reciprocal %s1 : (tensor<2x1x4xf32>) -> tensor<2x1x4xf32>
  %n1 = nn.mul %x, %r1 : (tensor<2x3x4xf32>, tensor<2x1x4xf32>) -> tensor<2x3x4xf32>
  %p2 = nn.pow %z, %two : (tensor<2x3x4xf32>, tensor<f32>) -> tensor<2x3x4xf32>
  %m2 = nn.reduce_mean %p2 {axes = array<i64: 2>, keepdims = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
  %a2 = nn.add %m2, %eps : (tensor<2x3x1xf32>, tensor<f32>) -> tensor<2x3x1xf32>
  %s2 = nn.sqrt %a2 : (tensor<2x3x1xf32>) -> tensor<2x3x1xf32>
  %r2 = nn.reciprocal %s2 : (tensor<2x3x1xf32>) -> tensor<2x3x1xf32>
  %n2 = nn.mul %x, %r2 : (tensor<2x3x4xf32>, tensor<2x3x1xf32>) -> tensor<2x3x4xf32>
  func.return %n1, %n2 : tensor<2x3x4xf32>, tensor<2x3x4xf32>
}

// -----

// A chain value used elsewhere stays for that use; an activation weight stays a mul.
// CHECK-LABEL: func.func @shared
// CHECK:         %s = nn.sqrt %a
// CHECK-NEXT:    %y = nn.rms_norm %x, %w {axis = 1 : i64, epsilon = 1.000000e-05 : f32}
// CHECK-NEXT:    %z = nn.mul %y, %v
// CHECK-NEXT:    func.return %z, %s
func.func @shared(%x: tensor<2x4xf32>, %v: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x1xf32>) {
  %w = nn.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %two = nn.constant dense<2.0> : tensor<f32>
  %eps = nn.constant dense<1.0e-05> : tensor<f32>
  %p = nn.pow %x, %two : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
  %m = nn.reduce_mean %p {axes = array<i64: 1>, keepdims = 1 : i64} : (tensor<2x4xf32>) -> tensor<2x1xf32>
  %a = nn.add %m, %eps : (tensor<2x1xf32>, tensor<f32>) -> tensor<2x1xf32>
  %s = nn.sqrt %a : (tensor<2x1xf32>) -> tensor<2x1xf32>
  %r = nn.reciprocal %s : (tensor<2x1xf32>) -> tensor<2x1xf32>
  %n = nn.mul %x, %r : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  %y = nn.mul %n, %w : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %z = nn.mul %y, %v : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %z, %s : tensor<2x4xf32>, tensor<2x1xf32>
}
