"""Write the weight store the hwc-opt tests read: `make_weights.py OUT.safetensors`.

conv.weight is [8, 9, 1, 1] (72 elements, more than compiler.weights.INLINE_LIMIT,
so folded copies of it stay in a weight store): row o holds o + 1 everywhere.
"""

import sys

import numpy as np
from safetensors.numpy import save_file

weight = np.repeat(np.arange(1, 9, dtype=np.float32), 9).reshape(8, 9, 1, 1)
save_file({"conv.weight": weight}, sys.argv[1])
