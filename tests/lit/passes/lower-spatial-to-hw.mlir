// RUN: hwc-opt %s -p lower-spatial-to-hw | filecheck %s
// RUN: hwc-opt %s -p "lower-spatial-to-hw{rom=memory}" | filecheck %s --check-prefix=MEM

// A tiny folded MVU (2x4 weights, pe = 1, simd = 2: 2 neuron folds x 2 synapse
// folds). One hw.module per PE with the project's port order, the weights as
// an aggregate constant in a module of their own, indexed by the step counter
// (logic), or a seq.firmem loaded from rom/fc_w.hex (memory), and the
// AXI4-Stream top wiring the instance. The graph and the ROM are gone. Step words (weight (p, s) at bits
// 4*s): step 0 = [1, -2] = 0xe1, step 1 = [0, 7] = 0x70, step 2 = [3, 0] = 0x03,
// step 3 = [-8, 1] = 0x18; aggregate constants list the highest index first.
// The memory style's rom/fc_w.hex is returned by the lowering, not kept in the
// IR (tests/unit/test_lower_spatial_to_hw.py checks its contents).

builtin.module {
  rom.rom @fc_w : tensor<2x4xi4> = dense<[[1, -2, 0, 7], [3, 0, -8, 1]]> : tensor<2x4xi4>
  spatial.graph @main {
  ^bb0(%x : !spatial.stream<4xi8, 2>):
    %y = spatial.mvu %x {layer = "fc", weights = @fc_w, pe = 1 : i64, simd = 2 : i64} : (!spatial.stream<4xi8, 2>) -> !spatial.stream<2xi13, 1>
    spatial.yield %y : !spatial.stream<2xi13, 1>
  }
}

// CHECK:      builtin.module {
// CHECK-NEXT:   hw.module @fc_mvu_weights_rom(in %address: i2, out data: i8) {
// CHECK-NEXT:     %fc_mvu_weights = hw.aggregate_constant [24 : i8, 3 : i8, 112 : i8, -31 : i8] : !hw.array<4xi8>
// CHECK-NEXT:     %0 = hw.array_get %fc_mvu_weights[%address] : !hw.array<4xi8>, i2
// CHECK-NEXT:     hw.output %0 : i8
// CHECK:        hw.module @fc_mvu(in %clk: !seq.clock, in %rst: i1, in %in0_data: i16, in %in0_valid: i1, in %out0_ready: i1, out in0_ready: i1, out out0_data: i13, out out0_valid: i1) {
// CHECK:          %xbuf = seq.firreg %{{.*}} clock %clk {name = "xbuf_0"} : i16
// CHECK:          hw.instance "weights_rom" @fc_mvu_weights_rom(address: %step: i2) -> (data: i8)
// CHECK:          %acc = seq.firreg %{{.*}} clock %clk {name = "acc_0"} : i13
// CHECK:          hw.output
// CHECK:        hw.module @main_top(in %clk: !seq.clock, in %rst: i1, in %s_axis_tdata: i16, in %s_axis_tvalid: i1, in %m_axis_tready: i1, out s_axis_tready: i1, out m_axis_tdata: i13, out m_axis_tvalid: i1) {
// CHECK-NEXT:     %fc_mvu_in0_ready, %fc_mvu_out0_data, %fc_mvu_out0_valid = hw.instance "fc_mvu" @fc_mvu(clk: %clk: !seq.clock, rst: %rst: i1, in0_data: %s_axis_tdata: i16, in0_valid: %s_axis_tvalid: i1, out0_ready: %m_axis_tready: i1) -> (in0_ready: i1, out0_data: i13, out0_valid: i1)
// CHECK-NEXT:     hw.output %fc_mvu_in0_ready, %fc_mvu_out0_data, %fc_mvu_out0_valid : i1, i13, i1
// CHECK-NOT:    rom.rom
// CHECK-NOT:    spatial.

// MEM:      builtin.module {
// MEM:        %fc_mvu_weights = seq.firmem 1, 1, undefined, undefined {init = #seq.firmem.init<"rom/fc_w.hex", false, true>, name = "fc_mvu_weights"} : <4 x 8>
// MEM:        seq.firmem.read_port %fc_mvu_weights[{{.*}}], clock %clk enable %{{.*}} : <4 x 8>
// MEM:        hw.module @main_top
