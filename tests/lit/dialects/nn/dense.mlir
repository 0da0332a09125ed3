// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @dense
// CHECK:         %y = nn.dense %x, %w, %b : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
// CHECK-NEXT:    %z = nn.dense %x3, %w : (tensor<1x5x3xf32>, tensor<2x3xf32>) -> tensor<1x5x2xf32>
// CHECK-NEXT:    %v = nn.dense %x1, %w {nn.name = "fc"} : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2xf32>
func.func @dense(%x: tensor<4x3xf32>, %x3: tensor<1x5x3xf32>, %x1: tensor<3xf32>) -> (tensor<4x2xf32>, tensor<1x5x2xf32>, tensor<2xf32>) {
  %w = nn.weight "w" : tensor<2x3xf32>
  %b = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = nn.dense %x, %w, %b : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %z = nn.dense %x3, %w : (tensor<1x5x3xf32>, tensor<2x3xf32>) -> tensor<1x5x2xf32>
  %v = nn.dense %x1, %w {nn.name = "fc"} : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2xf32>
  func.return %y, %z, %v : tensor<4x2xf32>, tensor<1x5x2xf32>, tensor<2xf32>
}
