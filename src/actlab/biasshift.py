"""Bias shift: how far each layer's output sits from zero, in units of its own spread, at
initialisation and after training, and what that offset does to the next layer's learning.

Clevert et al. (2015) argue that a unit whose outputs have a non-zero mean acts on the next
layer like a bias that gradient descent must work around; LeCun et al. (1998) give the
curvature form of the same argument. For a linear layer fed by inputs h, the curvature of its
squared error in weight space is E[h hᵀ] = Cov(h) + μ μᵀ: the mean adds one direction of large
curvature. ``inflation`` = λ_max(E[h hᵀ]) ÷ λ_max(Cov(h)) is the factor by which it raises the
largest curvature, so the factor by which it lowers the largest stable learning rate for that
layer (1 for zero-mean inputs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actlab.ensemble import Ensemble, Member, fit
from actlab.stored import array_data, array_from


@dataclass
class BiasShift:
    activations: list[str]
    seeds: int
    offset: dict     # {"init"|"trained": (acts, seeds, layers)} mean ÷ std of each layer's outputs
    inflation: dict  # {"init"|"trained": (acts, seeds, layers)} λmax(E[hhᵀ]) ÷ λmax(Cov h)
    loss: np.ndarray           # (acts, seeds) final training loss
    test_error: np.ndarray     # (acts, seeds) held-out error after training
    steps: int
    curve_steps: np.ndarray | None = None  # (checks,) the steps at which the training loss was kept
    loss_curve: np.ndarray | None = None   # (acts, seeds, checks) training loss (the minibatch's) there

    def to_data(self) -> dict:
        """Plain JSON for the evidence store; :meth:`from_data` gives back the same bits."""
        arr = {f"{k}_{when}": array_data(getattr(self, k)[when]) for k in ("offset", "inflation") for when in WHEN}
        return {"activations": list(self.activations), "seeds": int(self.seeds), "steps": int(self.steps),
                "loss": array_data(self.loss), "test_error": array_data(self.test_error),
                "curve_steps": array_data(self.curve_steps), "loss_curve": array_data(self.loss_curve)} | arr

    @classmethod
    def from_data(cls, d: dict) -> BiasShift:
        by_when = lambda k: {when: array_from(d[f"{k}_{when}"]) for when in WHEN}
        return cls(list(d["activations"]), d["seeds"], by_when("offset"), by_when("inflation"), array_from(d["loss"]),
                   array_from(d["test_error"]), d["steps"], array_from(d["curve_steps"]), array_from(d["loss_curve"]))


WHEN = ("init", "trained")
CURVE_CHECKS = 20  # about this many points of each run's training loss are kept


def layer_stats(post: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """(offset, inflation), each (members, layers), from each layer's outputs (members, B, width).

    offset: mean over all examples and units ÷ their standard deviation (0 for a layer that is
    constant, i.e. dead: no spread to compare with); nan for a member whose outputs are not
    finite (a diverged run)."""
    off, inf = [], []
    for h in post:
        h = h.double()
        bad = ~torch.isfinite(h).all(2).all(1)
        h = torch.where(bad[:, None, None], torch.zeros_like(h), h)
        mu, sd = h.mean(dim=(1, 2)), h.std(dim=(1, 2))
        off.append(torch.where(sd > 0, mu / sd.clamp_min(1e-300), torch.zeros_like(mu)))
        m = h.mean(1, keepdim=True)
        second = h.transpose(1, 2) @ h / h.shape[1]
        cov = second - m.transpose(1, 2) @ m
        top2 = torch.linalg.eigvalsh(second)[:, -1]
        topc = torch.linalg.eigvalsh(cov)[:, -1]
        inf.append(torch.where(topc > 0, top2 / topc.clamp_min(1e-300), torch.full_like(top2, float("nan"))))
        off[-1][bad], inf[-1][bad] = float("nan"), float("nan")
    return torch.stack(off, 1).numpy(), torch.stack(inf, 1).numpy()


def measure(activations, widths, seeds: int, X, y, held_out: tuple, *, lr: float, epochs: int,
            batch_size: int = 64, momentum: float = 0.9, init: str = "kaiming", probe: int = 512) -> BiasShift:
    """Every activation x seed as one ensemble: layer statistics on ``probe`` training examples
    before and after ``epochs`` of SGD with momentum."""
    members = [Member(a, tuple(widths), seed=s, lr=lr, init=init) for a in activations for s in range(seeds)]
    ens = Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=X.dtype)
    xp = X[:probe]
    shape = (len(activations), seeds, len(widths))

    def stats():
        with torch.no_grad():
            _, _, post = ens.hidden(xp)
        o, i = layer_stats(post)
        return o.reshape(shape), i.reshape(shape)

    before = stats()
    steps = epochs * -(-len(y) // batch_size)
    every = max(1, steps // CURVE_CHECKS)  # logging the loss changes no number
    hist = fit(ens, X, y, loss="xent", steps=steps, optimizer="sgd", momentum=momentum,
               batch_size=batch_size, log_every=every)
    curve_steps = np.array([k for k in range(1, steps + 1) if k % every == 0 or k == steps])
    after = stats()
    with torch.no_grad():
        err = (ens(held_out[0].to(X.dtype)).argmax(-1) != held_out[1]).double().mean(1).numpy()
    return BiasShift(list(activations), seeds, {"init": before[0], "trained": after[0]},
                     {"init": before[1], "trained": after[1]}, hist[-1].reshape(shape[:2]),
                     err.reshape(shape[:2]), steps, curve_steps, hist.T.reshape(*shape[:2], -1))


# ---------------------------------------------------------------- the ReLU chapter's measurement, as stored data

# The ReLU chapter's two settings: {title: (initialisation, learning rate)}, one rate for all activations
SETTINGS = {"default init": ("default", 0.05), "Kaiming init": ("kaiming", 0.02)}
RELU_SHIFT_PARAMS = ("shift_activations", "shift_depth", "shift_width", "shift_epochs", "shift_seeds")


def relu_shift_data(*, shift_activations, shift_depth: int, shift_width: int, shift_epochs: int, shift_seeds: int,
                    settings=tuple(SETTINGS), device: str = "cpu") -> dict:
    """The ReLU chapter's bias-shift measurement (evidence cell ``relu-bias-shift``): :func:`measure`
    on digits in float32, ``shift_depth`` hidden layers of ``shift_width`` units, in each of
    ``SETTINGS`` (each its own ensemble: ``settings`` picks some, a spot check's block), as data.
    Seeded here as the chapter seeds itself."""
    from actlab import data
    from actlab.seeding import deterministic

    if device != "cpu":
        raise ValueError(f"the bias-shift runs train on the CPU only (actlab.ensemble has no device support); got {device!r}")
    deterministic(0)
    X, y = data.digits("train")
    held = data.digits("test")
    return {name: measure(list(shift_activations), [shift_width] * shift_depth, shift_seeds, X.float(), y, held,
                          lr=SETTINGS[name][1], epochs=shift_epochs, init=SETTINGS[name][0]).to_data()
            for name in settings}


def shift_part(data: dict, settings) -> dict:
    """The part of stored ``relu_shift_data`` that ``relu_shift_data(..., settings=...)`` recomputes."""
    return {name: data[name] for name in settings}


def shifts_from(data: dict) -> dict:
    """{title: BiasShift} from :func:`relu_shift_data`, in the order of ``SETTINGS``."""
    return {name: BiasShift.from_data(data[name]) for name in SETTINGS if name in data}


# layer_stats, measured with 30 networks of eight layers of 384 units: 16 ms for the eigenvalues of one
# 384 x 384 float64 matrix (two per layer per network), about w^3 x 2.8e-10 s.
EIGEN_S = 4e-10         # per width^3 of one symmetric eigenvalue problem


def measure_cost(n_activations: int, widths, seeds: int, n: int, n_test: int, *, epochs: int, batch_size: int = 64,
                 probe: int = 512, n_in: int = 64, n_out: int = 10, itemsize: int = 4) -> tuple[float, float]:
    """(seconds, bytes) of :func:`measure` on ``n`` training and ``n_test`` held-out examples: the
    training, and twice :func:`layer_stats` on ``probe`` examples (float64 copies of each layer, its
    second-moment and covariance matrices and their eigenvalues, per network)."""
    from actlab import workload

    members, probe = n_activations * seeds, min(probe, n)
    net = workload.mlp(n_in, widths, n_out)
    s, b = workload.fit(net, members, batch_size, workload.steps(n, epochs, batch_size), optimizer="momentum",
                        itemsize=itemsize, evals=2, eval_rows=n_test, keep_rows=probe)
    stats = members * sum(2 * workload.MAC_S * probe * w * w + 2 * EIGEN_S * w ** 3 for w in widths)
    w = max(widths)
    held = workload.SLACK * 8 * members * (probe * w * 3 + 4 * w * w)  # beside the kept layers
    return s + 2 * stats, b + held


def offset_figure(shifts: dict):
    """Mean output of each hidden layer (in units of its standard deviation) against the layer,
    before and after training: one row per setting (``{title: BiasShift}``), one column per
    activation. Every seed is a dot (open: at initialisation, filled: after training, set a
    little apart so they do not hide each other); the lines join the medians over seeds
    (dashed: initialisation, solid: trained). Dotted, 1/√(π − 1), a ReLU layer's offset for a
    zero-mean Gaussian input. The legend sits under the panels, off the data."""
    import matplotlib as mpl

    from actlab import plotting

    acts = next(iter(shifts.values())).activations
    fig, axes = plotting.figure(len(shifts), len(acts), width=min(7.0, 2.3 * len(acts) + 0.4),
                                height=2.1 * len(shifts) + 0.7, sharex=True, sharey=True)
    theory = 1 / np.sqrt(np.pi - 1)
    for row, (title, shift) in zip(axes, shifts.items(), strict=True):
        layers = np.arange(1, shift.offset["init"].shape[-1] + 1)
        for ax, act in zip(row, acts, strict=True):
            a = shift.activations.index(act)
            c = plotting.color(act)
            for when, ls, dx, face in (("init", "--", -0.12, "white"), ("trained", "-", 0.12, c)):
                v = shift.offset[when][a]  # (seeds, layers)
                for s in range(v.shape[0]):
                    ax.plot(layers + dx, v[s], "o", markersize=3.5, markerfacecolor=face, markeredgecolor=c,
                            markeredgewidth=0.8, linestyle="none")
                ax.plot(layers + dx, np.nanmedian(v, 0), ls, color=c, linewidth=1.4)
            ax.axhline(0, color=plotting.NEUTRAL, linewidth=0.6)
            ax.axhline(theory, color=plotting.NEUTRAL, linewidth=0.8, linestyle=":")
            ax.set_title(f"{plotting.label(act)}, {title}" if len(shifts) == 1 else plotting.label(act))
            ax.set_xticks(layers, [str(int(v)) for v in layers])
        row[0].set_ylabel(f"{title}\nmean ÷ std")
    for ax in axes[-1]:
        ax.set_xlabel("hidden layer")
    n = plotting.NEUTRAL
    handles = [mpl.lines.Line2D([], [], color=n, linestyle="--", marker="o", markerfacecolor="white",
                                markersize=4, label="at initialisation"),
               mpl.lines.Line2D([], [], color=n, linestyle="-", marker="o", markerfacecolor=n, markersize=4,
                                label="after training"),
               mpl.lines.Line2D([], [], color=n, linestyle=":", label="1/√(π − 1), ReLU of a Gaussian")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3)
    return plotting.finish(fig, narrow_order="columns")  # on a phone, each activation's starts side by side
