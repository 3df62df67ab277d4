"""Each function's initial gain: derived from its Gaussian moments, then checked in deep random
networks.

Weights of variance g²/n on layers of width n, zero biases: a layer maps pre-activations of
second moment q to ones of second moment g² E[f(√q x)²], and multiplies the back-propagated
error's second moment by g² E[f'(√q x)²], x standard normal (the recursions of
:mod:`actlab.initialisation`). Asking either factor to be 1 where the pre-activations have unit
second moment gives two gains:

    forward gain   g_f = 1 / √E[f(x)²]     (the signal's scale is a fixed point: q stays 1)
    backward gain  g_b = 1 / √E[f'(x)²]    (the error's scale is kept, while q is 1)

For a positively homogeneous function (ReLU and its leaky kin) the two agree at every q; for any
other function they differ, and the network's q moves away from 1 at g_b, so a deep network can
keep at most one of the two. :func:`deep_ratios` measures both in networks of finite width.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actlab import functions
from actlab.gaussian import GRID, expectation
from actlab.verdicts import Measure, bootstrap

# PyTorch's torch.nn.init.calculate_gain, where it names the function (leaky ReLU at the registry's
# slope 0.01; "linear" for the identity). GELU, SiLU, Mish and the rest have no entry there.
TORCH_NAMES = {"identity": ("linear", None), "sigmoid": ("sigmoid", None), "tanh": ("tanh", None),
               "relu": ("relu", None), "leaky_relu": ("leaky_relu", 0.01), "selu": ("selu", None)}


def torch_gain(name: str) -> float | None:
    """``torch.nn.init.calculate_gain``'s value for the function, or None where it has none."""
    if name not in TORCH_NAMES:
        return None
    torch_name, param = TORCH_NAMES[name]
    return float(torch.nn.init.calculate_gain(torch_name, param))


def _gaussian(name: str, q: float, g) -> float:
    """E[g(f, √q x)] for x standard normal; ``g`` maps (activation, points) to values."""
    act = functions.get(name)
    return expectation(lambda x: g(act, x), q)


def moments(name: str, q: float = 1.0) -> tuple[float, float]:
    """E[f(√q x)²] and E[f'(√q x)²] for x standard normal."""
    return (_gaussian(name, q, lambda a, x: a.forward(x) ** 2), _gaussian(name, q, lambda a, x: a.derivative(x) ** 2))


def mean(name: str, q: float = 1.0) -> float:
    """E[f(√q x)] for x standard normal."""
    return _gaussian(name, q, lambda a, x: a.forward(x))


def derived(name: str | functions.Activation) -> tuple[float, float]:
    """(g_f, g_b): the gains that make the forward and the backward factor 1 at unit second
    moment, as the registry holds them (:attr:`actlab.functions.Activation.gains`)."""
    return functions.get(name).gains


def fixed_point_slope(name: str, gain: float, dq: float = 1e-3) -> float:
    """The slope at q = 1 of the forward map q -> gain² E[f(√q x)²]. At the forward gain q = 1 is a
    fixed point; below 1 the slope pulls a drifting q back to it, above 1 pushes it away, so a deep
    network keeps the scale only where the slope is under 1."""
    up, down = moments(name, 1 + dq)[0], moments(name, 1 - dq)[0]
    return gain**2 * (up - down) / (2 * dq)


def fixed_point(name: str, gain: float, q: float = 1.0, steps: int = 60) -> float:
    """The second moment the forward map settles at from ``q``, iterated ``steps`` times (as many
    layers of an infinitely wide network): where the slope there is under 1, the scale a deep
    network keeps at this gain."""
    for _ in range(steps):
        q = gain**2 * moments(name, q)[0]
    return q


@dataclass
class DeepRatios:
    """Per seed, over ``depth`` layers: the pre-activations' second moment at the last layer ÷ at
    the first (forward), and the back-propagated error's second moment at the first layer ÷ at the
    last (backward). 1 is kept; above 1 grows with depth (forward) or towards the input (backward)."""
    forward: np.ndarray
    backward: np.ndarray
    depth: int

    def per_layer(self) -> tuple[Measure, Measure]:
        """The factor per layer, (ratio)^(1/(depth − 1)), median over seeds with its interval."""
        k = 1 / (self.depth - 1)
        return bootstrap(self.forward**k), bootstrap(self.backward**k)


def deep_ratios(name: str, gain: float, *, width: int, depth: int, n_inputs: int, seeds: int,
                seed: int = 0) -> DeepRatios:
    """Random MLPs of ``depth`` layers of ``width`` units, all ``seeds`` at once (batched): the
    first layer's weights have variance 1/width, so standard-normal inputs give pre-activations of
    unit second moment; every later layer has variance gain²/width; zero biases; float64. The
    backward pass starts from a standard-normal error at the last layer. Each seed draws its own
    weights, inputs and error from one generator, the same for every function and gain (common
    random numbers), so two gains differ in the gain alone."""
    act = functions.get(name)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(seeds, n_inputs, width, generator=g, dtype=torch.float64)
    ws = [torch.randn(seeds, width, width, generator=g, dtype=torch.float64) / width**0.5 for _ in range(depth)]
    err = torch.randn(seeds, n_inputs, width, generator=g, dtype=torch.float64)
    z = x @ ws[0]
    z.requires_grad_(True)
    first, h = z, act.forward(z)
    for w in ws[1:]:
        z = h @ (gain * w)
        h = act.forward(z)
    (z * err).sum().backward()
    with torch.no_grad():
        q1, qL = (first**2).mean(dim=(1, 2)), (z**2).mean(dim=(1, 2))
        back = first.grad.pow(2).mean(dim=(1, 2)) / err.pow(2).mean(dim=(1, 2))
    return DeepRatios((qL / q1).numpy(), back.numpy(), depth)


def deep_cost(n_functions: int, width: int, depth: int, n_inputs: int, seeds: int) -> tuple[float, float]:
    """(seconds, bytes) of :func:`rows`: a :func:`deep_ratios` per function (the weights, and per
    layer a forward and a backward activation kept, float64; about 1 ns per multiply-add, as
    measured here) and the moments on :data:`GRID` (about 0.05 s per function)."""
    macs = 3 * seeds * depth * n_inputs * width * width  # forward, and backward through weights and inputs
    held = 8 * seeds * (depth * width * width + 6 * depth * n_inputs * width) + 8 * 12 * GRID.size
    return n_functions * (macs * 1e-9 + 0.05), held


def rows(names: list[str], *, width: int, depth: int, n_inputs: int, seeds: int) -> list[dict]:
    """For each function: its two derived gains, PyTorch's, the slope of the forward map at the
    forward gain, the backward factor per layer the moments predict there, g_f² E[f'(x)²], and the
    factors per layer measured at the forward gain (:func:`deep_ratios`)."""
    out = []
    for name in names:
        g_f, g_b = functions.get(name).gains  # the registry's, derived here on first use
        fwd, bwd = deep_ratios(name, g_f, width=width, depth=depth, n_inputs=n_inputs, seeds=seeds).per_layer()
        out.append({"name": name, "g_f": g_f, "g_b": g_b, "torch": torch_gain(name),
                    "slope": fixed_point_slope(name, g_f), "chi": g_f**2 * moments(name)[1], "fwd": fwd, "bwd": bwd})
    return out


def metrics(rows_: list[dict]) -> dict:
    """The rows as metrics: ``gain_f_NAME``, ``gain_b_NAME``, ``gain_torch_NAME`` (where PyTorch has
    one), ``gain_slope_NAME``, ``gain_chi_NAME`` and the measured ``gain_fwd_NAME``, ``gain_bwd_NAME``."""
    from actlab.verdicts import measure_metrics

    out = {}
    for r in rows_:
        n = r["name"]
        out |= {f"gain_f_{n}": r["g_f"], f"gain_b_{n}": r["g_b"], f"gain_slope_{n}": r["slope"],
                f"gain_chi_{n}": r["chi"]}
        if r["torch"] is not None:
            out[f"gain_torch_{n}"] = r["torch"]
        out |= measure_metrics(f"gain_fwd_{n}", r["fwd"]) | measure_metrics(f"gain_bwd_{n}", r["bwd"])
    return out


def table(rows_: list[dict]) -> str:
    """One row per function: the gains, PyTorch's, the forward map's slope (under 1: the scale
    returns to 1 after a disturbance), and the per-layer factors predicted and measured at g_f."""
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    iv = lambda m: f'{fmt(m.value)} <span class="actlab-nowrap">({fmt(m.lo)}–{fmt(m.hi)})</span>'  # noqa: E731
    return markdown_table(
        ["function", "forward gain g_f", "backward gain g_b", "PyTorch's gain", "slope of the forward map at g_f",
         "forward factor per layer at g_f, measured", "backward factor per layer at g_f: predicted",
         "backward factor, measured"],
        [[functions.get(r["name"]).label, fmt(r["g_f"]), fmt(r["g_b"]),
          "—" if r["torch"] is None else fmt(r["torch"]), fmt(r["slope"]), iv(r["fwd"]), fmt(r["chi"]), iv(r["bwd"])]
         for r in rows_])


def factors_figure(rows_: list[dict]):
    """Two dot plots, one row per function: the forward and the backward factor per layer measured
    at the forward gain (median over seeds, 95% interval), with the backward factor the moments
    predict as an open circle; a dotted line at 1, the scale kept. The forward panel is linear
    (its factors stay near 1), the backward one logarithmic (they span a decade)."""
    import matplotlib as mpl

    from actlab import plotting

    names = [r["name"] for r in rows_]
    ys = np.arange(len(names))
    fig, axes = plotting.figure(1, 2, width=7.0, height=0.24 * len(names) + 1.4, sharey=True)
    for ax, key, title in zip(axes[0], ("fwd", "bwd"), ("signal: factor per layer", "error: factor per layer"),
                              strict=True):
        for y, r in zip(ys, rows_, strict=True):
            m = r[key]
            ax.plot([m.lo, m.hi], [y, y], color=plotting.NEUTRAL, linewidth=1.2)
            ax.plot(m.value, y, "o", color=plotting.color(r["name"]), markersize=5)
            if key == "bwd":
                ax.plot(r["chi"], y, "o", markerfacecolor="none", markeredgecolor=plotting.NEUTRAL, markersize=9)
        ax.axvline(1.0, color=plotting.NEUTRAL, linestyle=":", linewidth=1)
        ax.set_xlabel(title)
        ax.grid(axis="y", visible=False)
    axes[0, 1].set_xscale("log")
    axes[0, 1].xaxis.set_major_locator(mpl.ticker.FixedLocator([0.1, 0.2, 0.5, 1, 2]))
    axes[0, 1].xaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%g"))
    axes[0, 1].xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    axes[0, 0].set_yticks(ys, [plotting.label(n) for n in names])
    axes[0, 0].invert_yaxis()
    return plotting.finish(fig)
