"""What ReLU buys besides speed: sparse activity, and a function made of linear pieces.

Sparsity (:func:`sparsity`): per example and hidden layer, the share of units whose output is
exactly zero, and of those within a small band of zero, for the ReLU family and for smooth
functions, at initialisation and after training; kept apart from dead units, which are zero on
every example (:mod:`actlab.deadunits` studies those).

Linear pieces (:func:`pieces`): a ReLU network is linear wherever its pattern of active units is
fixed, so along a line through input space it is piecewise linear, one piece per run of equal
patterns. Counting them on a fine grid along lines, for networks of equal size and different
depth, at initialisation and after training, sets what depth can do (Montúfar et al.'s
construction, :func:`montufar_line`) beside what typical networks do.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from actlab import data, functions
from actlab.deadunits import dead_mask
from actlab.ensemble import Ensemble, Member, fit
from actlab.verdicts import Measure, bootstrap, halved, resampled_interval

NEAR = 0.05   # "near zero": |h| under this share of the layer's root mean square on the same examples


# ---------------------------------------------------------------- sparsity

@dataclass
class Sparsity:
    """Per activation and moment ("init", "trained"): (seeds,) shares averaged over layers."""
    activations: list[str]
    zero: dict      # (act, when) -> share of exact zeros per example and unit
    near: dict      # (act, when) -> share within NEAR x rms of zero
    dead: dict      # (act, when) -> share of units zero on every example
    test_error: dict  # act -> (seeds,)


def _shares(ens: Ensemble, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(members,) each: exact-zero share, near-zero share and dead-unit share, averaged over layers."""
    with torch.no_grad():
        _, _, post = ens.hidden(x)
    zero = torch.stack([(h == 0).float().mean(dim=(1, 2)) for h in post], 1).mean(1)
    rms = [h.pow(2).mean(dim=(1, 2), keepdim=True).sqrt() for h in post]
    near = torch.stack([(h.abs() < NEAR * r).float().mean(dim=(1, 2)) for h, r in zip(post, rms, strict=True)], 1).mean(1)
    dead = np.stack([m.mean(axis=1) for m in dead_mask(ens, x)], 1).mean(1)  # the book's dead units
    return zero.numpy(), near.numpy(), dead


def sparsity(activations: list[str], *, width: int, depth: int, seeds: int, steps: int, lr: float) -> Sparsity:
    """Digits MLPs of ``depth`` hidden layers of ``width`` units, every function from its recommended
    start, trained with Adam at rate ``lr`` for ``steps`` minibatch steps, all in one batched
    ensemble; shares read on the test digits before and after training."""
    X, y = data.digits("train", dtype=torch.float32)
    Xt, yt = data.digits("test", dtype=torch.float32)
    members = [Member(a, (width,) * depth, seed=s, lr=lr, init=functions.get(a).init, gain=functions.get(a).gain)
               for a in activations for s in range(seeds)]
    ens = Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=X.dtype)
    before = _shares(ens, Xt)
    fit(ens, X, y, loss="xent", steps=steps, optimizer="adam", batch_size=64)
    after = _shares(ens, Xt)
    with torch.no_grad():
        wrong = (ens(Xt).argmax(-1) != yt).float().mean(-1).numpy()
    out = {k: {} for k in ("zero", "near", "dead")}
    errors = {}
    for j, a in enumerate(activations):
        part = slice(j * seeds, (j + 1) * seeds)
        for when, got in (("init", before), ("trained", after)):
            for k, v in zip(("zero", "near", "dead"), got, strict=True):
                out[k][a, when] = v[part]
        errors[a] = wrong[part]
    return Sparsity(list(activations), out["zero"], out["near"], out["dead"], errors)


# ---------------------------------------------------------------- linear pieces

def target(x: torch.Tensor) -> torch.Tensor:
    """The 2-D regression task: a smooth bump pattern with several ridges, so that a network
    fitting it needs many pieces."""
    return torch.sin(3 * x[..., 0]) * torch.cos(2 * x[..., 1]) + 0.5 * torch.sin(5 * x[..., 0] * x[..., 1])


def lines(n_lines: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_lines`` chords of the square [-1, 1]², where the training inputs lie: each through a random
    point of the inner square [-0.6, 0.6]² at a random angle, from one side of the square to the other."""
    g = torch.Generator().manual_seed(seed)
    mid = torch.rand(n_lines, 2, generator=g, dtype=torch.float64) * 1.2 - 0.6
    angle = torch.rand(n_lines, generator=g, dtype=torch.float64) * math.pi
    d = torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    # how far the line runs each way before it leaves the square: the nearer of the two sides it meets
    with np.errstate(divide="ignore"):
        reach = ((1 - mid * torch.sign(d)) / d.abs()).min(dim=1).values
        back = ((1 + mid * torch.sign(d)) / d.abs()).min(dim=1).values
    return mid - back[:, None] * d, mid + reach[:, None] * d


def random_biases_(ens: Ensemble, seed: int = 0) -> Ensemble:
    """Draw every hidden and output bias from U(±1/√fan-in), PyTorch's default for a linear layer,
    in place: with the zero biases of He's start every boundary would pass through the origin, and
    a line could cross each unit's boundary only once (Hanin & Rolnick's count assumes random biases)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for blk in ens.blocks:
            for w, b in zip(blk.weights, blk.biases, strict=True):
                bound = 1 / math.sqrt(w.shape[1])
                b.copy_((torch.rand(b.shape, generator=g, dtype=b.dtype) * 2 - 1) * bound)
    return ens


def count_pieces(ens: Ensemble, starts: torch.Tensor, ends: torch.Tensor, n_points: int) -> np.ndarray:
    """(members,) linear pieces along the segments, summed over segments, mean per segment: one plus
    the number of neighbouring grid points whose pattern of active units differs. A grid misses
    two changes between neighbours, so the count is a lower bound; the caller checks it against a
    grid of twice the points."""
    t = torch.linspace(0, 1, n_points, dtype=torch.float64)[None, :, None]
    total = None
    for a, b in zip(starts, ends, strict=True):
        x = (a[None, None, :] + t * (b - a)[None, None, :])[0].to(torch.float32)
        with torch.no_grad():
            _, pre, _ = ens.hidden(x)
        pattern = torch.cat([(z > 0) for z in pre], dim=2)  # (members, points, units)
        changes = (pattern[:, 1:] != pattern[:, :-1]).any(dim=2).sum(dim=1)
        total = changes if total is None else total + changes
    return (1 + total.numpy() / len(starts)) if len(starts) else np.zeros(len(ens))


def montufar_line(widths: tuple[int, ...]) -> int:
    """Pieces along a line that Montúfar et al.'s construction reaches with these layer widths on a
    one-dimensional input: each of the first L − 1 layers folds the line ⌊n⌋ times, the last cuts each
    fold into n + 1 pieces: (n₁ ⋯ n_{L−1}) (n_L + 1)."""
    return int(np.prod(widths[:-1], dtype=np.int64)) * (widths[-1] + 1)


@dataclass
class Pieces:
    """Per architecture (hidden widths): pieces per line, (seeds,), at init and after training, and
    the same at init on a grid of twice the points (the count's check)."""
    architectures: list[tuple[int, ...]]
    init: dict
    trained: dict
    init_fine: dict
    mse: dict

    def measure(self, widths, when: str = "init") -> Measure:
        return bootstrap(getattr(self, when)[widths])


def pieces(architectures: list[tuple[int, ...]], *, seeds: int, steps: int, lr: float, n_lines: int,
           n_points: int, n_train: int = 1024) -> Pieces:
    """ReLU MLPs of the given hidden widths (He's weights, random biases: :func:`random_biases_`), regressing :func:`target` on ``n_train``
    uniform points of [-1, 1]² with Adam (full batch, ``steps`` steps): linear pieces along
    ``n_lines`` fixed segments before and after training."""
    g = torch.Generator().manual_seed(0)
    X = torch.rand(n_train, 2, generator=g) * 2 - 1
    y = target(X)[:, None]
    starts, ends = lines(n_lines)
    out = {"init": {}, "trained": {}, "init_fine": {}, "mse": {}}
    for widths in architectures:
        ens = random_biases_(Ensemble([Member("relu", widths, seed=s, lr=lr, init="kaiming") for s in range(seeds)],
                                      2, 1, dtype=X.dtype))
        out["init"][widths] = count_pieces(ens, starts, ends, n_points)
        out["init_fine"][widths] = count_pieces(ens, starts, ends, 2 * n_points)
        losses = fit(ens, X, y, loss="mse", steps=steps, optimizer="adam", log_every=steps)
        out["trained"][widths] = count_pieces(ens, starts, ends, n_points)
        out["mse"][widths] = losses[-1]
    return Pieces(list(architectures), out["init"], out["trained"], out["init_fine"], out["mse"])


ARCHITECTURES = {"1 × 48": (48,), "2 × 24": (24, 24), "3 × 16": (16, 16, 16), "4 × 12": (12, 12, 12, 12),
                 "6 × 8": (8,) * 6}


def pieces_data(architectures: list[str], seeds: int, steps: int, lr: float, n_lines: int, n_points: int) -> dict:
    """The evidence cell "regions-pieces": :func:`pieces` for the named architectures of
    :data:`ARCHITECTURES`, as lists per architecture name."""
    p = pieces([ARCHITECTURES[a] for a in architectures], seeds=seeds, steps=steps, lr=lr, n_lines=n_lines,
               n_points=n_points)
    return {a: {k: getattr(p, k)[ARCHITECTURES[a]].tolist() for k in ("init", "trained", "init_fine", "mse")}
            for a in architectures}


def pieces_from(d: dict) -> Pieces:
    """The stored cell as :class:`Pieces`."""
    archs = [ARCHITECTURES[a] for a in d]
    get = lambda k: {ARCHITECTURES[a]: np.asarray(v[k]) for a, v in d.items()}  # noqa: E731
    return Pieces(archs, get("init"), get("trained"), get("init_fine"), get("mse"))


def pieces_table(p: Pieces) -> str:
    """Per architecture: pieces per line at the start (and on the doubled grid) and after training,
    medians over seeds with 95% intervals, the training MSE, and Montúfar et al.'s construction."""
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    iv = lambda m: f'{fmt(m.value, 3)} <span class="actlab-nowrap">({fmt(m.lo, 3)}–{fmt(m.hi, 3)})</span>'  # noqa: E731
    return markdown_table(
        ["hidden layers × units", "regions per line at the start", "on a grid of twice the points",
         "after training", "training MSE", "what depth can do (Montúfar et al.'s construction)"],
        [[f"{len(w)} × {w[0]}", iv(p.measure(w)), iv(p.measure(w, "init_fine")), iv(p.measure(w, "trained")),
          fmt(float(np.median(p.mse[w])), 2), f"{montufar_line(w):,}"] for w in p.architectures])


def sparsity_metrics(s: Sparsity) -> dict:
    """``zero_ACT_WHEN``, ``near_ACT_WHEN``, ``dead_ACT_WHEN`` (WHEN: init, trained) with their
    intervals, and ``sparse_error_ACT``."""
    from actlab.verdicts import measure_metrics

    out = {}
    for (a, when), v in s.zero.items():
        out |= measure_metrics(f"zero_{a}_{when}", bootstrap(v))
        out |= measure_metrics(f"near_{a}_{when}", bootstrap(s.near[a, when]))
        out |= measure_metrics(f"dead_{a}_{when}", bootstrap(s.dead[a, when]))
    for a, e in s.test_error.items():
        out |= measure_metrics(f"sparse_error_{a}", bootstrap(e))
    return out


def sparsity_table(s: Sparsity) -> str:
    from actlab.numbers import pct
    from actlab.tables import markdown_table

    med = lambda v: pct(float(np.median(v)))  # noqa: E731
    return markdown_table(
        ["function", "exact zeros, start", "exact zeros, trained", f"within {NEAR:g} × rms of zero, start",
         "the same, trained", "dead units, trained", "test error"],
        [[functions.get(a).label, med(s.zero[a, "init"]), med(s.zero[a, "trained"]), med(s.near[a, "init"]),
          med(s.near[a, "trained"]), med(s.dead[a, "trained"]), med(s.test_error[a])] for a in s.activations])


def pieces_figure(p: Pieces):
    """Pieces per line against depth at equal size, at the start and after training (median over
    seeds, 95% interval), beside Montúfar et al.'s construction, log scale."""
    from actlab import plotting

    fig, axes = plotting.figure(1, 1, width=6.0, height=3.2)
    ax = axes[0, 0]
    depths = [len(w) for w in p.architectures]
    for when, style in (("init", "o-"), ("trained", "s--")):
        ms = [p.measure(w, when) for w in p.architectures]
        ax.errorbar(depths, [m.value for m in ms], yerr=[[m.value - m.lo for m in ms], [m.hi - m.value for m in ms]],
                    fmt=style, color=plotting.color("relu"), capsize=3,
                    label="regions crossed, " + ("at the start" if when == "init" else "after training"))
    ax.plot(depths, [montufar_line(w) for w in p.architectures], "^:", color=plotting.NEUTRAL,
            label="linear pieces, Montúfar et al.'s construction")
    ax.set_yscale("log")
    ax.set_xticks(depths, [f"{len(w)} × {w[0]}" for w in p.architectures])
    ax.set_xlabel("hidden layers × units (48 units in all)")
    ax.set_ylabel("per line")
    ax.legend(loc="upper left", fontsize=9)
    return plotting.finish(fig)


def sparsity_cost(n_activations: int, *, width: int, depth: int, seeds: int, steps: int) -> tuple[float, float]:
    from actlab import workload

    return workload.fit(workload.mlp(64, (width,) * depth, 10), n_activations * seeds, 64, steps, optimizer="adam",
                        evals=2, keep_rows=360)


def pieces_part(data: dict, architectures: list[str]) -> dict:
    """The stored cell's block for ``architectures`` (the spot check's selection)."""
    return {a: data[a] for a in architectures}


def pieces_cost(n_architectures: int, *, seeds: int, steps: int, n_lines: int, n_points: int,
                n_train: int = 1024) -> tuple[float, float]:
    """(seconds, bytes) of :func:`pieces`: per architecture a full-batch training of ``seeds``
    networks of 48 units, and three counts (two grids) over the lines."""
    from actlab import workload

    net = workload.mlp(2, (48,), 1)
    train_s, train_b = workload.fit(net, seeds, n_train, steps, optimizer="adam")
    count_s, count_b = workload.fit(net, seeds, 4 * n_points, 0, evals=n_lines, eval_rows=4 * n_points)
    return n_architectures * (train_s + count_s), max(train_b, count_b)


def ratio_of_medians(a, b) -> Measure:
    """median(a) ÷ median(b) for two independent samples (networks of two architectures: seed s of
    one is not paired with seed s of the other), with a bootstrap interval that resamples each
    sample on its own, and the same on each half of the seeds."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)

    def make(x, y):
        value = float(np.median(x) / np.median(y))
        lo, hi = resampled_interval((x, y), lambda u, v, axis=-1: np.median(u, axis=axis) / np.median(v, axis=axis))
        return Measure(value, min(lo, value), max(hi, value), len(x), "bootstrap 95% (ratio of medians, each resampled)")
    return halved(make(a, b), make, a, b)
