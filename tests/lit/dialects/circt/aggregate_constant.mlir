// RUN: hwc-opt %s | filecheck %s
// RUN: hwc-opt %s | hwc-opt | filecheck %s

// Fields are listed from the highest index down to index 0 (CIRCT's order).
builtin.module {
  hw.module @rom(in %addr : i2, out y : i8) {
    %rom = hw.aggregate_constant [4 : i8, 3 : i8, 2 : i8, -1 : i8] : !hw.array<4xi8>
    %nested = hw.aggregate_constant [[1 : i4, 2 : i4], [3 : i4, 4 : i4]] : !hw.array<2x!hw.array<2xi4>>
    %y = hw.array_get %rom[%addr] : !hw.array<4xi8>, i2
    hw.output %y : i8
  }
}

// CHECK:      %rom = hw.aggregate_constant [4 : i8, 3 : i8, 2 : i8, -1 : i8] : !hw.array<4xi8>
// CHECK-NEXT: %nested = hw.aggregate_constant {{\[\[}}1 : i4, 2 : i4], [3 : i4, 4 : i4]] : !hw.array<2x!hw.array<2xi4>>
// CHECK-NEXT: %y = hw.array_get %rom[%addr] : !hw.array<4xi8>, i2
