// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s
// RUN: hwc-opt %s --print-op-generic | hwc-opt | filecheck %s

// Round trip: inline contents, per-channel scale with axis, per-tensor scale,
// a ROM whose contents are in the image (no `= dense`), widths 1 and 32.

// CHECK:      rom.rom @fc1_weight : tensor<2x3xi4> {axis = 0 : i64, scale = dense<[5.000000e-01, 2.500000e-01]> : tensor<2xf64>} = dense<{{\[\[}}1, -2, 7], [-8, 0, 3]]> : tensor<2x3xi4>
// CHECK-NEXT: rom.rom @fc1_bias : tensor<2xi20> {scale = dense<1.250000e-01> : tensor<1xf64>} = dense<[-524288, 524287]> : tensor<2xi20>
// CHECK-NEXT: rom.rom @big : tensor<128x64xi8>
// CHECK-NEXT: rom.rom @bits : tensor<3xi1> = dense<[false, true, false]> : tensor<3xi1>
// CHECK-NEXT: rom.rom @wide : tensor<1xi32> = dense<-2147483648> : tensor<1xi32>
// CHECK:      %[[W:.*]] = rom.read @fc1_weight : tensor<2x3xi4>
// CHECK-NEXT: %[[B:.*]] = rom.read @fc1_bias : tensor<2xi20>
// CHECK-NEXT: nn.dense %x, %[[W]], %[[B]]

builtin.module {
  rom.rom @fc1_weight : tensor<2x3xi4> {axis = 0 : i64, scale = dense<[0.5, 0.25]> : tensor<2xf64>} = dense<[[1, -2, 7], [-8, 0, 3]]> : tensor<2x3xi4>
  rom.rom @fc1_bias : tensor<2xi20> {scale = dense<0.125> : tensor<1xf64>} = dense<[-524288, 524287]> : tensor<2xi20>
  rom.rom @big : tensor<128x64xi8>
  rom.rom @bits : tensor<3xi1> = dense<[0, -1, 0]> : tensor<3xi1>
  rom.rom @wide : tensor<1xi32> = dense<-2147483648> : tensor<1xi32>
  func.func @main(%x: tensor<1x3xi8>) -> tensor<1x2xi20> {
    %w = rom.read @fc1_weight : tensor<2x3xi4>
    %b = rom.read @fc1_bias : tensor<2xi20>
    %y = nn.dense %x, %w, %b : (tensor<1x3xi8>, tensor<2x3xi4>, tensor<2xi20>) -> tensor<1x2xi20>
    func.return %y : tensor<1x2xi20>
  }
}
