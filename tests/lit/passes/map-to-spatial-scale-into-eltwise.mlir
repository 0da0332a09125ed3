// RUN: hwc-opt %s -p "map-to-spatial{fusions=none}" | filecheck %s --check-prefix=ALONE
// RUN: hwc-opt %s -p "map-to-spatial{fusions=scale-into-eltwise}" | filecheck %s --check-prefix=FUSED

// x·3 − x: mapped alone, the multiplication by the constant 3 is an MVU with the
// diagonal weights [[3, 0], [0, 3]] feeding the eltwise's lhs; fused, that MVU goes
// and the eltwise scales its lhs by 3 instead (the requant stays: only this fusion runs).

// ALONE:       rom.rom @mul0_diagonal : tensor<2x2xi3> = dense<{{\[\[}}3, 0], [0, 3]]> : tensor<2x2xi3>
// ALONE:       %3 = spatial.mvu %1 {{.*}}layer = "mul0", weights = @mul0_diagonal, pe = 1 : i64, simd = 1 : i64, ii
// ALONE-NEXT:  %4 = spatial.eltwise %3, %2 {{.*}}layer = "sub0", kind = "sub", lhs_scale = 1 : i64, rhs_scale = 1 : i64

// FUSED-NOT:   rom.rom @mul0_diagonal
// FUSED:       %1, %2 = spatial.dup %0
// FUSED-NEXT:  %3 = spatial.eltwise %1, %2 {{.*}}layer = "sub0", kind = "sub", lhs_scale = 3 : i64, rhs_scale = 1 : i64, multiplier = 1 : i64, shift = 0 : i64
// FUSED-SAME:    (!spatial.stream<2xi8, 1>, !spatial.stream<2xi8, 1>) -> !spatial.stream<2xi11, 1>
// FUSED-NEXT:  %4 = spatial.requant %3 {{.*}}layer = "requant0", multiplier = @m
builtin.module {
  rom.rom @three : tensor<1xi3> = dense<3> : tensor<1xi3>
  rom.rom @m : tensor<1xi16> = dense<7> : tensor<1xi16>
  func.func @main(%x: tensor<1x2xi8> {nn.name = "x"}) -> (tensor<1x2xi8> {nn.name = "y"}) {
    %c = rom.read @three : tensor<1xi3>
    %s = nn.mul %x, %c : (tensor<1x2xi8>, tensor<1xi3>) -> tensor<1x2xi10>
    %d = nn.sub %s, %x : (tensor<1x2xi10>, tensor<1x2xi8>) -> tensor<1x2xi11>
    %mr = rom.read @m : tensor<1xi16>
    %y = nn.requant %d, %mr {shift = 3 : i64, lo = -127 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x2xi11>, tensor<1xi16>) -> tensor<1x2xi8>
    func.return %y : tensor<1x2xi8>
  }
}
