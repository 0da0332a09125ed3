// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// The store is not opened: printing and parsing need only the key and type.
// CHECK-LABEL: func.func @weights
// CHECK-NEXT:    %w = nn.weight "layer1.weight" : tensor<64x32xf32>
// CHECK-NEXT:    %q = nn.weight "odd key/with.dots" : tensor<3x3xi8>
// CHECK-NEXT:    func.return %w, %q
func.func @weights() -> (tensor<64x32xf32>, tensor<3x3xi8>) {
  %w = nn.weight "layer1.weight" : tensor<64x32xf32>
  %q = nn.weight "odd key/with.dots" : tensor<3x3xi8>
  func.return %w, %q : tensor<64x32xf32>, tensor<3x3xi8>
}
