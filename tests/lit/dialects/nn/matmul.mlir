// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @matmul
// CHECK:         %scores = nn.matmul %q, %kt : (tensor<1x4x6x8xf32>, tensor<1x4x8x6xf32>) -> tensor<1x4x6x6xf32>
// CHECK:         %shared = nn.matmul %q, %w : (tensor<1x4x6x8xf32>, tensor<8x3xf32>) -> tensor<1x4x6x3xf32>
func.func @matmul(%q: tensor<1x4x6x8xf32>, %kt: tensor<1x4x8x6xf32>, %w: tensor<8x3xf32>) -> (tensor<1x4x6x6xf32>, tensor<1x4x6x3xf32>) {
  %scores = nn.matmul %q, %kt : (tensor<1x4x6x8xf32>, tensor<1x4x8x6xf32>) -> tensor<1x4x6x6xf32>
  %shared = nn.matmul %q, %w : (tensor<1x4x6x8xf32>, tensor<8x3xf32>) -> tensor<1x4x6x3xf32>
  func.return %scores, %shared : tensor<1x4x6x6xf32>, tensor<1x4x6x3xf32>
}
