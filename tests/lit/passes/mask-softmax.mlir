// RUN: hwc-opt %s --split-input-file -p mask-softmax | filecheck %s

// A causal mask (0 on and below the diagonal, -inf above) added to the scores.

// CHECK-LABEL: func.func @causal
// CHECK-NEXT:    %{{.*}} = nn.constant dense<{{\[\[}}true, false, false], [true, true, false], [true, true, true]]> : tensor<3x3xi1>
// CHECK-NEXT:    %p = nn.masked_softmax %s, %{{.*}} {axis = 2 : i64} : (tensor<2x3x3xf32>, tensor<3x3xi1>) -> tensor<2x3x3xf32>
// CHECK-NEXT:    func.return %p
func.func @causal(%s: tensor<2x3x3xf32>) -> tensor<2x3x3xf32> {
  %m = nn.constant dense<[[0.0, -3.40282347e+38, -3.40282347e+38], [0.0, 0.0, -3.40282347e+38], [0.0, 0.0, 0.0]]> : tensor<3x3xf32>
  %a = nn.add %s, %m : (tensor<2x3x3xf32>, tensor<3x3xf32>) -> tensor<2x3x3xf32>
  %p = nn.softmax %a {axis = 2 : i64} : (tensor<2x3x3xf32>) -> tensor<2x3x3xf32>
  func.return %p : tensor<2x3x3xf32>
}

// -----

// SDPA's form: the float type's lowest value as the mask, then where(isnan(p), 0, p).

// CHECK-LABEL: func.func @sdpa_guard
// CHECK:         %p = nn.masked_softmax %s
// CHECK-NOT:     nn.is_nan
// CHECK-NOT:     nn.where
// CHECK:         func.return %p
func.func @sdpa_guard(%s: tensor<1x2x2xf32>) -> tensor<1x2x2xf32> {
  %m = nn.constant dense<[[0.0, -3.40282347e+38], [0.0, 0.0]]> : tensor<2x2xf32>
  %zero = nn.constant dense<0.0> : tensor<f32>
  %a = nn.add %m, %s : (tensor<2x2xf32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  %p = nn.softmax %a {axis = 2 : i64} : (tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  %n = nn.is_nan %p : (tensor<1x2x2xf32>) -> tensor<1x2x2xi1>
  %q = nn.where %n, %zero, %p : (tensor<1x2x2xi1>, tensor<f32>, tensor<1x2x2xf32>) -> tensor<1x2x2xf32>
  func.return %q : tensor<1x2x2xf32>
}

// -----

// A bias that is not a mask (a finite nonzero entry), and a mask that drops a
// whole row: both left alone.

// CHECK-LABEL: func.func @not_masks
// CHECK-NOT:     nn.masked_softmax
func.func @not_masks(%s: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %b = nn.constant dense<[[0.0, 1.0], [0.0, 0.0]]> : tensor<2x2xf32>
  %a = nn.add %s, %b : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %p = nn.softmax %a {axis = 1 : i64} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %m = nn.constant dense<[[-3.40282347e+38, -3.40282347e+38], [0.0, 0.0]]> : tensor<2x2xf32>
  %c = nn.add %s, %m : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %q = nn.softmax %c {axis = 1 : i64} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  func.return %p, %q : tensor<2x2xf32>, tensor<2x2xf32>
}
