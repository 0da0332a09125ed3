"""The cycle model is true on designs nobody tuned it for: random small MLPs and
CNNs (tests/property/graphs.py) at random folding targets, and LeNet-5's
convolutions and pools at 2e4 and 1e5 inferences/s, simulated in Verilator, give
bit-exact outputs and exactly the predicted cycles per inference. Here LeNet-5's
dense layers are narrower (`LENET5_SLIM_DENSE`: its 4 MB of SystemVerilog would
take a minute to build); `python -m tests.property.cycles --seeds 0-199 --lenet`
runs hundreds of designs and the full LeNet-5."""

from __future__ import annotations

import pytest

from tests.property.cycles import check, check_lenet
from tests.property.graphs import LENET5_SLIM_DENSE

SEEDS = [1, 3, 16, 17, 20, 29, 36, 40, 41, 54]
"""Ten random designs: a strided 3x3 conv with max pool (1), the fully unrolled
conv-pool-conv (3), every PE at one rate with a start-up transient (16), an MLP (17),
residuals (a 1x1 one, 20; a 3x3 one, 29), 5x5 windows whose line buffer sets the period (36, 40), and
two conv-pool stages at a slow target (41, 54)."""


@pytest.mark.rtl
@pytest.mark.parametrize("target_fps", [2e4, 1e5])
def test_lenet5_runs_at_the_predicted_cycles(target_fps):
    result = check_lenet(target_fps, LENET5_SLIM_DENSE)
    assert result.ok, result.line()


@pytest.mark.rtl
@pytest.mark.parametrize("seed", SEEDS)
def test_random_design_runs_at_the_predicted_cycles(seed):
    result = check(seed)
    assert result.ok, result.line()
