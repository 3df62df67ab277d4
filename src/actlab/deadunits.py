"""Dead units: measured over learning rates and seeds, tracked through training, and at birth.

Definitions used throughout the book:

* A unit is **dead** on a data set when its derivative f'(z) is at most ``DEAD_DERIVATIVE``
  on every example. For ReLU this is exactly the CS231n definition (the unit outputs zero on
  every training example); for functions whose derivative is never exactly zero (leaky ReLU,
  ELU, ...) it means the unit passes back a gradient below 1e-8 of what it receives.
* A unit is **inactive** on a data set when its input is negative (at most 0) on every
  example. For ReLU, inactive and dead are the same; for leaky ReLU, PReLU and ELU an inactive
  unit still passes back a small gradient, so "dead" by the derivative rule is true or false by
  construction, and inactivity is what compares the variants with ReLU.
* A run has **diverged** when its training loss is NaN or infinite; its units are then
  neither dead nor alive, and it is counted separately.
* A network is **born dead** when, at initialisation, its output is the same for every input
  of the domain (it is a constant function, so no gradient can reach its weights).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from actlab import functions
from actlab.ensemble import Ensemble, Member, fit
from actlab.stored import array_data, array_from

DEAD_DERIVATIVE = 1e-8


def dead_mask(ens: Ensemble, X: torch.Tensor, chunk: int | None = None) -> list[np.ndarray]:
    """Per hidden layer, (members, units) bool: dead on every row of X. Member order.

    In a conv layer the unit is a channel: its kernel is shared by every position, so it stops
    learning only when it is dead at every position of every row (a channel that is off at one
    position keeps learning from the others). ``chunk``: rows at a time, to bound the memory of
    every member's every unit on every row (the masks of the chunks are and-ed)."""
    if chunk is not None and len(X) > chunk:
        parts = [dead_mask(ens, X[i:i + chunk]) for i in range(0, len(X), chunk)]
        return [np.logical_and.reduce([p[layer] for p in parts]) for layer in range(len(parts[0]))]
    with torch.no_grad():
        _, pre, _ = ens.hidden(X)
    by_act = {}
    for i, m in enumerate(ens.members):
        by_act.setdefault(m.activation, []).append(i)
    # a contiguous run of members is a slice: a view, where a list of indices copies every
    # member's every unit on every row (most sweeps have one activation: the whole tensor)
    by_act = {a: slice(idx[0], idx[-1] + 1) if idx[-1] - idx[0] == len(idx) - 1 else idx for a, idx in by_act.items()}
    slopes = torch.from_numpy(ens.prelu_slopes())  # learned PReLU slopes replace the registry's 0.25
    out = []
    for layer, z in enumerate(pre):
        dead = torch.empty(z.shape[0], *z.shape[2:], dtype=torch.bool)
        for act, idx in by_act.items():
            zi = z[idx]
            if functions.get(act).learnable:
                a = slopes[idx, layer].to(z.dtype).reshape(-1, *[1] * (z.dim() - 1))  # dense or conv layer
                d = torch.where(zi > 0, torch.ones_like(zi), a.expand_as(zi))
            else:
                d = functions.get(act).derivative(zi)
            dead[idx] = (d.abs_() <= DEAD_DERIVATIVE).all(1)
        out.append((dead.all(-1) if dead.dim() == 3 else dead).numpy())  # conv: (members, channels, length)
    return out


@dataclass
class DeadSweep:
    activations: list[str]
    lrs: list[float]
    seeds: int
    widths: tuple
    dead: np.ndarray        # (acts, lrs, seeds, layers): dead fraction at the end; nan if diverged
    diverged: np.ndarray    # (acts, lrs, seeds) bool
    ever_dead: np.ndarray   # (acts, lrs, seeds, layers): units that died during training (count)
    revived: np.ndarray     # (acts, lrs, seeds, layers): of those, alive at a later checkpoint
    # (see deaths_and_revivals: units dead from the first check on are in neither)
    final_loss: np.ndarray  # (acts, lrs, seeds)
    inactive: np.ndarray | None = None  # (acts, lrs, seeds, layers): inactive fraction at the end; nan if diverged
    check_steps: np.ndarray | None = None  # (checks,) the step of each check, 0 (before training) first
    dead_curve: np.ndarray | None = None   # (acts, lrs, seeds, checks): dead fraction of all hidden units
    loss_curve: np.ndarray | None = None   # (acts, lrs, seeds, checks - 1): training loss at each check after 0

    def to_data(self) -> dict:
        """Plain JSON for the evidence store (every array with its dtype: :meth:`from_data` gives
        back the same bits): per run (activation, learning rate, seed) its outcome at the end, its
        dead share and training loss at each check, never weights."""
        arrays = ("dead", "diverged", "ever_dead", "revived", "final_loss", "inactive", "check_steps", "dead_curve",
                  "loss_curve")
        return {"activations": list(self.activations), "lrs": [float(v) for v in self.lrs], "seeds": int(self.seeds),
                "widths": [int(w) for w in self.widths]} | {k: array_data(getattr(self, k)) for k in arrays}

    @classmethod
    def from_data(cls, d: dict) -> DeadSweep:
        arrays = {k: array_from(v) for k, v in d.items() if isinstance(v, dict)}
        return cls(list(d["activations"]), list(d["lrs"]), d["seeds"], tuple(d["widths"]), **arrays)

    def fraction(self) -> np.ndarray:
        """Dead fraction over all hidden units, (acts, lrs, seeds); nan where diverged."""
        w = np.array(self.widths, float)
        return (self.dead * w).sum(-1) / w.sum()

    def inactive_fraction(self) -> np.ndarray:
        """Inactive fraction over all hidden units, (acts, lrs, seeds); nan where diverged."""
        w = np.array(self.widths, float)
        return (self.inactive * w).sum(-1) / w.sum()

    def stable_lr(self, *acts: str) -> int | None:
        """Index of the largest learning rate at which no seed of any of ``acts`` diverged."""
        rows = [self.activations.index(a) for a in acts]
        ok = [j for j in range(len(self.lrs)) if not self.diverged[rows, j].any()]
        return ok[-1] if ok else None

    def first_lr_above(self, act: str, level: float = 0.4) -> float:
        """Smallest learning rate whose median dead fraction (finite runs only) exceeds ``level``,
        with at least half the seeds finite; nan if none."""
        a = self.activations.index(act)
        f = self.fraction()[a]
        for j, lr in enumerate(self.lrs):
            finite = ~self.diverged[a, j]
            if finite.sum() * 2 >= self.seeds and np.median(f[j][finite]) > level:
                return lr
        return float("nan")


def sweep(activations, lrs, seeds: int, X, y, *, widths=(64, 64, 64), epochs: int = 10,
          batch_size: int = 64, checkpoints: int = 10, init: str = "default") -> DeadSweep:
    """Train every activation x learning rate x seed (plain SGD) on (X, y), checking every unit
    on the whole of X at ``checkpoints`` evenly spaced points.

    One batched ensemble per activation (learning rates x seeds): every member is its own
    network, so the results are those of one big ensemble, while the peak memory (every unit
    on every example, for every member, at each check) is a quarter of it for four activations."""
    parts = [_sweep(a, lrs, seeds, X, y, widths=widths, epochs=epochs, batch_size=batch_size,
                    checkpoints=checkpoints, init=init) for a in activations]
    cat = lambda field: np.concatenate([getattr(p, field) for p in parts])
    return DeadSweep(list(activations), list(lrs), seeds, tuple(widths), cat("dead"), cat("diverged"),
                     cat("ever_dead"), cat("revived"), cat("final_loss"), cat("inactive"), parts[0].check_steps,
                     cat("dead_curve"), cat("loss_curve"))


# A check of every unit (dead_mask: every layer kept on all rows, then each unit's derivative on
# each), measured (CPU time): about 7 ns per network x row x hidden unit in the ReLU chapter's sweep
# (112 networks of 64-64-64 on 1,438 rows), about 11 ns for the ReLU variants' (ELU's and PReLU's
# derivatives cost more).
CHECK_VALUE_S = 1.5e-8


def sweep_cost(n_activations: int, n_lrs: int, seeds: int, n: int, *, widths=(64, 64, 64), epochs: int = 10,
               batch_size: int = 64, checkpoints: int = 10, n_in: int = 64, n_out: int = 10,
               itemsize: int = 4) -> tuple[float, float]:
    """(seconds, bytes) of :func:`sweep` on ``n`` examples: per activation one ensemble of rates x
    seeds, every unit kept on all ``n`` examples at each check (elementwise activations). The
    activations run one after another, but the heap one leaves is not all reused by the next: the
    ReLU variants' four (ReLU, leaky ReLU, PReLU, ELU) measured 375 and 760 MB where one's estimate is
    150 and 600 MB, so up to three activations count as held at once."""
    from actlab import workload

    net, members = workload.mlp(n_in, widths, n_out), n_lrs * seeds
    s, b = workload.fit(net, members, batch_size, workload.steps(n, epochs, batch_size), itemsize=itemsize,
                        keep_rows=n)
    checks = (checkpoints + 3) * CHECK_VALUE_S * itemsize / 4 * members * n * sum(widths)
    return n_activations * (s + checks), min(n_activations, 3) * b


def _sweep(activation, lrs, seeds: int, X, y, *, widths, epochs, batch_size, checkpoints, init) -> DeadSweep:
    activations = [activation]
    members = [Member(a, tuple(widths), seed=s, lr=lr, init=init)
               for a in activations for lr in lrs for s in range(seeds)]
    ens = Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=X.dtype)
    per_epoch = -(-len(y) // batch_size)
    steps = epochs * per_epoch
    every = max(1, steps // checkpoints)
    history = [dead_mask(ens, X)]
    hist = fit(ens, X, y, loss="xent", steps=steps, optimizer="sgd", batch_size=batch_size,
               log_every=every, callback=lambda step, e: history.append(dead_mask(e, X)))
    final = hist[-1]
    diverged = ~np.isfinite(final) | _nonfinite_members(ens)  # NaN weights count too
    with torch.no_grad():
        _, pre, _ = ens.hidden(X)
    inactive = np.stack([(z <= 0).all(1).double().mean(1).numpy() for z in pre], -1)
    inactive[diverged] = np.nan
    shape = (len(activations), len(lrs), seeds)
    n_layers = len(widths)
    dead = np.stack([history[-1][l].mean(1) for l in range(n_layers)], -1).astype(float)
    dead[diverged] = np.nan
    ever = np.zeros((len(members), n_layers))
    rev = np.zeros((len(members), n_layers))
    for l in range(n_layers):
        died, came_back = deaths_and_revivals(np.stack([h[l] for h in history]))
        ever[:, l] = died.sum(1)
        rev[:, l] = came_back.sum(1)
    ever[diverged] = np.nan
    rev[diverged] = np.nan
    w = np.array(widths, float)  # each check's dead share of all hidden units, as fraction() takes it
    dead_curve = np.stack([sum(h[l].sum(1) for l in range(n_layers)) / w.sum() for h in history], -1)
    check_steps = np.array([0] + [k for k in range(1, steps + 1) if k % every == 0 or k == steps])
    return DeadSweep(list(activations), list(lrs), seeds, tuple(widths), dead.reshape(*shape, n_layers),
                     diverged.reshape(shape), ever.reshape(*shape, n_layers), rev.reshape(*shape, n_layers),
                     final.reshape(shape), inactive.reshape(*shape, len(widths)), check_steps,
                     dead_curve.reshape(*shape, -1), hist.T.reshape(*shape, -1))


# ---------------------------------------------------------------- the chapters' sweeps, as stored data

RELU_DEAD_PARAMS = ("dead_lrs", "dead_seeds", "dead_epochs", "widths")  # the cell relu-dead-units
VARIANTS_DEAD_PARAMS = ("dead_activations", "dead_lrs", "dead_seeds", "dead_epochs")  # variants-dead-units


def relu_dead_data(*, dead_lrs, dead_seeds: int, dead_epochs: int, widths, device: str = "cpu") -> dict:
    """The ReLU chapter's dead-unit sweep (evidence cell ``relu-dead-units``): ReLU networks of
    hidden ``widths`` trained on digits with plain SGD at every rate of ``dead_lrs``, as data."""
    return _dead_data(["relu"], dead_lrs, dead_seeds, dead_epochs, widths, device)


def variants_dead_data(*, dead_activations, dead_lrs, dead_seeds: int, dead_epochs: int, device: str = "cpu") -> dict:
    """The variants chapter's sweep (evidence cell ``variants-dead-units``): every activation of
    ``dead_activations`` in networks of three hidden layers of 64 units, as for ReLU."""
    return _dead_data(dead_activations, dead_lrs, dead_seeds, dead_epochs, (64, 64, 64), device)


def _dead_data(activations, lrs, seeds, epochs, widths, device) -> dict:
    """:func:`sweep` on digits' training split in float32, seeded here as the chapters seed themselves."""
    from actlab import data
    from actlab.seeding import deterministic

    if device != "cpu":
        raise ValueError(f"the dead-unit sweeps train on the CPU only (actlab.ensemble has no device support); got {device!r}")
    deterministic(0)
    X, y = data.digits("train")
    return sweep(list(activations), list(lrs), seeds, X.float(), y, widths=tuple(widths), epochs=epochs).to_data()


def dead_part(data: dict, dead_activations=None, dead_lrs=None, **_) -> dict:
    """The part of stored sweep data that the cell recomputes with ``dead_activations`` or
    ``dead_lrs`` narrowed (a spot check's block: each activation trains as its own ensemble, and
    every run of it is its own network, so a block repeats the stored runs)."""
    sw = DeadSweep.from_data(data)
    a = [sw.activations.index(x) for x in (dead_activations or sw.activations)]
    j = [sw.lrs.index(x) for x in (dead_lrs or sw.lrs)]
    cut = lambda v: v[a][:, j]
    return DeadSweep([sw.activations[i] for i in a], [sw.lrs[i] for i in j], sw.seeds, sw.widths, cut(sw.dead),
                     cut(sw.diverged), cut(sw.ever_dead), cut(sw.revived), cut(sw.final_loss), cut(sw.inactive),
                     sw.check_steps, cut(sw.dead_curve), cut(sw.loss_curve)).to_data()


def deaths_and_revivals(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """masks: (checks, members, units), dead or not at each check (the first before training).
    Returns (members, units): the units that died during training (alive at a check, dead at a
    later one) and, of those, the ones alive again at a check after that. A unit dead from the
    first check on never died during training, so it counts in neither."""
    alive_yet = np.logical_or.accumulate(~masks, axis=0)  # alive at this check or an earlier one
    died_by = np.logical_or.accumulate(masks[1:] & alive_yet[:-1], axis=0)  # [i]: died by check i + 1
    return died_by[-1], (died_by[:-1] & ~masks[2:]).any(0)


def _nonfinite_members(ens: Ensemble) -> np.ndarray:
    bad = np.zeros(len(ens), bool)
    for blk in ens.blocks:
        for p in blk.weights + blk.biases:  # NaN anywhere reaches these within a step
            nb = (~torch.isfinite(p.detach().flatten(1))).any(1).numpy()
            bad[blk.idx] |= nb
    return bad


def born_dead(widths, depths, samples: int, *, x_range: float = 1.0, grid: int = 257,
              x0: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo at initialisation of ReLU networks with 1-D input and output, ``depth``
    layers in all (depth - 1 hidden), weights and biases ~ N(0, 2/fan_in) (He et al.'s scale;
    symmetric, as Lu et al. assume).

    Returns (P(born dead on [-x_range, x_range]), P(dead at the single input x0)), each of shape
    (widths, depths). Born dead: some hidden layer is entirely off for every input of the grid,
    so everything after it, the output included, is the same constant. (An exact test: comparing
    outputs would call a network constant once its variation falls below float64's resolution.)
    All ``samples`` networks of a setting are evaluated as one batch."""
    g = torch.Generator().manual_seed(seed)
    xs = torch.cat([torch.linspace(-x_range, x_range, grid, dtype=torch.float64),
                    torch.tensor([x0], dtype=torch.float64)])
    domain = np.zeros((len(widths), len(depths)))
    point = np.zeros_like(domain)
    for i, n in enumerate(widths):
        for j, depth in enumerate(depths):
            h = xs[None, :, None].expand(samples, -1, 1)
            fan_in = 1
            dead_domain = torch.zeros(samples, dtype=torch.bool)
            dead_x0 = torch.zeros(samples, dtype=torch.bool)
            for _ in range(depth - 1):
                std = (2 / fan_in) ** 0.5
                w = torch.randn(samples, fan_in, n, generator=g, dtype=torch.float64) * std
                b = torch.randn(samples, 1, n, generator=g, dtype=torch.float64) * std
                h = torch.relu(torch.baddbmm(b, h, w))
                off = (h == 0).all(-1)  # (samples, inputs): the whole layer is off
                dead_domain |= off[:, :-1].all(1)
                dead_x0 |= off[:, -1]
                fan_in = n
            domain[i, j] = dead_domain.double().mean().item()
            point[i, j] = dead_x0.double().mean().item()
    return domain, point


# born_dead measured (CPU time; widths [2, 3, 4, 5] x depths [2, 4, 8, 16, 32, 50] at 1,000 and 5,000
# samples, width 64 at depths 2 and 10 with 2,000, width 16 at depths 2 and 50 with 5,000): 9 to 10 ns
# per sample x input x unit of a layer for the narrow widths, 14 and 20 ns at 16 and 64 (batched
# float64 matmuls of tiny matrices: the batch, not the multiply-adds, costs); peaks of 92, 365, 875
# and 607 MB (about three float64 copies of the widest layer's values, plus masks and copies of the
# expanded input that weigh most at narrow widths, plus some 50 MB at any size).
BORN_VALUE_S = 1.2e-8    # per sample x input x unit of a layer, float64, at narrow widths
BORN_LAYER_S = 1e-4      # per layer: its few tensor operations
BORN_FIXED_BYTES = 64e6


def born_dead_cost(widths, depths, samples: int, *, grid: int = 257) -> tuple[float, float]:
    """(seconds, bytes) of :func:`born_dead`: every (width, depth) holds a layer's float64 values
    (samples x inputs x width) about three times, their masks, and the weights (samples x width x width)."""
    inputs = grid + 1
    seconds = sum((d - 1) * (BORN_LAYER_S + BORN_VALUE_S * samples * inputs * n * (1 + n / 32))
                  for n in widths for d in depths)
    n = max(widths)
    return seconds, BORN_FIXED_BYTES + 8 * samples * (inputs * (3 * n + 16) + 2 * n * n)


def born_dead_bound(width: int, depth: int) -> float:
    """Dead at one fixed input: some hidden layer has all its units off, each with probability
    2^-N independently given a live input, over depth - 1 hidden layers."""
    return -math.expm1((depth - 1) * math.log1p(-(2.0**-width)))  # stable for wide layers


@dataclass
class BornDead:
    """The born-dead Monte Carlo (:func:`born_dead`) beside the one-input formula, (widths, depths) each."""
    widths: list[int]
    depths: list[int]
    samples: int
    domain: np.ndarray  # share born dead on the whole domain
    point: np.ndarray   # share dead at the one input x0
    bound: np.ndarray   # the formula for being dead at one input (born_dead_bound)

    def to_data(self) -> dict:
        """Plain JSON for the evidence store; :meth:`from_data` gives back the same bits."""
        return {"widths": [int(n) for n in self.widths], "depths": [int(L) for L in self.depths],
                "samples": int(self.samples), "domain": array_data(self.domain), "point": array_data(self.point),
                "bound": array_data(self.bound)}

    @classmethod
    def from_data(cls, d: dict) -> BornDead:
        return cls(list(d["widths"]), list(d["depths"]), d["samples"], array_from(d["domain"]),
                   array_from(d["point"]), array_from(d["bound"]))

    @property
    def metrics(self) -> dict:
        """What the ReLU chapter records of it (its exercise ``born100`` too), by name."""
        from actlab.numbers import fmt
        from actlab.verdicts import wilson

        domain, bound, widths, depths = self.domain, self.bound, self.widths, self.depths
        m = {"born_samples": self.samples, "born_point_vs_bound": float(np.abs(self.point - bound).max())}
        m["born_point_vs_bound_text"] = fmt(m["born_point_vs_bound"], 2)
        for i, n in enumerate(widths):
            m[f"born_w{n}_deepest"], m[f"born_w{n}_shallowest"] = domain[i, -1], domain[i, 0]
        m |= {"born_depth_max": depths[-1], "born_width_min": widths[0], "born_width_max": widths[-1],
              "born_narrow_deepest": domain[0, -1], "born_wide_deepest": domain[-1, -1],
              "born_narrow_deepest_text": fmt(domain[0, -1], 2), "born_wide_deepest_text": fmt(domain[-1, -1], 2),
              "born_wide_deepest_bound": bound[-1, -1]}
        ci = wilson(int(round(domain[-1, -1] * self.samples)), self.samples)  # a Monte Carlo share
        m |= {"born_wide_deepest_lo": ci.lo, "born_wide_deepest_hi": ci.hi,
              "born_wide_vs_bound": "lies below" if ci.hi < bound[-1, -1] else
              "lies above" if ci.lo > bound[-1, -1] else "is consistent with"}
        gap = bound - domain
        i, j = np.unravel_index(int(np.argmax(gap)), gap.shape)
        m["born_gap_max"] = float(gap.max())
        m["born_gap_text"] = (f"{fmt(gap[i, j], 2)} (at width {widths[i]}, depth {depths[j]}: "
                              f"{fmt(domain[i, j], 2)} against {fmt(bound[i, j], 2)})")
        for n, L in ((16, 50), (64, 50)):  # practical widths: the one-input probability, an upper bound for the domain
            m[f"born_bound_w{n}_d{L}"] = fmt(born_dead_bound(n, L))
        return m


def born_dead_study(born_widths, born_depths, born_samples: int) -> BornDead:
    """:func:`born_dead` at the ReLU chapter's parameters, with the formula beside it."""
    domain, point = born_dead(born_widths, born_depths, born_samples)
    bound = np.array([[born_dead_bound(n, L) for L in born_depths] for n in born_widths])
    return BornDead(list(born_widths), list(born_depths), int(born_samples), domain, point, bound)


RELU_BORN_PARAMS = ("born_widths", "born_depths", "born_samples")  # the cell relu-born-dead


def relu_born_data(*, born_widths, born_depths, born_samples: int, device: str = "cpu") -> dict:
    """:func:`born_dead_study` as data (evidence cell ``relu-born-dead``; its own generator, seed 0)."""
    from actlab.seeding import deterministic

    if device != "cpu":
        raise ValueError(f"the born-dead Monte Carlo runs on the CPU only; got {device!r}")
    deterministic(0)  # one thread, as in the chapter
    return born_dead_study(born_widths, born_depths, born_samples).to_data()


TRIANGLE_DODGE = 0.04  # decades between the "all seeds diverged" triangles of neighbouring activations


def inactive_figure(sweep: DeadSweep):
    """Inactive share (input negative on every training example) against the learning rate, one
    line per activation, median over the seeds that did not diverge; the line breaks where every
    seed diverged, marked by a triangle at the top in the activation's colour, dodged sideways per
    activation so that none hides another; ELU's saturated
    (dead by the derivative rule) share dashed with open markers, drawn on top; grey crosses where
    some seed of an activation diverged. The legend sits under the axes, off the data."""
    from actlab import plotting

    fig, axes = plotting.figure(1, 1, width=6.0, height=3.6)
    ax = axes[0, 0]
    lrs = np.array(sweep.lrs)
    ina, dead = sweep.inactive_fraction(), sweep.fraction()
    any_all = False
    for a, act in enumerate(sweep.activations):
        all_div = sweep.diverged[a].all(1)
        c = plotting.color(act)
        med = np.full(len(lrs), np.nan)  # nan where every seed diverged: matplotlib breaks the line there
        med[~all_div] = [np.nanmedian(ina[a, j]) for j in np.flatnonzero(~all_div)]
        ax.plot(lrs, med, marker="o", markersize=3, color=c, linestyle=plotting.linestyle(act),
                label=f"{plotting.label(act)}: inactive")
        some = sweep.diverged[a].any(1) & ~all_div
        ax.plot(lrs[some], med[some], "x", color=plotting.NEUTRAL, markersize=6)
        if all_div.any():
            any_all = True
            # dodged sideways, one slot per activation, so that triangles at one learning rate never hide each other
            dodge = 10 ** (TRIANGLE_DODGE * (a - (len(sweep.activations) - 1) / 2))
            ax.plot(lrs[all_div] * dodge, np.full(all_div.sum(), 1.0), "v", color=c, markersize=6, clip_on=False,
                    markeredgecolor="white", markeredgewidth=0.5)
        if act == "elu":
            sat = np.full(len(lrs), np.nan)
            sat[~all_div] = [np.nanmedian(dead[a, j]) for j in np.flatnonzero(~all_div)]
            ax.plot(lrs, sat, "--", marker="o", markerfacecolor="white", markersize=4, color=c, zorder=3,
                    label="ELU: saturated (dead)")
    ax.plot([], [], "x", color=plotting.NEUTRAL, label="some seeds diverged")
    if any_all:
        ax.plot([], [], "v", color=plotting.NEUTRAL, label="all seeds diverged (no value)")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (plain SGD)")
    ax.set_ylabel("share of hidden units")
    ax.set_ylim(-0.02, 1.02)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return plotting.finish(fig)


def dead_vs_lr(sweep: DeadSweep, act: str = "relu"):
    """Dead fraction against learning rate, one line per hidden layer (light: input side, dark:
    top), median over the seeds that did not diverge with the min-max band; grey bars, the share
    of seeds that diverged. The legend sits under the axes, off the data."""
    from actlab import plotting

    a = sweep.activations.index(act)
    fig, axes = plotting.figure(1, 1, width=6.0, height=3.4)
    ax = axes[0, 0]
    lrs = np.array(sweep.lrs)
    for layer, c in enumerate(plotting.layer_shades(act, len(sweep.widths))):
        vals = sweep.dead[a, :, :, layer]  # (lrs, seeds), nan where diverged
        ok = ~np.all(np.isnan(vals), 1)
        ax.plot(lrs[ok], np.nanmedian(vals[ok], 1), "o-", markersize=3, color=c, label=f"hidden layer {layer + 1}")
        ax.fill_between(lrs[ok], np.nanmin(vals[ok], 1), np.nanmax(vals[ok], 1), color=c, alpha=0.15, linewidth=0)
    ax.bar(lrs, sweep.diverged[a].mean(1), width=lrs * 0.15, color=plotting.NEUTRAL, alpha=0.25,
           label="share of seeds diverged")
    ax.axhline(0.4, color=plotting.NEUTRAL, linestyle=":", linewidth=0.8)
    ax.annotate("40%", (0, 0.4), xycoords=("axes fraction", "data"), xytext=(2, 2), textcoords="offset points",
                fontsize=9, color=plotting.NEUTRAL)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate η (plain SGD)")
    ax.set_ylabel("fraction of units dead")
    ax.set_ylim(-0.02, 1.02)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2)
    return plotting.finish(fig)


def born_dead_curves(widths, depths, domain, point, bound):
    """Born-dead probability against depth: one colour per width (light: narrow), solid with dots
    the Monte Carlo share born dead on the whole domain, dashed the one-input formula. ``point``
    (the Monte Carlo one-input share) is not drawn: it matches the formula, as the chapter says.
    Legend outside the axes, on the right."""
    import matplotlib as mpl

    from actlab import plotting

    fig, axes = plotting.figure(1, 1, width=6.5, height=3.2)
    ax = axes[0, 0]
    cmap = mpl.colormaps["Reds"]
    for i, n in enumerate(widths):
        c = cmap(0.45 + 0.55 * i / max(1, len(widths) - 1))
        ax.plot(depths, domain[i], "o-", color=c, markersize=3, label=f"width {n}")
        ax.plot(depths, bound[i], "--", color=c, linewidth=1)
    ax.plot([], [], "o-", color=plotting.NEUTRAL, markersize=3, label="born dead on [−1, 1]\n(Monte Carlo)")
    ax.plot([], [], "--", color=plotting.NEUTRAL, linewidth=1, label="dead at one input\n(formula)")
    ax.set_xlabel("layers L (hidden + output)")
    ax.set_ylabel("probability")
    ax.set_ylim(-0.02, 1.02)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right center")
    return plotting.finish(fig)
