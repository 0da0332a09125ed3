// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @cache_write
// CHECK:         %next = nn.cache_write %cache, %k, %position {axis = 2 : i64} : (tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1xi64>) -> tensor<1x2x16x8xf32>
func.func @cache_write(%cache: tensor<1x2x16x8xf32>, %k: tensor<1x2x1x8xf32>, %position: tensor<1xi64>) -> tensor<1x2x16x8xf32> {
  %next = nn.cache_write %cache, %k, %position {axis = 2 : i64} : (tensor<1x2x16x8xf32>, tensor<1x2x1x8xf32>, tensor<1xi64>) -> tensor<1x2x16x8xf32>
  func.return %next : tensor<1x2x16x8xf32>
}
