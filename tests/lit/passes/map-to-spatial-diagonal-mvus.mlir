// RUN: hwc-opt %s -p "map-to-spatial{fusions=none}" | filecheck %s --check-prefix=ALONE
// RUN: hwc-opt %s -p "map-to-spatial{fusions=diagonal-mvus}" | filecheck %s --check-prefix=FUSED

// x·[2, 3] + [5, -1] (a folded batch norm): mapped alone, two diagonal MVUs, the
// second with weights ±1 = [[1, 0], [0, 1]] and the offsets as its bias; fused, one MVU
// whose diagonal is the product [[2, 0], [0, 3]] (3 bits), under the add's ROM name.

// ALONE:       rom.rom @mul0_diagonal : tensor<2x2xi3> = dense<{{\[\[}}2, 0], [0, 3]]> : tensor<2x2xi3>
// ALONE-NEXT:  rom.rom @add0_diagonal : tensor<2x2xi2> = dense<{{\[\[}}1, 0], [0, 1]]> : tensor<2x2xi2>
// ALONE-NEXT:  rom.rom @add0_offset : tensor<2xi4> = dense<[5, -1]> : tensor<2xi4>
// ALONE:       %1 = spatial.mvu %0 {{.*}}layer = "mul0", weights = @mul0_diagonal, pe = 1 : i64, simd = 1 : i64, ii
// ALONE-NEXT:  %2 = spatial.mvu %1 {{.*}}layer = "add0", weights = @add0_diagonal, pe = 1 : i64, simd = 1 : i64, bias = @add0_offset, ii

// FUSED-NOT:   rom.rom @mul0_diagonal
// FUSED:       rom.rom @add0_diagonal : tensor<2x2xi3> = dense<{{\[\[}}2, 0], [0, 3]]> : tensor<2x2xi3>
// FUSED-NEXT:  rom.rom @add0_offset : tensor<2xi4> = dense<[5, -1]> : tensor<2xi4>
// FUSED:       %1 = spatial.mvu %0 {{.*}}layer = "add0", weights = @add0_diagonal, pe = 1 : i64, simd = 1 : i64, bias = @add0_offset, ii
// FUSED-SAME:    (!spatial.stream<2xi8, 1>) -> !spatial.stream<2xi12, 1>
// FUSED-NEXT:  spatial.yield %1
builtin.module {
  rom.rom @k : tensor<2xi3> = dense<[2, 3]> : tensor<2xi3>
  rom.rom @b : tensor<2xi4> = dense<[5, -1]> : tensor<2xi4>
  func.func @main(%x: tensor<1x2xi8> {nn.name = "x"}) -> (tensor<1x2xi12> {nn.name = "y"}) {
    %kr = rom.read @k : tensor<2xi3>
    %s = nn.mul %x, %kr : (tensor<1x2xi8>, tensor<2xi3>) -> tensor<1x2xi11>
    %br = rom.read @b : tensor<2xi4>
    %y = nn.add %s, %br : (tensor<1x2xi11>, tensor<2xi4>) -> tensor<1x2xi12>
    func.return %y : tensor<1x2xi12>
  }
}
