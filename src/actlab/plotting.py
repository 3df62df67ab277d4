"""The book's one figure style.

One fixed colour per activation (from the registry), white backgrounds so figures stay
readable in the theme's dark mode, and figures closed before they are returned so a
notebook renders each exactly once. The backend is left alone: forcing Agg here would
turn notebook figure outputs into text.
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

from actlab import functions

STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "figure.dpi": 110,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.8,
}
mpl.rcParams.update(STYLE)

NEUTRAL = "#444444"


def color(name: str) -> str:
    """The activation's colour, the same in every figure of the book."""
    return functions.get(name).color


def label(name: str) -> str:
    return functions.get(name).label


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 7.0, height: float = 3.2, **kw):
    """A styled figure; axes always come back as a 2-D array."""
    with mpl.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False,
                                 layout="constrained", **kw)
    return fig, axes


def finish(fig):
    """Close (so the notebook shows it once, from the cell's return value) and return."""
    plt.close(fig)
    return fig


def spread(ax, x, values, name: str, *, axis: int = 0, label_text: str | None = None, **kw):
    """Median line with the min-max band over ``axis`` (the seeds), in the activation's colour."""
    values = np.asarray(values, dtype=float)
    med = np.nanmedian(values, axis=axis)
    lo, hi = np.nanmin(values, axis=axis), np.nanmax(values, axis=axis)
    c = color(name)
    ax.plot(x, med, color=c, label=label_text or label(name), **kw)
    ax.fill_between(x, lo, hi, color=c, alpha=0.18, linewidth=0)


def function_panels(names: list[str], x_max: float = 5.0, n_points: int = 801, ncols: int = 4):
    """Small multiples: each function (solid) and its analytic derivative (dashed)."""
    n = len(names)
    nrows = -(-n // ncols)
    fig, axes = figure(nrows, ncols, width=2.0 * ncols, height=1.75 * nrows, sharex=True)
    x = torch.linspace(-x_max, x_max, n_points, dtype=torch.float64)
    for ax, name in zip(axes.flat, names):
        act = functions.get(name)
        y, dy = curves(name, x)
        ax.plot(x, y, color=act.color, label="f(x)")
        ax.plot(x, dy, color=act.color, linestyle="--", linewidth=1.2, label="f′(x)")
        ax.set_title(act.label)
        ax.axhline(0, color=NEUTRAL, linewidth=0.5)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("input x")
    axes.flat[0].legend(loc="upper left")
    return finish(fig)


# Maxout is a layer; in 1-D we draw one unit over three fixed illustrative pieces a*x + b.
MAXOUT_PIECES = ((-0.5, -0.5), (0.2, 0.0), (1.5, -1.0))


def curves(name: str, x: torch.Tensor):
    """(f(x), f'(x)) as numpy arrays; maxout through its illustrative 1-D pieces."""
    act = functions.get(name)
    if act.elementwise:
        return act(x).numpy(), act.derivative(x).numpy()
    k = len(MAXOUT_PIECES)
    z = torch.stack([a * x + b for a, b in MAXOUT_PIECES], dim=-1)  # (n, k): one unit
    slopes = torch.tensor([a for a, _ in MAXOUT_PIECES], dtype=x.dtype)
    y = act.forward(z, k).squeeze(-1)
    dy = (act.derivative_fn(z, k) * slopes).sum(-1)  # chain rule through the winning piece
    return y.numpy(), dy.numpy()


def function_and_derivative(name: str, x_max: float, n_points: int = 801,
                            saturation_at: float | None = None):
    """One function and its derivative on one axis; optionally shade |x| > saturation_at."""
    act = functions.get(name)
    x = torch.linspace(-x_max, x_max, n_points, dtype=torch.float64)
    y, dy = curves(name, x)
    fig, axes = figure(1, 1, width=6.0, height=3.2)
    ax = axes[0, 0]
    ax.plot(x, y, color=act.color, label=f"{act.label}(x)")
    ax.plot(x, dy, color=act.color, linestyle="--", label=f"derivative of {act.label}")
    i = int(np.argmax(dy))
    ax.plot([x[i]], [dy[i]], "o", color=NEUTRAL, markersize=4)
    ax.annotate(f"max {dy[i]:.3g} at x = {float(x[i]):.3g}", (float(x[i]), dy[i]),
                textcoords="offset points", xytext=(8, 6), fontsize=8)
    if saturation_at is not None and saturation_at < x_max:
        for lo, hi in ((-x_max, -saturation_at), (saturation_at, x_max)):
            ax.axvspan(lo, hi, color=NEUTRAL, alpha=0.08, linewidth=0)
        ax.text(saturation_at, 0.5 * max(y), "  saturated", fontsize=8, color=NEUTRAL)
    ax.set_xlabel("input x (pre-activation)")
    ax.set_ylabel("output / derivative")
    ax.legend(loc="upper left")
    return finish(fig)
