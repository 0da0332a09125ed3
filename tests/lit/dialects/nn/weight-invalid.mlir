// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// CHECK: f32 should be of base attribute tensor
%0 = "nn.weight"() <{key = "w"}> : () -> f32

// -----

// CHECK: 3 : i64 should be of base attribute string
%0 = "nn.weight"() <{key = 3 : i64}> : () -> tensor<2xf32>
