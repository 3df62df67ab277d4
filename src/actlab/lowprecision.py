"""Activations in low precision: trained networks whose hidden activations are fake-quantised to a
few bits, and the exact GELU against its tanh approximation.

Quantisation here is post-training and per layer, the simplest scheme (PyTorch's min-max
observer): each hidden layer's outputs on the training set fix a range [lo, hi], and at test time
every output is clamped to it and rounded to the nearest of 2^bits evenly spaced levels. A
function whose outputs have a long tail spends its few levels on the tail; a bounded one cannot
have one. Weights, inputs and the read-out stay in float32.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actlab import data, functions
from actlab.ensemble import Ensemble, Member, affine, fit

TAIL = 0.999  # the share of a layer's outputs whose spread is set against the whole range


def fake_quantise(h: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bits: int) -> torch.Tensor:
    """``h`` clamped to [lo, hi] and rounded to the nearest of 2^bits levels spaced evenly from lo
    to hi (both levels), in float; ``lo``/``hi`` broadcast against ``h`` (one pair per member)."""
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be an integer from 1 to 16; got {bits}")
    step = (hi - lo).clamp(min=torch.finfo(h.dtype).tiny) / (2**bits - 1)
    return lo + torch.round((h.clamp(lo, hi) - lo) / step) * step


def _forward(ens: Ensemble, x: torch.Tensor, *, bits: int | None = None, ranges=None, activation: str | None = None):
    """(output, hidden outputs per layer) of a one-block dense ensemble, in the block's member order
    (sorted by function: :func:`run` gives them sorted); each hidden layer's outputs quantised to
    ``bits`` within ``ranges[layer] = (lo, hi)`` if given, and the activation replaced by the
    registry's ``activation`` if given (a network evaluated with a function it was not trained with)."""
    blk = ens.single_block()
    if not ens.in_order:
        raise ValueError("the members must be in the ensemble's order: list them by registry order")
    h = x.expand(len(ens), *x.shape)
    post = []
    for layer, (w, b) in enumerate(zip(blk.weights, blk.biases, strict=True)):
        z = affine(h, w, b)
        if layer == len(blk.weights) - 1:
            return z, post
        h = functions.get(activation)(z) if activation else blk.activate(z, layer)
        if bits is not None:
            h = fake_quantise(h, *ranges[layer], bits)
        post.append(h)


@dataclass
class LowPrecision:
    """Per function, (seeds,) arrays. ``error[act, bits]``: the test error with every hidden layer
    quantised to ``bits`` in its min-max range (bits None: float32); ``clipped[act, bits]``: the same
    with each range clipped to the middle :data:`TAIL` of the layer's training outputs (the outliers
    cut off); ``spread[act]``: the share of the min-max range that the middle :data:`TAIL` of the
    outputs fills, median over layers (1: no tail; small: a few outliers stretch the grid);
    ``top[act]``: the largest output of any hidden layer on the training set; ``step8[act]``: the
    smallest 8-bit step of its layers."""
    activations: list[str]
    bits: list[int]
    error: dict
    clipped: dict
    spread: dict
    top: dict
    step8: dict


def run(activations: list[str], bits: list[int], *, width: int, depth: int, seeds: int, steps: int,
        lr: float) -> tuple[LowPrecision, Ensemble]:
    """Digits MLPs of ``depth`` hidden layers of ``width`` units, each function from LeCun-normal
    weights times its forward gain from the registry (so every function's layers start at the same
    scale), trained with Adam at rate ``lr`` for ``steps`` minibatch steps in one batched ensemble;
    then the test error in float32 and at each bit width. Returns the result (functions in registry
    order) and the ensemble."""
    X, y = data.digits("train", dtype=torch.float32)
    Xt, yt = data.digits("test", dtype=torch.float32)
    activations = sorted(set(activations), key=functions.names().index)  # the ensemble's order, once each
    members = [Member(a, (width,) * depth, seed=s, lr=lr, init="lecun", gain=functions.get(a).gains[0])
               for a in activations for s in range(seeds)]
    ens = Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=X.dtype)
    fit(ens, X, y, loss="xent", steps=steps, optimizer="adam", batch_size=64)
    q = torch.tensor([(1 - TAIL) / 2, (1 + TAIL) / 2])
    with torch.no_grad():
        _, train_post = _forward(ens, X)
        minmax = [(h.amin(dim=(1, 2), keepdim=True), h.amax(dim=(1, 2), keepdim=True)) for h in train_post]
        middle = [torch.quantile(h.flatten(1), q, dim=1)[:, :, None, None] for h in train_post]  # (2, members, 1, 1)
        wrong = lambda ranges, b: (_forward(ens, Xt, bits=b, ranges=ranges)[0].argmax(-1) != yt).float().mean(-1).numpy()  # noqa: E731
        errors = {None: wrong(None, None)} | {b: wrong(minmax, b) for b in bits}
        clipped = {b: wrong([(m[0], m[1]) for m in middle], b) for b in bits}
        width_of = lambda lo, hi: (hi - lo).flatten()  # noqa: E731
        spread = torch.stack([width_of(*m) / width_of(*r).clamp(min=1e-30) for m, r in zip(middle, minmax, strict=True)],
                             1).median(1).values.numpy()
        top = torch.stack([hi.flatten() for _, hi in minmax], 1).amax(1).numpy()
        step8 = torch.stack([width_of(*r) for r in minmax], 1).amin(1).numpy() / 255
    part = {a: slice(j * seeds, (j + 1) * seeds) for j, a in enumerate(activations)}
    per = lambda arr: {a: arr[part[a]] for a in activations}  # noqa: E731
    return LowPrecision(activations, list(bits), {(a, b): e[part[a]] for b, e in errors.items() for a in activations},
                        {(a, b): e[part[a]] for b, e in clipped.items() for a in activations},
                        per(spread), per(top), per(step8)), ens


def run_cost(n_activations: int, n_bits: int, *, width: int, depth: int, seeds: int, steps: int) -> tuple[float, float]:
    """(seconds, bytes) of :func:`run`: the training, and per bit width an evaluation on the test set
    and the training set's outputs kept for the ranges."""
    from actlab import workload

    return workload.fit(workload.mlp(64, (width,) * depth, 10), n_activations * seeds, 64, steps, optimizer="adam",
                        evals=2 * n_bits + 1, eval_rows=359, keep_rows=1438)


def lost(lp: LowPrecision, act: str, bits: int) -> np.ndarray:
    """(seeds,) test error at ``bits`` minus in float32, in the same network: the accuracy lost."""
    return lp.error[act, bits] - lp.error[act, None]


def gelu_gap(x_max: float = 10.0, n_points: int = 200_001) -> tuple[float, float]:
    """(largest |GELU(x) − its tanh approximation(x)| on [−x_max, x_max], the x where it occurs), float64."""
    x = torch.linspace(-x_max, x_max, n_points, dtype=torch.float64)
    gap = (functions.get("gelu")(x) - functions.get("gelu_tanh")(x)).abs()
    i = int(gap.argmax())
    return float(gap[i]), float(x[i])


def swapped(ens: Ensemble, lp: LowPrecision, trained: str, other: str) -> dict:
    """The networks trained with ``trained`` evaluated with ``other`` in its place: per seed the test
    error's change, the share of test predictions that change, and the largest change of a logit."""
    Xt, yt = data.digits("test", dtype=torch.float32)
    part = slice(lp.activations.index(trained) * len(lp.error[trained, None]),
                 (lp.activations.index(trained) + 1) * len(lp.error[trained, None]))
    with torch.no_grad():
        a, _ = _forward(ens, Xt)
        b, _ = _forward(ens, Xt, activation=other)
    a, b = a[part], b[part]
    err = lambda out: (out.argmax(-1) != yt).float().mean(-1).numpy()  # noqa: E731
    return {"error_change": err(b) - err(a), "flipped": (a.argmax(-1) != b.argmax(-1)).float().mean(-1).numpy(),
            "logit_change": (a - b).abs().amax(dim=(1, 2)).numpy()}


def clipped_lost(lp: LowPrecision, act: str, bits: int) -> np.ndarray:
    """(seeds,) the accuracy lost at ``bits`` with the outliers clipped from each layer's range."""
    return lp.clipped[act, bits] - lp.error[act, None]


def metrics(lp: LowPrecision) -> dict:
    """Per function ``lp_error_NAME`` (float32 test error), ``lp_lost_NAME_BITS`` and
    ``lp_clipped_NAME_BITS`` (accuracy lost, min-max and clipped ranges), ``lp_spread_NAME`` and
    ``lp_top_NAME``: medians over seeds with intervals. Where ReLU6 was trained beside ReLU or
    hard-swish, ``lp_relu_minus_relu6_BITS`` and ``lp_hardswish_minus_relu6_BITS``: the seed-by-seed
    difference of their losses (the same seed draws the same weights up to the gain)."""
    from actlab.verdicts import bootstrap, measure_metrics

    out = {}
    for a in lp.activations:
        out |= measure_metrics(f"lp_error_{a}", bootstrap(lp.error[a, None]))
        out |= measure_metrics(f"lp_spread_{a}", bootstrap(lp.spread[a]))
        out |= measure_metrics(f"lp_top_{a}", bootstrap(lp.top[a]))
        out |= measure_metrics(f"lp_step8_{a}", bootstrap(lp.step8[a]))
        for b in lp.bits:
            out |= measure_metrics(f"lp_lost_{a}_{b}", bootstrap(lost(lp, a, b)))
            out |= measure_metrics(f"lp_clipped_{a}_{b}", bootstrap(clipped_lost(lp, a, b)))
    for a in ("relu", "hardswish"):
        if {a, "relu6"} <= set(lp.activations):
            for b in lp.bits:
                out |= measure_metrics(f"lp_{a}_minus_relu6_{b}", bootstrap(lost(lp, a, b) - lost(lp, "relu6", b)))
    return out


def table(lp: LowPrecision) -> str:
    """One row per function: its float32 test error, the accuracy lost at each bit width with min-max
    ranges and, at the fewest bits, with the outliers clipped; the share of the range the middle
    outputs fill, and the largest output (medians over seeds)."""
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    pct = lambda v: fmt(100 * float(np.median(v)), 2) + " %"  # noqa: E731
    low = min(lp.bits)
    return markdown_table(
        ["function", "test error, float32", *[f"lost at {b} bits" for b in lp.bits],
         f"lost at {low} bits, outliers clipped", f"share of the range holding {fmt(100 * TAIL)} % of outputs",
         "largest output"],
        [[functions.get(a).label, pct(lp.error[a, None]), *[pct(lost(lp, a, b)) for b in lp.bits],
          pct(clipped_lost(lp, a, low)), fmt(float(np.median(lp.spread[a])), 2), fmt(float(np.median(lp.top[a])), 3)]
         for a in lp.activations])


def figure(lp: LowPrecision):
    """Test error against the bits of the hidden activations, float32 first, with min-max ranges
    (left) and with the outliers clipped (right): medians over seeds with 95% intervals, each
    function's points nudged sideways so that the intervals do not hide each other; log scale."""
    import matplotlib as mpl

    from actlab import plotting
    from actlab.verdicts import bootstrap

    fig, axes = plotting.figure(1, 2, width=7.0, height=3.6, sharey=True)
    xs = np.arange(len(lp.bits) + 1)
    nudge = np.linspace(-0.18, 0.18, len(lp.activations))
    for ax, source, title in zip(axes[0], (lp.error, lp.clipped), ("min–max ranges", "outliers clipped"), strict=True):
        for dx, a in zip(nudge, lp.activations, strict=True):
            ms = [bootstrap(lp.error[a, None], halves=False)] + [bootstrap(source[a, b], halves=False) for b in lp.bits]
            ax.errorbar(xs + dx, [m.value for m in ms], yerr=[[m.value - m.lo for m in ms], [m.hi - m.value for m in ms]],
                        color=plotting.color(a), linestyle=plotting.linestyle(a), marker="o", markersize=4, capsize=2,
                        label=plotting.label(a))
        ax.set_xticks(xs, ["float32", *[f"{b} bits" for b in lp.bits]])
        ax.set_title(title)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(mpl.ticker.FixedLocator([0.02, 0.03, 0.05, 0.1, 0.2, 0.5]))
        ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0, decimals=0))
        ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    axes[0, 0].set_ylabel("test error")
    axes[0, 1].legend(loc="upper left", fontsize=9, ncol=2)  # the clipped panel's errors stay low: room above
    return plotting.finish(fig)
