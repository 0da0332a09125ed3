// RUN: hwc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// CHECK: hw.aggregate_constant: !hw.array<3xi8> needs 3 fields
builtin.module {
  hw.module @rom() {
    %rom = hw.aggregate_constant [1 : i8, 2 : i8] : !hw.array<3xi8>
    hw.output
  }
}

// -----

// CHECK: hw.aggregate_constant: field 1 : i4 is not of type i8
builtin.module {
  hw.module @rom() {
    %rom = hw.aggregate_constant [1 : i4, 2 : i8] : !hw.array<2xi8>
    hw.output
  }
}
