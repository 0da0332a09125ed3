// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// The float level in float64 (a model with float64 inputs): constants keep
// every digit (shortest round-trip spelling), the elementwise ops keep f64.
// CHECK-LABEL: func.func @float64
// CHECK:         %b = nn.constant dense<[1.000000e+200, -1.000000e-300, 0.33333333333333331]> : tensor<3xf64>
// CHECK:         %s = nn.add %x, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
// CHECK:         %m = nn.mul %s, %s : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
// CHECK:         %d = nn.sub %m, %x : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
// CHECK:         %q = nn.div %d, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
func.func @float64(%x: tensor<2x3xf64>) -> tensor<2x3xf64> {
  %b = nn.constant dense<[1.000000e+200, -1.000000e-300, 0.33333333333333331]> : tensor<3xf64>
  %s = nn.add %x, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  %m = nn.mul %s, %s : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %d = nn.sub %m, %x : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %q = nn.div %d, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
  func.return %q : tensor<2x3xf64>
}
