"""`check_weights.py FILE.safetensors KEY`: assert the folded conv weight in FILE.

Expected by hand: conv.weight row o is o + 1; the batch norm in weights.mlir has
scale 2, var 3, eps 1 on every channel, so f = 2 / sqrt(3 + 1) = 1 and every row
stays o + 1, except that scale is 4 on channel 0 (f = 2): row 0 becomes 2.
"""

import sys

import numpy as np
from safetensors.numpy import load_file

tensors = load_file(sys.argv[1])
expected = np.repeat(np.arange(1, 9, dtype=np.float32), 9).reshape(8, 9, 1, 1)
expected[0] = 2.0
np.testing.assert_array_equal(tensors[sys.argv[2]], expected)
print("weights ok")
