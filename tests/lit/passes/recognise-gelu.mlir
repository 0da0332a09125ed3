// RUN: hwc-opt %s --split-input-file -p recognise-gelu | filecheck %s

// GPT-2's tanh GELU as torch's dynamo exporter writes it:
// (x * 0.5) * (tanh((x + pow(x, 3) * 0.044715) * 0.7978846) + 1).

// CHECK-LABEL: func.func @gpt2_gelu
// CHECK-NEXT:    %y = nn.gelu %x {nn.onnx_tensor = "y", approximate = "tanh"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
// CHECK-NEXT:    func.return %y
func.func @gpt2_gelu(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %half = nn.constant dense<0.5> : tensor<f32>
  %three = nn.constant dense<3.0> : tensor<f32>
  %k = nn.constant dense<0.044715> : tensor<f32>
  %c = nn.constant dense<0.797884583> : tensor<f32>
  %one = nn.constant dense<1.0> : tensor<f32>
  %m1 = nn.mul %x, %half : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %p = nn.pow %x, %three : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %m2 = nn.mul %p, %k : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %a = nn.add %x, %m2 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %m3 = nn.mul %a, %c : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %t = nn.tanh %m3 : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a2 = nn.add %t, %one : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %y = nn.mul %m1, %a2 {nn.onnx_tensor = "y"} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  func.return %y : tensor<2x8xf32>
}

// -----

// BERT's exact GELU: x * (1 + erf(x / sqrt(2))) * 0.5, x³ nowhere.

// CHECK-LABEL: func.func @bert_gelu
// CHECK-NEXT:    %y = nn.gelu %x {approximate = "none"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
// CHECK-NEXT:    func.return %y
func.func @bert_gelu(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %half = nn.constant dense<0.5> : tensor<f32>
  %root2 = nn.constant dense<1.41421354> : tensor<f32>
  %one = nn.constant dense<1.0> : tensor<f32>
  %d = nn.div %x, %root2 : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %e = nn.erf %d : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a = nn.add %one, %e : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %m = nn.mul %x, %a : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = nn.mul %m, %half : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  func.return %y : tensor<2x8xf32>
}

// -----

// x³ as x * x * x, 0.5 grouped with the bracket.

// CHECK-LABEL: func.func @cubed
// CHECK-NEXT:    %y = nn.gelu %x {approximate = "tanh"}
// CHECK-NEXT:    func.return %y
func.func @cubed(%x: tensor<4xf32>) -> tensor<4xf32> {
  %half = nn.constant dense<0.5> : tensor<f32>
  %k = nn.constant dense<0.044715> : tensor<f32>
  %c = nn.constant dense<0.797884583> : tensor<f32>
  %one = nn.constant dense<1.0> : tensor<f32>
  %xx = nn.mul %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %xxx = nn.mul %xx, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %m2 = nn.mul %k, %xxx : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  %a = nn.add %m2, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %m3 = nn.mul %c, %a : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  %t = nn.tanh %m3 : (tensor<4xf32>) -> tensor<4xf32>
  %a2 = nn.add %t, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %h = nn.mul %half, %a2 : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  %y = nn.mul %x, %h : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}

// -----

// Stays: a wrong constant (0.04 for 0.044715); tanh also used elsewhere.

// CHECK-LABEL: func.func @not_gelu
// CHECK-NOT:     nn.gelu
// CHECK:         func.return
func.func @not_gelu(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %half = nn.constant dense<0.5> : tensor<f32>
  %three = nn.constant dense<3.0> : tensor<f32>
  %k = nn.constant dense<0.04> : tensor<f32>
  %k2 = nn.constant dense<0.044715> : tensor<f32>
  %c = nn.constant dense<0.797884583> : tensor<f32>
  %one = nn.constant dense<1.0> : tensor<f32>
  %m1 = nn.mul %x, %half : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %p = nn.pow %x, %three : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %m2 = nn.mul %p, %k : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %a = nn.add %x, %m2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %m3 = nn.mul %a, %c : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %t = nn.tanh %m3 : (tensor<4xf32>) -> tensor<4xf32>
  %a2 = nn.add %t, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %y = nn.mul %m1, %a2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %q = nn.pow %x, %three : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %n2 = nn.mul %q, %k2 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %b = nn.add %x, %n2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %n3 = nn.mul %b, %c : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %u = nn.tanh %n3 : (tensor<4xf32>) -> tensor<4xf32>
  %b2 = nn.add %u, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %n1 = nn.mul %x, %half : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %z = nn.mul %n1, %b2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %y, %z, %u : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
