// RUN: hwc-opt %s -p "map-to-spatial{fusions=none}" | filecheck %s

// nn.group_dense (group-wise weights: --group-size, or MatMulNBits' blocks) is an MVU
// whose constant weights are the exact products W[c, i] * G[c, i // 2]:
//   row 0: [1, -2 | 3, 4] * [5 | -7] = [5, -10, -21, -28]
//   row 1: [-8, 7 | 0, 1] * [2 | 3]  = [-16, 14, 0, 3]
// the same accumulator, so the MVU's output type is the group dense's (i12); the
// products need 6 bits (-28..14).

// CHECK:       rom.rom @fc_weight_grouped : tensor<2x4xi6> = dense<{{\[\[}}5, -10, -21, -28], [-16, 14, 0, 3]]> : tensor<2x4xi6>
// CHECK:       spatial.mvu %0 {{.*}}layer = "fc", weights = @fc_weight_grouped, pe = 1 : i64, simd = 1 : i64, ii
// CHECK-SAME:    (!spatial.stream<4xi8, 1>) -> !spatial.stream<2xi12, 1>
builtin.module {
  rom.rom @fc_weight : tensor<2x4xi4> = dense<[[1, -2, 3, 4], [-8, 7, 0, 1]]> : tensor<2x4xi4>
  rom.rom @fc_group_scale : tensor<2x2xi5> = dense<[[5, -7], [2, 3]]> : tensor<2x2xi5>
  func.func @main(%x: tensor<1x4xi8> {nn.name = "x"}) -> (tensor<1x2xi12> {nn.name = "y"}) {
    %w = rom.read @fc_weight : tensor<2x4xi4>
    %g = rom.read @fc_group_scale : tensor<2x2xi5>
    %acc = nn.group_dense %x, %w, %g {group_size = 2 : i64} : (tensor<1x4xi8>, tensor<2x4xi4>, tensor<2x2xi5>) -> tensor<1x2xi12>
    func.return %acc : tensor<1x2xi12>
  }
}
