// RUN: hwc-opt %s -p "map-to-spatial{fusions=none}" | filecheck %s --check-prefix=ALONE
// RUN: hwc-opt %s -p "map-to-spatial{fusions=requant-into-eltwise}" | filecheck %s --check-prefix=FUSED

// The residual add of two activations, then a per-tensor requant. Mapped alone, the
// eltwise requantizes by exactly 1 (M = 1, shift 0, clamp to the full i9 range
// [-256, 255]) and a spatial.requant follows; fused, the eltwise takes the requant's
// multiplier (read from its ROM: 7), shift and clamp, and the ROM is removed.

// ALONE:       rom.rom @m : tensor<1xi16>
// ALONE:       spatial.eltwise %1, %2 {{.*}}layer = "add0", kind = "add", lhs_scale = 1 : i64, rhs_scale = 1 : i64, multiplier = 1 : i64, shift = 0 : i64, lo = -256 : i64, hi = 255 : i64, ii
// ALONE-SAME:    -> !spatial.stream<4xi9, 1>
// ALONE-NEXT:  spatial.requant %3 {{.*}}layer = "requant0", multiplier = @m, shift = 3 : i64, lo = -127 : i64, hi = 127 : i64, ii

// FUSED-NOT:   rom.rom @m
// FUSED:       spatial.eltwise %1, %2 {{.*}}layer = "add0", kind = "add", lhs_scale = 1 : i64, rhs_scale = 1 : i64, multiplier = 7 : i64, shift = 3 : i64, lo = -127 : i64, hi = 127 : i64, ii
// FUSED-SAME:    -> !spatial.stream<4xi8, 1>
// FUSED-NEXT:  spatial.yield %3
builtin.module {
  rom.rom @m : tensor<1xi16> = dense<7> : tensor<1xi16>
  func.func @main(%x: tensor<1x4xi8> {nn.name = "x"}) -> (tensor<1x4xi8> {nn.name = "y"}) {
    %a = nn.add %x, %x : (tensor<1x4xi8>, tensor<1x4xi8>) -> tensor<1x4xi9>
    %mr = rom.read @m : tensor<1xi16>
    %y = nn.requant %a, %mr {shift = 3 : i64, lo = -127 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x4xi9>, tensor<1xi16>) -> tensor<1x4xi8>
    func.return %y : tensor<1x4xi8>
  }
}
