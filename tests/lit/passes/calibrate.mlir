// RUN: %python -c "import numpy as np; np.savez('%t.npz', input=np.array([[0.75, 0.0], [-1.25, 0.0], [0.0, 1.5]], np.float32))"
// RUN: hwc-opt %s -p 'calibrate{calib="%t.npz"}' | filecheck %s
// RUN: hwc-opt %s -p 'calibrate{calib="%t.npz" samples=1}' | filecheck %s --check-prefix=FIRST
// RUN: hwc-opt %s -p 'calibrate{samples=3}' 2>&1 | filecheck %s --check-prefix=RANDOM
// RUN: not hwc-opt %s -p 'calibrate{calib="%t.missing.npz"}' 2>&1 | filecheck %s --check-prefix=MISSING
// RUN: not hwc-opt %s -p 'calibrate{calib="%t.npz" samples=0}' 2>&1 | filecheck %s --check-prefix=ZERO

// A 2 -> 2 dense layer and a ReLU run on three samples (all values exact in
// float32, so the ranges print exactly). Derived by hand:
//   x:          [0.75, 0], [-1.25, 0], [0, 1.5]           -> absmax 1.5
//   y = x·Wᵀ + b, W = [[1, -0.5], [0.25, 0.5]], b = [0.5, -0.25]:
//     y0 = [1.25, -0.0625], y1 = [-0.75, -0.5625], y2 = [-0.25, 0.5]
//                                                          -> absmax 1.25
//   relu(y): [1.25, 0], [0, 0], [0, 0.5]                  -> absmax 1.25
// Only the first sample (samples=1): x 0.75, y 1.25, relu 1.25.
// Constants get no range; nothing else changes.

// CHECK:      func.func @main(%x: tensor<1x2xf32> {nn.name = "input", nn.absmax = 1.500000e+00 : f64}) -> (tensor<1x2xf32> {nn.name = "y"}) {
// CHECK-NEXT:   %w = nn.constant dense<{{\[\[}}1.000000e+00, -5.000000e-01], [2.500000e-01, 5.000000e-01]]> : tensor<2x2xf32>
// CHECK-NEXT:   %b = nn.constant dense<[5.000000e-01, -2.500000e-01]> : tensor<2xf32>
// CHECK-NEXT:   %y = nn.dense %x, %w, %b {nn.absmax = 1.250000e+00 : f64} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
// CHECK-NEXT:   %r = nn.relu %y {nn.absmax = 1.250000e+00 : f64} : (tensor<1x2xf32>) -> tensor<1x2xf32>
// CHECK-NEXT:   func.return %r : tensor<1x2xf32>

// FIRST:      {nn.name = "input", nn.absmax = 7.500000e-01 : f64}
// FIRST:      nn.dense {{.*}} {nn.absmax = 1.250000e+00 : f64}
// FIRST:      nn.relu {{.*}} {nn.absmax = 1.250000e+00 : f64}

// RANDOM: hwc: warning: no calibration data; using random normal inputs
// RANDOM: nn.name = "input", nn.absmax =
// MISSING: hwc-opt: error: --calib {{.*}}.missing.npz: no such file
// ZERO: hwc-opt: error: calibrate: samples=0: must be at least 1

func.func @main(%x: tensor<1x2xf32> {nn.name = "input"}) -> (tensor<1x2xf32> {nn.name = "y"}) {
  %w = nn.constant dense<[[1.0, -0.5], [0.25, 0.5]]> : tensor<2x2xf32>
  %b = nn.constant dense<[0.5, -0.25]> : tensor<2xf32>
  %y = nn.dense %x, %w, %b : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %r = nn.relu %y : (tensor<1x2xf32>) -> tensor<1x2xf32>
  func.return %r : tensor<1x2xf32>
}
