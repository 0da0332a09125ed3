// RUN: hwc-opt %s --split-input-file -p softmax-to-host | filecheck %s

// A final softmax over the last axis leaves the graph: main returns the
// logits, and the result records the host op beside its other attributes.

// CHECK-LABEL: func.func @final
// CHECK-SAME:    -> (tensor<1x4xf32> {nn.name = "probs", nn.host_op = "softmax"})
// CHECK-NEXT:    %y = nn.dense %x, %w
// CHECK-NEXT:    func.return %y : tensor<1x4xf32>
func.func @final(%x: tensor<1x2xf32>, %w: tensor<4x2xf32>) -> (tensor<1x4xf32> {nn.name = "probs"}) {
  %y = nn.dense %x, %w : (tensor<1x2xf32>, tensor<4x2xf32>) -> tensor<1x4xf32>
  %p = nn.softmax %y {axis = 1 : i64} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  func.return %p : tensor<1x4xf32>
}

// -----

// log_softmax likewise, on a result without attributes (the other result keeps none).

// CHECK-LABEL: func.func @log
// CHECK-SAME:    -> (tensor<1x4xf32>, tensor<1x4xf32> {nn.host_op = "log_softmax"})
// CHECK-NEXT:    func.return %x, %x : tensor<1x4xf32>, tensor<1x4xf32>
func.func @log(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>) {
  %p = nn.log_softmax %x {axis = 1 : i64} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  func.return %x, %p : tensor<1x4xf32>, tensor<1x4xf32>
}

// -----

// Stays: a softmax over another axis than the last, and one the graph computes on.

// CHECK-LABEL: func.func @kept
// CHECK-NOT:     nn.host_op
// CHECK:         %a = nn.softmax %x {axis = 0 : i64}
// CHECK-NEXT:    %b = nn.softmax %x {axis = 1 : i64}
// CHECK-NEXT:    %c = nn.add %b, %b
// CHECK-NEXT:    func.return %a, %b, %c
func.func @kept(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>) {
  %a = nn.softmax %x {axis = 0 : i64} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %b = nn.softmax %x {axis = 1 : i64} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  %c = nn.add %b, %b : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
  func.return %a, %b, %c : tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>
}

// -----

// Last in substance: a Caffe-era classifier's softmax over axis 1 of [1, C, 1, 1]
// (the trailing axes of size 1 aside, axis 1 is the last); the host applies it
// over that axis.

// CHECK-LABEL: func.func @caffe
// CHECK-SAME:    -> (tensor<1x4x1x1xf32> {nn.host_op = "softmax"})
// CHECK-NEXT:    func.return %x : tensor<1x4x1x1xf32>
func.func @caffe(%x: tensor<1x4x1x1xf32>) -> tensor<1x4x1x1xf32> {
  %p = nn.softmax %x {axis = 1 : i64} : (tensor<1x4x1x1xf32>) -> tensor<1x4x1x1xf32>
  func.return %p : tensor<1x4x1x1xf32>
}

// -----

// Stays: over axis 1 of [1, 4, 2, 1] (axis 2 has more than one element), and
// over a last axis of one element (the host would take axis 1).

// CHECK-LABEL: func.func @not_last
// CHECK-NOT:     nn.host_op
// CHECK:         %a = nn.softmax %x {axis = 1 : i64}
// CHECK-NEXT:    %b = nn.softmax %y {axis = 2 : i64}
func.func @not_last(%x: tensor<1x4x2x1xf32>, %y: tensor<1x4x1xf32>) -> (tensor<1x4x2x1xf32>, tensor<1x4x1xf32>) {
  %a = nn.softmax %x {axis = 1 : i64} : (tensor<1x4x2x1xf32>) -> tensor<1x4x2x1xf32>
  %b = nn.softmax %y {axis = 2 : i64} : (tensor<1x4x1xf32>) -> tensor<1x4x1xf32>
  func.return %a, %b : tensor<1x4x2x1xf32>, tensor<1x4x1xf32>
}
