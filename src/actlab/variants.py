"""Measurements specific to the ReLU variants: SELU's fixed point, GELU's approximations,
Mish's minimum, maxout's cost."""
from __future__ import annotations

import math

import numpy as np
import torch

from actlab import functions
from actlab.ensemble import init_layer
from actlab.properties import grid


def selu_moments(depth: int, width: int, n: int, seed: int = 0, act: str = "selu") -> np.ndarray:
    """(depth, 2): mean and variance of each layer's outputs over all units and inputs, for
    standard-normal inputs through ``depth`` layers with LeCun-normal weights and zero biases."""
    g = torch.Generator().manual_seed(seed)
    f = functions.get(act)
    h = torch.randn(n, width, generator=g, dtype=torch.float64)
    out = []
    for _ in range(depth):
        w, b = init_layer(g, "lecun", width, width, torch.float64)
        h = f(h @ w + b)
        out.append((float(h.mean()), float(h.var())))
    return np.array(out)


def selu_fixed_point(selu_depth: int, selu_width: int, n: int = 1024) -> dict:
    """SELU's fixed point checked through a deep network (:func:`selu_moments`), plain ELU in the
    same network beside it: the metrics the variants chapter records (its exercise ``narrow`` too)."""
    m = selu_moments(selu_depth, selu_width, n)
    me = selu_moments(selu_depth, selu_width, n, act="elu")
    return {"selu_depth": selu_depth, "selu_width": selu_width, "selu_max_abs_mean": np.abs(m[:, 0]).max(),
            "selu_max_var_dev": np.abs(m[:, 1] - 1).max(), "selu_last_mean": m[-1, 0], "selu_last_var": m[-1, 1],
            "elu_last_var": me[-1, 1]}


PRELU_PARAMS = ("prelu_depth", "prelu_seeds", "prelu_steps")  # the evidence cell variants-prelu
PRELU_LR, PRELU_CURVE_CHECKS = 0.05, 30


def prelu_data(*, prelu_depth: int, prelu_seeds: int, prelu_steps: int, device: str = "cpu") -> dict:
    """The variants chapter's PReLU networks (evidence cell ``variants-prelu``): ``prelu_depth``
    hidden PReLU layers of 64 units on digits, one per seed, SGD with momentum 0.9 at η = 0.05 in
    minibatches of 64 for ``prelu_steps`` steps, as plain JSON: each seed's learned slope per layer,
    held-out error, and training loss at about 30 steps (logging it changes no number). Seeded here
    as the chapter seeds itself; every seed is its own network, so fewer seeds are a spot block."""
    from actlab import data
    from actlab.ensemble import Ensemble, Member, fit
    from actlab.seeding import deterministic
    from actlab.stored import array_data

    if device != "cpu":
        raise ValueError(f"the PReLU runs train on the CPU only (actlab.ensemble has no device support); got {device!r}")
    deterministic(0)
    X, y = data.digits("train")
    X_test, y_test = data.digits("test")
    ens = Ensemble([Member("prelu", (64,) * prelu_depth, seed=s, lr=PRELU_LR) for s in range(prelu_seeds)],
                   X.shape[1], 10)
    every = max(1, prelu_steps // PRELU_CURVE_CHECKS)
    hist = fit(ens, X, y, loss="xent", steps=prelu_steps, optimizer="sgd", momentum=0.9, batch_size=64,
               log_every=every)
    with torch.no_grad():
        test_error = (ens(X_test).argmax(-1) != y_test).double().mean(1).numpy()
    steps = [k for k in range(1, prelu_steps + 1) if k % every == 0 or k == prelu_steps]
    return {"slopes": array_data(ens.prelu_slopes()), "test_error": array_data(test_error),
            "curve_steps": steps, "loss_curve": array_data(hist.T)}


def prelu_part(data: dict, prelu_seeds: int, **_) -> dict:
    """The first ``prelu_seeds`` seeds of stored ``prelu_data``: what it recomputes with that many."""
    from actlab.stored import array_data, array_from

    return {**data, **{k: array_data(array_from(data[k])[:prelu_seeds]) for k in ("slopes", "test_error", "loss_curve")}}
def selu_moments_cost(depth: int, width: int, n: int) -> tuple[float, float]:
    """(seconds, bytes) of :func:`selu_moments`: per layer a float64 (n, width) @ (width, width)
    product and a LeCun-normal draw of the weights (the draw, about 20 ns a weight, measured)."""
    from actlab import workload

    seconds = depth * (2 * workload.MAC_S * n * width * width + 2e-8 * width * width)
    return seconds, workload.SLACK * 8 * (4 * n * width + 3 * width * width)


def gelu_gaps(x_max: float = 10.0, n: int = 200001) -> dict:
    """Largest |exact GELU - approximation| on [-x_max, x_max] for the tanh and sigmoid forms."""
    x = grid(x_max, n)
    exact = functions.get("gelu")(x)
    return {"tanh": float((exact - functions.get("gelu_tanh")(x)).abs().max()),
            "sigmoid": float((exact - x * torch.sigmoid(1.702 * x)).abs().max())}


def minimum(name: str, lo: float = -5.0, hi: float = 0.0) -> tuple[float, float]:
    """(argmin, min) of a registered function on [lo, hi]: a coarse grid, then golden section."""
    f = functions.get(name)
    x = torch.linspace(lo, hi, 5001, dtype=torch.float64)
    i = int(torch.argmin(f(x)))
    a, b = float(x[max(i - 1, 0)]), float(x[min(i + 1, len(x) - 1)])
    phi = (math.sqrt(5) - 1) / 2
    val = lambda t: float(f(torch.tensor(t, dtype=torch.float64)))
    for _ in range(100):
        c, d = b - phi * (b - a), a + phi * (b - a)
        if val(c) < val(d):
            b = d
        else:
            a = c
    xm = (a + b) / 2
    return xm, val(xm)


def most_negative_derivative(name: str, x_max: float = 10.0, n: int = 200001) -> float:
    """The most negative value of f' on a grid: 0 for a monotone non-decreasing function."""
    return float(functions.get(name).derivative(grid(x_max, n)).min())


def layer_values(values: dict, ylabel: str, reference: float | None = None, ref_label: str = ""):
    """One value per hidden layer for a few activations, ``{activation: (seeds, layers) array}``:
    median over seeds with the min-max band; optionally a dotted reference line. Legend under
    the axes, off the data."""
    from actlab import plotting

    fig, axes = plotting.figure(1, 1, width=5.0, height=3.0)
    ax = axes[0, 0]
    for act, vals in values.items():
        layers = np.arange(1, vals.shape[1] + 1)
        plotting.spread(ax, layers, vals, act, axis=0, marker="o", markersize=3,
                        label_text=f"{plotting.label(act)}: median over seeds (band: min to max)")
        ax.set_xticks(layers, [str(int(v)) for v in layers])  # layers are whole numbers
    if reference is not None:
        ax.axhline(reference, color=plotting.NEUTRAL, linestyle=":", linewidth=0.8, label=ref_label)
    ax.set_xlabel("hidden layer")
    ax.set_ylabel(ylabel)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2)
    return plotting.finish(fig)
