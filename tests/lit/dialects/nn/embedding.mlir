// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @embedding
// CHECK:         %y = nn.embedding %ids, %table : (tensor<1x5xi64>, tensor<10x4xf32>) -> tensor<1x5x4xf32>
// CHECK:         %z = nn.embedding %ids32, %table : (tensor<2xi32>, tensor<10x4xf32>) -> tensor<2x4xf32>
func.func @embedding(%ids: tensor<1x5xi64>, %ids32: tensor<2xi32>, %table: tensor<10x4xf32>) -> (tensor<1x5x4xf32>, tensor<2x4xf32>) {
  %y = nn.embedding %ids, %table : (tensor<1x5xi64>, tensor<10x4xf32>) -> tensor<1x5x4xf32>
  %z = nn.embedding %ids32, %table : (tensor<2xi32>, tensor<10x4xf32>) -> tensor<2x4xf32>
  func.return %y, %z : tensor<1x5x4xf32>, tensor<2x4xf32>
}
