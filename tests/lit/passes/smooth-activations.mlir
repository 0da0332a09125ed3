// RUN: hwc-opt %s -p "smooth-activations{alpha=0.5}" 2>&1 | filecheck %s

// An RMS norm read only by two dense layers: its weight is divided by s and
// both readers' weight columns multiplied by s (new constants; the old ones go).
// s comes from the calibration ranges (random inputs here, with the warning), so
// only the structure is checked; tests/unit/test_smooth_activations.py checks
// that the function is unchanged and the ranges evened out.

// CHECK:       hwc: warning: no calibration data
// CHECK-LABEL: func.func @main
// CHECK-NOT:     dense<[1.000000e+00, 2.000000e+00, 4.000000e+00, 8.000000e+00]>
// CHECK:         %[[G:.*]] = nn.constant dense<{{.*}}> : tensor<4xf32>
// CHECK-NEXT:    %[[N:.*]] = nn.rms_norm %x, %[[G]]
// CHECK:         nn.dense %[[N]], %{{.*}} : (tensor<1x3x4xf32>, tensor<2x4xf32>)
// CHECK:         nn.dense %[[N]], %{{.*}} : (tensor<1x3x4xf32>, tensor<5x4xf32>)
func.func @main(%x: tensor<1x3x4xf32>) -> (tensor<1x3x2xf32>, tensor<1x3x5xf32>) {
  %g = nn.constant dense<[1.0, 2.0, 4.0, 8.0]> : tensor<4xf32>
  %n = nn.rms_norm %x, %g {axis = 2 : i64, epsilon = 1.0e-05 : f32} : (tensor<1x3x4xf32>, tensor<4xf32>) -> tensor<1x3x4xf32>
  %w1 = nn.constant dense<[[1.0, 1.0, 1.0, 1.0], [0.5, -0.5, 0.25, 2.0]]> : tensor<2x4xf32>
  %w2 = nn.constant dense<0.5> : tensor<5x4xf32>
  %a = nn.dense %n, %w1 : (tensor<1x3x4xf32>, tensor<2x4xf32>) -> tensor<1x3x2xf32>
  %b = nn.dense %n, %w2 : (tensor<1x3x4xf32>, tensor<5x4xf32>) -> tensor<1x3x5xf32>
  func.return %a, %b : tensor<1x3x2xf32>, tensor<1x3x5xf32>
}
