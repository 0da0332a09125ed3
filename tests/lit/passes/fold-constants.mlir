// RUN: hwc-opt %s --split-input-file -p fold-constants | filecheck %s

// A chain of element-wise ops on constants folds into one constant; the
// constants it consumed, and one nothing ever used, are erased; the op that
// reads the graph input stays.
//   add([1, 2, 3], [10, 20, 30]) = [11, 22, 33];  mul(that, [2]) = [22, 44, 66]

// CHECK-LABEL: func.func @chain
// CHECK-NEXT:    %[[C:.*]] = nn.constant dense<[2.200000e+01, 4.400000e+01, 6.600000e+01]> : tensor<3xf32>
// CHECK-NEXT:    %[[Y:.*]] = nn.add %x, %[[C]] : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:    func.return %[[Y]] : tensor<3xf32>
// CHECK-NEXT:  }
func.func @chain(%x: tensor<3xf32>) -> tensor<3xf32> {
  %a = nn.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %b = nn.constant dense<[10.0, 20.0, 30.0]> : tensor<3xf32>
  %two = nn.constant dense<2.0> : tensor<1xf32>
  %unused = nn.constant dense<7.0> : tensor<4xf32>
  %c = nn.add %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %d = nn.mul %c, %two : (tensor<3xf32>, tensor<1xf32>) -> tensor<3xf32>
  %y = nn.add %x, %d : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  func.return %y : tensor<3xf32>
}

// -----

// A dense layer on a constant input, then a relu.
//   [[1, 2]] · [[1, 0], [0, 1], [1, -1]]ᵀ + [0.5, 0, -1] = [[1.5, 2, -2]];  relu -> [[1.5, 2, 0]]

// CHECK-LABEL: func.func @dense_relu
// CHECK-NEXT:    %[[C:.*]] = nn.constant dense<{{\[\[}}1.500000e+00, 2.000000e+00, 0.000000e+00]]> : tensor<1x3xf32>
// CHECK-NEXT:    func.return %[[C]] : tensor<1x3xf32>
func.func @dense_relu() -> tensor<1x3xf32> {
  %x = nn.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %w = nn.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]> : tensor<3x2xf32>
  %b = nn.constant dense<[0.5, 0.0, -1.0]> : tensor<3xf32>
  %y = nn.dense %x, %w, %b : (tensor<1x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<1x3xf32>
  %r = nn.relu %y : (tensor<1x3xf32>) -> tensor<1x3xf32>
  func.return %r : tensor<1x3xf32>
}

// -----

// Data movement: transpose then reshape.
//   transpose([[1, 2, 3], [4, 5, 6]], perm [1, 0]) = [[1, 4], [2, 5], [3, 6]];  reshape -> [1, 4, 2, 5, 3, 6]

// CHECK-LABEL: func.func @transpose_reshape
// CHECK-NEXT:    %[[C:.*]] = nn.constant dense<[1.000000e+00, 4.000000e+00, 2.000000e+00, 5.000000e+00, 3.000000e+00, 6.000000e+00]> : tensor<6xf32>
// CHECK-NEXT:    func.return %[[C]]
func.func @transpose_reshape() -> tensor<6xf32> {
  %a = nn.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %t = nn.transpose %a {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %r = nn.reshape %t : (tensor<3x2xf32>) -> tensor<6xf32>
  func.return %r : tensor<6xf32>
}

// -----

// A constant used by a folded op and by one that stays is kept for the latter.
//   sub([5, 5], [1, 2]) = [4, 3]

// CHECK-LABEL: func.func @shared_constant
// CHECK-DAG:     %[[B:.*]] = nn.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK-DAG:     %[[C:.*]] = nn.constant dense<[4.000000e+00, 3.000000e+00]> : tensor<2xf32>
// CHECK:         %[[Y:.*]] = nn.mul %x, %[[B]]
// CHECK:         func.return %[[C]], %[[Y]]
func.func @shared_constant(%x: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  %a = nn.constant dense<5.0> : tensor<2xf32>
  %b = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %c = nn.sub %a, %b : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %y = nn.mul %x, %b : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %c, %y : tensor<2xf32>, tensor<2xf32>
}

// -----

// Nothing to fold: the module prints unchanged, without a weight store attribute.

// CHECK:       builtin.module {
// CHECK-LABEL: func.func @nothing
// CHECK-NEXT:    %[[Y:.*]] = nn.relu %x
// CHECK-NEXT:    func.return %[[Y]]
func.func @nothing(%x: tensor<2xf32>) -> tensor<2xf32> {
  %y = nn.relu %x : (tensor<2xf32>) -> tensor<2xf32>
  func.return %y : tensor<2xf32>
}
