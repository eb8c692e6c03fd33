"""``seqlab.audio.change_speed`` (speed perturbation) against ``numpy.interp`` and the
analytic sine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab.audio import change_speed


@pytest.mark.parametrize("factor", [0.5, 0.83, 1.0, 1.17, 2.0])
@pytest.mark.parametrize("n", [2, 3, 101, 4000])
def test_change_speed_equals_numpy_interp(factor: float, n: int) -> None:
    # the reference: numpy's piecewise-linear interpolation of x at the read times j · f
    x = np.random.default_rng(n).standard_normal((2, n))  # (2, N): the last axis is time
    y = change_speed(torch.from_numpy(x), factor)
    m = int((n - 1) / factor) + 1
    want = np.stack([np.interp(np.arange(m) * factor, np.arange(n), row) for row in x])
    assert y.shape == (2, m) and y.dtype == torch.float64
    np.testing.assert_allclose(y.numpy(), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("factor", [0.85, 1.0, 1.2])
def test_change_speed_scales_a_sine_frequency(factor: float) -> None:
    # a 300 Hz sine played `factor` times as fast is the analytic sine at 300·factor Hz;
    # linear interpolation of a sine sampled 26 times a period errs by at most
    # (2π·300/8000)²/8 ≈ 7e-3 of its amplitude
    rate, n = 8000, 4001
    x = torch.sin(2 * torch.pi * 300 * torch.arange(n) / rate)  # float32
    y = change_speed(x, factor)
    assert y.dtype == torch.float32
    want = np.sin(2 * np.pi * 300 * factor * np.arange(len(y)) / rate)
    np.testing.assert_allclose(y.numpy(), want, atol=8e-3)


def test_change_speed_edges_and_errors() -> None:
    one = torch.tensor([0.5])
    assert torch.equal(change_speed(one, 1.3), one)
    with pytest.raises(ValueError, match="speed factor"):
        change_speed(torch.zeros(10), 3.0)
    with pytest.raises(ValueError, match="floating-point"):
        change_speed(torch.zeros(10, dtype=torch.int16), 1.1)
