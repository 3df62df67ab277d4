"""Convergence speed on digits: epochs to a target error (training and held-out), learning
rate tuned per activation, as one ensemble over activations x depths x learning rates x seeds.

Speed here is a number of SGD steps, never wall time: the cost of one step is a separate
question (the properties chapter times it)."""
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
    test_error: np.ndarray | None = None  # like ``error``, on held-out data (if given)

    def epochs_to_target(self, held_out: bool = False) -> np.ndarray:
        """First epoch with training (or held-out) error <= target; inf if never, or if the run
        diverged (non-finite final loss) even after reaching it. (acts, depths, lrs, seeds)."""
        hit = (self.test_error if held_out else self.error) <= self.target
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
        dtype=torch.float32, held_out: tuple | None = None) -> SpeedSweep:
    """``init``: one scheme for all, or {activation: scheme}. The training error is measured on
    the first ``eval_examples`` training examples (all if None) ``evals_per_epoch`` times an epoch;
    with ``held_out`` = (X_test, y_test), the held-out error too, at the same points."""
    scheme = init if isinstance(init, dict) else {a: init for a in activations}
    members = [Member(a, (width,) * d, seed=s, lr=lr, init=scheme[a])
               for a in activations for d in depths for lr in lrs for s in range(seeds)]
    X, y = X.to(dtype), y
    ens = Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=dtype)
    errors, test_errors = [], []

    Xe, ye = X[:eval_examples], y[:eval_examples]
    Xt, yt = (held_out[0].to(dtype), held_out[1]) if held_out is not None else (None, None)

    def error(step, e):
        with torch.no_grad():
            errors.append((e(Xe).argmax(-1) != ye).double().mean(1).numpy())
            if Xt is not None:
                test_errors.append((e(Xt).argmax(-1) != yt).double().mean(1).numpy())

    error(0, ens)
    per_epoch = -(-len(y) // batch_size)
    if per_epoch % evals_per_epoch:
        raise ValueError(f"evals_per_epoch must divide the {per_epoch} steps of an epoch")
    hist = fit(ens, X, y, loss="xent", steps=epochs * per_epoch, optimizer="sgd", momentum=momentum,
               batch_size=batch_size, log_every=per_epoch // evals_per_epoch, callback=error)
    shape = (len(activations), len(depths), len(lrs), seeds)
    err = np.stack(errors, -1).reshape(*shape, -1)
    test = np.stack(test_errors, -1).reshape(*shape, -1) if test_errors else None
    return SpeedSweep(list(activations), list(depths), list(lrs), seeds, err,
                      hist[-1].reshape(shape), target, evals_per_epoch, test)


@dataclass
class TunedSpeed:
    """Per activation: the tuned learning rate (``tuning.Tuned``, scored on epochs to the
    training target) and, at that rate, epochs to the target on training and held-out data
    (seeds,) plus which of those runs diverged (None where no rate reached the target)."""
    activations: list[str]
    tuned: dict
    train: dict
    test: dict
    diverged: dict
    epochs: int

    def ratio(self, slow: str, fast: str, held_out: bool = False):
        """``slow`` ÷ ``fast`` epochs to target, seed by seed, as a bootstrap Measure."""
        d = self.test if held_out else self.train
        return censored_ratio(d[slow], d[fast], self.epochs)


def tuned_speed(activations, lrs, seeds: int, X, y, held_out: tuple, *, depth: int, epochs: int,
                target: float, init: dict | str = "default", **kw) -> TunedSpeed:
    """Tune each activation's learning rate with :func:`actlab.tuning.tune` (extending the grid
    until the best is interior): the starting grid is one batched sweep over all activations;
    each extension is a small sweep of one activation at one new rate."""
    from actlab.tuning import tune

    first = run(activations, [depth], lrs, seeds, X, y, epochs=epochs, target=target, init=init,
                held_out=held_out, **kw)
    out = {}

    def scores(sweep, a):  # (seeds, lrs) of epochs to the training target, nan if diverged
        ep = sweep.epochs_to_target()[a, 0].T.copy()
        ep[sweep.diverged()[a, 0].T] = np.nan
        return ep

    tuned, train, test, div = {}, {}, {}, {}
    for a, act in enumerate(activations):
        runs = {}

        def score(grid, a=a, act=act):
            if list(grid) == [float(v) for v in lrs]:
                sw, i = first, a
            else:
                sw = run([act], [depth], list(grid), seeds, X, y, epochs=epochs, target=target,
                         init=init, held_out=held_out, **kw)
                i = 0
            for j, lr in enumerate(grid):
                runs[lr] = (sw.epochs_to_target()[i, 0, j], sw.epochs_to_target(True)[i, 0, j],
                            sw.diverged()[i, 0, j])
            return scores(sw, i)

        t = tune(score, list(lrs))
        tuned[act] = t
        # no rate reached the target: epochs are censored at the budget, no rate to report runs of
        tr, te, dv = runs[t.lr] if t.best is not None else (np.full(seeds, np.inf), np.full(seeds, np.inf), None)
        train[act], test[act], div[act] = tr, te, dv
    return TunedSpeed(list(activations), tuned, train, test, div, epochs)


def censored_ratio(slow: np.ndarray, fast: np.ndarray, budget: float):
    """Seed-by-seed ratio slow ÷ fast of epochs to a target, as a bootstrap Measure of the median.

    A run that never reached the target within ``budget`` epochs is censored: if only ``slow``
    missed, the ratio is at least budget ÷ fast and that lower bound is used (so the median is a
    lower bound too); if only ``fast`` missed, the ratio is at most slow ÷ budget; a seed on which
    both missed says nothing and is dropped (it never decides a tie)."""
    from actlab.verdicts import Measure, bootstrap

    slow, fast = np.asarray(slow, float), np.asarray(fast, float)
    s_in, f_in = np.isfinite(slow), np.isfinite(fast)
    keep = s_in | f_in
    r = np.where(s_in, slow, budget)[keep] / np.where(f_in, fast, budget)[keep]
    n_slow, n_fast, n_drop = int((~s_in & f_in).sum()), int((s_in & ~f_in).sum()), int((~keep).sum())
    if not keep.any():
        return Measure(float("nan"), float("nan"), float("nan"), 0, f"no seed reached the target ({n_drop} dropped)")
    m = bootstrap(r)
    notes = [f"{k} of {len(slow)} {w}" for k, w in ((n_slow, "censored as lower bounds"),
                                                   (n_fast, "censored as upper bounds"),
                                                   (n_drop, "dropped (neither reached it)")) if k]
    return Measure(m.value, m.lo, m.hi, m.n, m.method + ("; " + ", ".join(notes) if notes else ""))


def slowest(*measures):
    """The smallest of several ratios as one Measure (for "faster than A and B"): value, lower
    and upper ends are each the minimum, so the claim holds only if every ratio does."""
    from actlab.verdicts import Measure

    ms = [m for m in measures]
    if any(m.n == 0 for m in ms):
        return Measure(float("nan"), float("nan"), float("nan"), 0, "a ratio has no data")
    return Measure(min(m.value for m in ms), min(m.lo for m in ms), min(m.hi for m in ms),
                   min(m.n for m in ms), "smallest of " + str(len(ms)) + " ratios (each bootstrap 95%)")


def parameter_count(act: str, widths, n_in: int = 64, n_out: int = 10) -> int:
    """Trainable parameters of one MLP (weights, biases, learned slopes; maxout's k pieces)."""
    return int(Ensemble([Member(act, tuple(widths))], n_in, n_out).parameter_counts()[0])
