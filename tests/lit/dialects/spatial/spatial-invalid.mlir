// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// A folding that does not divide the layer's outputs.
// CHECK: spatial.mvu 'fc': pe 3 does not divide outputs 4
builtin.module {
  rom.rom @w : tensor<4x6xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<6xi8, 2>):
    %y = spatial.mvu %x {layer = "fc", weights = @w, pe = 3 : i64, simd = 2 : i64} : (!spatial.stream<6xi8, 2>) -> !spatial.stream<4xi16, 1>
    spatial.yield %y : !spatial.stream<4xi16, 1>
  }
}

// -----

// CHECK: spatial.mvu 'fc': simd 4 does not divide inputs 6
builtin.module {
  rom.rom @w : tensor<4x6xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<6xi8, 2>):
    %y = spatial.mvu %x {layer = "fc", weights = @w, pe = 1 : i64, simd = 4 : i64} : (!spatial.stream<6xi8, 2>) -> !spatial.stream<4xi16, 1>
    spatial.yield %y : !spatial.stream<4xi16, 1>
  }
}

// -----

// The input stream's lanes differ from the MVU's simd.
// CHECK: spatial.mvu 'fc': input stream has 2 lanes, the PE expects 3
builtin.module {
  rom.rom @w : tensor<4x6xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<6xi8, 2>):
    %y = spatial.mvu %x {layer = "fc", weights = @w, pe = 1 : i64, simd = 3 : i64} : (!spatial.stream<6xi8, 2>) -> !spatial.stream<4xi16, 1>
    spatial.yield %y : !spatial.stream<4xi16, 1>
  }
}

// -----

// CHECK: spatial.eltwise 'e': rhs stream has 1 lanes, the PE expects 2
builtin.module {
  spatial.graph @main {
  ^bb0(%a: !spatial.stream<4xi8, 2>, %b: !spatial.stream<4xi8, 1>):
    %y = spatial.eltwise %a, %b {layer = "e", kind = "add", lhs_scale = 1 : i64, rhs_scale = 1 : i64, multiplier = 1 : i64, shift = 0 : i64, lo = -127 : i64, hi = 127 : i64} : (!spatial.stream<4xi8, 2>, !spatial.stream<4xi8, 1>) -> !spatial.stream<4xi8, 2>
    spatial.yield %y : !spatial.stream<4xi8, 2>
  }
}

// -----

// Lanes must divide the innermost dimension.
// CHECK: lanes 3 must divide the innermost dimension 4
builtin.module {
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<4xi8, 3>):
    spatial.yield %x : !spatial.stream<4xi8, 3>
  }
}

// -----

// A stream with two consumers (fan-out needs spatial.dup).
// CHECK: spatial.graph: every stream needs exactly one consumer (x has 2; use spatial.dup)
builtin.module {
  rom.rom @t : tensor<256xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<4xi8, 1>):
    %a = spatial.lookup %x {layer = "a", table = @t} : (!spatial.stream<4xi8, 1>) -> !spatial.stream<4xi8, 1>
    %b = spatial.lookup %x {layer = "b", table = @t} : (!spatial.stream<4xi8, 1>) -> !spatial.stream<4xi8, 1>
    spatial.yield %a, %b : !spatial.stream<4xi8, 1>, !spatial.stream<4xi8, 1>
  }
}

// -----

// The recorded ii must be the folding's.
// CHECK: spatial.mvu 'fc': ii 6 differs from its folding's 12
builtin.module {
  rom.rom @w : tensor<4x6xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<6xi8, 2>):
    %y = spatial.mvu %x {layer = "fc", weights = @w, pe = 1 : i64, simd = 2 : i64, ii = 6 : i64} : (!spatial.stream<6xi8, 2>) -> !spatial.stream<4xi16, 1>
    spatial.yield %y : !spatial.stream<4xi16, 1>
  }
}

// -----

// CHECK: spatial.swu 'w': output frame is [2, 2, 4], expected [3, 3, 4]
builtin.module {
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<4x4x1xi8, 1>):
    %y = spatial.swu %x {layer = "w", kernel = array<i64: 2, 2>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, pad_value = 0 : i64} : (!spatial.stream<4x4x1xi8, 1>) -> !spatial.stream<2x2x4xi8, 1>
    spatial.yield %y : !spatial.stream<2x2x4xi8, 1>
  }
}

// -----

// CHECK: spatial.pool: kind must be one of ('max', 'sum')
builtin.module {
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<2x8xi8, 1>):
    %y = spatial.pool %x {layer = "p", kind = "mean", window = 4 : i64} : (!spatial.stream<2x8xi8, 1>) -> !spatial.stream<2x2xi8, 1>
    spatial.yield %y : !spatial.stream<2x2xi8, 1>
  }
}

// -----

// CHECK: spatial.dup: outputs must have the input's stream type
builtin.module {
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<4xi8, 2>):
    %a, %b = spatial.dup %x {layer = "d"} : (!spatial.stream<4xi8, 2>) -> (!spatial.stream<4xi8, 2>, !spatial.stream<4xi8, 1>)
    spatial.yield %a, %b : !spatial.stream<4xi8, 2>, !spatial.stream<4xi8, 1>
  }
}

// -----

// CHECK: spatial.reshape keeps the element type and the lanes
builtin.module {
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<2x2xi8, 2>):
    %y = spatial.reshape %x {layer = "r"} : (!spatial.stream<2x2xi8, 2>) -> !spatial.stream<4xi8, 1>
    spatial.yield %y : !spatial.stream<4xi8, 1>
  }
}

// -----

// A PE's ROM reference must name a rom.rom of the module.
// CHECK: spatial.mvu 'fc': bias @missing names no rom.rom of the module
builtin.module {
  rom.rom @w : tensor<4x6xi8>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<6xi8, 2>):
    %y = spatial.mvu %x {layer = "fc", weights = @w, bias = @missing, pe = 1 : i64, simd = 2 : i64} : (!spatial.stream<6xi8, 2>) -> !spatial.stream<4xi16, 1>
    spatial.yield %y : !spatial.stream<4xi16, 1>
  }
}

// -----

// A symbol that is not a ROM (here the graph itself) is no table.
// CHECK: spatial.lookup 'l': table @main names no rom.rom of the module
builtin.module {
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<4xi8, 1>):
    %y = spatial.lookup %x {layer = "l", table = @main} : (!spatial.stream<4xi8, 1>) -> !spatial.stream<4xi8, 1>
    spatial.yield %y : !spatial.stream<4xi8, 1>
  }
}

// -----

// CHECK: spatial.requant 'r': multiplier @m names no rom.rom of the module
builtin.module {
  rom.rom @w : tensor<4xi16>
  spatial.graph @main {
  ^bb0(%x: !spatial.stream<4xi16, 1>):
    %y = spatial.requant %x {layer = "r", multiplier = @m, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64} : (!spatial.stream<4xi16, 1>) -> !spatial.stream<4xi8, 1>
    spatial.yield %y : !spatial.stream<4xi8, 1>
  }
}
