"""Convergence speed on digits: epochs to a target training error, learning rate tuned per
activation, as one ensemble over activations x depths x learning rates x seeds."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actlab.ensemble import Ensemble, Member, fit


@dataclass
class SpeedSweep:
    activations: list[str]
    depths: list[int]
    lrs: list[float]
    seeds: int
    error: np.ndarray  # (acts, depths, lrs, seeds, epochs + 1): training error after each epoch
    loss: np.ndarray   # (acts, depths, lrs, seeds): final training loss (nan/inf if diverged)
    target: float
    evals_per_epoch: int = 1

    def epochs_to_target(self) -> np.ndarray:
        """First epoch with training error <= target; inf if never, or if the run diverged
        (non-finite final loss) even after reaching it. (acts, depths, lrs, seeds)."""
        hit = self.error <= self.target
        first = np.argmax(hit, axis=-1).astype(float) / self.evals_per_epoch
        first[~hit.any(-1) | ~np.isfinite(self.loss)] = np.inf
        return first

    def diverged(self) -> np.ndarray:
        return ~np.isfinite(self.loss)

    def best_lr(self) -> np.ndarray:
        """Index of the tuned learning rate per (act, depth): fewest median epochs to target,
        ties broken by the lower median final loss."""
        ep = np.median(self.epochs_to_target(), -1)
        loss = np.median(np.where(np.isfinite(self.loss), self.loss, np.inf), -1)
        return np.array([[min(range(len(self.lrs)), key=lambda j: (ep[a, d, j], loss[a, d, j]))
                          for d in range(len(self.depths))] for a in range(len(self.activations))])

    def tuned(self) -> tuple[np.ndarray, np.ndarray]:
        """(epochs to target, final loss) at the tuned learning rate: (acts, depths, seeds) each."""
        j = self.best_lr()
        ep, loss = self.epochs_to_target(), self.loss
        pick = lambda v: np.array([[v[a, d, j[a, d]] for d in range(len(self.depths))]
                                   for a in range(len(self.activations))])
        return pick(ep), pick(loss)


def run(activations, depths, lrs, seeds: int, X, y, *, width: int = 64, epochs: int = 20,
        batch_size: int = 64, target: float = 0.05, momentum: float = 0.9,
        init: str | dict = "default", evals_per_epoch: int = 1, eval_examples: int | None = None,
        dtype=torch.float32) -> SpeedSweep:
    """``init``: one scheme for all, or {activation: scheme}. The training error is measured on
    the first ``eval_examples`` training examples (all if None) ``evals_per_epoch`` times an epoch."""
    scheme = init if isinstance(init, dict) else {a: init for a in activations}
    members = [Member(a, (width,) * d, seed=s, lr=lr, init=scheme[a])
               for a in activations for d in depths for lr in lrs for s in range(seeds)]
    X, y = X.to(dtype), y
    ens = Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=dtype)
    errors = []

    Xe, ye = X[:eval_examples], y[:eval_examples]

    def error(step, e):
        with torch.no_grad():
            errors.append((e(Xe).argmax(-1) != ye).double().mean(1).numpy())

    error(0, ens)
    per_epoch = -(-len(y) // batch_size)
    if per_epoch % evals_per_epoch:
        raise ValueError(f"evals_per_epoch must divide the {per_epoch} steps of an epoch")
    hist = fit(ens, X, y, loss="xent", steps=epochs * per_epoch, optimizer="sgd", momentum=momentum,
               batch_size=batch_size, log_every=per_epoch // evals_per_epoch, callback=error)
    shape = (len(activations), len(depths), len(lrs), seeds)
    err = np.stack(errors, -1).reshape(*shape, -1)
    return SpeedSweep(list(activations), list(depths), list(lrs), seeds, err,
                      hist[-1].reshape(shape), target, evals_per_epoch)
