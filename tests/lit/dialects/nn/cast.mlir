// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @cast
// CHECK:         %f = nn.cast %ids : (tensor<1x5xi64>) -> tensor<1x5xf32>
// CHECK:         %i = nn.cast %f : (tensor<1x5xf32>) -> tensor<1x5xi32>
func.func @cast(%ids: tensor<1x5xi64>) -> (tensor<1x5xf32>, tensor<1x5xi32>) {
  %f = nn.cast %ids : (tensor<1x5xi64>) -> tensor<1x5xf32>
  %i = nn.cast %f : (tensor<1x5xf32>) -> tensor<1x5xi32>
  func.return %f, %i : tensor<1x5xf32>, tensor<1x5xi32>
}
