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

# Sizes are in points at the size a figure is shown: figures are drawn at 96 dpi, the CSS
# pixel's, so a figure shown at its natural width shows 9 pt text as 9 pt. No text below
# FONT_FLOOR_PT (``finish`` refuses it); PNGs are written at 2x for high-density screens.
FONT_FLOOR_PT = 9.0
DISPLAY_DPI = 96
MAX_WIDTH_IN = 7.0  # the content column is 688 CSS px on a 1280 px desktop: never shrunk there

TEMPORARY_CLAMP = True

STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "figure.dpi": DISPLAY_DPI,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 10,
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


def linestyle(name: str):
    """The activation's line style: members of one family share a hue and differ by style."""
    return functions.get(name).linestyle


def style(name: str) -> dict:
    """Colour, line style and label of an activation's line, for ``ax.plot(..., **style(name))``."""
    act = functions.get(name)
    return {"color": act.color, "linestyle": act.linestyle, "label": act.label}


def label(name: str) -> str:
    return functions.get(name).label


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 7.0, height: float = 3.2, **kw):
    """A styled figure; axes always come back as a 2-D array."""
    if width > MAX_WIDTH_IN and TEMPORARY_CLAMP:  # TODO(integration): remove once every figure fits
        width = MAX_WIDTH_IN
    if width > MAX_WIDTH_IN:
        raise ValueError(f"a figure {width} in wide would be shrunk in the book's column; at most {MAX_WIDTH_IN} in")
    with mpl.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False,
                                 layout="constrained", **kw)
    return fig, axes


def text_sizes(fig) -> list[tuple[float, str]]:
    """(size in pt, text) of every visible piece of text the figure draws."""
    from matplotlib.text import Text

    fig.canvas.draw()  # tick labels exist only once drawn
    out = []
    for t in fig.findobj(Text):
        ax = t.axes
        if t.get_visible() and t.get_text().strip() and (ax is None or ax.get_visible()):
            out.append((float(t.get_fontsize()), t.get_text()))
    return out


def finish(fig):
    """The figure as the page shows it: a PNG at twice the display resolution (crisp on
    high-density screens, shown at its natural size), its smallest font written into the
    PNG's metadata for the browser tests; refused if any text is below the floor."""
    import io

    from IPython.display import Image

    sizes = text_sizes(fig)
    small = [(s, t) for s, t in sizes if s < FONT_FLOOR_PT]
    if small:
        plt.close(fig)
        s, t = min(small)
        raise ValueError(f"figure text {t!r} is {s:g} pt; the book's floor is {FONT_FLOOR_PT:g} pt")
    smallest = min((s for s, _ in sizes), default=FONT_FLOOR_PT)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=2 * DISPLAY_DPI, bbox_inches="tight", pad_inches=0.05,
                metadata={"Software": None, "Comment": f"actlab min-font-pt={smallest:g}"})
    plt.close(fig)
    png = buf.getvalue()
    width_in = int.from_bytes(png[16:20], "big") / (2 * DISPLAY_DPI)
    if width_in > MAX_WIDTH_IN + 0.01 and not TEMPORARY_CLAMP:
        raise ValueError(f"the figure is {width_in:.2f} in wide with its labels and legends; at most {MAX_WIDTH_IN:g} in "
                         "fits the book's column unshrunk")
    return Image(data=png, format="png", retina=True)


def spread(ax, x, values, name: str, *, axis: int = 0, label_text: str | None = None, **kw):
    """Median line with the min-max band over ``axis`` (the seeds), in the activation's colour."""
    values = np.asarray(values, dtype=float)
    med = np.nanmedian(values, axis=axis)
    lo, hi = np.nanmin(values, axis=axis), np.nanmax(values, axis=axis)
    c = color(name)
    kw.setdefault("linestyle", linestyle(name))
    ax.plot(x, med, color=c, label=label_text or label(name), **kw)
    ax.fill_between(x, lo, hi, color=c, alpha=0.18, linewidth=0)


INIT_STYLE = {"default": "-", "standard": "--", "xavier": "-.", "kaiming": ":", "lecun": (0, (5, 1, 1, 1))}


def layer_gradient_norms(sweep, depth: int, title: str = ""):
    """Weight-gradient norm against layer index (log scale): one panel per initialisation,
    one line per activation, median over seeds with the min-max band."""
    fig, axes = figure(1, len(sweep.inits), width=2.3 * len(sweep.inits), height=2.8, sharey=True)
    layers = np.arange(1, depth + 2)
    for ax, init in zip(axes[0], sweep.inits, strict=True):
        for act in sweep.activations:
            spread(ax, layers, sweep.norms[act, init, depth], act, axis=0)
        ax.set_yscale("log")
        ax.set_title(f"init: {init}")
        ax.set_xlabel("weight layer (1 = input side)")
    axes[0, 0].set_ylabel("‖∂loss/∂W‖ (Frobenius)")
    axes[0, -1].legend(loc="lower right")
    if title:
        fig.suptitle(title, fontsize=9)
    return finish(fig)


def layer_shades(act: str, n: int) -> list:
    """n shades of the activation's colour, light (input side) to dark (top layer)."""
    base = np.array(mpl.colors.to_rgb(color(act)))
    return [tuple(base * (0.35 + 0.65 * k / max(1, n - 1)) + (1 - (0.35 + 0.65 * k / max(1, n - 1))) * 0.85)
            for k in range(n)]


def activation_means(act: str, steps, means):
    """Mean activation of each hidden layer during training: median over seeds with band."""
    fig, axes = figure(1, 1, width=5.5, height=3.0)
    ax = axes[0, 0]
    n_layers = means.shape[-1]
    for layer, c in zip(range(n_layers), layer_shades(act, n_layers), strict=True):
        vals = means[:, :, layer]
        ax.plot(steps, np.median(vals, 1), color=c, label=f"hidden layer {layer + 1}")
        ax.fill_between(steps, vals.min(1), vals.max(1), color=c, alpha=0.2, linewidth=0)
    ax.set_xlabel("training step (minibatch SGD)")
    ax.set_ylabel(f"mean {label(act)} output")
    ax.legend(loc="lower left")
    return finish(fig)


def loss_curves(steps, curves: dict, act: str, ylabel: str = "training loss (cross-entropy)"):
    """Loss against step for a few settings of one activation: {name: (logs, seeds) array};
    line style tells the settings apart, colour stays the activation's."""
    fig, axes = figure(1, 1, width=5.5, height=3.0)
    ax = axes[0, 0]
    styles = ["-", "--", "-.", ":"]
    if len(curves) > len(styles):  # a fifth curve would otherwise vanish from the figure
        raise ValueError(f"at most {len(styles)} curves per panel; got {len(curves)}")
    for (name, vals), ls in zip(curves.items(), styles[:len(curves)], strict=True):
        vals = np.asarray(vals, float)
        # a run that starts late (pre-training) has no value at the first steps: draw only where
        # some seed has one (and never ask numpy for the median of an all-NaN row)
        has = np.isfinite(vals).any(1)
        x, v = np.asarray(steps)[has], vals[has]
        ax.plot(x, np.nanmedian(v, 1), color=color(act), linestyle=ls, label=name)
        ax.fill_between(x, np.nanmin(v, 1), np.nanmax(v, 1), color=color(act), alpha=0.12, linewidth=0)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.legend(loc="best")
    return finish(fig)


def weight_paths(paths: dict, target=(1.0, -1.0)):
    """Paths of two weights in the plane under per-example SGD, one per input activation."""
    fig, axes = figure(1, len(paths), width=2.9 * len(paths), height=2.9, sharex=True, sharey=True)
    for ax, (act, path) in zip(axes[0], paths.items(), strict=True):
        ax.plot(path[:, 0], path[:, 1], color=color(act), linewidth=0.8, marker=".", markersize=2)
        ax.plot(*target, "*", color=NEUTRAL, markersize=10, label="target (1, −1)")
        ax.plot(0, 0, "o", color=NEUTRAL, markersize=4, label="start")
        ax.set_title(f"inputs are {label(act)} outputs")
        ax.set_xlabel("weight w₁")
        ax.set_aspect("equal", adjustable="box")
    axes[0, 0].set_ylabel("weight w₂")
    axes[0, 0].legend(loc="lower left")
    return finish(fig)


def paired_bars(groups: list[str], series: dict, act_of: dict, ylabel: str, log: bool = True):
    """Bars for a few settings (``groups``) of several measures (``series``: name -> values),
    one panel per measure; each bar in the colour of its setting's activation."""
    fig, axes = figure(1, len(series), width=2.8 * len(series), height=2.8)
    for ax, (name, vals) in zip(axes[0], series.items(), strict=True):
        ax.bar(range(len(groups)), vals, color=[color(act_of[g]) for g in groups])
        for k, v in enumerate(vals):
            ax.text(k, v, f"{v:.3g}", ha="center", va="bottom", fontsize=9)
        ax.set_xticks(range(len(groups)), groups, fontsize=9)
        if log:
            ax.set_yscale("log")
        ax.set_title(name)
        ax.grid(axis="x", visible=False)
    axes[0, 0].set_ylabel(ylabel)
    return finish(fig)


FAMILIES = {
    "squashing": ("sigmoid", "hardsigmoid", "tanh", "hardtanh", "softsign"),
    "rectifiers": ("relu", "relu6", "leaky_relu", "prelu"),
    "exponential-linear, softplus": ("elu", "selu", "celu", "softplus"),
    "self-gated": ("gelu", "gelu_tanh", "silu", "mish"),
    "controls": ("identity", "step"),
}
SAT_FLOOR = 1e-45  # the lowest |f'| drawn; below the line under it, a row per function marks f' = 0 exactly


def families(names: list[str]) -> dict[str, list[str]]:
    """The registry's elementwise functions by family; any not listed go into "other"."""
    out = {fam: [n for n in members if n in names] for fam, members in FAMILIES.items()}
    rest = [n for n in names if not any(n in m for m in FAMILIES.values())]
    if rest:
        out["other"] = rest
    return {k: v for k, v in out.items() if v}


def saturation_curves(names: list[str], x_max: float = 50.0, n_points: int = 2001):
    """log |f'| against |x|, one row per family, left and right side in two columns. Where f'
    is exactly zero on a hard-saturating side, a bar in the function's colour under the floor
    line marks it (no line drops to it); a soft side's line leaves the bottom of the axis
    where |f'| falls under 1e-45, however far it goes on falling."""
    from actlab import properties

    fams = families(names)
    hard = {n: properties.saturation(n) for n in names}
    n_rows = max(sum("hard" in hard[n] for n in m) for m in fams.values())
    zero_y = lambda k: SAT_FLOOR * 10.0 ** (-4 - 6 * k)  # the k-th hard function's "= 0" row
    fig, axes = figure(len(fams), 2, width=7.5, height=1.75 * len(fams) + 0.4, sharex=True, sharey=True)
    x = torch.linspace(0, x_max, n_points, dtype=torch.float64)
    for row, (fam, members) in zip(axes, fams.items(), strict=True):
        rows_of = {n: k for k, n in enumerate(n for n in members if "hard" in hard[n])}
        for col, (ax, sign, side) in enumerate(zip(row, (-1, 1), ("left, x = −|x|", "right, x = +|x|"), strict=True)):
            for j, n in enumerate(members):
                d = functions.get(n).derivative(sign * x).abs().numpy()
                ax.plot(x.numpy(), np.where(d > 0, d, np.nan), color=color(n), label=label(n), linewidth=1.3,
                        linestyle=("-", "--", "-.", ":", (0, (5, 1, 1, 1)))[j % 5])
                if hard[n][col] == "hard":
                    ax.plot(x.numpy(), np.where(d == 0, zero_y(rows_of[n]), np.nan), color=color(n),
                            linewidth=3, solid_capstyle="butt")
            ax.axhline(SAT_FLOOR / 10, color=NEUTRAL, linewidth=0.6)
            ax.set_yscale("log")
            ax.set_ylim(zero_y(max(n_rows - 1, 0)) / 1e3, 20)
            ax.set_title(f"{fam}: {side}", fontsize=9)
        row[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=9)
        row[0].set_ylabel("|f′(x)|")
    for ax in axes.flat:
        ax.set_yticks([1, 1e-10, 1e-20, 1e-30, 1e-40, zero_y(max(n_rows - 1, 0) / 2)],
                      ["1", "10⁻¹⁰", "10⁻²⁰", "10⁻³⁰", "10⁻⁴⁰", "= 0"])
        ax.minorticks_off()
    for ax in axes[-1]:
        ax.set_xlabel("distance from zero, |x|")
    return finish(fig)
