"""Saturation, side by side: every registered function's derivative on a log scale, by family.

The classification itself (hard, soft or none on each side) is ``properties.saturation``,
which the properties table uses too; this module holds what the saturation chapter adds to
it: the families, the points where a derivative is exactly zero, and the chapter's figure.
"""
from __future__ import annotations

import numpy as np
import torch

from actlab import functions, properties

FAMILIES = {
    "squashing": ("sigmoid", "hardsigmoid", "tanh", "lecun_tanh", "hardtanh", "softsign"),
    "rectifiers": ("relu", "relu6", "leaky_relu", "prelu"),
    "exponential-linear, softplus": ("elu", "selu", "celu", "softplus"),
    "self-gated": ("gelu", "gelu_tanh", "silu", "mish"),
    "controls": ("identity", "step"),
}
FLOOR = 1e-45  # the lowest |f'| drawn on the log axis; under it, the "exactly 0" band


def edges(x_max: float) -> dict:
    """How far out float64 keeps the registry's tanh and sigmoid derivatives nonzero: the first
    |x| from which each is exactly 0 on a grid out to ``x_max`` (inf: never)."""
    out = {"x_max": float(x_max)}
    for n in properties.TEXTBOOK:
        out[f"edge_zero_from_{n}"] = properties.first_zero(functions.get(n).derivative, x_max=x_max)
    return out


def families(names: list[str]) -> dict[str, list[str]]:
    """The registry's elementwise functions by family; any not listed go into "other"."""
    out = {fam: [n for n in members if n in names] for fam, members in FAMILIES.items()}
    rest = [n for n in names if not any(n in m for m in FAMILIES.values())]
    if rest:
        out["other"] = rest
    return {k: v for k, v in out.items() if v}


def classify(names: list[str]) -> list[dict]:
    """[{"name", "saturation": (left, right)}] for each function, each side "hard", "soft" or "none"."""
    return [{"name": n, "saturation": properties.saturation(n)} for n in names]


def exact_zeros(name: str, x: torch.Tensor) -> np.ndarray:
    """Where f'(x) is exactly 0 on a side the classification calls hard (a boolean mask over x).
    A soft side whose derivative underflows to 0 in float64 far out (GELU's left tail beyond
    about |x| = 38) is not a true zero and is not marked."""
    left, right = properties.saturation(name)
    d = functions.get(name).derivative(x).numpy()
    xs = x.numpy()
    hard_side = ((xs < 0) & (left == "hard")) | ((xs > 0) & (right == "hard"))
    return (d == 0) & hard_side


def saturation_curves(names: list[str], x_max: float = 50.0, n_points: int = 2001):
    """log |f'| against x, one panel per family (two panels a row), each function in its own
    style. Where f' is exactly zero on a hard side, a bar in the function's colour in the band
    under the axis's floor marks it (a log axis has no 0); a soft side's line leaves the bottom
    of the axis once |f'| falls below FLOOR."""
    from actlab.numbers import fmt
    from actlab.plotting import NEUTRAL, figure, finish, style

    fams = families(names)
    ncols = 2
    nrows = -(-len(fams) // ncols)
    fig, axes = figure(nrows, ncols, width=7.0, height=2.7 * nrows + 0.2, sharex=True, sharey=True)
    x = torch.linspace(-x_max, x_max, n_points, dtype=torch.float64)
    xs = x.numpy()
    n_bars = max(len(m) for m in fams.values())
    bar_y = lambda k: FLOOR * 10.0 ** (-4 - 4 * k)  # the k-th function's "exactly 0" row
    bottom = bar_y(n_bars - 1) / 10 ** 3
    for ax, (fam, members) in zip(axes.flat, fams.items(), strict=False):
        ax.axhspan(bottom, FLOOR, color=NEUTRAL, alpha=0.07, linewidth=0)
        ax.axhline(FLOOR, color=NEUTRAL, linewidth=0.6)
        for k, n in enumerate(members):
            d = np.abs(functions.get(n).derivative(x).numpy())
            ax.plot(xs, np.where(d > 0, d, np.nan), linewidth=1.5, **style(n))
            zero = exact_zeros(n, x)
            if zero.any():
                ax.plot(xs, np.where(zero, bar_y(k), np.nan), color=style(n)["color"], linewidth=4,
                        linestyle=style(n)["linestyle"], solid_capstyle="butt")
        ax.set_yscale("log")
        ax.set_ylim(bottom, 30)
        ax.legend(title=fam, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=9,
                  borderaxespad=0.2, handlelength=2.6)  # above the panel: never over a line
    ticks = [1.0, 1e-15, 1e-30, 1e-45]
    for ax in axes.flat:
        ax.set_yticks(ticks + [bar_y((n_bars - 1) / 2)], [fmt(t) for t in ticks] + ["exactly 0"])
        ax.minorticks_off()
    for ax in axes.flat[len(fams):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("|f′(x)|, log scale")
    for ax in axes.flat[max(0, len(fams) - ncols):len(fams)]:
        ax.set_xlabel("input x")
        ax.xaxis.set_tick_params(labelbottom=True)
    return finish(fig)
