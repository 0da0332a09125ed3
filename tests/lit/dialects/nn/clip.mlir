// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// Both bounds, only one, or none.
// CHECK-LABEL: func.func @clip
// CHECK:         %relu6 = nn.clip %x {min = 0.000000e+00 : f32, max = 6.000000e+00 : f32} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK:         %low = nn.clip %x {min = -1.000000e+00 : f32} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK:         %high = nn.clip %x {max = 1.000000e+00 : f32} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK:         %none = nn.clip %x : (tensor<4xf32>) -> tensor<4xf32>
func.func @clip(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %relu6 = nn.clip %x {min = 0.0 : f32, max = 6.0 : f32} : (tensor<4xf32>) -> tensor<4xf32>
  %low = nn.clip %x {min = -1.0 : f32} : (tensor<4xf32>) -> tensor<4xf32>
  %high = nn.clip %x {max = 1.0 : f32} : (tensor<4xf32>) -> tensor<4xf32>
  %none = nn.clip %x : (tensor<4xf32>) -> tensor<4xf32>
  func.return %relu6, %low, %high, %none : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
