// The weight store is found relative to the IR file, and tensors created by a
// pass are saved beside the output (or beside the input when printing).

// RUN: rm -rf %t && mkdir -p %t/in %t/out
// RUN: %python %S/Inputs/make_weights.py %t/in/w.safetensors
// RUN: cp %s %t/in/model.mlir

// Nothing new: the attribute is rewritten relative to the output's folder.
// RUN: hwc-opt %t/in/model.mlir -o %t/out/same.mlir
// RUN: filecheck %s --check-prefix=SAME < %t/out/same.mlir
// SAME: nn.weights = "../in/w.safetensors"
// SAME: nn.weight "conv.weight" : tensor<8x9x1x1xf32>

// Folded weights go to OUT.safetensors, named relative to OUT.
// RUN: hwc-opt %t/in/model.mlir -p fold-batchnorm -o %t/out/folded.mlir
// RUN: filecheck %s --check-prefix=FOLDED < %t/out/folded.mlir
// RUN: %python %S/Inputs/check_weights.py %t/out/folded.safetensors conv.weight.bn_folded
// FOLDED: nn.weights = "folded.safetensors"
// FOLDED: %[[W:.*]] = nn.weight "conv.weight.bn_folded" : tensor<8x9x1x1xf32>
// FOLDED: %[[B:.*]] = nn.constant dense<[1.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00]> : tensor<8xf32>
// FOLDED: nn.conv %x, %[[W]], %[[B]]
// FOLDED-NOT: nn.batch_norm

// The result reads back: running again needs no new file and keeps the store.
// RUN: hwc-opt %t/out/folded.mlir -p fold-batchnorm,fold-constants -o %t/out/again.mlir
// RUN: filecheck %s --check-prefix=AGAIN < %t/out/again.mlir
// AGAIN: nn.weights = "folded.safetensors"

// Printing to stdout: saved beside the input as <stem>.opt.safetensors, said on stderr.
// RUN: hwc-opt %t/in/model.mlir -p fold-batchnorm 2> %t/stderr.txt | filecheck %s --check-prefix=STDOUT
// RUN: filecheck %s --check-prefix=STDERR < %t/stderr.txt
// RUN: %python %S/Inputs/check_weights.py %t/in/model.opt.safetensors conv.weight.bn_folded
// STDOUT: nn.weights = "model.opt.safetensors"
// STDERR: hwc-opt: new weights saved to {{.*}}model.opt.safetensors

// Plain xdsl-opt sees hwc's dialects and passes through the universe entry point.
// RUN: cd %t/in && xdsl-opt model.mlir -p fold-batchnorm | filecheck %s --check-prefix=XDSL
// XDSL: nn.conv %x, %{{.*}}, %{{.*}} {
// XDSL-NOT: nn.batch_norm

builtin.module attributes {nn.weights = "w.safetensors"} {
  func.func @main(%x: tensor<1x9x2x2xf32>) -> tensor<1x8x2x2xf32> {
    %w = nn.weight "conv.weight" : tensor<8x9x1x1xf32>
    %y = nn.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x9x2x2xf32>, tensor<8x9x1x1xf32>) -> tensor<1x8x2x2xf32>
    // Channel 0: f = 4 / sqrt(3 + 1) = 2, b' = (0 - 0.5) * 2 + 2 = 1; other channels: f = 1, b' = 0.
    %s = nn.constant dense<[4.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]> : tensor<8xf32>
    %b = nn.constant dense<[2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]> : tensor<8xf32>
    %m = nn.constant dense<[0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]> : tensor<8xf32>
    %v = nn.constant dense<3.0> : tensor<8xf32>
    %z = nn.batch_norm %y, %s, %b, %m, %v {epsilon = 1.0 : f32} : (tensor<1x8x2x2xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<1x8x2x2xf32>
    func.return %z : tensor<1x8x2x2xf32>
  }
}
