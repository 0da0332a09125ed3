builtin.module {
  func.func @main(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
    %c = nn.constant dense<[1.0, 2.0]> : tensor<2xf32>
    %y = nn.add %x, %c : (tensor<1x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
    func.return %y : tensor<1x2xf32>
  }
}
