// RUN: hwc-opt %s -p "map-to-spatial{fusions=none}" | filecheck %s --check-prefix=ALONE
// RUN: hwc-opt %s -p "map-to-spatial{fusions=requant-into-mvu}" | filecheck %s --check-prefix=FUSED

// A dense layer and the per-channel requant after it. Mapped alone, the MVU outputs
// its exact 17-bit accumulator and a spatial.requant (named after the dense's stem
// rule for a requant: `dense0`) requantizes it; fused, the MVU takes the requant's
// multiplier ROM, shift and clamp and outputs the 8-bit stream itself.

// ALONE:       spatial.mvu %0 {{.*}}layer = "fc", weights = @fc_weight, pe = 1 : i64, simd = 1 : i64, ii
// ALONE-SAME:    -> !spatial.stream<2xi17, 1>
// ALONE-NEXT:  spatial.requant %1 {{.*}}layer = "dense0", multiplier = @fc_multiplier, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, ii
// ALONE-SAME:    (!spatial.stream<2xi17, 1>) -> !spatial.stream<2xi8, 1>

// FUSED:       rom.rom @fc_multiplier
// FUSED:       %1 = spatial.mvu %0 {{.*}}layer = "fc", weights = @fc_weight, pe = 1 : i64, simd = 1 : i64, multiplier = @fc_multiplier, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, ii
// FUSED-SAME:    (!spatial.stream<2xi8, 1>) -> !spatial.stream<2xi8, 1>
// FUSED-NEXT:  spatial.yield %1 : !spatial.stream<2xi8, 1>
builtin.module {
  rom.rom @fc_weight : tensor<2x2xi8> = dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>
  rom.rom @fc_multiplier : tensor<2xi16> = dense<[3, 5]> : tensor<2xi16>
  func.func @main(%x: tensor<1x2xi8> {nn.name = "x"}) -> (tensor<1x2xi8> {nn.name = "y"}) {
    %w = rom.read @fc_weight : tensor<2x2xi8>
    %acc = nn.dense %x, %w : (tensor<1x2xi8>, tensor<2x2xi8>) -> tensor<1x2xi17>
    %m = rom.read @fc_multiplier : tensor<2xi16>
    %y = nn.requant %acc, %m {shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x2xi17>, tensor<2xi16>) -> tensor<1x2xi8>
    func.return %y : tensor<1x2xi8>
  }
}
