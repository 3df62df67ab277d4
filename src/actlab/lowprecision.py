"""Activations in low precision: trained networks whose hidden activations are fake-quantised to a
few bits, and the exact GELU against its tanh approximation.

Quantisation here is post-training and per layer, the plainest scheme (the affine quantiser with
PyTorch's MinMaxObserver): each hidden layer's smallest and largest output on the training set,
widened to include 0, fix a range, and at test time every output is rounded to the nearest of
2^bits evenly spaced levels in it, one of which is exactly 0. A function whose outputs have a long
tail spends its few levels on the tail; a bounded one cannot have one. Weights, inputs and the
read-out stay in float32.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actlab import data, functions
from actlab.ensemble import Ensemble, Member, affine, fit

TAIL = 0.999  # the share of a layer's outputs whose spread is set against the whole range


def fake_quantise(h: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bits: int) -> torch.Tensor:
    """``h`` rounded to the nearest of 2^bits evenly spaced levels covering [lo, hi] widened to
    include 0, with 0 exactly a level (an affine quantiser's integer zero point), and clamped to the
    outermost levels; kept in float. ``lo``/``hi`` broadcast against ``h`` (one pair per member)."""
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be an integer from 1 to 16; got {bits}")
    lo, hi = lo.clamp(max=0), hi.clamp(min=0)
    top = 2**bits - 1
    step = (hi - lo).clamp(min=torch.finfo(h.dtype).tiny) / top
    zero = torch.round(-lo / step)
    return (torch.clamp(torch.round(h / step) + zero, 0, top) - zero) * step


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
    test_size: int


def run(activations: list[str], bits: list[int], *, width: int, depth: int, seeds: int, steps: int,
        lr: float) -> tuple[LowPrecision, Ensemble]:
    """Digits MLPs of ``depth`` hidden layers of ``width`` units, each function from LeCun-normal
    weights times its forward gain from the registry (so every function's first layer starts at the
    same scale), trained with Adam at rate ``lr`` for ``steps`` minibatch steps in one batched ensemble;
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
        # the 8-bit step of the grid fake_quantise lays: the range widened to include 0
        step8 = torch.stack([width_of(lo.clamp(max=0), hi.clamp(min=0)) for lo, hi in minmax], 1).amin(1).numpy() / 255
    part = {a: slice(j * seeds, (j + 1) * seeds) for j, a in enumerate(activations)}
    per = lambda arr: {a: arr[part[a]] for a in activations}  # noqa: E731
    return LowPrecision(activations, list(bits), {(a, b): e[part[a]] for b, e in errors.items() for a in activations},
                        {(a, b): e[part[a]] for b, e in clipped.items() for a in activations},
                        per(spread), per(top), per(step8), len(yt)), ens


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
    ``lp_clipped_NAME_BITS`` (error added, min-max and clipped ranges), ``lp_clip_saves_NAME_BITS``
    at the fewest bits, ``lp_spread_NAME``, ``lp_top_NAME`` and ``lp_step8_NAME``: medians over seeds
    with intervals. Where both were trained, ``lp_A_minus_B_BITS`` for ReLU − ReLU6, hard-swish −
    ReLU6 and hard-swish − SiLU: the seed-by-seed difference of the error added (the same seed draws
    the same weights up to the gain). ``lp_lost_max_BITS``: the largest median over functions."""
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
        # what clipping the outliers saves, seed by seed
        out |= measure_metrics(f"lp_clip_saves_{a}_{min(lp.bits)}",
                               bootstrap(lost(lp, a, min(lp.bits)) - clipped_lost(lp, a, min(lp.bits))))
    for a, b_ in (("relu", "relu6"), ("hardswish", "relu6"), ("hardswish", "silu")):
        if {a, b_} <= set(lp.activations):
            for b in lp.bits:
                m = bootstrap(lost(lp, a, b) - lost(lp, b_, b))
                out |= measure_metrics(f"lp_{a}_minus_{b_}_{b}", m)
                if m.halves:  # where each half of the seeds starts, for the prose
                    out |= {f"lp_{a}_minus_{b_}_{b}_first_lo": m.halves[0].lo, f"lp_{a}_minus_{b_}_{b}_second_lo": m.halves[1].lo}
    for b in lp.bits:  # the largest median loss of any function, and one test digit, for scale
        out[f"lp_lost_max_{b}"] = max(float(np.median(lost(lp, a, b))) for a in lp.activations)
    out["lp_test_size"] = lp.test_size
    out["lp_one_digit"] = 1 / lp.test_size
    return out


def table(lp: LowPrecision) -> str:
    """One row per function: its float32 test error and the error added at each bit width with
    min-max ranges and, at the fewest bits, with the outliers clipped (medians over seeds, in % of
    the test set)."""
    from actlab.numbers import spec
    from actlab.tables import markdown_table

    pct = lambda v: spec(float(np.median(v)), ".2%")  # noqa: E731  as the prose: one test digit is 0.28%
    low = min(lp.bits)
    return markdown_table(
        ["function", "error, float32", *[f"added, {b} bits" for b in lp.bits], f"added, {low} bits, clipped"],
        [[functions.get(a).label, pct(lp.error[a, None]), *[pct(lost(lp, a, b)) for b in lp.bits],
          pct(clipped_lost(lp, a, low))] for a in lp.activations])


def range_table(lp: LowPrecision) -> str:
    """One row per function: the share of each layer's min-max range that the middle :data:`TAIL`
    of its training outputs fill, the largest output of any layer, and the narrowest layer's 8-bit
    step (medians over seeds)."""
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    med = lambda v: float(np.median(v))  # noqa: E731
    return markdown_table(
        ["function", f"share of the range holding {fmt(100 * TAIL)} %", "largest output", "8-bit step"],
        [[functions.get(a).label, fmt(med(lp.spread[a]), 2), fmt(med(lp.top[a]), 3), fmt(med(lp.step8[a]), 2)]
         for a in lp.activations])


MARKERS = "osD^vPX*"  # one per function of a figure, so that a shared hue is told apart in grey too


def figure(lp: LowPrecision):
    """Test error against the bits of the hidden activations, float32 first, with min-max ranges
    (top) and with the outliers clipped (bottom), stacked to fit a phone: medians over seeds with
    95% intervals, each function with its own marker and its points nudged sideways so that the
    intervals do not hide each other; log scale, the key beneath."""
    import matplotlib as mpl

    from actlab import plotting
    from actlab.verdicts import bootstrap

    fig, axes = plotting.figure(2, 1, width=4.4, height=6.4, sharex=True, sharey=True)
    xs = np.arange(len(lp.bits) + 1)
    nudge = np.linspace(-0.2, 0.2, len(lp.activations))
    for ax, source, title in zip(axes[:, 0], (lp.error, lp.clipped), ("min–max ranges", "outliers clipped"),
                                 strict=True):
        for dx, a, mk in zip(nudge, lp.activations, MARKERS, strict=False):
            ms = [bootstrap(lp.error[a, None], halves=False)] + [bootstrap(source[a, b], halves=False) for b in lp.bits]
            ax.errorbar(xs + dx, [m.value for m in ms], yerr=[[m.value - m.lo for m in ms], [m.hi - m.value for m in ms]],
                        color=plotting.color(a), linestyle=plotting.linestyle(a), marker=mk, markersize=5, capsize=2,
                        label=plotting.label(a))
        ax.set_title(title)
        ax.set_ylabel("test error")
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(mpl.ticker.FixedLocator([0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0]))
        ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0, decimals=0))
        ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    axes[1, 0].set_xticks(xs, ["float32", *[f"{b} bits" for b in lp.bits]])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=9, frameon=False)
    return plotting.finish(fig)
