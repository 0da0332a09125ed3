// RUN: hwc-opt %s --split-input-file -p weights-to-rom | filecheck %s

// Constants become ROMs named after what they feed: the layer (the first part
// of its weight key, else the op kind and index) and the operand. A requant
// takes the name of the layer it rescales. Small contents stay inline, and
// recorded quantization parameters (nn.scale, nn.axis) move onto the ROM.

// CHECK-LABEL: builtin.module {
// CHECK-NEXT:  rom.rom @dense0_weight : tensor<2x4xi4> {axis = 0 : i64, scale = dense<[5.000000e-01, 2.500000e-01]> : tensor<2xf64>} = dense<{{\[\[}}1, -2, 3, -4], [5, 6, -7, 7]]> : tensor<2x4xi4>
// CHECK-NEXT:  rom.rom @dense0_bias : tensor<2xi13> = dense<[100, -100]> : tensor<2xi13>
// CHECK-NEXT:  rom.rom @dense0_multiplier : tensor<2xi16> = dense<[3, 5]> : tensor<2xi16>
// CHECK-NEXT:  rom.rom @lookup0_table : tensor<4xi8> = dense<[-3, -1, 1, 3]> : tensor<4xi8>
// CHECK-NEXT:  rom.rom @add0_rhs : tensor<1xi8> {scale = dense<1.250000e-01> : tensor<1xf64>} = dense<2> : tensor<1xi8>
// CHECK-NEXT:  func.func @main
// CHECK-NEXT:    %[[W:.*]] = rom.read @dense0_weight : tensor<2x4xi4>
// CHECK-NEXT:    %[[B:.*]] = rom.read @dense0_bias : tensor<2xi13>
// CHECK-NEXT:    %[[ACC:.*]] = nn.dense %x, %[[W]], %[[B]]
// CHECK-NEXT:    %[[M:.*]] = rom.read @dense0_multiplier : tensor<2xi16>
// CHECK-NEXT:    %[[Q:.*]] = nn.requant %[[ACC]], %[[M]]
// CHECK-NEXT:    %[[T:.*]] = rom.read @lookup0_table : tensor<4xi8>
// CHECK-NEXT:    %[[L:.*]] = nn.lookup %[[Q]], %[[T]]
// CHECK-NEXT:    %[[C:.*]] = rom.read @add0_rhs : tensor<1xi8>
// CHECK-NEXT:    nn.add %[[L]], %[[C]]
// CHECK-NOT:   nn.constant
builtin.module {
  func.func @main(%x: tensor<1x4xi8>) -> tensor<1x2xi8> {
    %w = nn.constant dense<[[1, -2, 3, -4], [5, 6, -7, 7]]> : tensor<2x4xi4> {nn.scale = dense<[0.5, 0.25]> : tensor<2xf64>, nn.axis = 0 : i64}
    %b = nn.constant dense<[100, -100]> : tensor<2xi13>
    %acc = nn.dense %x, %w, %b : (tensor<1x4xi8>, tensor<2x4xi4>, tensor<2xi13>) -> tensor<1x2xi13>
    %m = nn.constant dense<[3, 5]> : tensor<2xi16>
    %q = nn.requant %acc, %m {shift = 4 : i64, lo = -2 : i64, hi = 1 : i64, axis = 1 : i64} : (tensor<1x2xi13>, tensor<2xi16>) -> tensor<1x2xi2>
    %t = nn.constant dense<[-3, -1, 1, 3]> : tensor<4xi8>
    %l = nn.lookup %q, %t : (tensor<1x2xi2>, tensor<4xi8>) -> tensor<1x2xi8>
    %c = nn.constant dense<2> : tensor<1xi8> {nn.scale = 0.125 : f64}
    %y = nn.add %l, %c : (tensor<1x2xi8>, tensor<1xi8>) -> tensor<1x2xi8>
    func.return %y : tensor<1x2xi8>
  }
}

// -----

// An op's nn.name names its ROMs; names are sanitised and made unique.
// CHECK-LABEL: builtin.module {
// CHECK-NEXT:  rom.rom @layer_1_weight : tensor<1x1xi8> = dense<1> : tensor<1x1xi8>
// CHECK-NEXT:  rom.rom @layer_1_weight_1 : tensor<1x1xi8> = dense<2> : tensor<1x1xi8>
// CHECK-NEXT:  rom.rom @_7_weight : tensor<1x1xi8> = dense<3> : tensor<1x1xi8>
builtin.module {
  func.func @main(%x: tensor<1x1xi8>) -> tensor<1x1xi32> {
    %w1 = nn.constant dense<1> : tensor<1x1xi8>
    %a = nn.dense %x, %w1 {nn.name = "layer/1"} : (tensor<1x1xi8>, tensor<1x1xi8>) -> tensor<1x1xi8>
    %w2 = nn.constant dense<2> : tensor<1x1xi8>
    %b = nn.dense %a, %w2 {nn.name = "layer.1"} : (tensor<1x1xi8>, tensor<1x1xi8>) -> tensor<1x1xi8>
    %w3 = nn.constant dense<3> : tensor<1x1xi8>
    %c = nn.dense %b, %w3 {nn.name = "7"} : (tensor<1x1xi8>, tensor<1x1xi8>) -> tensor<1x1xi32>
    func.return %c : tensor<1x1xi32>
  }
}

// Large contents go to the ROM image under the symbol name, in the smallest
// dtype holding the width, and nothing else goes there.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %S/Inputs/rom_image.py make %t/w.safetensors
// RUN: cp %S/Inputs/large-weights.mlir %t/model.mlir
// RUN: hwc-opt %t/model.mlir -p weights-to-rom -o %t/rom.mlir
// RUN: filecheck %s --check-prefix=IMAGE < %t/rom.mlir
// RUN: %python %S/Inputs/rom_image.py check %t/rom.safetensors
// IMAGE:      nn.weights = "rom.safetensors"
// IMAGE-NEXT: rom.rom @fc1_weight : tensor<16x8xi8>{{$}}
// IMAGE-NEXT: rom.rom @fc1_multiplier : tensor<1xi16> = dense<3> : tensor<1xi16>
// IMAGE-NEXT: rom.rom @fc2_weight : tensor<10x16xi12>{{$}}
// IMAGE:      rom.read @fc1_weight
// IMAGE-NOT:  nn.weight

// The result reads back, and a second run has nothing left to do.
// RUN: hwc-opt %t/rom.mlir -p weights-to-rom -o %t/again.mlir
// RUN: filecheck %s --check-prefix=AGAIN < %t/again.mlir
// AGAIN: nn.weights = "rom.safetensors"
// AGAIN: rom.rom @fc1_weight : tensor<16x8xi8>{{$}}

// Float constants mean quantize has not run: one line, exit status 1.
// RUN: not hwc-opt %S/Inputs/float-constant.mlir -p weights-to-rom 2>&1 | filecheck %s --check-prefix=FLOAT
// FLOAT: hwc-opt: error: weights-to-rom: 1 float constant(s) left (first: nn.constant : tensor<2xf32>); the pass needs an integer graph: run 'quantize' first
