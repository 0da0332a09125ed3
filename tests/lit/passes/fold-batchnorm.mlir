// RUN: hwc-opt %s --split-input-file -p fold-batchnorm | filecheck %s
// RUN: xdsl-opt %s --split-input-file -p fold-batchnorm | filecheck %s

// Every case uses the same batch norm, whose numbers are chosen so that the
// folding can be checked by hand:
//   scale = [2, 6], var = [3, 8], eps = 1  ->  f = scale / sqrt(var + eps) = [2/2, 6/3] = [1, 2]
//   mean = [1, 2], beta = [0.5, -1]
//   W'[c] = W[c] * f[c]          b'[c] = (b[c] - mean[c]) * f[c] + beta[c]

// A 1x1 convolution without bias: the bias is created.
//   W = [[1, 2], [3, 4]]  ->  W' = [[1, 2], [6, 8]]
//   b = 0                 ->  b' = [(0 - 1) * 1 + 0.5, (0 - 2) * 2 - 1] = [-0.5, -5]

// CHECK-LABEL: func.func @conv_without_bias
// CHECK-NEXT:    %[[W:.*]] = nn.constant dense<{{\[\[\[\[}}1.000000e+00]], {{\[\[}}2.000000e+00]]], {{\[\[\[}}6.000000e+00]], {{\[\[}}8.000000e+00]]]]> : tensor<2x2x1x1xf32>
// CHECK-NEXT:    %[[B:.*]] = nn.constant dense<[-5.000000e-01, -5.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %[[Y:.*]] = nn.conv %x, %[[W]], %[[B]] {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x2x1x1xf32>, tensor<2x2x1x1xf32>, tensor<2xf32>) -> tensor<1x2x1x1xf32>
// CHECK-NEXT:    func.return %[[Y]] : tensor<1x2x1x1xf32>
// CHECK-NEXT:  }
func.func @conv_without_bias(%x: tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32> {
  %w = nn.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>
  %y = nn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x2x1x1xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  %s = nn.constant dense<[2.0, 6.0]> : tensor<2xf32>
  %b = nn.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %m = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %v = nn.constant dense<[3.0, 8.0]> : tensor<2xf32>
  %z = nn.batch_norm %y, %s, %b, %m, %v {epsilon = 1.0 : f32} : (tensor<1x2x1x1xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x1x1xf32>
  func.return %z : tensor<1x2x1x1xf32>
}

// -----

// A 2x2 convolution with bias [3, 1] (one input channel, 1x1x3x3 input).
//   W[0] = [[1, 2], [3, 4]]        ->  W'[0] = [[1, 2], [3, 4]]
//   W[1] = [[-0.5, 1], [0, 0.25]]  ->  W'[1] = [[-1, 2], [0, 0.5]]
//   b' = [(3 - 1) * 1 + 0.5, (1 - 2) * 2 - 1] = [2.5, -3]

// CHECK-LABEL: func.func @conv_with_bias
// CHECK-NEXT:    %[[W:.*]] = nn.constant dense<{{\[\[\[\[}}1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]], {{\[\[\[}}-1.000000e+00, 2.000000e+00], [0.000000e+00, 5.000000e-01]]]]> : tensor<2x1x2x2xf32>
// CHECK-NEXT:    %[[B:.*]] = nn.constant dense<[2.500000e+00, -3.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %[[Y:.*]] = nn.conv %x, %[[W]], %[[B]] {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    func.return %[[Y]]
// CHECK-NOT:     nn.batch_norm
func.func @conv_with_bias(%x: tensor<1x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %w = nn.constant dense<[[[[1.0, 2.0], [3.0, 4.0]]], [[[-0.5, 1.0], [0.0, 0.25]]]]> : tensor<2x1x2x2xf32>
  %c = nn.constant dense<[3.0, 1.0]> : tensor<2xf32>
  %y = nn.conv %x, %w, %c {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  %s = nn.constant dense<[2.0, 6.0]> : tensor<2xf32>
  %b = nn.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %m = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %v = nn.constant dense<[3.0, 8.0]> : tensor<2xf32>
  %z = nn.batch_norm %y, %s, %b, %m, %v {epsilon = 1.0 : f32} : (tensor<1x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  func.return %z : tensor<1x2x2x2xf32>
}

// -----

// A dense layer with a 2-D [N, C] output (its channels are BN's axis 1).
//   W = [[1, -1], [0.5, 2]], no bias  ->  W' = [[1, -1], [1, 4]], b' = [-0.5, -5]

// CHECK-LABEL: func.func @dense
// CHECK-NEXT:    %[[W:.*]] = nn.constant dense<{{\[\[}}1.000000e+00, -1.000000e+00], [1.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT:    %[[B:.*]] = nn.constant dense<[-5.000000e-01, -5.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    %[[Y:.*]] = nn.dense %x, %[[W]], %[[B]] : (tensor<3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT:    func.return %[[Y]]
func.func @dense(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = nn.constant dense<[[1.0, -1.0], [0.5, 2.0]]> : tensor<2x2xf32>
  %y = nn.dense %x, %w : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %s = nn.constant dense<[2.0, 6.0]> : tensor<2xf32>
  %b = nn.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %m = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %v = nn.constant dense<[3.0, 8.0]> : tensor<2xf32>
  %z = nn.batch_norm %y, %s, %b, %m, %v {epsilon = 1.0 : f32} : (tensor<3x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  func.return %z : tensor<3x2xf32>
}

// -----

// Batch norms that must stay.

// On a graph input: nothing to fold into.
// CHECK-LABEL: func.func @no_producer
// CHECK:         nn.batch_norm %x,
func.func @no_producer(%x: tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32> {
  %s = nn.constant dense<[2.0, 6.0]> : tensor<2xf32>
  %b = nn.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %m = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %v = nn.constant dense<[3.0, 8.0]> : tensor<2xf32>
  %z = nn.batch_norm %x, %s, %b, %m, %v {epsilon = 1.0 : f32} : (tensor<1x2x1x1xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x1x1xf32>
  func.return %z : tensor<1x2x1x1xf32>
}

// The convolution's result has another user (the relu): folding would change it.
// CHECK-LABEL: func.func @shared_producer
// CHECK:         %[[Y:.*]] = nn.conv %x, %w {
// CHECK:         nn.batch_norm %[[Y]],
// CHECK:         nn.relu %[[Y]]
func.func @shared_producer(%x: tensor<1x2x1x1xf32>) -> (tensor<1x2x1x1xf32>, tensor<1x2x1x1xf32>) {
  %w = nn.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>
  %y = nn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x2x1x1xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  %s = nn.constant dense<[2.0, 6.0]> : tensor<2xf32>
  %b = nn.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %m = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %v = nn.constant dense<[3.0, 8.0]> : tensor<2xf32>
  %z = nn.batch_norm %y, %s, %b, %m, %v {epsilon = 1.0 : f32} : (tensor<1x2x1x1xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x1x1xf32>
  %r = nn.relu %y : (tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  func.return %z, %r : tensor<1x2x1x1xf32>, tensor<1x2x1x1xf32>
}

// A dense layer with a 3-D output: its channels are the last axis, not BN's axis 1.
// CHECK-LABEL: func.func @dense_rank3
// CHECK:         %[[Y:.*]] = nn.dense %x, %w :
// CHECK:         nn.batch_norm %[[Y]],
func.func @dense_rank3(%x: tensor<1x2x2xf32>) -> tensor<1x2x2xf32> {
  %w = nn.constant dense<[[1.0, -1.0], [0.5, 2.0]]> : tensor<2x2xf32>
  %y = nn.dense %x, %w : (tensor<1x2x2xf32>, tensor<2x2xf32>) -> tensor<1x2x2xf32>
  %s = nn.constant dense<[2.0, 6.0]> : tensor<2xf32>
  %b = nn.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %m = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %v = nn.constant dense<[3.0, 8.0]> : tensor<2xf32>
  %z = nn.batch_norm %y, %s, %b, %m, %v {epsilon = 1.0 : f32} : (tensor<1x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x2xf32>
  func.return %z : tensor<1x2x2xf32>
}

// The scale is a graph input, not a constant.
// CHECK-LABEL: func.func @variable_scale
// CHECK:         %[[Y:.*]] = nn.conv %x, %w {
// CHECK:         nn.batch_norm %[[Y]], %s,
func.func @variable_scale(%x: tensor<1x2x1x1xf32>, %s: tensor<2xf32>) -> tensor<1x2x1x1xf32> {
  %w = nn.constant dense<[[[[1.0]], [[2.0]]], [[[3.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>
  %y = nn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x2x1x1xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  %b = nn.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %m = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %v = nn.constant dense<[3.0, 8.0]> : tensor<2xf32>
  %z = nn.batch_norm %y, %s, %b, %m, %v {epsilon = 1.0 : f32} : (tensor<1x2x1x1xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x1x1xf32>
  func.return %z : tensor<1x2x1x1xf32>
}
