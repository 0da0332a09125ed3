// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @constants
// CHECK-NEXT:    %splat = nn.constant dense<1.500000e+00> : tensor<2x3xf32>
// CHECK-NEXT:    %values = nn.constant dense<[[1.000000e+00, -2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT:    %ints = nn.constant dense<[1, -2, 3]> : tensor<3xi8>
// CHECK-NEXT:    %named = nn.constant dense<0.000000e+00> : tensor<1xf32> {nn.name = "zero"}
// CHECK-NEXT:    func.return %splat, %values, %ints, %named
func.func @constants() -> (tensor<2x3xf32>, tensor<2x2xf32>, tensor<3xi8>, tensor<1xf32>) {
  %splat = nn.constant dense<1.5> : tensor<2x3xf32>
  %values = nn.constant dense<[[1.0, -2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %ints = nn.constant dense<[1, -2, 3]> : tensor<3xi8>
  %named = nn.constant dense<0.0> : tensor<1xf32> {nn.name = "zero"}
  func.return %splat, %values, %ints, %named : tensor<2x3xf32>, tensor<2x2xf32>, tensor<3xi8>, tensor<1xf32>
}
