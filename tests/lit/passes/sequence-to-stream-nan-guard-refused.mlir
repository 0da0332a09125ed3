// RUN: not hwc-opt %s -p sequence-to-stream 2>&1 | filecheck %s

// A NaN guard that puts a non-zero constant where the softmax is NaN no longer
// proves the weights past the diagonal zero: the product with v is refused.

// CHECK: hwc-opt: error: the graph does not run token by token: nn.matmul multiplies across sequence positions in a way that is not causal attention
func.func @main(%ids: tensor<1x3xi64> {nn.name = "ids"}) -> (tensor<1x3x2xf32> {nn.name = "out"}) {
  %emb = nn.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]> : tensor<3x2xf32>
  %one = nn.constant dense<1.0> : tensor<f32>
  %mask = nn.constant dense<[[[0.0, -3.4028235e38, -3.4028235e38], [0.0, 0.0, -3.4028235e38], [0.0, 0.0, 0.0]]]> : tensor<1x3x3xf32>
  %x = nn.embedding %ids, %emb : (tensor<1x3xi64>, tensor<3x2xf32>) -> tensor<1x3x2xf32>
  %xt = nn.transpose %x {perm = array<i64: 0, 2, 1>} : (tensor<1x3x2xf32>) -> tensor<1x2x3xf32>
  %s = nn.matmul %x, %xt : (tensor<1x3x2xf32>, tensor<1x2x3xf32>) -> tensor<1x3x3xf32>
  %sm = nn.add %s, %mask : (tensor<1x3x3xf32>, tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %p = nn.softmax %sm {axis = 2 : i64} : (tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %nan = nn.is_nan %p : (tensor<1x3x3xf32>) -> tensor<1x3x3xi1>
  %g = nn.where %nan, %one, %p : (tensor<1x3x3xi1>, tensor<f32>, tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %a = nn.matmul %g, %x : (tensor<1x3x3xf32>, tensor<1x3x2xf32>) -> tensor<1x3x2xf32>
  func.return %a : tensor<1x3x2xf32>
}
