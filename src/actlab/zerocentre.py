"""Why zero-centred activations help: sign-locked weight updates and loss curvature."""
from __future__ import annotations

import numpy as np
import torch

from actlab import functions
from actlab.ensemble import Ensemble, Member, fit


def same_sign_fraction(act: str, X, y, *, seeds: int, width: int, batch_size: int, steps: int,
                       lr: float) -> np.ndarray:
    """Fraction of (step, unit) pairs in which every incoming weight gradient of a unit in the
    second hidden layer has the same sign. That layer's inputs are ``act`` outputs.
    Returns one fraction per seed."""
    ens = Ensemble([Member(act, (width, width), seed=s, lr=lr) for s in range(seeds)],
                   X.shape[1], int(y.max()) + 1, dtype=X.dtype)
    counts = np.zeros(seeds)

    def count(step, e):
        g = e.single_block().weights[1].grad  # (seeds, width_in, width_out), block order = seed order
        nz = g != 0
        pos = ((g > 0) | ~nz).all(1)
        neg = ((g < 0) | ~nz).all(1)
        counts[:] += (pos | neg).double().mean(1).numpy()

    fit(ens, X, y, loss="xent", steps=steps, optimizer="sgd", batch_size=batch_size,
        grad_callback=count)
    return counts / steps


def same_sign_study(X, y, *, seeds: int, width: int, steps: int, lr: float, minibatch: int) -> dict:
    """:func:`same_sign_fraction` behind sigmoid and tanh, one example a step ("single") and
    ``minibatch`` a step ("batch"), as metrics: the mean over seeds, its min and max, and a text
    "mean (min–max over seeds)"."""
    out = {}
    for a in ("sigmoid", "tanh"):
        for tag, b in (("single", 1), ("batch", minibatch)):
            v = same_sign_fraction(a, X, y, seeds=seeds, width=width, batch_size=b, steps=steps, lr=lr)
            out |= {f"same_sign_{a}_{tag}": v.mean(), f"same_sign_{a}_{tag}_min": v.min(),
                    f"same_sign_{a}_{tag}_max": v.max()}
            lo, mid, hi = (f"{100 * x:.0f}%" for x in (v.min(), v.mean(), v.max()))
            out[f"same_sign_{a}_{tag}_text"] = mid if lo == hi else f"{mid} ({lo}–{hi} over seeds)"
    return out | {"minibatch": minibatch, "steps": steps, "seeds": seeds}


def two_weight_path(feed: str, *, n: int, lr: float, epochs: int, seed: int = 0):
    """Per-example SGD on one linear unit y = w1 x1 + w2 x2 with inputs x = feed(z), z standard
    normal, and target y = x1 - x2 (weights (1, -1)). Returns the path (steps + 1, 2), the
    fraction of updates that move both weights the same way, and the steps to get within 0.05
    of the target weights (or -1)."""
    g = torch.Generator().manual_seed(seed)
    x = functions.get(feed)(torch.randn(n, 2, generator=g, dtype=torch.float64))
    target = torch.tensor([1.0, -1.0], dtype=torch.float64)
    t = x @ target
    w = torch.zeros(2, dtype=torch.float64)
    path, same, reached = [w.clone()], 0, -1
    k = 0
    for _ in range(epochs):
        for i in torch.randperm(n, generator=g).tolist():
            step = -lr * (x[i] @ w - t[i]) * x[i]
            same += int(step[0] * step[1] > 0)
            w = w + step
            k += 1
            path.append(w.clone())
            if reached < 0 and float((w - target).norm()) < 0.05:
                reached = k
    return torch.stack(path).numpy(), same / k, reached


def path_steps(feed: str, lrs, *, seeds: int, n: int, epochs: int, centre: bool = False,
               tol: float = 0.05) -> np.ndarray:
    """Per-example SGD on the two-weight problem of :func:`two_weight_path`, every seed and
    learning rate at once: the updates after which the weights stay within ``tol`` of (1, -1)
    to the end of ``epochs`` passes, inf if they are not there at the end (diverged runs never
    are). "Stay", not "first touch": at a large learning rate a path can pass through the
    target's neighbourhood by luck. Returns (seeds, len(lrs)).

    Seed s draws the same inputs z for every feed, so feeds compare pairwise. ``centre``
    subtracts the inputs' mean: the same function's outputs, with the offset removed, which
    separates the offset from the input's scale (tanh's outputs also vary more)."""
    xs, perms = [], []
    for s in range(seeds):
        g = torch.Generator().manual_seed(s)
        x = functions.get(feed)(torch.randn(n, 2, generator=g, dtype=torch.float64))
        xs.append(x - x.mean(0) if centre else x)
        perms.append(torch.cat([torch.randperm(n, generator=g) for _ in range(epochs)]))
    x, perm = torch.stack(xs), torch.stack(perms)
    target = torch.tensor([1.0, -1.0], dtype=torch.float64)
    t = x @ target
    lr = torch.tensor(list(lrs), dtype=torch.float64)[None, :, None]
    w = torch.zeros(seeds, len(lrs), 2, dtype=torch.float64)
    last_out = torch.zeros(seeds, len(lrs), dtype=torch.float64)
    rows = torch.arange(seeds)
    with torch.no_grad():
        for k in range(perm.shape[1]):
            xi, ti = x[rows, perm[:, k]], t[rows, perm[:, k]]
            err = (w * xi[:, None]).sum(-1) - ti[:, None]
            w = w - lr * err[..., None] * xi[:, None]
            inside = (w - target).norm(dim=-1) < tol  # False for nan
            last_out[~inside] = k + 1
    settled = last_out + 1
    settled[last_out == perm.shape[1]] = float("inf")
    return settled.numpy()


# Costs measured (CPU time): two_weight_path 20 to 28 us an update and 705 bytes an update at
# 200,000 (its path as a list of small tensors); path_steps 52 us a step for 15 seeds x 4 rates,
# 76 us for 200 x 2 and 139 us for 200 x 8, and 1.4 GB for 200 seeds of 400,000 steps (the
# permutations, a list and its stack: 16 bytes a seed-step); gd_iterations 63 us an iteration on
# 1,438 x 65 features and 226 us on 1,438 x 257, taking 4,116 and 15,678 iterations on sigmoid
# features, 344 and 2,788 on tanh's, 243 and 319 on centred sigmoid's (ridge 1e-3): about 80 a
# feature for the three settings together.
PATH_UPDATE_S, PATH_UPDATE_BYTES = 3e-5, 800
RACE_STEP_S, RACE_VALUE_S = 6e-5, 1e-7      # path_steps: per step, and per seed x rate per step
GD_ITERATION_S, GD_VALUE_S = 3e-5, 6e-10    # gd_iterations: per iteration, and per example x feature of it
GD_ITERATIONS_PER_FEATURE = 100             # the three settings together, at ridge 1e-3 (the default)


def same_sign_cost(seeds: int, width: int, batch_size: int, steps: int, n_in: int = 64) -> tuple[float, float]:
    """(seconds, bytes) of :func:`same_sign_fraction` (float64; the count reads every gradient)."""
    from actlab import workload

    s, b = workload.fit(workload.mlp(n_in, (width, width), 10), seeds, batch_size, steps, itemsize=8)
    masks = workload.SLACK * 8 * 6 * seeds * width * width  # the count's comparisons of every gradient
    return s + steps * 8e-9 * seeds * width * width, b + masks


def two_weight_path_cost(n: int, epochs: int) -> tuple[float, float]:
    """(seconds, bytes) of :func:`two_weight_path`: one Python-level update per example per epoch."""
    return PATH_UPDATE_S * n * epochs, PATH_UPDATE_BYTES * n * epochs


def path_steps_cost(n_lrs: int, seeds: int, n: int, epochs: int) -> tuple[float, float]:
    """(seconds, bytes) of :func:`path_steps`: a step per example per epoch, every seed and rate at once."""
    steps = n * epochs
    return steps * (RACE_STEP_S + RACE_VALUE_S * seeds * n_lrs), 1.25 * 16 * seeds * steps


def curvature_study_cost(seeds: int, width: int, ridge: float, n: int, n_settings: int = 3,
                         max_iter: int = 100_000) -> tuple[float, float]:
    """(seconds, bytes) of :func:`curvature_study` on ``n`` examples: per seed and setting the
    features and 50 Newton steps; per seed gradient descent for about GD_ITERATIONS_PER_FEATURE
    iterations a feature in all (more as the ridge shrinks: the condition number grows as 1 / ridge),
    at most ``max_iter`` a setting."""
    from actlab import workload

    d = width + 1
    iterations = min(n_settings * max_iter, GD_ITERATIONS_PER_FEATURE * d * max(1.0, 1e-3 / ridge))
    newton = 50 * 2 * workload.MAC_S * (2 * n * d * d + d ** 3)
    once = n_settings * newton + iterations * (GD_ITERATION_S + GD_VALUE_S * n * d)
    return seeds * once, workload.SLACK * 8 * (6 * n * d + 4 * d * d)


def features(X: torch.Tensor, act: str, width: int, seed: int, centre: bool = False) -> torch.Tensor:
    """A layer's outputs on X: act(X W) with LeCun-normal W (optionally mean-centred)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(X.shape[1], width, generator=g, dtype=X.dtype) / X.shape[1] ** 0.5
    h = functions.get(act)(X @ W)
    return h - h.mean(0) if centre else h


def logistic_curvature(H: torch.Tensor, labels: torch.Tensor, ridge: float = 1e-3):
    """For ridge logistic regression on features H (bias column added): the Hessian's
    condition number at w = 0, and the cosine between the gradient and the natural gradient
    (the Fisher, here equal to the Hessian, applied inverse) at w = 0."""
    A = torch.cat([H, torch.ones(len(H), 1, dtype=H.dtype)], 1)
    n, d = A.shape
    hess = 0.25 * A.T @ A / n + ridge * torch.eye(d, dtype=H.dtype)  # p(1-p) = 1/4 at w = 0
    ev = torch.linalg.eigvalsh(hess)
    grad = A.T @ (0.5 - labels.to(H.dtype)) / n
    nat = torch.linalg.solve(hess, grad)
    cos = float(grad @ nat / (grad.norm() * nat.norm()))
    return float(ev[-1] / ev[0]), cos


def gd_iterations(H: torch.Tensor, labels: torch.Tensor, *, ridge: float = 1e-3, tol: float = 1e-3,
                  max_iter: int = 100_000) -> int:
    """Gradient-descent iterations (step 1/L, L the loss's smoothness bound) until the loss is
    within ``tol`` of its minimum (found by Newton's method). max_iter if never."""
    A = torch.cat([H, torch.ones(len(H), 1, dtype=H.dtype)], 1)
    yv = labels.to(H.dtype)
    n, d = A.shape
    loss = lambda w: float(torch.nn.functional.softplus(A @ w).mean() - (yv * (A @ w)).mean() + ridge / 2 * w @ w)
    w = torch.zeros(d, dtype=H.dtype)
    for _ in range(50):  # Newton for the optimum
        p = torch.sigmoid(A @ w)
        grad = A.T @ (p - yv) / n + ridge * w
        hess = (A * (p * (1 - p))[:, None]).T @ A / n + ridge * torch.eye(d, dtype=H.dtype)
        w = w - torch.linalg.solve(hess, grad)
    best = loss(w)
    L = float(torch.linalg.eigvalsh(0.25 * A.T @ A / n)[-1]) + ridge
    lossz = lambda z, w: float(torch.nn.functional.softplus(z).mean() - (yv * z).mean() + ridge / 2 * w @ w)
    w = torch.zeros(d, dtype=H.dtype)
    for it in range(max_iter + 1):
        z = A @ w  # one product serves the check of this iterate and the next step
        if it > 0 and lossz(z, w) - best < tol:
            return it
        if it == max_iter:
            break
        w = w - (A.T @ (torch.sigmoid(z) - yv) / n + ridge * w) / L
    return max_iter


def curvature_study(X, labels, settings: dict, *, seeds: int, width: int, ridge: float) -> dict:
    """For each setting name -> (activation, centre): per seed of the random layer, the
    condition number, the cosine between the first gradient and the natural gradient, and
    gradient descent's iterations to the optimum. {name: {"kappa"|"cos"|"iters": (seeds,)}}."""
    out = {name: {"kappa": [], "cos": [], "iters": []} for name in settings}
    for s in range(seeds):
        for name, (act, centre) in settings.items():
            H = features(X, act, width, seed=s, centre=centre)
            k, c = logistic_curvature(H, labels, ridge=ridge)
            out[name]["kappa"].append(k)
            out[name]["cos"].append(c)
            out[name]["iters"].append(gd_iterations(H, labels, ridge=ridge))
    return {name: {k: np.array(v, dtype=float) for k, v in d.items()} for name, d in out.items()}


# --- figures ---------------------------------------------------------------------------------

def weight_paths(paths: dict, target=(1.0, -1.0)):
    """Paths of two weights in the plane under per-example SGD, one panel per input activation."""
    from actlab.plotting import NEUTRAL, color, figure, finish, label

    fig, axes = figure(1, len(paths), width=min(7.0, 3.0 * len(paths)), height=3.0, sharex=True, sharey=True)
    for ax, (act, path) in zip(axes[0], paths.items(), strict=True):
        ax.plot(path[:, 0], path[:, 1], color=color(act), linewidth=0.8, marker=".", markersize=2)
        ax.plot(*target, "*", color=NEUTRAL, markersize=10, label="target (1, −1)")
        ax.plot(0, 0, "o", color=NEUTRAL, markersize=4, label="start (0, 0)")
        ax.set_title(f"inputs are {label(act)} outputs")
        ax.set_xlabel("weight w₁")
        ax.set_aspect("equal", adjustable="box")
    axes[0, 0].set_ylabel("weight w₂")
    axes[0, 0].legend(loc="lower left")
    return finish(fig)


def paired_bars(groups: list[str], series: dict, act_of: dict, ylabel: str, log: bool = True):
    """Bars for a few settings (``groups``) of several measures (``series``: name -> values),
    one panel per measure (two a row); each bar in its setting's activation colour, its value
    printed on it by the book's formatter."""
    from actlab.numbers import fmt
    from actlab.plotting import color, figure, finish

    ncols = min(2, len(series))
    nrows = -(-len(series) // ncols)
    fig, axes = figure(nrows, ncols, width=3.4 * ncols, height=2.9 * nrows)
    for ax, (name, vals) in zip(axes.flat, series.items(), strict=False):
        ax.bar(range(len(groups)), vals, color=[color(act_of[g]) for g in groups])
        for k, v in enumerate(vals):
            ax.text(k, v, fmt(v), ha="center", va="bottom", fontsize=9)
        ax.set_xticks(range(len(groups)), [g.replace(", ", ",\n") for g in groups], fontsize=9)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(top=ax.get_ylim()[1] * 3)  # room for the printed values
        ax.set_title(name)
        ax.grid(axis="x", visible=False)
    for ax in axes.flat[len(series):]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel(ylabel)
    return finish(fig)
