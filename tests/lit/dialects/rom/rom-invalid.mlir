// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// CHECK: rom.rom @w: width 33 is outside 1..32
builtin.module {
  rom.rom @w : tensor<2xi33>
}

// -----

// CHECK: rom.rom @w: width 0 is outside 1..32
builtin.module {
  rom.rom @w : tensor<2xi0>
}

// -----

// CHECK: a ROM holds an integer tensor, not tensor<2xf32>
builtin.module {
  rom.rom @w : tensor<2xf32>
}

// -----

// CHECK: rom.rom @w: value shape differs from the ROM's
builtin.module {
  rom.rom @w : tensor<2x2xi8> = dense<[1, 2, 3, 4]> : tensor<4xi8>
}

// -----

// CHECK: rom.rom @w: scale must have shape [3]
builtin.module {
  rom.rom @w : tensor<2x3xi8> {axis = 1 : i64, scale = dense<[1.0, 2.0]> : tensor<2xf64>}
}

// -----

// CHECK: rom.rom @w: axis out of range
builtin.module {
  rom.rom @w : tensor<2x3xi8> {axis = 2 : i64}
}

// -----

// CHECK: rom.rom @w: scale must have shape [1]
builtin.module {
  rom.rom @w : tensor<2x3xi8> {scale = dense<[1.0, 2.0]> : tensor<2xf64>}
}

// -----

// CHECK: rom.read: no rom.rom @missing
builtin.module {
  func.func @main() -> tensor<2xi8> {
    %w = rom.read @missing : tensor<2xi8>
    func.return %w : tensor<2xi8>
  }
}

// -----

// CHECK: rom.read @w: type tensor<3xi8> differs from the ROM's tensor<2xi8>
builtin.module {
  rom.rom @w : tensor<2xi8> = dense<[1, 2]> : tensor<2xi8>
  func.func @main() -> tensor<3xi8> {
    %w = rom.read @w : tensor<3xi8>
    func.return %w : tensor<3xi8>
  }
}

// -----

// CHECK: rom.read @w: type tensor<2xi4> differs from the ROM's tensor<2xi8>
builtin.module {
  rom.rom @w : tensor<2xi8> = dense<[1, 2]> : tensor<2xi8>
  func.func @main() -> tensor<2xi4> {
    %w = rom.read @w : tensor<2xi4>
    func.return %w : tensor<2xi4>
  }
}
