"""Weights for weights-to-rom.mlir, and the check of the ROM image it writes.

    rom_image.py make OUT.safetensors     write the integer weight store
    rom_image.py check IMAGE.safetensors  assert the image holds exactly the ROMs

The store: "fc1.weight" [16, 8] int8 holding -64..63 row-major (i8 in the IR);
"fc2.weight" [10, 16] int32 holding (k % 4095) - 2047 (i12 in the IR, stored wider
than it needs). Both have more than INLINE_LIMIT (64) elements, so they stay in
the image. Expected image: the same values under the ROM symbol names, each in
the smallest numpy dtype holding its width (int8 for i8, int16 for i12), and no
other tensor.
"""

import sys

import numpy as np
from safetensors.numpy import load_file, save_file

FC1 = (np.arange(128) - 64).astype(np.int8).reshape(16, 8)
FC2 = ((np.arange(160) * 37 % 4095) - 2047).astype(np.int32).reshape(10, 16)

if sys.argv[1] == "make":
    save_file({"fc1.weight": FC1, "fc2.weight": FC2}, sys.argv[2])
else:
    image = load_file(sys.argv[2])
    assert sorted(image) == ["fc1_weight", "fc2_weight"], sorted(image)
    assert image["fc1_weight"].dtype == np.int8 and image["fc2_weight"].dtype == np.int16
    np.testing.assert_array_equal(image["fc1_weight"], FC1)
    np.testing.assert_array_equal(image["fc2_weight"], FC2)
    print("rom image ok")
