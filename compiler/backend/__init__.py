"""The hardware back-end: CIRCT `hw`/`comb`/`seq` IR to SystemVerilog
(`circt_export`), Verilator lint and simulation (`verilator`), and the
AXI4-Stream C++ test bench the simulator is built with (`testbench`)."""
