"""The MNIST-1D chapter's speed sweeps, the evidence cell ``mnist1d-speed``: the MNIST-1D paper's
small CNN (Greydanus 2020) with each activation, its learning rate tuned, under SGD with momentum
and under Adam, and an MLP beside it (``convergence.run`` does the training); the sweeps as stored
data and back. Apart from the chapter's other helpers (``mnist1dcnn``: the deep MLPs, timings,
tables, figures), so that the cell's key covers the training code and nothing else.
"""
from __future__ import annotations

import numpy as np
import torch

from actlab import convergence, ensemble
from actlab import deadunits as du
from actlab.ensemble import Ensemble
from actlab.speedsweeps import speed_sweep_data, speed_sweep_from

ACTIVATIONS = ("sigmoid", "tanh", "relu")
# each activation with its recommended initialisation, as in the ReLU chapter's speed comparison
INIT = {"sigmoid": "xavier", "tanh": "xavier", "relu": "kaiming"}
CNN_LAYERS = len(ensemble.MNIST1D_CONV)  # the paper's CNN: three conv layers, then a linear read-out


def cnn(channels: int = 25):
    """A ``network`` for :func:`actlab.convergence.run`: the paper's CNN with the given activation,
    learning rate, seed and initialisation (the sweep's depth only labels it)."""
    return lambda act, depth, lr, seed, init: ensemble.mnist1d_cnn(act, seed=seed, lr=lr, init=init, channels=channels)


def dead_channels(X: torch.Tensor, chunk: int = 250):
    """An ``inspect`` for :func:`actlab.convergence.run`: per member, the share of each conv layer's
    channels that are dead on every position of every row of X, (members, layers)."""
    def inspect(ens: Ensemble) -> np.ndarray:
        return np.stack([m.mean(1) for m in du.dead_mask(ens, X, chunk)], 1)
    return inspect


def speed_sweep(activations, lrs, seeds: int, X, y, held_out: tuple, *, epochs: int, target: float,
                optimizer: str = "sgd", momentum: float = 0.9, tune_rounds: int = 1, eval_every: int = 32,
                eval_examples: int = 500, batch_size: int = 64, channels: int = 25,
                init: str | None = None) -> convergence.SpeedSweep:
    """Epochs to ``target`` error for every activation in the CNN, its learning rate tuned on the
    training target (the grid extended by 3 while the best is on an edge, or, when no rate reached
    the target, towards larger rates: at most ``tune_rounds`` times, each round one batched sweep),
    and the dead channels of every run at its end. float32: twice as fast as float64 for conv layers.
    ``init``: one scheme for every activation (default: each its recommended one, ``INIT``).
    :func:`speed` reads it as a :class:`~actlab.convergence.TunedSpeed`."""
    return convergence.run(list(activations), [CNN_LAYERS], list(lrs), seeds, X.float(), y, epochs=epochs,
                           batch_size=batch_size, target=target, momentum=momentum,
                           init={a: init or INIT[a] for a in activations}, eval_every=eval_every,
                           eval_examples=eval_examples, held_out=(held_out[0].float(), held_out[1]),
                           tune_rounds=tune_rounds, network=cnn(channels), optimizer=optimizer,
                           inspect=dead_channels(X.float()), dtype=torch.float32)


def speed(activations, lrs, seeds: int, X, y, held_out: tuple, **kw) -> convergence.TunedSpeed:
    """:func:`speed_sweep`, tuned: each activation's rate and its runs (``kw`` as there)."""
    return convergence.tuned_from_sweep(speed_sweep(activations, lrs, seeds, X, y, held_out, **kw), lrs)


# ---------------------------------------------------------------- the speed sweeps, as stored data

# The chapter's parameters of its expensive sweeps: the evidence cell "mnist1d-speed" (actlab.evidence)
SPEED_PARAMS = ("n_train", "n_test", "speed_lrs", "speed_seeds", "speed_epochs", "speed_target", "tune_rounds",
                "eval_every", "eval_examples", "adam_lrs", "mlp_width", "mlp_lr")
PARTS = ("sgd", "adam", "mlp", "he")  # each trains as its own ensembles: a part is a spot check's block
HE_RERUN = ("sigmoid", "tanh")  # the functions the "he" part trains again with He's (ReLU's) initialisation


def speed_data(*, n_train: int, n_test: int, speed_lrs, speed_seeds: int, speed_epochs: int, speed_target: float,
               tune_rounds: int, eval_every: int, eval_examples: int, adam_lrs, mlp_width: int, mlp_lr: float,
               parts=PARTS, device: str = "cpu") -> dict:
    """The chapter's sweeps on the first ``n_train`` and ``n_test`` MNIST-1D signals, as data (the
    evidence cell ``mnist1d-speed``; seeded here as the chapter seeds itself): "sgd", every activation
    of the CNN with SGD with momentum, its rate tuned; "adam", the ReLU CNN with Adam, tuned the
    same way; "mlp", a ReLU MLP of two hidden layers of ``mlp_width`` units with Adam at ``mlp_lr``;
    "he", the sigmoid and tanh as in "sgd" but with ReLU's (He's) initialisation instead of Xavier's.
    Each is :func:`speedsweeps.speed_sweep_data` of its sweep: per run, the error curves at every evaluation, the final
    loss and the dead channels. ``parts`` computes some of them only (a spot check's block)."""
    from actlab import data
    from actlab.seeding import deterministic

    if device != "cpu":
        raise ValueError(f"the MNIST-1D sweeps train on the CPU only (actlab.ensemble has no device support); got {device!r}")
    deterministic(0)
    x, y, xt, yt = data.mnist1d(n_train, n_test, dtype=torch.float32)
    kw = dict(epochs=speed_epochs, target=speed_target, tune_rounds=tune_rounds, eval_every=eval_every,
              eval_examples=eval_examples)
    out = {}
    if "sgd" in parts:
        out["sgd"] = speed_sweep_data(speed_sweep(ACTIVATIONS, speed_lrs, speed_seeds, x, y, (xt, yt), optimizer="sgd", **kw))
    if "adam" in parts:
        out["adam"] = speed_sweep_data(speed_sweep(["relu"], adam_lrs, speed_seeds, x, y, (xt, yt), optimizer="adam", **kw))
    if "he" in parts:
        out["he"] = speed_sweep_data(speed_sweep(HE_RERUN, speed_lrs, speed_seeds, x, y, (xt, yt), optimizer="sgd",
                                                 init="kaiming", **kw))
    if "mlp" in parts:
        out["mlp"] = speed_sweep_data(convergence.run(["relu"], [2], [mlp_lr], speed_seeds, x, y, width=mlp_width,
                                                epochs=speed_epochs, target=speed_target, optimizer="adam",
                                                eval_every=eval_every, eval_examples=eval_examples, held_out=(xt, yt)))
    return out


def he_speed(data: dict, speed_lrs) -> convergence.TunedSpeed:
    """The "he" part of :func:`speed_data`: the sigmoid and tanh with He's initialisation, tuned."""
    return convergence.tuned_from_sweep(speed_sweep_from(data["he"]), speed_lrs)


def speed_parts(data: dict, parts) -> dict:
    """The parts of stored ``speed_data`` that ``speed_data(..., parts=parts)`` recomputes."""
    return {p: data[p] for p in parts}


def speeds(data: dict, speed_lrs, adam_lrs) -> tuple[convergence.TunedSpeed, convergence.TunedSpeed,
                                                     convergence.SpeedSweep]:
    """The chapter's three results from :func:`speed_data`: SGD's and Adam's tuned speeds (their
    grids before tuning are ``speed_lrs`` and ``adam_lrs``) and the MLP's sweep."""
    return (convergence.tuned_from_sweep(speed_sweep_from(data["sgd"]), speed_lrs),
            convergence.tuned_from_sweep(speed_sweep_from(data["adam"]), adam_lrs), speed_sweep_from(data["mlp"]))
