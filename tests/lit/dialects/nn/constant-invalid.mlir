// RUN: hwc-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s

// CHECK: nn.constant: result type differs from the value's type
%0 = "nn.constant"() <{value = dense<1.0> : tensor<2xf32>}> : () -> tensor<3xf32>

// -----

// CHECK: nn.constant expects a dense<...> tensor literal
%0 = nn.constant 1.0 : f32
