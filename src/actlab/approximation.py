"""Universal approximation in practice: one hidden layer, growing width, three targets.

Every network trains on ``n_points`` evenly spaced points of [-1, 1] and is measured on a grid
eight times finer: the points between the training points are held out (never trained on),
and the sup error is taken over the whole fine grid. Each (target, activation, width) gets its
own Adam learning rate, picked by training error from a grid that is extended where the best
sits on an edge.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from actlab.ensemble import Ensemble, Member, fit
from actlab.tuning import best_index

# Targets on [-1, 1]: smooth, a kink, and a jump (outside the theorems' continuity condition).
TARGETS = {
    "sin": lambda x: torch.sin(math.pi * x),
    "abs": lambda x: x.abs(),
    "step": lambda x: (x >= 0).to(x.dtype),
}
TITLES = {"sin": "sin(πx)", "abs": "|x|", "step": "step at 0"}  # how a figure names each target
FINER = 8  # the evaluation grid is this many times finer than the training grid


def grids(n_points: int, dtype=torch.float32):
    """Training grid (n_points, 1), the fine grid (FINER (n_points - 1) + 1, 1), and the mask of
    fine-grid points that are not training points (the held-out points)."""
    x = torch.linspace(-1, 1, n_points, dtype=dtype)[:, None]
    xt = torch.linspace(-1, 1, FINER * (n_points - 1) + 1, dtype=dtype)[:, None]
    held = torch.arange(len(xt)) % FINER != 0
    return x, xt, held


def train(configs, seeds: int, lr: float, n_points: int, steps: int, dtype=torch.float32):
    """Train ``seeds`` networks per (target, activation, width) config at one learning rate, as
    one ensemble. Returns predictions on the training grid (C, S, n) and the fine grid (C, S, m)."""
    ms = [Member(a, (w,), seed=s, lr=lr, tag={"target": t}) for t, a, w in configs for s in range(seeds)]
    x, xt, _ = grids(n_points, dtype)
    y = torch.stack([TARGETS[m.tag["target"]](x) for m in ms])
    ens = Ensemble(ms, 1, 1, dtype=dtype)
    fit(ens, x, y, loss="mse", steps=steps, y_per_member=True)
    with torch.no_grad():
        return (ens(x)[..., 0].view(len(configs), seeds, -1).double().numpy(),
                ens(xt)[..., 0].view(len(configs), seeds, -1).double().numpy())


UNITS_PER_SECOND = 4e7  # hidden-unit x point x step of training per second, one core (measured 4.4e7 to 7.3e7)


def cost(widths, n_targets: int, n_activations: int, seeds: int, n_points: int, steps: int, n_lrs: int,
         max_rounds: int) -> tuple[float, float]:
    """About how long :func:`run` takes (seconds) and the most memory it holds at once (bytes), at
    worst: every round extends every config by one rate. Time: one hidden unit on one point for
    one step, forward and backward, at :data:`UNITS_PER_SECOND`. Memory: a rate's training
    (float32 pre-activations, activations and their gradients, on the fine grid too) and every
    rate's predictions kept in float64 on both grids until the best is picked."""
    nets = n_targets * n_activations * seeds
    rates = n_lrs + max_rounds
    n_fine = FINER * (n_points - 1) + 1
    seconds = rates * nets * sum(widths) * n_points * steps / UNITS_PER_SECOND
    training = 4 * 4 * nets * sum(widths) * (n_points + n_fine)
    kept = 8 * (rates + 1) * nets * len(widths) * (n_points + n_fine)
    return seconds, training + kept


@dataclass
class ApproxSweep:
    widths: list[int]
    activations: list[str]
    targets: list[str]
    seeds: int
    mse: np.ndarray        # (targets, acts, widths, seeds): MSE on the held-out points
    mse_train: np.ndarray  # same shape: MSE on the training points
    sup: np.ndarray        # same shape: largest |error| on the whole fine grid
    lr: np.ndarray         # (targets, acts, widths): the learning rate picked
    interior: np.ndarray   # (targets, acts, widths) bool: that rate is inside the grid tried
    lrs_tried: list[float]
    n_trained: int         # networks trained in all, every rate tried counted
    x_test: np.ndarray
    y_test: np.ndarray     # (targets, n_test)
    pred: np.ndarray       # (targets, acts, widths, seeds, n_test)

    def slope(self, what: str = "mse") -> np.ndarray:
        """Least-squares slope of log(median error over seeds) against log(width): (targets, acts)."""
        err = np.median(getattr(self, what), axis=-1)
        lw = np.log(self.widths)
        return np.array([[np.polyfit(lw, np.log(err[t, a]), 1)[0] for a in range(err.shape[1])]
                         for t in range(err.shape[0])])


def run(widths, activations, targets, seeds: int, n_points: int = 128, steps: int = 1000,
        lrs=(0.003, 0.01, 0.03), factor: float = 3.0, max_rounds: int = 2,
        dtype=torch.float32) -> ApproxSweep:
    """Every config at every learning rate of ``lrs``; then, for the configs whose best rate
    (lowest median training MSE) is on an edge, one more rate ``factor`` beyond it, batched,
    up to ``max_rounds`` times. The identity is a straight line whatever the rate: it is
    trained on the grid but never extended."""
    configs = [(t, a, w) for t in targets for a in activations for w in widths]
    x, xt, held = grids(n_points, dtype)
    y = {t: TARGETS[t](x)[:, 0].double().numpy() for t in targets}
    yt = {t: TARGETS[t](xt)[:, 0].double().numpy() for t in targets}
    tried = {c: {} for c in configs}  # config -> lr -> (train pred (S, n), fine pred (S, m))
    for lr in lrs:
        tr, fine = train(configs, seeds, lr, n_points, steps, dtype)
        for k, c in enumerate(configs):
            tried[c][lr] = (tr[k], fine[k])

    def score(c, lr):
        return ((tried[c][lr][0] - y[c[0]]) ** 2).mean(-1)

    def best(c):
        order = sorted(tried[c])
        b = best_index(np.stack([score(c, lr) for lr in order], 1))
        return order, b

    for _ in range(max_rounds):
        todo = {}
        for c in configs:
            order, b = best(c)
            if c[1] == "identity" or b is None or 0 < b < len(order) - 1:
                continue
            todo.setdefault(order[0] / factor if b == 0 else order[-1] * factor, []).append(c)
        if not todo:
            break
        for lr, cs in todo.items():
            tr, fine = train(cs, seeds, lr, n_points, steps, dtype)
            for k, c in enumerate(cs):
                tried[c][lr] = (tr[k], fine[k])

    shape = (len(targets), len(activations), len(widths))
    mse, mse_tr, sup = (np.zeros(shape + (seeds,)) for _ in range(3))
    pred = np.zeros(shape + (seeds, len(xt)))
    lr_at, interior = np.zeros(shape), np.zeros(shape, bool)
    for k, c in enumerate(configs):
        i = np.unravel_index(k, shape)
        order, b = best(c)
        b = 0 if b is None else b
        lr = order[b]
        err = tried[c][lr][1] - yt[c[0]]
        mse[i], mse_tr[i] = (err[:, held.numpy()] ** 2).mean(-1), score(c, lr)
        sup[i], pred[i] = np.abs(err).max(-1), tried[c][lr][1]
        lr_at[i], interior[i] = lr, 0 < b < len(order) - 1
    return ApproxSweep(list(widths), list(activations), list(targets), seeds, mse, mse_tr, sup, lr_at,
                       interior, sorted({lr for c in configs for lr in tried[c]}),
                       seeds * sum(len(tried[c]) for c in configs), xt[:, 0].numpy(),
                       np.stack([yt[t] for t in targets]), pred)


def best_line_mse(sweep: ApproxSweep, target: str, n_points: int) -> float:
    """Held-out MSE of the least-squares straight line fitted on the training grid: the floor
    for any network whose activation is the identity."""
    x = np.linspace(-1, 1, n_points)
    y = TARGETS[target](torch.from_numpy(x)).numpy()
    coef = np.polyfit(x, y, 1)
    t = sweep.targets.index(target)
    held = np.arange(len(sweep.x_test)) % FINER != 0
    return float(np.mean((np.polyval(coef, sweep.x_test[held]) - sweep.y_test[t][held]) ** 2))


@dataclass
class ApproxRun:
    """The chapter's width sweep and everything it records about it (``metrics``)."""
    sweep: ApproxSweep
    metrics: dict


def experiment(*, widths, activations, targets, seeds: int, n_points: int, steps: int, lrs,
               lr_rounds: int) -> ApproxRun:
    """The chapter's sweep (:func:`run`) and its metrics: the settings, the learning rates picked,
    and per target and activation the errors at the narrowest and widest layer (median over
    seeds), how far they fall and how far past the best straight line, the fitted slope in width,
    and the width whose training error is lowest. Errors are also given as ``NAME_text``."""
    from actlab.numbers import fmt
    from actlab.record import as_plain
    from actlab.verdicts import bootstrap, interval_words, measure_metrics

    sweep = run(widths, activations, targets, seeds, n_points=n_points, steps=steps, lrs=lrs,
                max_rounds=lr_rounds)
    nonlin = [a for a, act in enumerate(sweep.activations) if act != "identity"]
    edges = [f"{target} with {act} at width {w} (rate {fmt(sweep.lr[t, a, i])})"
             for t, target in enumerate(sweep.targets) for a, act in enumerate(sweep.activations)
             if act != "identity" for i, w in enumerate(sweep.widths) if not sweep.interior[t, a, i]]
    m = {"seeds": seeds, "n_points": n_points, "steps": steps, "lr_rounds": lr_rounds,
         "n_fine": len(sweep.x_test), "n_held": len(sweep.x_test) - n_points,
         "lrs_text": ", ".join(fmt(v) for v in lrs), "lrs_tried_text": ", ".join(fmt(v) for v in sweep.lrs_tried),
         "lr_interior": int(sweep.interior[:, nonlin].sum()), "lr_configs": int(sweep.interior[:, nonlin].size),
         "lr_rounds_text": {0: "never (no extension)", 1: "once at most"}.get(lr_rounds, f"up to {lr_rounds} times"),
         "lr_edges_text": "Every picked rate is inside what was tried." if not edges else
                          f"The picked rate is on an edge of what was tried in {len(edges)}: " + "; ".join(edges)
                          + ". Their errors may be higher than a wider grid would give.",
         "n_networks": sweep.n_trained, "grid_gap": float(sweep.x_test[1] - sweep.x_test[0]),
         "width_min": widths[0], "width_max": widths[-1]}
    slopes = sweep.slope("mse")
    med = np.median(sweep.mse, -1)
    for t, target in enumerate(sweep.targets):
        line = m[f"line_mse_{target}"] = best_line_mse(sweep, target, n_points)
        for a, act in enumerate(sweep.activations):
            key = f"{target}_{act}"
            # the widest layer against the best straight line, seed by seed: how far past linear it gets
            m |= measure_metrics(f"mse_{key}_vs_line", bootstrap(sweep.mse[t, a, -1] / line))
            m[f"slope_{key}"] = slopes[t, a]
            m[f"slope_{key}_text"] = fmt(slopes[t, a], sig=2, zero=1e-4)  # float32 rounding level
            m[f"mse_{key}_narrow"], m[f"mse_{key}_wide"] = med[t, a, 0], med[t, a, -1]
            m[f"mse_train_{key}_wide"] = np.median(sweep.mse_train[t, a, -1])
            m[f"mse_{key}_best"] = med[t, a].min()
            fall = bootstrap(sweep.mse[t, a, 0] / sweep.mse[t, a, -1])
            m |= measure_metrics(f"mse_{key}_fall", fall)
            m[f"mse_{key}_fall_text"] = (f"{fmt(fall.value)} ({interval_words(fall)} "
                                         f"{fmt(fall.lo, sig=2)} to {fmt(fall.hi, sig=2)})")
            m[f"mse_{key}_wide_worst"] = float(sweep.mse[t, a, -1].max())  # the band's top
            m |= measure_metrics(f"sup_{key}_wide", bootstrap(sweep.sup[t, a, -1]))
            tr = np.median(sweep.mse_train[t, a], -1)
            m[f"best_width_{key}"] = widths[int(np.argmin(tr))]  # by training error
            m[f"mse_train_{key}_best"] = tr.min()
            m[f"lr_{key}_wide"] = sweep.lr[t, a, -1]
    m = {k: as_plain(v) for k, v in m.items()}
    texts = {k + "_text": fmt(v, sig=2) for k, v in m.items()  # errors in prose: formatted once, by fmt
             if k.startswith(("mse_", "line_mse_")) and isinstance(v, float)
             and not k.endswith(("_lo", "_hi", "_fall", "_vs_line"))}
    return ApproxRun(sweep, m | texts)


# ---------------------------------------------------------------- figures


def approximation_fits(sweep: ApproxSweep, target: str, act_names: list[str], show_widths: list[int],
                       seed: int = 0):
    """Fitted curves of one seed at a few widths (darker is wider), one panel per activation,
    two panels a row, the target in grey; one key below the panels."""
    from matplotlib.lines import Line2D

    from actlab.plotting import NEUTRAL, color, figure, finish, label

    t = sweep.targets.index(target)
    ncols = min(2, len(act_names))
    nrows = -(-len(act_names) // ncols)
    fig, axes = figure(nrows, ncols, width=3.2 * ncols, height=2.3 * nrows + 0.45, sharex=True, sharey=True)
    alphas = [0.3 + 0.7 * (k + 1) / len(show_widths) for k in range(len(show_widths))]
    for ax, act in zip(axes.flat, act_names, strict=False):
        a = sweep.activations.index(act)
        ax.plot(sweep.x_test, sweep.y_test[t], color="#bbbbbb", linewidth=3)
        for w, alpha in zip(show_widths, alphas, strict=True):
            ax.plot(sweep.x_test, sweep.pred[t, a, sweep.widths.index(w), seed], color=color(act),
                    alpha=alpha, linewidth=1.3)
        ax.set_title(label(act))
    for ax in axes.flat[len(act_names):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("input x")
    for ax in axes[:, 0]:
        ax.set_ylabel("network output")
    key = [Line2D([], [], color="#bbbbbb", linewidth=3, label="target")] + [
        Line2D([], [], color=NEUTRAL, alpha=alpha, linewidth=1.3, label=f"width {w}")
        for w, alpha in zip(show_widths, alphas, strict=True)]
    fig.legend(handles=key, loc="outside lower center", ncol=min(len(key), 5))
    return finish(fig)


def error_vs_width(sweep: ApproxSweep, what: str = "mse"):
    """Error against width on log-log axes: one panel per target (two a row), one line per
    activation, median over seeds with the min-max band; the key fills a spare cell or sits below."""
    from actlab.plotting import figure, finish, spread

    vals = getattr(sweep, what)
    n = len(sweep.targets)
    ncols = min(2, n)
    nrows = -(-n // ncols)
    fig, axes = figure(nrows, ncols, width=3.2 * ncols, height=2.5 * nrows + (0 if n % 2 else 0.4),
                       sharex=True, sharey=True)
    for t, (ax, target) in enumerate(zip(axes.flat, sweep.targets, strict=False)):
        for a, act in enumerate(sweep.activations):
            spread(ax, sweep.widths, vals[t, a], act, axis=-1, marker="o", markersize=3)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sweep.widths, [str(w) for w in sweep.widths])
        ax.minorticks_off()
        ax.set_title(f"target: {TITLES.get(target, target)}")
    for ax in axes.flat[:n]:
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel("hidden units")
    for ax in axes[:, 0]:
        ax.set_ylabel("held-out MSE" if what == "mse" else "largest error")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    spare = axes.flat[n:]
    for ax in spare:
        ax.set_visible(False)
    if len(spare):
        spare[0].set_visible(True)
        spare[0].axis("off")
        spare[0].legend(handles, labels, loc="center")
    else:
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    return finish(fig)
