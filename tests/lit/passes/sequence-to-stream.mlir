// RUN: hwc-opt %s -p sequence-to-stream | filecheck %s

// One attention layer over 3 positions (d = 2, vocabulary 3): embedding, learned
// positions, q/k/v projections, scores q·kᵀ scaled, a causal mask (-3.4e38 past the
// diagonal), softmax over keys, weighted sum of values. @main stays; @step takes
// one token and its position, and reads k and v from two caches of 3 positions:
// - the positions table [1, 3, 2] becomes its row at `position` (an embedding of
//   the table [3, 2] reshaped back to [1, 1, 2]);
// - k is cached where it is computed (before the transpose, which is replayed on
//   the whole cache: [1, 2, 3]); v is cached as it is, read whole by the product;
// - the mask [1, 3, 3] becomes its row at `position`: [1, 1, 3];
// - the results are the logits of this token and both caches as written.

// CHECK:       func.func @step(%0: tensor<1x1xi64> {nn.name = "ids"}, %1: tensor<1xi64> {nn.name = "position"}, %2: tensor<1x3x2xf32> {nn.name = "cache.0"}, %3: tensor<1x3x2xf32> {nn.name = "cache.1"}) -> (tensor<1x1x3xf32> {nn.name = "logits"}, tensor<1x3x2xf32> {nn.name = "cache.0"}, tensor<1x3x2xf32> {nn.name = "cache.1"}) attributes {nn.context = 3 : i64} {
// CHECK:         %[[E:.*]] = nn.embedding %0, %{{.*}} : (tensor<1x1xi64>, tensor<3x2xf32>) -> tensor<1x1x2xf32>
// CHECK-NEXT:    %[[TABLE:.*]] = nn.constant dense<{{\[\[}}1.000000e-01, 2.000000e-01], [3.000000e-01, 4.000000e-01], [5.000000e-01, 6.000000e-01]]> : tensor<3x2xf32>
// CHECK-NEXT:    %[[ROW:.*]] = nn.embedding %1, %[[TABLE]] : (tensor<1xi64>, tensor<3x2xf32>) -> tensor<1x2xf32>
// CHECK-NEXT:    %[[POS:.*]] = nn.reshape %[[ROW]] : (tensor<1x2xf32>) -> tensor<1x1x2xf32>
// CHECK-NEXT:    %[[X:.*]] = nn.add %[[E]], %[[POS]] : (tensor<1x1x2xf32>, tensor<1x1x2xf32>) -> tensor<1x1x2xf32>
// CHECK:         %[[Q:.*]] = nn.dense %[[X]], %{{.*}} : (tensor<1x1x2xf32>, tensor<2x2xf32>) -> tensor<1x1x2xf32>
// CHECK:         %[[K:.*]] = nn.dense %[[X]], %{{.*}} : (tensor<1x1x2xf32>, tensor<2x2xf32>) -> tensor<1x1x2xf32>
// CHECK:         %[[V:.*]] = nn.dense %[[X]], %{{.*}} : (tensor<1x1x2xf32>, tensor<2x2xf32>) -> tensor<1x1x2xf32>
// CHECK-NEXT:    %[[KS:.*]] = nn.cache_write %2, %[[K]], %1 {axis = 1 : i64} : (tensor<1x3x2xf32>, tensor<1x1x2xf32>, tensor<1xi64>) -> tensor<1x3x2xf32>
// CHECK-NEXT:    %[[KT:.*]] = nn.transpose %[[KS]] {perm = array<i64: 0, 2, 1>} : (tensor<1x3x2xf32>) -> tensor<1x2x3xf32>
// CHECK-NEXT:    %[[S:.*]] = nn.matmul %[[Q]], %[[KT]] : (tensor<1x1x2xf32>, tensor<1x2x3xf32>) -> tensor<1x1x3xf32>
// CHECK:         %[[SS:.*]] = nn.mul %[[S]], %{{.*}} : (tensor<1x1x3xf32>, tensor<f32>) -> tensor<1x1x3xf32>
// CHECK-NEXT:    %[[MASK:.*]] = nn.constant dense<{{\[\[}}0.000000e+00, -3.40282347e+38, -3.40282347e+38], [0.000000e+00, 0.000000e+00, -3.40282347e+38], [0.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<3x3xf32>
// CHECK-NEXT:    %[[MROW:.*]] = nn.embedding %1, %[[MASK]] : (tensor<1xi64>, tensor<3x3xf32>) -> tensor<1x3xf32>
// CHECK-NEXT:    %[[M:.*]] = nn.reshape %[[MROW]] : (tensor<1x3xf32>) -> tensor<1x1x3xf32>
// CHECK-NEXT:    %[[SM:.*]] = nn.add %[[SS]], %[[M]] : (tensor<1x1x3xf32>, tensor<1x1x3xf32>) -> tensor<1x1x3xf32>
// CHECK-NEXT:    %[[P:.*]] = nn.softmax %[[SM]] {axis = 2 : i64} : (tensor<1x1x3xf32>) -> tensor<1x1x3xf32>
// CHECK-NEXT:    %[[VS:.*]] = nn.cache_write %3, %[[V]], %1 {axis = 1 : i64} : (tensor<1x3x2xf32>, tensor<1x1x2xf32>, tensor<1xi64>) -> tensor<1x3x2xf32>
// CHECK-NEXT:    %[[A:.*]] = nn.matmul %[[P]], %[[VS]] : (tensor<1x1x3xf32>, tensor<1x3x2xf32>) -> tensor<1x1x2xf32>
// CHECK:         %[[L:.*]] = nn.dense %[[A]], %{{.*}} : (tensor<1x1x2xf32>, tensor<3x2xf32>) -> tensor<1x1x3xf32>
// CHECK-NEXT:    func.return %[[L]], %[[KS]], %[[VS]] : tensor<1x1x3xf32>, tensor<1x3x2xf32>, tensor<1x3x2xf32>
func.func @main(%ids: tensor<1x3xi64> {nn.name = "ids"}) -> (tensor<1x3x3xf32> {nn.name = "logits"}) {
  %emb = nn.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]> : tensor<3x2xf32>
  %pos = nn.constant dense<[[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]]> : tensor<1x3x2xf32>
  %wq = nn.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %wk = nn.constant dense<[[0.5, 0.0], [0.0, 0.5]]> : tensor<2x2xf32>
  %wv = nn.constant dense<[[2.0, 0.0], [0.0, 2.0]]> : tensor<2x2xf32>
  %wo = nn.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]> : tensor<3x2xf32>
  %scale = nn.constant dense<0.7> : tensor<f32>
  %mask = nn.constant dense<[[[0.0, -3.4028235e38, -3.4028235e38], [0.0, 0.0, -3.4028235e38], [0.0, 0.0, 0.0]]]> : tensor<1x3x3xf32>
  %e = nn.embedding %ids, %emb : (tensor<1x3xi64>, tensor<3x2xf32>) -> tensor<1x3x2xf32>
  %x = nn.add %e, %pos : (tensor<1x3x2xf32>, tensor<1x3x2xf32>) -> tensor<1x3x2xf32>
  %q = nn.dense %x, %wq : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  %k = nn.dense %x, %wk : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  %v = nn.dense %x, %wv : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  %kt = nn.transpose %k {perm = array<i64: 0, 2, 1>} : (tensor<1x3x2xf32>) -> tensor<1x2x3xf32>
  %s = nn.matmul %q, %kt : (tensor<1x3x2xf32>, tensor<1x2x3xf32>) -> tensor<1x3x3xf32>
  %ss = nn.mul %s, %scale : (tensor<1x3x3xf32>, tensor<f32>) -> tensor<1x3x3xf32>
  %sm = nn.add %ss, %mask : (tensor<1x3x3xf32>, tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %p = nn.softmax %sm {axis = 2 : i64} : (tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %a = nn.matmul %p, %v : (tensor<1x3x3xf32>, tensor<1x3x2xf32>) -> tensor<1x3x2xf32>
  %l = nn.dense %a, %wo : (tensor<1x3x2xf32>, tensor<3x2xf32>) -> tensor<1x3x3xf32>
  func.return %l : tensor<1x3x3xf32>
}

