"""XOR: no linear model separates it; a hidden layer with a nonlinearity does (mostly)."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from actlab.ensemble import Ensemble, Member, fit

XOR_X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
XOR_Y = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64)


def least_squares_fit(tie: float = 1e-9) -> tuple[float, np.ndarray]:
    """Accuracy (threshold 1/2) of the least-squares affine fit to XOR, and its four outputs.

    The fit predicts exactly 1/2 everywhere, so which side of 1/2 rounding puts each point
    is noise: an output within ``tie`` of 1/2 counts as a coin flip (half right).
    """
    A = torch.cat([XOR_X, torch.ones(4, 1, dtype=torch.float64)], 1)
    beta = torch.linalg.lstsq(A, XOR_Y[:, None]).solution
    pred = (A @ beta).squeeze(1)
    right = ((pred > 0.5).double() == XOR_Y).double()
    right[(pred - 0.5).abs() < tie] = 0.5
    return float(right.mean()), pred.numpy()


def best_linear_threshold(n_angles: int = 3600) -> float:
    """Best accuracy of any rule 1[w.x > c] on XOR: every direction on a fine circle, every
    threshold between consecutive projections (exhaustive for 4 points), both orientations."""
    best = 0.0
    for t in np.linspace(0, 2 * math.pi, n_angles, endpoint=False):
        proj = XOR_X.numpy() @ np.array([math.cos(t), math.sin(t)])
        s = np.sort(proj)
        cuts = np.concatenate([[s[0] - 1], (s[:-1] + s[1:]) / 2, [s[-1] + 1]])
        for c in cuts:
            acc = float(((proj > c) == XOR_Y.numpy().astype(bool)).mean())
            best = max(best, acc)
    return best


def dichotomies_separable() -> int:
    """How many of the 16 labelings of the four XOR points a line separates (a check: 14)."""
    pts = XOR_X.numpy()
    count = 0
    angles = np.linspace(0, 2 * math.pi, 720, endpoint=False)
    for labels in itertools.product([0, 1], repeat=4):
        lab = np.array(labels, bool)
        ok = False
        for t in angles:
            proj = pts @ np.array([math.cos(t), math.sin(t)])
            if lab.all() or (~lab).all() or proj[lab].min() > proj[~lab].max():
                ok = True
                break
        count += ok
    return count


@dataclass
class XorSweep:
    activations: list[str]
    widths: list[int]
    seeds: int
    success: np.ndarray      # (acts, widths, seeds) bool: all four points classified right
    final_loss: np.ndarray   # (acts, widths, seeds)
    dead_units: np.ndarray   # (acts, widths, seeds): hidden units constant zero on all 4 inputs
    ensemble: Ensemble
    logits: np.ndarray | None = None  # (acts, widths, seeds, 4): final output logits on the four points

    def rate(self) -> np.ndarray:
        return self.success.mean(-1)

    def member(self, act: str, width: int, seed: int) -> int:
        a, w = self.activations.index(act), self.widths.index(width)
        return (a * len(self.widths) + w) * self.seeds + seed


def train_sweep(activations, widths, seeds: int, steps: int = 2000, lr: float = 0.05,
                seed0: int = 0) -> XorSweep:
    """Every activation x hidden width x seed, one hidden layer, trained together (Adam, BCE)."""
    members = [Member(a, (w,), seed=seed0 + s, lr=lr, init="default")
               for a in activations for w in widths for s in range(seeds)]
    ens = Ensemble(members, 2, 1)
    fit(ens, XOR_X, XOR_Y[:, None], loss="bce", steps=steps)
    shape = (len(activations), len(widths), seeds)
    with torch.no_grad():
        logits = ens(XOR_X)[..., 0]  # (E, 4)
        pred = (logits > 0).double()
        success = (pred == XOR_Y).all(1).numpy().reshape(shape)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, XOR_Y.expand_as(logits), reduction="none").mean(1).numpy().reshape(shape)
        dead = np.zeros(len(members), int)
        for blk in ens.blocks:  # one block per width
            _, _, post = blk.forward(XOR_X, keep=True)
            dead[blk.idx] = (post[0].abs().amax(1) == 0).sum(-1).numpy()
    return XorSweep(list(activations), list(widths), seeds, success, loss, dead.reshape(shape), ens,
                    logits.numpy().reshape(*shape, 4))


def train_sweep_cost(n_activations: int, widths, seeds: int, steps: int) -> tuple[float, float]:
    """(seconds, bytes) of :func:`train_sweep`: a float64 block per width on the four points."""
    from actlab import workload

    blocks = [(workload.mlp(2, (w,), 1), n_activations * seeds) for w in widths]
    return workload.ensemble(blocks, 4, steps, optimizer="adam", itemsize=8, evals=2, keep_rows=4)


def _entropy(p: float) -> float:
    return 0.0 if p in (0.0, 1.0) else -(p * math.log(p) + (1 - p) * math.log(1 - p))


def plateau_losses() -> dict[int, float]:
    """The loss (mean binary cross-entropy, nats) of the best network whose output is equal on
    k of the four points ("merged") and fits the others perfectly, for the worst such merge:
    k = 4: ln 2; k = 3 (two of one class, one of the other): (3/4) H(1/3); k = 2 (one of
    each class): (1/2) ln 2. The best output on a merged group is its share of 1-labels."""
    return {4: _entropy(0.5), 3: 0.75 * _entropy(1 / 3), 2: 0.5 * _entropy(0.5)}


def merged_points(logits: np.ndarray, tol: float = 1e-2) -> np.ndarray:
    """The size of the largest group of the four points with (nearly) the same output logit,
    that mixes both classes (a group of one class alone costs nothing). Shape: logits[..., 0]."""
    lg = np.asarray(logits)
    lab = XOR_Y.numpy().astype(bool)
    out = np.zeros(lg.shape[:-1], int)
    for i in range(4):
        same = np.abs(lg - lg[..., i:i + 1]) < tol  # (..., 4): points that share point i's output
        mixed = (same & lab).any(-1) & (same & ~lab).any(-1)
        out = np.maximum(out, np.where(mixed, same.sum(-1), 0))
    return out


def decision_grid(sweep: XorSweep, index: int, n: int = 121, pad: float = 0.5):
    """(xs, ys, P(class 1)) on a square grid around the four points, for one member."""
    xs = torch.linspace(-pad, 1 + pad, n, dtype=torch.float64)
    gx, gy = torch.meshgrid(xs, xs, indexing="xy")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1)
    with torch.no_grad():  # in chunks: the ensemble evaluates all its members on every point
        logit = torch.cat([sweep.ensemble(chunk)[index, :, 0] for chunk in pts.split(1024)])
        p = torch.sigmoid(logit).view(n, n)
    return xs.numpy(), xs.numpy(), p.numpy()


# ---------------------------------------------------------------- figures


def xor_regions(sweep: XorSweep, width: int, seed: int = 0):
    """Decision regions of one network per activation on the four XOR points, two panels a row;
    the key to the markers sits below the panels."""
    from actlab.plotting import NEUTRAL, color, figure, finish, label

    acts = sweep.activations
    ncols = min(2, len(acts))
    nrows = -(-len(acts) // ncols)
    fig, axes = figure(nrows, ncols, width=2.7 * ncols, height=2.6 * nrows + 0.3, sharex=True, sharey=True)
    pts, lab = XOR_X.numpy(), XOR_Y.numpy().astype(bool)
    for ax, act in zip(axes.flat, acts, strict=False):
        i = sweep.member(act, width, seed)
        xs, ys, p = decision_grid(sweep, i)
        ax.contourf(xs, ys, p, levels=[0, 0.5, 1], colors=["white", color(act)], alpha=0.35)
        ax.contour(xs, ys, p, levels=[0.5], colors=[color(act)], linewidths=1.5)
        ax.scatter(pts[lab, 0], pts[lab, 1], marker="o", s=40, color=NEUTRAL, label="XOR = 1", zorder=3)
        ax.scatter(pts[~lab, 0], pts[~lab, 1], marker="x", s=40, color=NEUTRAL, label="XOR = 0", zorder=3)
        ok = "solved" if sweep.success[acts.index(act), sweep.widths.index(width), seed] else "failed"
        ax.set_title(f"{label(act)} ({ok})")
        ax.set_aspect("equal", adjustable="box")
        ax.grid(False)
    for ax in axes.flat[len(acts):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("input x₁")
    for ax in axes[:, 0]:
        ax.set_ylabel("input x₂")
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
    return finish(fig)


def rate_vs_width(sweep: XorSweep):
    """XOR success rate against hidden width, with its 95% Wilson interval over seeds. The
    activations' points are nudged sideways a little so that equal rates stay visible."""
    from actlab.plotting import color, figure, finish, label, linestyle
    from actlab.verdicts import wilson

    fig, axes = figure(1, 1, width=6.0, height=3.0)
    ax = axes[0, 0]
    n = len(sweep.activations)
    widths = np.array(sweep.widths, float)
    for a, act in enumerate(sweep.activations):
        wins = sweep.success[a].sum(-1)
        iv = [wilson(int(k), sweep.seeds) for k in wins]
        x = widths * 2 ** (0.06 * (a - (n - 1) / 2))  # a dodge on the log axis
        ax.plot(x, wins / sweep.seeds, "o", color=color(act), linestyle=linestyle(act), label=label(act))
        ax.vlines(x, [m.lo for m in iv], [m.hi for m in iv], color=color(act), linewidth=1.2, alpha=0.6)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sweep.widths, [str(w) for w in sweep.widths])
    ax.minorticks_off()
    ax.set_xlabel("hidden units")
    ax.set_ylabel(f"share of {sweep.seeds} seeds\nsolving XOR")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    return finish(fig)


def failure_analysis(sweep: XorSweep, act: str = "relu", steps: int = 2000, lr: float = 0.05) -> dict:
    """Why the narrowest layer of ``act`` fails on some seeds: its failed runs counted by dead
    units and by how many points share one output, and the intervention that swaps in leaky
    ReLU on the same seeds (the same initial weights). Counts, for the chapter to record."""
    from actlab.verdicts import wilson

    r = sweep.activations.index(act)
    failed, dead = ~sweep.success[r, 0], sweep.dead_units[r, 0]
    merged = merged_points(sweep.logits[r, 0])
    leaky = train_sweep(["leaky_relu"], [sweep.widths[0]], sweep.seeds, steps=steps, lr=lr)
    lwin = leaky.success[0, 0]
    dead_fail = failed & (dead > 0)
    out = {
        "relu_narrow_failures": int(failed.sum()),
        "relu_narrow_failures_dead": int(dead_fail.sum()),
        "relu_narrow_failures_alive": int((failed & (dead == 0)).sum()),
        "relu_narrow_dead_in_successes": int((~failed & (dead > 0)).sum()),
        **{f"relu_narrow_merged_{k}": int((failed & (merged == k)).sum()) for k in (4, 3, 2)},
        "relu_narrow_merged_other": int((failed & ~np.isin(merged, (2, 3, 4))).sum()),
        "relu_wide_mean_dead": float(sweep.dead_units[r, -1].mean()),
        "relu_wide_width": sweep.widths[-1],
        "leaky_wins_narrow": int(lwin.sum()),
        "leaky_rescues_dead": int((dead_fail & lwin).sum()),
        "leaky_rescues_alive": int((failed & (dead == 0) & lwin).sum()),
        "leaky_breaks": int((~failed & ~lwin).sum()),
        "leaky_failures_merged_4": int((~lwin & (merged_points(leaky.logits[0, 0]) == 4)).sum()),
        "leaky_failures": int((~lwin).sum()),
    }
    measures = {"leaky_rate_narrow": wilson(int(lwin.sum()), sweep.seeds),
                "leaky_rescue_rate": wilson(int((dead_fail & lwin).sum()), int(dead_fail.sum()))}
    return out, measures


@dataclass
class XorRun:
    """The chapter's XOR experiment: the sweep, its wins and Wilson rates per activation and
    width (``rates``), and for ReLU why the narrowest layer fails (``failures``, empty without ReLU)."""
    sweep: XorSweep
    rates: dict
    failures: dict

    @property
    def metrics(self) -> dict:
        return self.rates | self.failures


def run(*, xor_activations, xor_widths, xor_seeds: int, xor_steps: int, xor_lr: float) -> XorRun:
    """Train the sweep (:func:`train_sweep`) and count it: per activation and width (``w2`` for
    width 2, ..., and ``narrow``, ``wide`` for the first and last) the seeds that solve XOR with their Wilson
    interval; for ReLU, :func:`failure_analysis` with the same steps and learning rate."""
    from actlab.verdicts import measure_metrics, wilson

    sweep = train_sweep(xor_activations, xor_widths, xor_seeds, steps=xor_steps, lr=xor_lr)
    wins = sweep.success.sum(-1)
    rates = {}
    for a, act in enumerate(sweep.activations):
        for w, label in [*((w, f"w{width}") for w, width in enumerate(sweep.widths)), (0, "narrow"), (-1, "wide")]:
            rates |= measure_metrics(f"xor_rate_{act}_{label}", wilson(int(wins[a, w]), xor_seeds))
            rates[f"xor_wins_{act}_{label}"] = int(wins[a, w])
    rates |= {"xor_seeds": xor_seeds, "xor_steps": xor_steps, "xor_narrow": sweep.widths[0],
              "xor_wide": sweep.widths[-1], "xor_shown_width": 4 if 4 in sweep.widths else sweep.widths[-1]}
    failures = {}
    if "relu" in sweep.activations:
        counts, measures = failure_analysis(sweep, "relu", steps=xor_steps, lr=xor_lr)
        failures = counts | {k: v for name, m in measures.items() for k, v in measure_metrics(name, m).items()}
    return XorRun(sweep, rates, failures)
