builtin.module attributes {nn.weights = "w.safetensors"} {
  func.func @main(%x: tensor<1x8xi8>) -> tensor<1x10xi32> {
    %w1 = nn.weight "fc1.weight" : tensor<16x8xi8>
    %a1 = nn.dense %x, %w1 : (tensor<1x8xi8>, tensor<16x8xi8>) -> tensor<1x16xi18>
    %m1 = nn.constant dense<[3]> : tensor<1xi16>
    %h = nn.requant %a1, %m1 {shift = 10 : i64, lo = 0 : i64, hi = 127 : i64, axis = 1 : i64} : (tensor<1x16xi18>, tensor<1xi16>) -> tensor<1x16xi8>
    %w2 = nn.weight "fc2.weight" : tensor<10x16xi12>
    %y = nn.dense %h, %w2 : (tensor<1x16xi8>, tensor<10x16xi12>) -> tensor<1x10xi32>
    func.return %y : tensor<1x10xi32>
  }
}
