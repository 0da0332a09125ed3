// RUN: hwc-opt %s -p map-to-spatial | filecheck %s

// A decoder's step graph (one token and its position in, logits out, one cache of
// 3 positions): embedding, a key projection (dense + requant), the key written
// into the cache, scores x·Kᵀ over the whole cache, requant, an output projection.
// The chip: the token id and the position are the ports; the matrix products
// with constant weights are MVUs (the key projection takes its requant); the rest
// is glue in vector units by stage (the most MVUs on a path from an input):
// - stage 0: the embedding (a unit reading the token id; its output x feeds the
//   key MVU and the stage-1 unit, through a dup);
// - stage 1: cache write, transpose, matmul, requant (a unit reading the key, the
//   position and x, holding cache.0 as its state, returning the next cache after
//   its result); the cache is no port. Every stream holds its value flattened.

// Timing (dialects/spatial/vector.py): a unit takes its inputs side by side,
// computes on one ALU, writes its results. glue: 1 input beat + the embedding's 2
// elements + 2 output beats = ii 5, latency 1 + 2 + 1 register = 4. glue_1: inputs
// of 2, 1 and 2 beats side by side: 2; cache write 2, transpose 0 (addressing),
// matmul 3 dot products of 2, requant 3: 11 cycles; 3 output beats: ii 16,
// latency 2 + 11 + 1 = 14.

// CHECK:       spatial.graph @main attributes {spatial.inputs = [{nn.name = "ids", nn.shape = array<i64: 1, 1>{{.*}}}, {nn.name = "position", nn.shape = array<i64: 1>{{.*}}}], spatial.outputs = [{nn.name = "logits", nn.shape = array<i64: 1, 1, 3>{{.*}}}], nn.context = 3 : i64} {
// CHECK-NEXT:  ^bb0(%[[IDS:.*]]: !spatial.stream<1xi64, 1>, %[[POS:.*]]: !spatial.stream<1xi64, 1>):
// CHECK-NEXT:    %[[X:.*]] = spatial.vector %[[IDS]] attributes {layer = "glue", ii = 5 : i64, latency = 4 : i64} : (!spatial.stream<1xi64, 1>) -> !spatial.stream<2xi8, 1> {
// CHECK-NEXT:    ^{{.*}}(%[[ID:.*]]: tensor<1x1xi64>):
// CHECK-NEXT:      %[[TABLE:.*]] = rom.read @emb : tensor<3x2xi8>
// CHECK-NEXT:      %[[E:.*]] = nn.embedding %[[ID]], %[[TABLE]] : (tensor<1x1xi64>, tensor<3x2xi8>) -> tensor<1x1x2xi8>
// CHECK-NEXT:      spatial.vector_return %[[E]] : tensor<1x1x2xi8>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[XK:.*]], %[[XS:.*]] = spatial.dup %[[X]]
// CHECK-NEXT:    %[[K:.*]] = spatial.mvu %[[XK]] {layer = "wk", weights = @wk, pe = 1 : i64, simd = 1 : i64, multiplier = @mk, shift = 4 : i64, lo = -127 : i64, hi = 127 : i64
// CHECK-SAME:    (!spatial.stream<2xi8, 1>) -> !spatial.stream<2xi8, 1>
// CHECK-NEXT:    %[[S:.*]] = spatial.vector %[[K]], %[[POS]], %[[XS]] attributes {layer = "glue_1", state = ["cache.0"], ii = 16 : i64, latency = 14 : i64} : (!spatial.stream<2xi8, 1>, !spatial.stream<1xi64, 1>, !spatial.stream<2xi8, 1>) -> !spatial.stream<3xi8, 1> {
// CHECK-NEXT:    ^{{.*}}(%[[KA:.*]]: tensor<1x1x2xi8>, %[[PA:.*]]: tensor<1xi64>, %[[XA:.*]]: tensor<1x1x2xi8>, %[[CACHE:.*]]: tensor<1x3x2xi8>):
// CHECK-NEXT:      %[[MS:.*]] = rom.read @ms : tensor<1xi16>
// CHECK-NEXT:      %[[C:.*]] = nn.cache_write %[[CACHE]], %[[KA]], %[[PA]] {axis = 1 : i64}
// CHECK-NEXT:      %[[KT:.*]] = nn.transpose %[[C]]
// CHECK-NEXT:      %[[SC:.*]] = nn.matmul %[[XA]], %[[KT]]
// CHECK-NEXT:      %[[SQ:.*]] = nn.requant %[[SC]], %[[MS]]
// CHECK-NEXT:      spatial.vector_return %[[SQ]], %[[C]] : tensor<1x1x3xi8>, tensor<1x3x2xi8>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[L:.*]] = spatial.mvu %[[S]] {layer = "wo", weights = @wo
// CHECK-SAME:    (!spatial.stream<3xi8, 1>) -> !spatial.stream<3xi16, 1>
// CHECK-NEXT:    spatial.yield %[[L]] : !spatial.stream<3xi16, 1>
// CHECK-NOT:   func.func
builtin.module {
  rom.rom @emb : tensor<3x2xi8> = dense<[[1, 2], [3, 4], [5, 6]]> : tensor<3x2xi8>
  rom.rom @wk : tensor<2x2xi8> = dense<[[1, 0], [0, 1]]> : tensor<2x2xi8>
  rom.rom @mk : tensor<1xi16> = dense<3> : tensor<1xi16>
  rom.rom @ms : tensor<1xi16> = dense<5> : tensor<1xi16>
  rom.rom @wo : tensor<3x3xi8> = dense<[[1, 0, 0], [0, 1, 0], [0, 0, 1]]> : tensor<3x3xi8>
  func.func @step(%0: tensor<1x1xi64> {nn.name = "ids"}, %1: tensor<1xi64> {nn.name = "position"}, %2: tensor<1x3x2xi8> {nn.name = "cache.0"}) -> (tensor<1x1x3xi16> {nn.name = "logits"}, tensor<1x3x2xi8> {nn.name = "cache.0"}) attributes {nn.context = 3 : i64} {
    %t = rom.read @emb : tensor<3x2xi8>
    %x = nn.embedding %0, %t : (tensor<1x1xi64>, tensor<3x2xi8>) -> tensor<1x1x2xi8>
    %wk = rom.read @wk : tensor<2x2xi8>
    %k = nn.dense %x, %wk : (tensor<1x1x2xi8>, tensor<2x2xi8>) -> tensor<1x1x2xi16>
    %mk = rom.read @mk : tensor<1xi16>
    %kq = nn.requant %k, %mk {shift = 4 : i64, lo = -127 : i64, hi = 127 : i64, axis = 2 : i64} : (tensor<1x1x2xi16>, tensor<1xi16>) -> tensor<1x1x2xi8>
    %c = nn.cache_write %2, %kq, %1 {axis = 1 : i64} : (tensor<1x3x2xi8>, tensor<1x1x2xi8>, tensor<1xi64>) -> tensor<1x3x2xi8>
    %kt = nn.transpose %c {perm = array<i64: 0, 2, 1>} : (tensor<1x3x2xi8>) -> tensor<1x2x3xi8>
    %s = nn.matmul %x, %kt : (tensor<1x1x2xi8>, tensor<1x2x3xi8>) -> tensor<1x1x3xi18>
    %ms = rom.read @ms : tensor<1xi16>
    %sq = nn.requant %s, %ms {shift = 6 : i64, lo = -127 : i64, hi = 127 : i64, axis = 2 : i64} : (tensor<1x1x3xi18>, tensor<1xi16>) -> tensor<1x1x3xi8>
    %wo = rom.read @wo : tensor<3x3xi8>
    %l = nn.dense %sq, %wo : (tensor<1x1x3xi8>, tensor<3x3xi8>) -> tensor<1x1x3xi16>
    func.return %l, %c : tensor<1x1x3xi16>, tensor<1x3x2xi8>
  }
}
