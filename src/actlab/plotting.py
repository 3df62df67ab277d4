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
    return Image(data=buf.getvalue(), format="png", retina=True)


def spread(ax, x, values, name: str, *, axis: int = 0, label_text: str | None = None, **kw):
    """Median line with the min-max band over ``axis`` (the seeds), in the activation's colour."""
    values = np.asarray(values, dtype=float)
    med = np.nanmedian(values, axis=axis)
    lo, hi = np.nanmin(values, axis=axis), np.nanmax(values, axis=axis)
    c = color(name)
    kw.setdefault("linestyle", linestyle(name))
    ax.plot(x, med, color=c, label=label_text or label(name), **kw)
    ax.fill_between(x, lo, hi, color=c, alpha=0.18, linewidth=0)


def panel_range(name: str, x_max: float) -> float:
    """The half-width a function's panel needs: x_max, widened so every kink shows (ReLU6's cap
    at 6 is invisible on [-5, 5])."""
    kinks = [abs(k) for k in functions.get(name).kinks]
    return max([x_max] + [1.35 * k for k in kinks])


def function_panels(names: list[str], x_max: float = 5.0, n_points: int = 801, ncols: int = 4):
    """Small multiples: each function (solid) and its analytic derivative (dashed), each on
    [-x_max, x_max] or wider where a kink lies outside it."""
    n = len(names)
    nrows = -(-n // ncols)
    fig, axes = figure(nrows, ncols, width=2.0 * ncols, height=1.75 * nrows)
    for ax, name in zip(axes.flat, names, strict=False):  # the grid may have spare cells
        act = functions.get(name)
        r = panel_range(name, x_max)
        x = torch.linspace(-r, r, n_points, dtype=torch.float64)
        y, dy = curves(name, x)
        ax.plot(x, y, color=act.color, label="f(x)")
        ax.plot(x, dy, color=act.color, linestyle="--", linewidth=1.2, label="f′(x)")
        ax.set_title(act.label + (f" (x to ±{r:g})" if r > x_max else ""))
        ax.axhline(0, color=NEUTRAL, linewidth=0.5)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes.flat[max(0, n - ncols):n]:
        ax.set_xlabel("input x")
    axes.flat[0].legend(loc="upper left")
    return finish(fig)


# Maxout is a layer; in 1-D we draw one unit over k = 2 fixed illustrative pieces a*x + b (the
# registry's k: the panel is titled "k = 2", so it draws two pieces, meeting at x = -1/3).
MAXOUT_PIECES = ((-0.5, -0.5), (1.0, 0.0))


def curves(name: str, x: torch.Tensor):
    """(f(x), f'(x)) as numpy arrays; maxout through its illustrative 1-D pieces."""
    act = functions.get(name)
    if act.elementwise:
        return act(x).numpy(), act.derivative(x).numpy()
    k = act.params["k"]
    if len(MAXOUT_PIECES) != k:
        raise ValueError(f"maxout is registered with k = {k} but MAXOUT_PIECES draws {len(MAXOUT_PIECES)} pieces")
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
                textcoords="offset points", xytext=(8, 6), fontsize=9)
    if saturation_at is not None and saturation_at < x_max:
        for lo, hi in ((-x_max, -saturation_at), (saturation_at, x_max)):
            ax.axvspan(lo, hi, color=NEUTRAL, alpha=0.08, linewidth=0)
        ax.text(saturation_at, 0.5 * max(y), "  saturated", fontsize=9, color=NEUTRAL)
    ax.set_xlabel("input x (pre-activation)")
    ax.set_ylabel("output / derivative")
    ax.legend(loc="upper left")
    return finish(fig)


def wilson(successes: np.ndarray, n: int, z: float = 1.96):
    """Wilson score interval for a success rate (sensible at 0 and 1, unlike the normal one)."""
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def xor_regions(sweep, width: int, seed: int = 0):
    """Decision regions of one network per activation on the four XOR points."""
    from actlab import xor

    acts = sweep.activations
    fig, axes = figure(1, len(acts), width=2.1 * len(acts), height=2.4, sharey=True)
    pts, lab = xor.XOR_X.numpy(), xor.XOR_Y.numpy().astype(bool)
    for ax, act in zip(axes[0], acts, strict=True):
        i = sweep.member(act, width, seed)
        xs, ys, p = xor.decision_grid(sweep, i)
        ax.contourf(xs, ys, p, levels=[0, 0.5, 1], colors=["white", color(act)], alpha=0.35)
        ax.contour(xs, ys, p, levels=[0.5], colors=[color(act)], linewidths=1.5)
        ax.scatter(pts[lab, 0], pts[lab, 1], marker="o", s=40, color=NEUTRAL, label="XOR = 1", zorder=3)
        ax.scatter(pts[~lab, 0], pts[~lab, 1], marker="x", s=40, color=NEUTRAL, label="XOR = 0", zorder=3)
        ok = "solved" if sweep.success[acts.index(act), sweep.widths.index(width), seed] else "failed"
        ax.set_title(f"{label(act)} ({ok})")
        ax.set_xlabel("input x₁")
        ax.grid(False)
    axes[0, 0].set_ylabel("input x₂")
    axes[0, 0].legend(loc="lower left", fontsize=9, framealpha=0.8, frameon=True)
    return finish(fig)


def rate_vs_width(sweep):
    """XOR success rate against hidden width, with its 95% Wilson interval over seeds."""
    fig, axes = figure(1, 1, width=5.5, height=3.0)
    ax = axes[0, 0]
    for a, act in enumerate(sweep.activations):
        wins = sweep.success[a].sum(-1)
        lo, hi = wilson(wins, sweep.seeds)
        ax.plot(sweep.widths, wins / sweep.seeds, "o-", color=color(act), label=label(act))
        ax.fill_between(sweep.widths, lo, hi, color=color(act), alpha=0.15, linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sweep.widths, [str(w) for w in sweep.widths])
    ax.set_xlabel("hidden units")
    ax.set_ylabel(f"fraction of {sweep.seeds} seeds solving XOR")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(loc="lower right")
    return finish(fig)


def approximation_fits(sweep, target: str, act_names: list[str], show_widths: list[int], seed: int = 0):
    """Fitted curves of one seed at a few widths, one panel per activation, target in grey."""
    t = sweep.targets.index(target)
    fig, axes = figure(1, len(act_names), width=2.2 * len(act_names), height=2.5, sharey=True)
    for ax, act in zip(axes[0], act_names, strict=True):
        a = sweep.activations.index(act)
        ax.plot(sweep.x_test, sweep.y_test[t], color="#bbbbbb", linewidth=3, label="target")
        for k, w in enumerate(show_widths):
            alpha = 0.35 + 0.65 * (k + 1) / len(show_widths)
            ax.plot(sweep.x_test, sweep.pred[t, a, sweep.widths.index(w), seed], color=color(act),
                    alpha=alpha, linewidth=1.2, label=f"width {w}")
        ax.set_title(label(act))
        ax.set_xlabel("input x")
        ax.legend(fontsize=9, loc="best")
    axes[0, 0].set_ylabel("network output")
    return finish(fig)


def error_vs_width(sweep, what: str = "mse"):
    """Test error against width on log-log axes: one panel per target, one line per activation,
    median over seeds with the min-max band."""
    vals = getattr(sweep, what)
    fig, axes = figure(1, len(sweep.targets), width=2.5 * len(sweep.targets), height=2.8, sharey=True)
    for t, (ax, target) in enumerate(zip(axes[0], sweep.targets, strict=True)):
        for a, act in enumerate(sweep.activations):
            spread(ax, sweep.widths, vals[t, a], act, axis=-1, marker="o", markersize=3)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"target: {target}")
        ax.set_xlabel("hidden units")
    axes[0, 0].set_ylabel("test MSE" if what == "mse" else "largest test error")
    axes[0, -1].legend(loc="lower left")
    return finish(fig)


INIT_STYLE = {"default": "-", "standard": "--", "xavier": "-.", "kaiming": ":", "lecun": (0, (5, 1, 1, 1))}


def speed_boxes(sweep, epochs, ylabel: str = "epochs to the target training error"):
    """Epochs to target at each activation's tuned learning rate: one group per depth, one
    box (seeds) per activation; runs that never got there are drawn at the top as crosses."""
    n_a, n_d = len(sweep.activations), len(sweep.depths)
    fig, axes = figure(1, 1, width=6.0, height=3.0)
    ax = axes[0, 0]
    cap = float(sweep.epochs()[-1]) + 1  # plotted position of "never": one epoch past the budget
    for a, act in enumerate(sweep.activations):
        for d in range(n_d):
            pos = d * (n_a + 1) + a
            vals = epochs[a, d]
            ok = vals[np.isfinite(vals)]
            if len(ok):
                bp = ax.boxplot([ok], positions=[pos], widths=0.7, patch_artist=True, manage_ticks=False)
                for part in ("boxes", "medians", "whiskers", "caps"):
                    for artist in bp[part]:
                        artist.set_color(color(act))
                bp["boxes"][0].set_facecolor(mpl.colors.to_rgba(color(act), 0.25))
            never = int((~np.isfinite(vals)).sum())
            if never:  # one cross for all of them (they would overplot), with their count beside it
                ax.plot([pos], [cap], "x", color=color(act))
                ax.annotate(f"{never} of {len(vals)}", (pos, cap), xytext=(0, 4), textcoords="offset points",
                            ha="center", va="bottom", fontsize=9, color=color(act))
    ax.set_xticks([d * (n_a + 1) + (n_a - 1) / 2 for d in range(n_d)],
                  [f"{d} hidden layer{'s' if d > 1 else ''}" for d in sweep.depths])
    handles = [mpl.lines.Line2D([], [], color=color(a), label=label(a), linewidth=6, alpha=0.6)
               for a in sweep.activations]
    ax.axhline(cap, color=NEUTRAL, linewidth=0.6, linestyle=":")
    ax.text(ax.get_xlim()[0], cap, " never", va="bottom", fontsize=9, color=NEUTRAL)
    ax.set_ylim(top=cap * 1.12)  # room for the counts
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), ncol=len(handles), frameon=False)
    ax.set_ylabel(ylabel)
    return finish(fig)


def dead_vs_lr(sweep, act: str = "relu"):
    """Dead fraction against learning rate, one line per hidden layer (median over the seeds
    that did not diverge, min-max band); the share of diverged seeds on a second axis."""
    a = sweep.activations.index(act)
    fig, axes = figure(1, 1, width=6.0, height=3.2)
    ax = axes[0, 0]
    lrs = np.array(sweep.lrs)
    from actlab.gradients import layer_shades

    shades = layer_shades(act, len(sweep.widths))
    for layer, c in enumerate(shades):
        vals = sweep.dead[a, :, :, layer]  # (lrs, seeds), nan where diverged
        ok = ~np.all(np.isnan(vals), 1)
        ax.plot(lrs[ok], np.nanmedian(vals[ok], 1), "o-", markersize=3, color=c, label=f"hidden layer {layer + 1}")
        ax.fill_between(lrs[ok], np.nanmin(vals[ok], 1), np.nanmax(vals[ok], 1), color=c, alpha=0.15, linewidth=0)
    div = sweep.diverged[a].mean(1)
    ax.bar(lrs, div, width=lrs * 0.15, color=NEUTRAL, alpha=0.25, label="share of seeds diverged")
    ax.axhline(0.4, color=NEUTRAL, linestyle=":", linewidth=0.8)
    ax.text(lrs[0], 0.41, "40%", fontsize=9, color=NEUTRAL)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (plain SGD)")
    ax.set_ylabel("fraction of units dead")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper left")
    return finish(fig)


def born_dead_curves(widths, depths, domain, point, bound):
    """Born-dead probability against depth, one line per width; the one-input bound dashed."""
    fig, axes = figure(1, 1, width=6.0, height=3.2)
    ax = axes[0, 0]
    cmap = mpl.colormaps["Reds"]
    for i, n in enumerate(widths):
        c = cmap(0.45 + 0.55 * i / max(1, len(widths) - 1))
        ax.plot(depths, domain[i], "o-", color=c, markersize=3, label=f"width {n}: born dead on [−1, 1]")
        ax.plot(depths, bound[i], "--", color=c, linewidth=1, label=f"width {n}: bound, one input")
    ax.set_xlabel("layers (hidden + output)")
    ax.set_ylabel("probability")
    ax.legend(loc="lower right", fontsize=9, ncol=2)
    return finish(fig)


def layer_values(names: dict, ylabel: str, reference: float | None = None, ref_label: str = ""):
    """One value per hidden layer for a few settings: {activation: (seeds, layers) array}."""
    fig, axes = figure(1, 1, width=5.0, height=2.8)
    ax = axes[0, 0]
    for act, vals in names.items():
        layers = np.arange(1, vals.shape[1] + 1)
        spread(ax, layers, vals, act, axis=0, marker="o", markersize=3)
        ax.set_xticks(layers, [str(int(v)) for v in layers])  # layers are whole numbers
    if reference is not None:
        ax.axhline(reference, color=NEUTRAL, linestyle=":", linewidth=0.8, label=ref_label)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.legend(loc="best")
    return finish(fig)


def cost_bars(t, names: list[str]):
    """Forward and backward time per element relative to ReLU's, on one thread: a bar for
    PyTorch's kernel (solid) and a thin hatched bar for the registry's safe form where the two
    differ, each with its 95% interval over repeats (black whisker). Dotted: a plain copy; the
    grey bar at the bottom of the forward panel is a linear layer of the same width."""
    from actlab import cost

    fig, axes = figure(1, 2, width=7.5, height=0.27 * len(names) + 1.5, sharey=True)
    ys = np.arange(len(names))
    for ax, (title, kernel, registry, base) in zip(axes[0], (
            ("forward", "fwd_torch", "fwd_registry", cost.fwd_key("relu")),
            ("backward", "bwd_torch", "bwd_registry", cost.bwd_key("relu"))), strict=True):
        for y, n in zip(ys, names, strict=True):
            for key, off, h, style in ((f"{n}:{kernel}", -0.17, 0.42, {}),
                                       (f"{n}:{registry}", 0.22, 0.3, {"hatch": "////", "alpha": 0.55})):
                if not t.has(key):
                    continue
                m = t.ratio(key, base)
                ax.barh(y + off, m.value, height=h, color=color(n), **style)
                ax.plot([m.lo, m.hi], [y + off] * 2, color="black", linewidth=0.9)
        ax.axvline(np.median(t.t["copy"] / t.t[base]), color=NEUTRAL, linestyle=":", label="plain copy, x.clone()")
        ax.axvline(1.0, color=color("relu"), linewidth=0.8)
        ax.set_xscale("log")
        ax.set_title(title)
        ax.set_xlabel(f"time ÷ ReLU's {title} time (log)")
        ax.grid(axis="y", visible=False)
    lin = t.ratio("linear", cost.fwd_key("relu"))
    axes[0, 0].barh(len(names) + 0.2, lin.value, height=0.5, color=NEUTRAL, alpha=0.6)
    axes[0, 0].plot([lin.lo, lin.hi], [len(names) + 0.2] * 2, color="black", linewidth=0.9)
    axes[0, 0].set_yticks(list(ys) + [len(names) + 0.2],
                          [label(n) for n in names] + [f"linear layer {t.width}→{t.width}"], fontsize=9)
    axes[0, 0].invert_yaxis()
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", fontsize=9)
    return finish(fig)
