"""Breaking symmetry: why the weights start random, not at zero or at one shared value.

Two hidden units with the same incoming and the same outgoing weights compute the same output
and receive the same gradient, so every update keeps them equal: a layer started that way stays
one unit repeated. :func:`run` trains MLPs from three starts, all members of one activation in one
batched ensemble: every weight zero; every weight one shared value (1/fan-in, so each unit
averages its inputs); and the activation's recommended random start. It then counts what the
first layer became: its numerical rank, and how many of its units are distinct.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actlab import data, functions
from actlab.ensemble import Ensemble, Member, fit
from actlab.verdicts import Measure, bootstrap

STARTS = ("zero", "constant", "random")
RANK_TOL = 1e-6  # singular values under this share of the largest count as zero (float32 rounding is ~1e-7)


def starts_(ens: Ensemble, members: list[Member]) -> Ensemble:
    """Overwrite, in place, each member's weights for its ``tag["start"]``: "zero" sets every
    weight and bias to 0, "constant" every weight of a layer to 1/fan-in and every bias to 0,
    "random" keeps the ensemble's own draw. Returns ens."""
    with torch.no_grad():
        for blk in ens.blocks:
            for k, i in enumerate(blk.idx):
                start = members[i].tag["start"]
                if start == "random":
                    continue
                for w, b in zip(blk.weights, blk.biases, strict=True):
                    w[k].fill_(0.0 if start == "zero" else 1.0 / w.shape[1])
                    b[k].zero_()
    return ens


def first_layer(ens: Ensemble) -> list[torch.Tensor]:
    """Each member's first weight matrix, (units, inputs), in member order."""
    out = [None] * len(ens)
    for blk in ens.blocks:
        for k, i in enumerate(blk.idx):
            out[i] = blk.weights[0][k].detach().T.clone()
    return out


def rank(w: torch.Tensor) -> int:
    """Numerical rank: singular values above :data:`RANK_TOL` times the largest (0 for all zeros)."""
    s = torch.linalg.svdvals(w.double())
    return 0 if s[0] == 0 else int((s > RANK_TOL * s[0]).sum())


def distinct_units(w: torch.Tensor) -> int:
    """How many rows (units) differ: rows equal to within 1e-6 of the largest weight count once."""
    scale = float(w.abs().max()) or 1.0
    return len(np.unique(np.round(w.double().numpy() / scale, 6), axis=0))


@dataclass
class Symmetry:
    """Per (activation, start): per seed, the first layer's rank and distinct units after
    training, and the test error."""
    activations: list[str]
    width: int
    rank: dict       # (activation, start) -> (seeds,)
    distinct: dict
    test_error: dict

    def error(self, act: str, start: str) -> Measure:
        return bootstrap(self.test_error[act, start])


def run(activations: list[str], *, width: int, depth: int, seeds: int, steps: int, lr: float) -> Symmetry:
    """Train on digits for ``steps`` minibatch steps of SGD with momentum 0.9 at rate ``lr`` (the
    same for every start: a symmetric start stays symmetric at any rate), ``depth`` hidden layers
    of ``width`` units, and measure each member's first layer."""
    X, y = data.digits("train", dtype=torch.float32)
    Xt, yt = data.digits("test", dtype=torch.float32)
    ranks, distinct, errors = {}, {}, {}
    for act in activations:
        fn = functions.get(act)  # the random start is the activation's recommended one
        members = [Member(act, (width,) * depth, seed=s, lr=lr, init=fn.init, gain=fn.gain, tag={"start": start})
                   for start in STARTS for s in range(seeds)]
        ens = starts_(Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=X.dtype), members)
        fit(ens, X, y, loss="xent", steps=steps, optimizer="sgd", momentum=0.9, batch_size=64)
        with torch.no_grad():
            wrong = (ens(Xt).argmax(-1) != yt).float().mean(-1).numpy()
        w1 = first_layer(ens)
        for j, start in enumerate(STARTS):
            part = slice(j * seeds, (j + 1) * seeds)
            ranks[act, start] = np.array([rank(w) for w in w1[part]])
            distinct[act, start] = np.array([distinct_units(w) for w in w1[part]])
            errors[act, start] = wrong[part]
    return Symmetry(list(activations), width, ranks, distinct, errors)


def metrics(sym: Symmetry) -> dict:
    """``sym_rank_ACT_START`` and ``sym_distinct_ACT_START`` (the largest over seeds: a single seed
    that broke symmetry would show), and the test error ``sym_error_ACT_START`` with its interval."""
    from actlab.verdicts import measure_metrics

    out = {}
    for (act, start), r in sym.rank.items():
        out[f"sym_rank_{act}_{start}"] = int(r.max())
        out[f"sym_distinct_{act}_{start}"] = int(sym.distinct[act, start].max())
        out |= measure_metrics(f"sym_error_{act}_{start}", sym.error(act, start))
    return out


def table(sym: Symmetry) -> str:
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    rows = []
    for act in sym.activations:
        for start in STARTS:
            e = sym.error(act, start)
            rows.append([functions.get(act).label, start, str(int(sym.rank[act, start].max())),
                         f"{int(sym.distinct[act, start].max())} of {sym.width}",
                         f'{fmt(e.value)} <span class="actlab-nowrap">({fmt(e.lo)}–{fmt(e.hi)})</span>'])
    return markdown_table(["function", "start", "rank of the first layer", "distinct units", "test error"], rows)


def run_cost(n_activations: int, *, width: int, depth: int, seeds: int, steps: int) -> tuple[float, float]:
    """(seconds, bytes) of :func:`run`: one ensemble per activation of every start and seed."""
    from actlab import workload

    net = workload.mlp(64, (width,) * depth, 10)
    s, b = workload.fit(net, len(STARTS) * seeds, 64, steps, optimizer="momentum")
    return n_activations * s, b
