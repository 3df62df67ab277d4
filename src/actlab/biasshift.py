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


@dataclass
class BiasShift:
    activations: list[str]
    seeds: int
    offset: dict     # {"init"|"trained": (acts, seeds, layers)} mean ÷ std of each layer's outputs
    inflation: dict  # {"init"|"trained": (acts, seeds, layers)} λmax(E[hhᵀ]) ÷ λmax(Cov h)
    loss: np.ndarray           # (acts, seeds) final training loss
    test_error: np.ndarray     # (acts, seeds) held-out error after training
    steps: int


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
    hist = fit(ens, X, y, loss="xent", steps=steps, optimizer="sgd", momentum=momentum,
               batch_size=batch_size, log_every=steps)
    after = stats()
    with torch.no_grad():
        err = (ens(held_out[0].to(X.dtype)).argmax(-1) != held_out[1]).double().mean(1).numpy()
    return BiasShift(list(activations), seeds, {"init": before[0], "trained": after[0]},
                     {"init": before[1], "trained": after[1]}, hist[-1].reshape(shape[:2]),
                     err.reshape(shape[:2]), steps)


def offset_figure(shifts: dict):
    """Mean ÷ std of each hidden layer's output against the layer, dashed at initialisation,
    solid after training; one panel per setting ({title: BiasShift}), one colour per activation,
    median over seeds with the min-max band."""
    from actlab import plotting

    fig, axes = plotting.figure(1, len(shifts), width=3.4 * len(shifts), height=3.2, sharey=True)
    for ax, (title, shift) in zip(axes[0], shifts.items(), strict=True):
        layers = np.arange(1, shift.offset["init"].shape[-1] + 1)
        for a, act in enumerate(shift.activations):
            c = plotting.color(act)
            for when, style in (("init", "--"), ("trained", "-")):
                v = shift.offset[when][a]  # (seeds, layers)
                ax.plot(layers, np.nanmedian(v, 0), style, marker="o", markersize=3, color=c,
                        label=f"{plotting.label(act)}, {'initial' if when == 'init' else 'trained'}")
                ax.fill_between(layers, np.nanmin(v, 0), np.nanmax(v, 0), color=c, alpha=0.12, linewidth=0)
        ax.axhline(0, color=plotting.NEUTRAL, linewidth=0.6)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("hidden layer")
    axes[0, 0].set_ylabel("mean output ÷ its std")
    axes[0, -1].legend(loc="lower right", fontsize=9, ncol=2)
    return plotting.finish(fig)
