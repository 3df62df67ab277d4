"""Universal approximation in practice: one hidden layer, growing width, three targets."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from actlab.ensemble import Ensemble, Member, fit

# Targets on [-1, 1]: smooth, a kink, and a jump (outside the theorems' continuity condition).
TARGETS = {
    "sin": lambda x: torch.sin(math.pi * x),
    "abs": lambda x: x.abs(),
    "step": lambda x: (x >= 0).to(x.dtype),
}


def members(widths, activations, targets, seeds: int, lr: float) -> list[Member]:
    """The sweep's networks in (target, activation, width, seed) order."""
    return [Member(a, (w,), seed=s, lr=lr, tag={"target": t})
            for t in targets for a in activations for w in widths for s in range(seeds)]


def data(targets, n_members_per_target: int, n_points: int, dtype=torch.float32):
    """Training grid x (B, 1) and per-member targets (E, B, 1)."""
    x = torch.linspace(-1, 1, n_points, dtype=dtype)[:, None]
    y = torch.cat([TARGETS[t](x).expand(n_members_per_target, -1, -1) for t in targets], 0)
    return x, y


@dataclass
class ApproxSweep:
    widths: list[int]
    activations: list[str]
    targets: list[str]
    seeds: int
    mse: np.ndarray   # (targets, acts, widths, seeds), on a test grid 8x finer than training
    sup: np.ndarray   # same shape: largest absolute error on the test grid
    x_test: np.ndarray
    y_test: np.ndarray   # (targets, n_test)
    pred: np.ndarray     # (targets, acts, widths, seeds, n_test)

    def slope(self, what: str = "mse") -> np.ndarray:
        """Least-squares slope of log(median error over seeds) against log(width): (targets, acts)."""
        err = np.median(getattr(self, what), axis=-1)
        lw = np.log(self.widths)
        return np.array([[np.polyfit(lw, np.log(err[t, a]), 1)[0] for a in range(err.shape[1])]
                         for t in range(err.shape[0])])


def run(widths, activations, targets, seeds: int, n_points: int = 128, steps: int = 1500,
        lr: float = 0.01, dtype=torch.float32) -> ApproxSweep:
    ms = members(widths, activations, targets, seeds, lr)
    per_target = len(ms) // len(targets)
    x, y = data(targets, per_target, n_points, dtype)
    ens = Ensemble(ms, 1, 1, dtype=dtype)
    fit(ens, x, y, loss="mse", steps=steps, y_per_member=True)
    return evaluate(ens, widths, activations, targets, seeds, n_points, dtype)


def evaluate(ens: Ensemble, widths, activations, targets, seeds, n_points, dtype) -> ApproxSweep:
    xt = torch.linspace(-1, 1, 8 * (n_points - 1) + 1, dtype=dtype)[:, None]
    with torch.no_grad():
        pred = ens(xt)[..., 0]
    shape = (len(targets), len(activations), len(widths), seeds)
    yt = torch.stack([TARGETS[t](xt)[:, 0] for t in targets])
    pred = pred.view(*shape, -1)
    err = pred - yt[:, None, None, None, :]
    return ApproxSweep(list(widths), list(activations), list(targets), seeds,
                       (err**2).mean(-1).double().numpy(), err.abs().amax(-1).double().numpy(),
                       xt[:, 0].numpy(), yt.numpy(), pred.numpy())


def best_line_mse(sweep: ApproxSweep, target: str, n_points: int) -> float:
    """Test MSE of the least-squares straight line fitted on the training grid: the floor
    for any network whose activation is the identity."""
    x = np.linspace(-1, 1, n_points)
    y = TARGETS[target](torch.from_numpy(x)).numpy()
    coef = np.polyfit(x, y, 1)
    t = sweep.targets.index(target)
    return float(np.mean((np.polyval(coef, sweep.x_test) - sweep.y_test[t]) ** 2))
