"""Is a single neuron's loss convex when its activation is monotonic? Measured by the Hessian."""
from __future__ import annotations

import numpy as np
import torch
from torch.autograd.functional import hessian


def _data(n: int, d: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = (torch.rand(n, generator=g, dtype=torch.float64) < torch.sigmoid(X @ torch.ones(d, dtype=torch.float64))).double()
    return X, y


def min_hessian_eigenvalue(loss: str, *, n: int = 50, d: int = 2, points: int = 200, scale: float = 5.0,
                           seed: int = 0) -> tuple[float, np.ndarray]:
    """Smallest Hessian eigenvalue of the loss of one sigmoid neuron p = sigmoid(w.x) over
    ``points`` random weight vectors (|w| up to ``scale``); returns it and where it occurs.
    loss: 'squared' (mean (p - y)^2) or 'xent' (logistic regression)."""
    X, y = _data(n, d, seed)

    def f(w):
        z = X @ w
        if loss == "squared":
            return ((torch.sigmoid(z) - y) ** 2).mean()
        return (torch.nn.functional.softplus(z) - y * z).mean()

    g = torch.Generator().manual_seed(seed + 1)
    worst, where = np.inf, None
    for _ in range(points):
        w = (torch.rand(d, generator=g, dtype=torch.float64) * 2 - 1) * scale
        ev = float(torch.linalg.eigvalsh(hessian(f, w)).min())
        if ev < worst:
            worst, where = ev, w.numpy()
    return worst, where
