// RUN: hwc-opt %s -p "map-to-spatial{fusions=none}" | filecheck %s --check-prefix=ALONE
// RUN: hwc-opt %s -p "map-to-spatial{fusions=pad-into-swu}" | filecheck %s --check-prefix=FUSED

// An nn.pad of 1 around a 3x3 image (value 0) feeding a 3x3 max pool without pads of
// its own. Mapped alone, the pad is a padding-only SWU (1x1 windows: 3x3 → 5x5) and
// the pool's SWU pads nothing (with the type's smallest value, -128); fused, one SWU
// pads by 1 on every side with the nn.pad's value 0.

// ALONE:       %1 = spatial.swu %0 {{.*}}layer = "pad0", kernel = array<i64: 1, 1>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, pad_value = 0 : i64, ii
// ALONE-SAME:    (!spatial.stream<3x3x1xi8, 1>) -> !spatial.stream<5x5x1xi8, 1>
// ALONE-NEXT:  %2 = spatial.swu %1 {{.*}}layer = "max_pool0_swu", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, pad_value = -128 : i64, ii
// ALONE-SAME:    (!spatial.stream<5x5x1xi8, 1>) -> !spatial.stream<3x3x9xi8, 1>

// FUSED:       %1 = spatial.swu %0 {layer = "max_pool0_swu", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, pad_value = 0 : i64, ii
// FUSED-SAME:    (!spatial.stream<3x3x1xi8, 1>) -> !spatial.stream<3x3x9xi8, 1>
// FUSED-NEXT:  %2 = spatial.pool %1
builtin.module {
  func.func @main(%x: tensor<1x1x3x3xi8> {nn.name = "x"}) -> (tensor<1x1x3x3xi8> {nn.name = "y"}) {
    %p = nn.pad %x {pads = array<i64: 0, 0, 1, 1, 0, 0, 1, 1>, mode = "constant", value = 0.0 : f32} : (tensor<1x1x3x3xi8>) -> tensor<1x1x5x5xi8>
    %y = nn.max_pool %p {kernel_shape = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, ceil_mode = 0 : i64} : (tensor<1x1x5x5xi8>) -> tensor<1x1x3x3xi8>
    func.return %y : tensor<1x1x3x3xi8>
  }
}
