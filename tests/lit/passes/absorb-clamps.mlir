// RUN: hwc-opt %s --split-input-file -p absorb-clamps | filecheck %s

// A relu after a requant that nothing else reads: relu(clamp(v, -127, 127))
// = clamp(v, max(-127, 0), max(127, 0)) = clamp(v, 0, 127). The requant keeps
// its multiplier, shift, axis and scale.

// CHECK-LABEL: func.func @relu
// CHECK-NEXT:    %m = nn.constant dense<[3, 5]> : tensor<2xi16>
// CHECK-NEXT:    %[[R:.*]] = nn.requant %acc, %m {nn.scale = 5.000000e-01 : f64, shift = 4 : i64, lo = 0 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x2xi12>, tensor<2xi16>) -> tensor<1x2xi8>
// CHECK-NEXT:    func.return %[[R]] : tensor<1x2xi8>
func.func @relu(%acc: tensor<1x2xi12>) -> tensor<1x2xi8> {
  %m = nn.constant dense<[3, 5]> : tensor<2xi16>
  %r = nn.requant %acc, %m {nn.scale = 0.5 : f64, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x2xi12>, tensor<2xi16>) -> tensor<1x2xi8>
  %y = nn.relu %r {nn.scale = 0.5 : f64} : (tensor<1x2xi8>) -> tensor<1x2xi8>
  func.return %y : tensor<1x2xi8>
}

// -----

// A clip (requant by 1, shift 0) after a requant: the clamps compose,
// lo = clamp(-127, -20, 50) = -20, hi = clamp(127, -20, 50) = 50, with the
// clip's result type and scale; the clip's multiplier constant goes.

// CHECK-LABEL: func.func @clip
// CHECK-NEXT:    %m = nn.constant dense<7> : tensor<1xi16>
// CHECK-NEXT:    %[[R:.*]] = nn.requant %acc, %m {nn.scale = 2.500000e-01 : f64, shift = 9 : i64, lo = -20 : i64, hi = 50 : i64, axis = 1 : i64} : (tensor<1x2xi12>, tensor<1xi16>) -> tensor<1x2xi8>
// CHECK-NEXT:    func.return %[[R]] : tensor<1x2xi8>
func.func @clip(%acc: tensor<1x2xi12>) -> tensor<1x2xi8> {
  %m = nn.constant dense<7> : tensor<1xi16>
  %r = nn.requant %acc, %m {nn.scale = 0.25 : f64, shift = 9 : i64, lo = -127 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x2xi12>, tensor<1xi16>) -> tensor<1x2xi8>
  %one = nn.constant dense<1> : tensor<1xi16>
  %y = nn.requant %r, %one {nn.scale = 0.25 : f64, shift = 0 : i64, lo = -20 : i64, hi = 50 : i64, axis = 1 : i64} : (tensor<1x2xi8>, tensor<1xi16>) -> tensor<1x2xi8>
  func.return %y : tensor<1x2xi8>
}

// -----

// Clamps that do not overlap: clamp(clamp(v, 0, 10), 20, 30) is always 20,
// lo = clamp(0, 20, 30) = 20, hi = clamp(10, 20, 30) = 20. Then the relu after
// it: max(20, 0) = 20.

// CHECK-LABEL: func.func @apart
// CHECK-NEXT:    %m = nn.constant dense<7> : tensor<1xi16>
// CHECK-NEXT:    %[[R:.*]] = nn.requant %acc, %m {shift = 9 : i64, lo = 20 : i64, hi = 20 : i64, axis = 1 : i64} : (tensor<1x2xi12>, tensor<1xi16>) -> tensor<1x2xi8>
// CHECK-NEXT:    func.return %[[R]] : tensor<1x2xi8>
func.func @apart(%acc: tensor<1x2xi12>) -> tensor<1x2xi8> {
  %m = nn.constant dense<7> : tensor<1xi16>
  %r = nn.requant %acc, %m {shift = 9 : i64, lo = 0 : i64, hi = 10 : i64, axis = 1 : i64} : (tensor<1x2xi12>, tensor<1xi16>) -> tensor<1x2xi8>
  %one = nn.constant dense<1> : tensor<1xi16>
  %c = nn.requant %r, %one {shift = 0 : i64, lo = 20 : i64, hi = 30 : i64, axis = 1 : i64} : (tensor<1x2xi8>, tensor<1xi16>) -> tensor<1x2xi8>
  %y = nn.relu %c : (tensor<1x2xi8>) -> tensor<1x2xi8>
  func.return %y : tensor<1x2xi8>
}

// -----

// Nothing to fold: a requant that two ops read, a second requant that scales
// (multiplier 2), and a relu of a graph input.

// CHECK-LABEL: func.func @kept
// CHECK-NEXT:    %m = nn.constant dense<7> : tensor<1xi16>
// CHECK-NEXT:    %r = nn.requant %acc, %m
// CHECK-NEXT:    %y = nn.relu %r
// CHECK-NEXT:    %two = nn.constant dense<2> : tensor<1xi16>
// CHECK-NEXT:    %z = nn.requant %r, %two
// CHECK-NEXT:    %w = nn.relu %x
// CHECK-NEXT:    func.return %y, %z, %w
func.func @kept(%acc: tensor<1x2xi12>, %x: tensor<1x2xi8>) -> (tensor<1x2xi8>, tensor<1x2xi8>, tensor<1x2xi8>) {
  %m = nn.constant dense<7> : tensor<1xi16>
  %r = nn.requant %acc, %m {shift = 9 : i64, lo = -127 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x2xi12>, tensor<1xi16>) -> tensor<1x2xi8>
  %y = nn.relu %r : (tensor<1x2xi8>) -> tensor<1x2xi8>
  %two = nn.constant dense<2> : tensor<1xi16>
  %z = nn.requant %r, %two {shift = 0 : i64, lo = -50 : i64, hi = 50 : i64, axis = 1 : i64} : (tensor<1x2xi8>, tensor<1xi16>) -> tensor<1x2xi8>
  %w = nn.relu %x : (tensor<1x2xi8>) -> tensor<1x2xi8>
  func.return %y, %z, %w : tensor<1x2xi8>, tensor<1x2xi8>, tensor<1x2xi8>
}
