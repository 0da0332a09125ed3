// RUN: not hwc-opt %s -p sequence-to-stream 2>&1 | filecheck %s

// Without the mask every position attends to every other: a bidirectional
// encoder, which runs whole-sequence only.

// CHECK: hwc-opt: error: the graph does not run token by token: nn.softmax takes a softmax over keys that are not causally masked
func.func @main(%ids: tensor<1x3xi64> {nn.name = "ids"}) -> (tensor<1x3x3xf32> {nn.name = "scores"}) {
  %emb = nn.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]> : tensor<3x2xf32>
  %e = nn.embedding %ids, %emb : (tensor<1x3xi64>, tensor<3x2xf32>) -> tensor<1x3x2xf32>
  %et = nn.transpose %e {perm = array<i64: 0, 2, 1>} : (tensor<1x3x2xf32>) -> tensor<1x2x3xf32>
  %s = nn.matmul %e, %et : (tensor<1x3x2xf32>, tensor<1x2x3xf32>) -> tensor<1x3x3xf32>
  %p = nn.softmax %s {axis = 2 : i64} : (tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  func.return %p : tensor<1x3x3xf32>
}
