// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// CHECK-LABEL: func.func @relu
// CHECK:         %y = nn.relu %x : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
// CHECK:         %z = nn.relu %i : (tensor<8xi8>) -> tensor<8xi8>
func.func @relu(%x: tensor<1x4x2x2xf32>, %i: tensor<8xi8>) -> (tensor<1x4x2x2xf32>, tensor<8xi8>) {
  %y = nn.relu %x : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
  %z = nn.relu %i : (tensor<8xi8>) -> tensor<8xi8>
  func.return %y, %z : tensor<1x4x2x2xf32>, tensor<8xi8>
}
