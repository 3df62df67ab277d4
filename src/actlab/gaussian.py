"""Expectations over a normal distribution, by quadrature: the moments behind each function's gains."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

GRID = np.linspace(-12.0, 12.0, 240_001)  # x for the expectations: a kink or a jump is resolved to 1e-4


def expectation(fn: Callable[[torch.Tensor], torch.Tensor], q: float = 1.0) -> float:
    """E[fn(√q x)] for x standard normal, by the trapezoid rule on :data:`GRID` in float64 (a fine
    grid, not Gauss-Hermite nodes: ReLU's derivative jumps at 0)."""
    x = torch.as_tensor(np.sqrt(q) * GRID, dtype=torch.float64)
    pdf = np.exp(-GRID**2 / 2) / np.sqrt(2 * np.pi)
    return float(np.trapezoid(pdf * fn(x).numpy(), GRID))
