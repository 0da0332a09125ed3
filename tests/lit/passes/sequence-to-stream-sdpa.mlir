// RUN: hwc-opt %s -p sequence-to-stream | filecheck %s

// Attention as transformers' SDPA code exports it (torch.onnx, dynamo): the scale
// split as √scale on q and on kᵀ, the causal mask added, the softmax, then the NaN
// guard where(isnan(p), 0, p), which keeps the weights past the diagonal exactly 0,
// so the product with v is causal. The step graph keeps every op; the √scale on
// kᵀ is no movement op, so the cache holds kᵀ scaled, [1, 2, 3], written along axis 2.

// CHECK:       func.func @step(%0: tensor<1x1xi64> {nn.name = "ids"}, %1: tensor<1xi64> {nn.name = "position"}, %2: tensor<1x2x3xf32> {nn.name = "cache.0"}, %3: tensor<1x3x2xf32> {nn.name = "cache.1"})
// CHECK:         %[[KT:.*]] = nn.transpose %{{.*}} {perm = array<i64: 0, 2, 1>} : (tensor<1x1x2xf32>) -> tensor<1x2x1xf32>
// CHECK-NEXT:    %[[KTS:.*]] = nn.mul %[[KT]], %{{.*}} : (tensor<1x2x1xf32>, tensor<f32>) -> tensor<1x2x1xf32>
// CHECK-NEXT:    %[[KC:.*]] = nn.cache_write %2, %[[KTS]], %1 {axis = 2 : i64} : (tensor<1x2x3xf32>, tensor<1x2x1xf32>, tensor<1xi64>) -> tensor<1x2x3xf32>
// CHECK-NEXT:    %{{.*}} = nn.matmul %{{.*}}, %[[KC]] : (tensor<1x1x2xf32>, tensor<1x2x3xf32>) -> tensor<1x1x3xf32>
// CHECK:         %[[P:.*]] = nn.softmax %{{.*}} {axis = 2 : i64} : (tensor<1x1x3xf32>) -> tensor<1x1x3xf32>
// CHECK-NEXT:    %[[NAN:.*]] = nn.is_nan %[[P]] : (tensor<1x1x3xf32>) -> tensor<1x1x3xi1>
// CHECK-NEXT:    %[[G:.*]] = nn.where %[[NAN]], %{{.*}}, %[[P]] : (tensor<1x1x3xi1>, tensor<f32>, tensor<1x1x3xf32>) -> tensor<1x1x3xf32>
// CHECK-NEXT:    %[[VC:.*]] = nn.cache_write %3, %{{.*}}, %1 {axis = 1 : i64} : (tensor<1x3x2xf32>, tensor<1x1x2xf32>, tensor<1xi64>) -> tensor<1x3x2xf32>
// CHECK-NEXT:    %[[A:.*]] = nn.matmul %[[G]], %[[VC]] : (tensor<1x1x3xf32>, tensor<1x3x2xf32>) -> tensor<1x1x2xf32>
// CHECK-NEXT:    func.return %[[A]], %[[KC]], %[[VC]]
func.func @main(%ids: tensor<1x3xi64> {nn.name = "ids"}) -> (tensor<1x3x2xf32> {nn.name = "out"}) {
  %emb = nn.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]> : tensor<3x2xf32>
  %wk = nn.constant dense<[[0.5, 0.0], [0.0, 0.5]]> : tensor<2x2xf32>
  %wv = nn.constant dense<[[2.0, 0.0], [0.0, 2.0]]> : tensor<2x2xf32>
  %root = nn.constant dense<0.8> : tensor<f32>
  %zero = nn.constant dense<0.0> : tensor<f32>
  %mask = nn.constant dense<[[[0.0, -3.4028235e38, -3.4028235e38], [0.0, 0.0, -3.4028235e38], [0.0, 0.0, 0.0]]]> : tensor<1x3x3xf32>
  %x = nn.embedding %ids, %emb : (tensor<1x3xi64>, tensor<3x2xf32>) -> tensor<1x3x2xf32>
  %k = nn.dense %x, %wk : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  %v = nn.dense %x, %wv : (tensor<1x3x2xf32>, tensor<2x2xf32>) -> tensor<1x3x2xf32>
  %qs = nn.mul %x, %root : (tensor<1x3x2xf32>, tensor<f32>) -> tensor<1x3x2xf32>
  %kt = nn.transpose %k {perm = array<i64: 0, 2, 1>} : (tensor<1x3x2xf32>) -> tensor<1x2x3xf32>
  %kts = nn.mul %kt, %root : (tensor<1x2x3xf32>, tensor<f32>) -> tensor<1x2x3xf32>
  %s = nn.matmul %qs, %kts : (tensor<1x3x2xf32>, tensor<1x2x3xf32>) -> tensor<1x3x3xf32>
  %sm = nn.add %s, %mask : (tensor<1x3x3xf32>, tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %p = nn.softmax %sm {axis = 2 : i64} : (tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %nan = nn.is_nan %p : (tensor<1x3x3xf32>) -> tensor<1x3x3xi1>
  %g = nn.where %nan, %zero, %p : (tensor<1x3x3xi1>, tensor<f32>, tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  %a = nn.matmul %g, %v : (tensor<1x3x3xf32>, tensor<1x3x2xf32>) -> tensor<1x3x2xf32>
  func.return %a : tensor<1x3x2xf32>
}
