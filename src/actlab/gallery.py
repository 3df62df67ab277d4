"""A function drawn beside its derivative: the gallery's small multiples and the single-function
figures of the sigmoid and tanh chapters.

Each function is drawn solid and its analytic derivative (the registry's, not autograd's) dashed,
in the function's own colour. A layer is drawn as one unit of a 1-D input x over fixed
illustrative linear maps of x (:data:`PIECES`): maxout over two pieces, a gated unit with value
and gate input both equal to x, so that it draws x g(x).
"""
from __future__ import annotations

import numpy as np
import torch

from actlab import functions
from actlab.numbers import fmt

# A layer, in 1-D: one unit over fixed illustrative linear maps s*x + c of the input, one per
# piece (the registry's pieces). Maxout: k = 2 pieces (the panel is titled "k = 2"), meeting at
# x = -1/3. A gated unit a * g(b): value a = x and gate input b = x, so the panel draws x g(x)
# (GLU's is then SiLU's curve, x sigma(x); ReGLU's is relu(x)^2).
MAXOUT_PIECES = ((-0.5, -0.5), (1.0, 0.0))
GATED_PIECES = ((1.0, 0.0), (1.0, 0.0))  # (value a, gate input b)


def pieces_of(name: str) -> tuple[tuple[float, float], ...]:
    """The illustrative (slope, intercept) of each linear map a layer's 1-D unit is drawn over."""
    act = functions.get(name)
    drawn = GATED_PIECES if act.gate is not None else MAXOUT_PIECES
    if len(drawn) != act.pieces:
        raise ValueError(f"{name} is registered with {act.pieces} pieces per unit but is drawn over {len(drawn)}")
    return drawn


def curves(name: str, x: torch.Tensor):
    """(f(x), f'(x)) as numpy arrays; a layer through its illustrative 1-D pieces."""
    act = functions.get(name)
    if act.elementwise:
        return act(x).numpy(), act.derivative(x).numpy()
    drawn = pieces_of(name)
    # one unit: its pieces along the last axis (maxout's group of k; a gated unit's halves of length 1)
    z = torch.stack([s * x + c for s, c in drawn], dim=-1)
    slopes = torch.tensor([s for s, _ in drawn], dtype=x.dtype)
    y = act(z).squeeze(-1)
    dy = (act.derivative(z) * slopes).sum(-1)  # the chain rule through every piece
    return y.numpy(), dy.numpy()


def _nice_up(v: float) -> float:
    """The smallest of 1, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) that is at least ``v``."""
    import math

    if v <= 0:
        return 0.0
    p = 10.0 ** math.floor(math.log10(v))
    return next(m * p for m in (1, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * p >= v * (1 - 1e-12))


def panel_range(name: str, x_max: float) -> float:
    """The half-width a function's panel needs: x_max, widened so every kink shows with a margin
    of a quarter of its distance (ReLU6's cap at 6 is invisible on [-5, 5]), rounded up to a round
    number (ReLU6: 8)."""
    kinks = [abs(k) for k in functions.get(name).kinks]
    need = max([0.0] + [1.25 * k for k in kinks])
    return x_max if need <= x_max else max(x_max, _nice_up(need))


# Drawing the panels, measured with the gallery chapter (quick profile, n_points varied): its peak
# memory rose by 133 MB from 201 to 100,001 points and by 431 MB to 300,001, for the 40 lines of its
# 20-panel figure: 33 and 36 bytes a point of a line (matplotlib keeps each line's float64 data, its
# path and their transforms until the figure is drawn); the run took 0.4 to 2 us more a line-point.
LINE_POINT_BYTES = 40
LINE_POINT_S = 2e-6


def panels_cost(n_lines: int, n_points: int) -> tuple[float, float]:
    """(seconds, bytes) of drawing ``n_lines`` curves of ``n_points`` points in one figure."""
    return LINE_POINT_S * n_lines * n_points, LINE_POINT_BYTES * n_lines * n_points


def function_panels(names: list[str], x_max: float = 5.0, n_points: int = 801, ncols: int = 3):
    """Small multiples, at most three to a row: each function (solid) and its analytic
    derivative (dashed), each on [-x_max, x_max] or wider where a kink lies outside it.
    One key above the panels says which line is which."""
    from matplotlib.lines import Line2D

    from actlab.plotting import NEUTRAL, figure, finish

    ncols = max(1, min(ncols, 3, len(names)))
    n = len(names)
    nrows = -(-n // ncols)
    fig, axes = figure(nrows, ncols, width=2.3 * ncols, height=1.85 * nrows + 0.35)
    for ax, name in zip(axes.flat, names, strict=False):  # the grid may have spare cells
        act = functions.get(name)
        r = panel_range(name, x_max)
        x = torch.linspace(-r, r, n_points, dtype=torch.float64)
        y, dy = curves(name, x)
        ax.plot(x, y, color=act.color)
        ax.plot(x, dy, color=act.color, linestyle="--", linewidth=1.3)
        ax.set_title(act.label + (f" (x to ±{fmt(r, sig=2)})" if r > x_max else ""))
        ax.axhline(0, color=NEUTRAL, linewidth=0.5)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes.flat[max(0, n - ncols):n]:
        ax.set_xlabel("input x")
    key = [Line2D([], [], color=NEUTRAL, label="function f(x)"),
           Line2D([], [], color=NEUTRAL, linestyle="--", linewidth=1.3, label="derivative f′(x)")]
    fig.legend(handles=key, loc="outside upper center", ncol=2)
    return finish(fig)


def function_and_derivative(name: str, x_max: float, n_points: int = 801,
                            saturation_at: float | None = None, compare: str | None = None):
    """One function (solid) and its derivative (dashed) on one axis, the derivative's peak
    marked; optionally shade |x| > saturation_at and draw another function's derivative
    (dotted, in its colour) for comparison."""
    from actlab.plotting import NEUTRAL, figure, finish

    act = functions.get(name)
    x = torch.linspace(-x_max, x_max, n_points, dtype=torch.float64)
    y, dy = curves(name, x)
    fig, axes = figure(1, 1, width=6.0, height=3.2)
    ax = axes[0, 0]
    ax.plot(x, y, color=act.color, label=f"{act.label}(x)")
    ax.plot(x, dy, color=act.color, linestyle="--", label=f"derivative of {act.label}")
    if compare is not None:
        other = functions.get(compare)
        ax.plot(x, curves(compare, x)[1], color=other.color, linestyle=":", label=f"derivative of {other.label}")
    i = int(np.argmax(dy))
    ax.plot([x[i]], [dy[i]], "o", color=NEUTRAL, markersize=4)
    ax.annotate(f"peak {fmt(float(dy[i]))} at x = {fmt(float(x[i]), zero=1e-9)}", (float(x[i]), dy[i]),
                textcoords="offset points", xytext=(8, 6), fontsize=9)
    if saturation_at is not None and saturation_at < x_max:
        for lo, hi in ((-x_max, -saturation_at), (saturation_at, x_max)):
            ax.axvspan(lo, hi, color=NEUTRAL, alpha=0.08, linewidth=0)
        ax.text(saturation_at, 0.5 * max(y), "  saturated", fontsize=9, color=NEUTRAL)
        ax.text(-saturation_at, 0.5 * max(y), "saturated  ", fontsize=9, color=NEUTRAL, ha="right")
    ax.set_xlabel("input x (pre-activation)")
    ax.set_ylabel("output / derivative")
    ax.legend(loc="upper left")
    return finish(fig)


def saturated_at(name: str, x_max: float, fraction: float = 0.01, n_points: int = 2001) -> bool:
    """Whether |f'| at both -x_max and +x_max is below ``fraction`` of its peak on [-x_max, x_max]
    (the course's measure of saturation, read at the edge of a panel); False for a function
    whose derivative is zero everywhere there (nothing to saturate from)."""
    x = torch.linspace(-x_max, x_max, n_points, dtype=torch.float64)
    d = np.abs(curves(name, x)[1])
    peak = d.max()
    return bool(peak > 0 and d[0] < fraction * peak and d[-1] < fraction * peak)


def peak_slope(name: str, x_max: float, n_points: int = 2001) -> float:
    """The largest |f'| on [-x_max, x_max]."""
    x = torch.linspace(-x_max, x_max, n_points, dtype=torch.float64)
    return float(np.abs(curves(name, x)[1]).max())


def edge_reading(x_max: float) -> dict:
    """The chapter's reading at the panels' edges, +-x_max, as metrics: which elementwise
    functions are saturated on both sides there (one yes/no each) and which have a slope above
    one somewhere on [-x_max, x_max]."""
    names = functions.names(elementwise_only=True)
    sat = [n for n in names if saturated_at(n, x_max)]
    steep = [n for n in names if peak_slope(n, x_max) > 1 + 1e-9]
    return {"x_max": float(x_max), "n_saturated": len(sat),
            "saturated_names": ", ".join(functions.get(n).label for n in sat),
            **{f"saturated_{n}": n in sat for n in names},
            "n_steep": len(steep), "steep_names": ", ".join(functions.get(n).label for n in steep)}
