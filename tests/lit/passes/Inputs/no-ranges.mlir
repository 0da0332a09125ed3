// A float graph that `calibrate` has not run on (the input has a range, the dense layer none).
func.func @main(%x: tensor<1x2xf32> {nn.name = "input", nn.absmax = 1.0 : f64}) -> (tensor<1x2xf32> {nn.name = "y"}) {
  %w = nn.constant dense<[[1.0, -0.5], [0.25, 0.5]]> : tensor<2x2xf32>
  %y = nn.dense %x, %w : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  func.return %y : tensor<1x2xf32>
}
