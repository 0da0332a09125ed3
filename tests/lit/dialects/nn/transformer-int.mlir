// RUN: hwc-opt %s | filecheck %s

// The integer transformer ops parse and print back (round trip), with the float
// ops they come from (nn.silu, nn.masked_softmax).

// CHECK-LABEL: func.func @ops
// CHECK:         %s = nn.int_softmax %x, %keep, %t {axis = 1 : i64, shift = 25 : i64, out_max = 127 : i64} : (tensor<2x4xi8>, tensor<2x4xi2>, tensor<9xi17>) -> tensor<2x4xi8>
// CHECK-NEXT:    %r = nn.inv_sqrt %v {shift = 20 : i64} : (tensor<2x1xi20>) -> tensor<2x1xi22>
// CHECK-NEXT:    %d = nn.group_dense %x, %w, %g, %b {group_size = 2 : i64} : (tensor<2x4xi8>, tensor<3x4xi4>, tensor<3x2xi9>, tensor<3xi24>) -> tensor<2x3xi24>
// CHECK-NEXT:    %u = nn.silu %f : (tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    %p = nn.masked_softmax %f, %m {axis = 1 : i64} : (tensor<2x4xf32>, tensor<2x4xi1>) -> tensor<2x4xf32>
func.func @ops(%x: tensor<2x4xi8>, %keep: tensor<2x4xi2>, %t: tensor<9xi17>, %v: tensor<2x1xi20>,
               %w: tensor<3x4xi4>, %g: tensor<3x2xi9>, %b: tensor<3xi24>, %f: tensor<2x4xf32>, %m: tensor<2x4xi1>)
    -> (tensor<2x4xi8>, tensor<2x1xi22>, tensor<2x3xi24>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %s = nn.int_softmax %x, %keep, %t {axis = 1 : i64, shift = 25 : i64, out_max = 127 : i64} : (tensor<2x4xi8>, tensor<2x4xi2>, tensor<9xi17>) -> tensor<2x4xi8>
  %r = nn.inv_sqrt %v {shift = 20 : i64} : (tensor<2x1xi20>) -> tensor<2x1xi22>
  %d = nn.group_dense %x, %w, %g, %b {group_size = 2 : i64} : (tensor<2x4xi8>, tensor<3x4xi4>, tensor<3x2xi9>, tensor<3xi24>) -> tensor<2x3xi24>
  %u = nn.silu %f : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %p = nn.masked_softmax %f, %m {axis = 1 : i64} : (tensor<2x4xf32>, tensor<2x4xi1>) -> tensor<2x4xf32>
  func.return %s, %r, %d, %u, %p : tensor<2x4xi8>, tensor<2x1xi22>, tensor<2x3xi24>, tensor<2x4xf32>, tensor<2x4xf32>
}
