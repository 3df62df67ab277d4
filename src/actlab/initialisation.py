"""Initialisation theory, measured: the variance of the pre-activations going forward and of the
back-propagated error going backward, layer by layer, in a deep MLP at initialisation, beside
the closed form that gives Xavier's and He's scales.

With weights of variance v / n_in (n_in = n_out = n here), zero biases and inputs independent of
the weights, one layer gives

    forward:  Var z^(l)   = n Var(W) E[f(z^(l-1))^2]       = v c Var z^(l-1)
    backward: Var d^(l)   = n Var(W) E[f'(z^(l))^2] Var d^(l+1) = v c' Var d^(l+1)

where d^(l) = dL/dz^(l). The "linear" theory takes c = c' = 1 for tanh (tanh(z) ~ z near 0)
and c = c' = 1/2 for ReLU (it zeroes half of a symmetric input; exact). So the variance is kept
when v c = 1: v = 1 for tanh (LeCun's 1/n_in, or Xavier's 2/(n_in + n_out) when the two are
equal) and v = 2 for ReLU (He's 2/n_in). The mean-field version keeps tanh's exact E[tanh^2]
and E[tanh'^2] under a Gaussian z (computed by Gauss-Hermite quadrature).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actlab import functions

# name: (activation, v = n_in x Var(W)). Weights are Gaussian with the variance each scheme
# prescribes: only the variance enters the theory (the book's "standard" U(+-1/sqrt(n)) has 1/(3n)).
CONFIGS = {
    "tanh, Xavier": ("tanh", 1.0),
    "tanh, standard": ("tanh", 1 / 3),
    "ReLU, He": ("relu", 2.0),
    "ReLU, Xavier": ("relu", 1.0),
    "ReLU, 2 × He": ("relu", 4.0),
}
# E[f(z)^2] / Var z and E[f'(z)^2] for a centred Gaussian z in the linear theory
LINEAR_GAIN = {"tanh": 1.0, "relu": 0.5}


@dataclass
class VarianceProfile:
    """Per config, (seeds, depth) arrays over layers l = 1..depth: Var z^(l) (forward) and
    Var d^(l) = Var dL/dz^(l) (backward), each over the examples and the layer's units."""
    configs: dict
    depth: int
    width: int
    forward: dict
    backward: dict
    n_inputs: int = 0
    seeds: int = 0

    @property
    def metrics(self) -> dict:
        """What the vanishing-gradients chapter records of it (its exercise ``deep`` too), by name:
        per config (``KEYS``) the linear theory's factor and the measured ones, how much the error
        grows at twice He's variance, tanh-Xavier's last forward variance, and the setting."""
        m = {}
        for name, key in KEYS.items():
            m |= {f"init_factor_{key}": self.factor(name), f"init_fwd_{key}": self.measured_factor(name, "forward"),
                  f"init_bwd_{key}": self.measured_factor(name, "backward")}
        back = self.backward["ReLU, 2 × He"]
        m["explode_growth"] = float(np.median(np.sqrt(back[:, 0] / back[:, -1])))  # norm, layer L to 1
        m["explode_growth_predicted"] = 2 ** ((self.depth - 1) / 2)
        m["tanh_xavier_last_var"] = float(np.median(self.forward["tanh, Xavier"][:, -1]))
        m["tanh_xavier_last_var_meanfield"] = float(self.mean_field_forward("tanh, Xavier")[-1])
        return m | {"init_width": self.width, "init_depth": self.depth, "init_inputs": self.n_inputs,
                    "init_seeds": self.seeds}

    def factor(self, name: str) -> float:
        """The linear theory's per-layer factor v c, the same forward and backward."""
        act, v = self.configs[name]
        return v * LINEAR_GAIN[act]

    def predicted_forward(self, name: str) -> np.ndarray:
        """Var z^(l) = v (x has unit variance) times (v c)^(l - 1)."""
        return self.configs[name][1] * self.factor(name) ** np.arange(self.depth)

    def predicted_backward(self, name: str) -> np.ndarray:
        """Var d^(l) = Var d^(depth) (measured, the median over seeds) times (v c)^(depth - l)."""
        top = np.median(self.backward[name][:, -1])
        return top * self.factor(name) ** np.arange(self.depth - 1, -1, -1)

    def mean_field_forward(self, name: str) -> np.ndarray:
        """Var z^(l) from the mean-field recursion (f's exact Gaussian moments)."""
        act, v = self.configs[name]
        return mean_field(act, v, self.depth)[0]

    def mean_field_backward(self, name: str) -> np.ndarray:
        """Var d^(l) from the mean-field recursion, anchored like ``predicted_backward``."""
        act, v = self.configs[name]
        back = mean_field(act, v, self.depth)[1]
        top = np.median(self.backward[name][:, -1])
        return top * np.append(np.cumprod(back[:-1][::-1])[::-1], 1.0)

    def measured_factor(self, name: str, direction: str) -> float:
        """Per-layer factor measured from the first and last layer: forward (Var z^(L)/Var z^(1))^(1/(L-1)),
        backward (Var d^(1)/Var d^(L))^(1/(L-1)); the median over seeds."""
        a = self.forward[name] if direction == "forward" else self.backward[name][:, ::-1]
        return float(np.median((a[:, -1] / a[:, 0]) ** (1 / (self.depth - 1))))


def measure(configs: dict, width: int, depth: int, n_inputs: int, seeds: int, seed: int = 0,
            classes: int = 10) -> VarianceProfile:
    """Run every config's ``seeds`` networks (depth hidden layers of ``width`` units, then a
    softmax output of ``classes``, cross-entropy on random labels) as one batch each, on
    standard-normal inputs of ``width`` features; record Var z^(l) forward and Var dL/dz^(l)
    backward (back-propagated by hand, d^(l) = f'(z^(l)) * W^(l+1)^T d^(l+1))."""
    fwd, bwd = {}, {}
    for k, (name, (act, v)) in enumerate(configs.items()):
        f = functions.get(act)
        g = torch.Generator().manual_seed(1000 * seed + k)
        h = torch.randn(seeds, n_inputs, width, generator=g)
        ws, zs = [], []
        for _ in range(depth):
            w = torch.randn(seeds, width, width, generator=g) * (v / width) ** 0.5  # (seeds, n_l, n_{l-1})
            z = torch.bmm(h, w.transpose(1, 2))
            ws.append(w)
            zs.append(z)
            h = f(z)
        w_out = torch.randn(seeds, classes, width, generator=g) * (2 / (width + classes)) ** 0.5
        p = torch.softmax(torch.bmm(h, w_out.transpose(1, 2)), -1)
        labels = torch.randint(classes, (seeds, n_inputs), generator=g)
        delta = (p - torch.nn.functional.one_hot(labels, classes).to(p.dtype)) / n_inputs  # dL/d logits
        grad_h = torch.bmm(delta, w_out)
        deltas = [None] * depth
        for layer in range(depth - 1, -1, -1):
            deltas[layer] = grad_h * f.derivative(zs[layer])
            grad_h = torch.bmm(deltas[layer], ws[layer])
        fwd[name] = torch.stack([z.var(dim=(1, 2)) for z in zs], 1).numpy().astype(float)
        bwd[name] = torch.stack([d.var(dim=(1, 2)) for d in deltas], 1).numpy().astype(float)
    return VarianceProfile(dict(configs), depth, width, fwd, bwd, n_inputs, seeds)


def study(init_width: int, init_depth: int, init_inputs: int, init_seeds: int) -> VarianceProfile:
    """:func:`measure` of every config of ``CONFIGS``, at the vanishing-gradients chapter's parameters."""
    return measure(CONFIGS, init_width, init_depth, init_inputs, init_seeds)


def measure_cost(n_configs: int, width: int, depth: int, n_inputs: int, seeds: int) -> tuple[float, float]:
    """(seconds, bytes) of :func:`measure`: per config ``depth`` float32 layers of seeds x inputs x
    width kept (pre-activations, errors and their products) with their weights, forward and back."""
    from actlab import workload

    per_layer = seeds * (4 * n_inputs * width + width * width)
    seconds = n_configs * depth * (3 * workload.MAC_S * seeds * n_inputs * width * width + 2e-8 * seeds * width * width
                                   + 4 * workload.UNIT_S * seeds * n_inputs * width)
    return seconds, workload.SLACK * 4 * depth * per_layer


def mean_field(act: str, v: float, depth: int, q1: float | None = None, n_nodes: int = 80) -> tuple:
    """The same recursions with f's exact Gaussian moments instead of the linear gains:
    q_(l+1) = v E[f(sqrt(q_l) x)^2], and the backward factor v E[f'(sqrt(q_l) x)^2] at layer l,
    x standard normal. Returns (q_l for l = 1..depth, backward factor at each layer)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    weights = weights / weights.sum()
    fn = functions.get(act)
    moment = lambda g, q: float(weights @ g(torch.as_tensor(np.sqrt(q) * nodes)).numpy() ** 2)
    q = [v if q1 is None else q1]
    for _ in range(depth - 1):
        q.append(v * moment(fn, q[-1]))
    back = [v * moment(fn.derivative, qi) for qi in q]
    return np.array(q), np.array(back)


def variance_figure(profile: VarianceProfile):
    """Two panels, forward Var z^(l) and backward Var dL/dz^(l) against layer (log scale):
    dots the measured median over seeds, lines the linear theory's prediction."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    from actlab.plotting import NEUTRAL, color, figure, finish

    marks = {"tanh, Xavier": ("o", "-"), "tanh, standard": ("s", "--"), "ReLU, He": ("^", "-"),
             "ReLU, Xavier": ("v", "--"), "ReLU, 2 × He": ("D", ":")}
    fig, axes = figure(1, 2, width=7.0, height=3.6, sharex=True)
    layers = np.arange(1, profile.depth + 1)
    for ax, (title, meas, pred, mf) in zip(axes[0], (
            ("forward: Var z⁽ˡ⁾", profile.forward, profile.predicted_forward, profile.mean_field_forward),
            ("backward: Var ∂ℒ/∂z⁽ˡ⁾", profile.backward, profile.predicted_backward,
             profile.mean_field_backward)), strict=True):
        for name, (act, _) in profile.configs.items():
            m, ls = marks.get(name, ("o", "-"))
            ax.plot(layers, pred(name), color=color(act), linestyle=ls, linewidth=1.2)
            if LINEAR_GAIN[act] != 0.5:  # ReLU's mean field is its linear theory
                ax.plot(layers, mf(name), color=NEUTRAL, linestyle=":", linewidth=1.2)
            ax.plot(layers, np.median(meas[name], 0), m, color=color(act), markersize=4, linestyle="none")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("hidden layer l (1 = input side)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("variance (log scale)")
    handles = [Line2D([], [], color=color(act), marker=marks.get(n, ("o", "-"))[0], markersize=4,
                      linestyle=marks.get(n, ("o", "-"))[1], label=n) for n, (act, _) in profile.configs.items()]
    handles.append(Line2D([], [], color=NEUTRAL, linestyle=":", label="tanh: mean field"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3,
               title="dots: measured (median of seeds); lines: linear theory")
    return finish(fig)


def factor_table(profile: VarianceProfile) -> str:
    """Markdown: per config, v = n Var(W), the linear theory's per-layer factor v c and the
    measured per-layer factors forward and backward (medians over seeds)."""
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    rows = [[name, fmt(v), fmt(profile.factor(name)), fmt(profile.measured_factor(name, "forward")),
             fmt(profile.measured_factor(name, "backward"))] for name, (_, v) in profile.configs.items()]
    return markdown_table(["activation, initialisation", "n Var W", "predicted factor per layer",
                           "measured, forward", "measured, backward"], rows)


KEYS = {"tanh, Xavier": "tanh_xavier", "tanh, standard": "tanh_standard", "ReLU, He": "relu_he",
        "ReLU, Xavier": "relu_xavier", "ReLU, 2 × He": "relu_2he"}
