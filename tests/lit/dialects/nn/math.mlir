// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// The float-level element-wise math ops: unary functions keep their operand's type.
// CHECK-LABEL: func.func @unary
// CHECK:         %0 = nn.neg %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %1 = nn.abs %0 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %2 = nn.sign %1 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %3 = nn.exp %2 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %4 = nn.log %3 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %5 = nn.sqrt %4 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %6 = nn.reciprocal %5 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %7 = nn.erf %6 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %8 = nn.sin %7 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %9 = nn.cos %8 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %10 = nn.softplus %9 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %11 = nn.softsign %10 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %12 = nn.hard_swish %11 : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %13 = nn.elu %12 {alpha = 1.000000e+00 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %14 = nn.selu %13 {alpha = 1.500000e+00 : f32, gamma = 2.000000e+00 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %15 = nn.hard_sigmoid %14 {alpha = 2.500000e-01 : f32, beta = 5.000000e-01 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %16 = nn.shrink %15 {bias = 0.000000e+00 : f32, lambd = 5.000000e-01 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %17 = nn.gelu %16 {approximate = "none"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %18 = nn.gelu %17 {approximate = "tanh"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
func.func @unary(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = nn.neg %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = nn.abs %0 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = nn.sign %1 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = nn.exp %2 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = nn.log %3 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %5 = nn.sqrt %4 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %6 = nn.reciprocal %5 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %7 = nn.erf %6 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %8 = nn.sin %7 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %9 = nn.cos %8 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %10 = nn.softplus %9 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %11 = nn.softsign %10 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %12 = nn.hard_swish %11 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %13 = nn.elu %12 {alpha = 1.0 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %14 = nn.selu %13 {alpha = 1.5 : f32, gamma = 2.0 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %15 = nn.hard_sigmoid %14 {alpha = 0.25 : f32, beta = 0.5 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %16 = nn.shrink %15 {bias = 0.0 : f32, lambd = 0.5 : f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %17 = nn.gelu %16 {approximate = "none"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %18 = nn.gelu %17 {approximate = "tanh"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %18 : tensor<2x3xf32>
}

// Binary ops broadcast as numpy does.
// CHECK-LABEL: func.func @binary
// CHECK:         %0 = nn.pow %x, %e : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %1 = nn.max %0, %c : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %2 = nn.min %c, %1 : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %3 = nn.prelu %2, %c : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
func.func @binary(%x: tensor<2x3xf32>, %e: tensor<f32>, %c: tensor<3xf32>) -> tensor<2x3xf32> {
  %0 = nn.pow %x, %e : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %1 = nn.max %0, %c : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %2 = nn.min %c, %1 : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = nn.prelu %2, %c : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return %3 : tensor<2x3xf32>
}

// nn.is_nan: an i1 of the operand's shape, read by nn.where (SDPA's NaN guard).
// CHECK-LABEL: func.func @is_nan
// CHECK:         %0 = nn.is_nan %x : (tensor<2x3xf32>) -> tensor<2x3xi1>
// CHECK-NEXT:    %1 = nn.where %0, %z, %x : (tensor<2x3xi1>, tensor<f32>, tensor<2x3xf32>) -> tensor<2x3xf32>
func.func @is_nan(%x: tensor<2x3xf32>, %z: tensor<f32>) -> tensor<2x3xf32> {
  %0 = nn.is_nan %x : (tensor<2x3xf32>) -> tensor<2x3xi1>
  %1 = nn.where %0, %z, %x : (tensor<2x3xi1>, tensor<f32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %1 : tensor<2x3xf32>
}
