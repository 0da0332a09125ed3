// A user mistake is one line `hwc-opt: error: ...` and exit status 1, no traceback.

// RUN: not hwc-opt %t.missing.mlir 2>&1 | filecheck %s --check-prefix=MISSING
// MISSING: hwc-opt: error: {{.*}}.missing.mlir: cannot read input (No such file or directory)
// MISSING-NOT: Traceback

// RUN: not hwc-opt %s -p no-such-pass 2>&1 | filecheck %s --check-prefix=PASS
// PASS: hwc-opt: error: Unrecognized passes: ['no-such-pass']

// RUN: not hwc-opt %s -p "fold-constants{" 2>&1 | filecheck %s --check-prefix=PIPELINE
// PIPELINE: hwc-opt: error: invalid pass pipeline 'fold-constants{' at column 16: Expected argument name here

// RUN: not hwc-opt %s 2>&1 | filecheck %s --check-prefix=VERIFY
// VERIFY: hwc-opt: error: {{.*}}errors.mlir: nn.dense: input has 3 features but weight expects 2
// VERIFY-NOT: Traceback

// RUN: echo "func.func @f( {" | not hwc-opt - 2>&1 | filecheck %s --check-prefix=PARSE
// PARSE: hwc-opt: error: <stdin>:1:15: Expected argument or type

// A failed run does not leave an output file behind.
// RUN: rm -f %t.out.mlir && not hwc-opt %s -o %t.out.mlir
// RUN: not ls %t.out.mlir

// A weight store that does not exist.
// RUN: echo 'builtin.module attributes {nn.weights = "absent.safetensors"} {}' > %t.store.mlir
// RUN: not hwc-opt %t.store.mlir 2>&1 | filecheck %s --check-prefix=STORE
// STORE: hwc-opt: error: weight store {{.*}}absent.safetensors does not exist

// Reading stdin with `-` works like a file.
// RUN: echo "func.func @ok() { func.return }" | hwc-opt - | filecheck %s --check-prefix=STDIN
// STDIN: func.func @ok()

func.func @main(%x: tensor<1x3xf32>) -> tensor<1x4xf32> {
  %w = nn.constant dense<1.0> : tensor<4x2xf32>
  %y = nn.dense %x, %w : (tensor<1x3xf32>, tensor<4x2xf32>) -> tensor<1x4xf32>
  func.return %y : tensor<1x4xf32>
}
