// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

func.func @f(%x: tensor<2x4xi8>, %w: tensor<3x4xi4>, %g: tensor<3x3xi9>) -> tensor<2x3xi24> {
  // CHECK: nn.group_dense: group scales must be [3, ceil(4/group_size)]
  %d = nn.group_dense %x, %w, %g {group_size = 2 : i64} : (tensor<2x4xi8>, tensor<3x4xi4>, tensor<3x3xi9>) -> tensor<2x3xi24>
  func.return %d : tensor<2x3xi24>
}

// -----

func.func @f(%x: tensor<2x4xi8>, %keep: tensor<2x4xi2>, %t: tensor<3x3xi17>) -> tensor<2x4xi8> {
  // CHECK: nn.int_softmax: the exp table must be 1-D
  %s = nn.int_softmax %x, %keep, %t {axis = 1 : i64, shift = 25 : i64, out_max = 127 : i64} : (tensor<2x4xi8>, tensor<2x4xi2>, tensor<3x3xi17>) -> tensor<2x4xi8>
  func.return %s : tensor<2x4xi8>
}

// -----

func.func @f(%v: tensor<2xf32>) -> tensor<2xf32> {
  // CHECK: nn.inv_sqrt: operand and result must be integer tensors
  %r = nn.inv_sqrt %v {shift = 20 : i64} : (tensor<2xf32>) -> tensor<2xf32>
  func.return %r : tensor<2xf32>
}

// -----

func.func @f(%x: tensor<2x4xf32>, %m: tensor<2x4xi8>) -> tensor<2x4xf32> {
  // CHECK: nn.masked_softmax: the mask must be an i1 tensor
  %p = nn.masked_softmax %x, %m {axis = 1 : i64} : (tensor<2x4xf32>, tensor<2x4xi8>) -> tensor<2x4xf32>
  func.return %p : tensor<2x4xf32>
}
