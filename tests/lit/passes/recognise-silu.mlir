// RUN: hwc-opt %s --split-input-file -p recognise-silu | filecheck %s

// Llama's MLP gate as torch exports it: x * sigmoid(x), the sigmoid read only there.

// CHECK-LABEL: func.func @silu
// CHECK-NEXT:    %y = nn.silu %x {nn.onnx_tensor = "y"} : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
// CHECK-NEXT:    func.return %y
func.func @silu(%x: tensor<1x4x8xf32>) -> tensor<1x4x8xf32> {
  %s = nn.sigmoid %x : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %y = nn.mul %x, %s {nn.onnx_tensor = "y"} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  func.return %y : tensor<1x4x8xf32>
}

// -----

// The other operand order; the sigmoid has a second reader, so it stays.

// CHECK-LABEL: func.func @shared_sigmoid
// CHECK-NEXT:    %s = nn.sigmoid %x
// CHECK-NEXT:    %y = nn.silu %x
// CHECK-NEXT:    %z = nn.add %y, %s
func.func @shared_sigmoid(%x: tensor<8xf32>) -> tensor<8xf32> {
  %s = nn.sigmoid %x : (tensor<8xf32>) -> tensor<8xf32>
  %y = nn.mul %s, %x : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %z = nn.add %y, %s : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  func.return %z : tensor<8xf32>
}

// -----

// x * sigmoid(w) with w another value is not a SiLU.

// CHECK-LABEL: func.func @not_silu
// CHECK-NOT:     nn.silu
func.func @not_silu(%x: tensor<8xf32>, %w: tensor<8xf32>) -> tensor<8xf32> {
  %s = nn.sigmoid %w : (tensor<8xf32>) -> tensor<8xf32>
  %y = nn.mul %x, %s : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  func.return %y : tensor<8xf32>
}
