"""What sits at the end of a network: the output activation, the loss it is paired with, and
their floating-point limits (the output-activations chapter).

- A sigmoid output under cross-entropy or squared error: the gradient in the logit, its
  curvature, and a race out of a confidently wrong start (one sigmoid unit, full-batch
  gradient descent, many seeds and starting logits at once, in numpy).
- The softmax: its cross-entropy gradient, and where the naive form (exponentiate, then
  normalise) overflows, against the log-sum-exp form.
- Temperature: entropy and gradient size of softmax(z / T).
- Which output and loss each training experiment of the book uses, with an audit that checks
  the list against the code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

LOSSES = ("bce", "mse")
LOSS_LABEL = {"bce": "cross-entropy", "mse": "squared error"}
DTYPES = ("float16", "float32", "float64")
TORCH_DTYPES = {"bfloat16": torch.bfloat16}  # not in numpy: computed through torch


# ---------------------------------------------------------------- a sigmoid output, two losses

def loss_in_logit(z: torch.Tensor, y: torch.Tensor | float, loss: str) -> torch.Tensor:
    """Per-example loss of a sigmoid output p = sigma(z) as a function of its logit z:
    'bce' the binary cross-entropy (from the logit, never through log p), 'mse' (p - y)^2 / 2
    (the half keeps the comparison about the factor sigma' alone)."""
    y = torch.as_tensor(y, dtype=z.dtype).expand_as(z)
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(z, y, reduction="none")
    if loss == "mse":
        return 0.5 * (torch.sigmoid(z) - y) ** 2
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")


def logit_gradient(z, y, loss: str):
    """dL/dz in closed form: sigma - y for the cross-entropy, (sigma - y) sigma' for the squared
    error, with sigma' = sigma(z) sigma(-z) (no cancellation in 1 - sigma). numpy or torch."""
    lib = torch if isinstance(z, torch.Tensor) else np
    s = 1 / (1 + lib.exp(-z))
    if loss == "bce":
        return s - y
    if loss == "mse":
        return (s - y) * s * (1 / (1 + lib.exp(z)))
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")


def _autograd(z: torch.Tensor, y: float, loss: str, order: int = 1) -> torch.Tensor:
    z = z.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_in_logit(z, y, loss).sum(), z, create_graph=order > 1)
    if order == 1:
        return g.detach()
    (h,) = torch.autograd.grad(g.sum(), z)
    return h.detach()


def gradient_gap(loss: str, z_max: float = 20.0, n: int = 4001) -> float:
    """Largest relative gap between autograd's dL/dz and the closed form, over |z| <= z_max
    and both targets (float64): the formula is what the code computes."""
    z = torch.linspace(-z_max, z_max, n, dtype=torch.float64)
    worst = 0.0
    for y in (0.0, 1.0):
        auto, formula = _autograd(z, y, loss), logit_gradient(z, y, loss)
        worst = max(worst, float(((auto - formula).abs() / formula.abs().clamp_min(1e-300)).max()))
    return worst


def gradient_curves(z: np.ndarray, y: float = 1.0) -> dict[str, np.ndarray]:
    """|dL/dz| of each loss on a grid of logits (the figure's left panel)."""
    return {loss: np.abs(logit_gradient(np.asarray(z, float), y, loss)) for loss in LOSSES}


def curvature(loss: str, y: float = 1.0, z_max: float = 10.0, n: int = 2001) -> tuple[np.ndarray, np.ndarray]:
    """(z, d2L/dz2) by autograd, float64: the loss's curvature in the logit."""
    z = torch.linspace(-z_max, z_max, n, dtype=torch.float64)
    return z.numpy(), _autograd(z, y, loss, order=2).numpy()


def concave_below(y: float = 1.0, lo: float = -10.0, hi: float = 0.0) -> float:
    """The logit below which the squared error of a sigmoid output is concave in the logit: where
    its autograd curvature changes sign, by bisection to float64 resolution (for y = 1 the
    algebra says z = -ln 2)."""
    h = lambda v: float(_autograd(torch.tensor([v], dtype=torch.float64), y, "mse", order=2)[0])
    if h(lo) >= 0 or h(hi) <= 0:
        raise ValueError(f"the curvature does not change sign from negative to positive on [{lo}, {hi}]")
    while True:
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            return mid
        lo, hi = (mid, hi) if h(mid) < 0 else (lo, mid)


# ---------------------------------------------------------------- the race out of a wrong start

def race_data(seed: int, n: int, d: int, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A separable two-class set: x = t u + xi, with t = +-1 (half each), u a random unit
    direction and xi Gaussian noise orthogonal to u (so w = -z0 u makes every example exactly
    z0 wrong in the logit). Returns (x (n, d), y in {0, 1} (n,), u (d,))."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    t = np.repeat([1.0, -1.0], [n - n // 2, n // 2])
    xi = noise * rng.standard_normal((n, d))
    xi -= np.outer(xi @ u, u)
    return t[:, None] * u + xi, (t + 1) / 2, u


@dataclass
class Race:
    """Updates each loss needed, per seed and starting logit: ``steps[loss]`` (seeds, starts),
    inf where the error was still above the threshold after ``max_steps``."""
    starts: np.ndarray
    steps: dict
    lr: float
    error_below: float
    max_steps: int
    dims: int
    mse_step_factor: float = 1.0

    def median(self, loss: str) -> np.ndarray:
        return np.median(self.steps[loss], axis=0)

    def ratio(self) -> np.ndarray:
        """(seeds, starts): squared error's updates over the cross-entropy's, the same data."""
        return self.steps["mse"] / self.steps["bce"]


def escape_race(start_logits, *, seeds: int, lr: float, n: int = 32, d: int = 3, noise: float = 0.3,
                error_below: float = 0.1, max_steps: int = 10_000, mse_step_factor: float = 1.0) -> Race:
    """Full-batch gradient descent on one sigmoid unit p = sigma(w.x + b) started confidently
    wrong (w = -z0 u, b = 0: every example's logit is z0 on the wrong side), under each loss,
    until the mean error mean |p - y| is below ``error_below``. Every seed x start x loss is one
    slice of the same arrays, so the whole race is a handful of numpy operations per step.
    ``mse_step_factor`` multiplies the squared error's step (its curvature is smaller, so a
    larger step would be as safe)."""
    starts = np.asarray(start_logits, float)
    data = [race_data(s, n, d, noise) for s in range(seeds)]
    X = np.stack([x for x, _, _ in data])                    # (S, n, d)
    Y = np.stack([y for _, y, _ in data])[None, :, None, :]  # (1, S, 1, n)
    U = np.stack([u for _, _, u in data])                    # (S, d)
    L, S, Z = len(LOSSES), seeds, len(starts)
    w = np.broadcast_to(-starts[None, None, :, None] * U[None, :, None, :], (L, S, Z, d)).copy()
    b = np.zeros((L, S, Z))
    steps = np.full((L, S, Z), np.inf)
    is_mse = np.array([loss == "mse" for loss in LOSSES])[:, None, None, None]
    step = np.where(is_mse[..., 0, 0, 0], lr * mse_step_factor, lr)[:, None, None]
    with np.errstate(over="ignore"):
        for k in range(max_steps + 1):
            z = np.einsum("snd,lszd->lszn", X, w) + b[..., None]
            p = 1 / (1 + np.exp(-z))
            err = np.abs(p - Y).mean(-1)
            steps[(err < error_below) & np.isinf(steps)] = k
            if k == max_steps or np.isfinite(steps).all():
                break
            g = p - Y
            g = np.where(is_mse, g * p * (1 / (1 + np.exp(z))), g)
            w -= step[..., None] * np.einsum("lszn,snd->lszd", g, X) / n
            b -= step * g.mean(-1)
    return Race(starts, {loss: steps[i] for i, loss in enumerate(LOSSES)}, lr, error_below, max_steps, d,
                mse_step_factor)


# The race's cost, measured on it (CPU time of its one thread) with a learning rate too small to
# finish, so that every step runs: 0.15 ms a step at 3,840 values (2 losses x 10 seeds x 6 starts x 32
# examples), 0.20 s at 4.8 million and 1.4 s at 32 million values (42 ns a value: exp, einsum and
# their temporaries); at its peak 51 and 50 bytes a value (about six float64 arrays of that shape).
RACE_STEP_S = 8e-5      # per step: the dozen numpy calls
RACE_VALUE_S = 5e-8     # per (loss, seed, start, example) per step
RACE_VALUE_BYTES = 64   # eight float64 arrays of that shape at once


def race_cost(n_starts: int, *, seeds: int, n: int, max_steps: int, d: int = 3) -> tuple[float, float]:
    """(seconds, bytes) of :func:`escape_race` if no run reaches the error before ``max_steps``: an
    upper bound on its time (it stops once every run has), its memory at any step."""
    values = len(LOSSES) * seeds * n_starts * n
    return ((max_steps + 1) * (RACE_STEP_S + RACE_VALUE_S * values),
            RACE_VALUE_BYTES * values + 8 * seeds * n * (d + 2))


def start_key(v: float) -> str:
    """A metric-name suffix for a starting logit: 8.0 -> 'z8', 2.5 -> 'z2_5'."""
    return "z" + f"{float(v):g}".replace(".", "_").replace("-", "m")


def spread_text(values) -> str:
    """'median (min–max over n seeds)', or the one value when every seed agrees; whole numbers
    (counts of updates) print whole, as the book's formatter prints an int."""
    from actlab.numbers import fmt

    v = np.asarray(values, float)
    whole = lambda x: int(x) if float(x).is_integer() else float(x)
    med, lo, hi = (fmt(whole(f(v))) for f in (np.median, np.min, np.max))
    return med if lo == hi else f"{med} ({lo}–{hi} over {v.size} seeds)"


def flow_steps(loss: str, start_logit: float, error_below: float, lr: float) -> float:
    """Updates that gradient flow in the logit needs, dz/dt = -lr dL/dz with |x| = 1, from
    z = -start_logit (a positive example) to the logit where the error is ``error_below``: the
    integral of dz / (lr |dL/dz|), the race's prediction from the gradient alone. In closed form,
    since 1/(1 - sigma) = 1 + e^z for the cross-entropy and 1/((1 - sigma)^2 sigma) =
    e^{2z} + 3 e^z + 3 + e^{-z} for the squared error (tests/test_outputs.py integrates it)."""
    a, c = -start_logit, float(np.log((1 - error_below) / error_below))
    if loss == "bce":
        antiderivative = lambda v: v + np.exp(v)
    elif loss == "mse":
        antiderivative = lambda v: 0.5 * np.exp(2 * v) + 3 * np.exp(v) + 3 * v - np.exp(-v)
    else:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}; got {loss!r}")
    return float(antiderivative(c) - antiderivative(a)) / lr


def flow_constants(error_below: float) -> dict[str, float]:
    """The constants of gradient flow's counts, with c = ln((1 - eps) / eps) the logit where the
    error eps is met: times lr, the count from a start |z0| is |z0| + c + e^c - e^{-|z0|} for the
    cross-entropy and e^{|z0|} + 3|z0| + C - 3e^{-|z0|} - e^{-2|z0|}/2 for the squared error, with
    C = e^{2c}/2 + 3e^c + 3c - e^{-c} (the antiderivatives of flow_steps at c)."""
    c = float(np.log((1 - error_below) / error_below))
    return {"c": c, "e_c": float(np.exp(c)), "bce": c + float(np.exp(c)),
            "mse": 0.5 * float(np.exp(2 * c)) + 3 * float(np.exp(c)) + 3 * c - float(np.exp(-c))}


@dataclass
class RaceRun:
    """The chapter's race and everything it records about it (``metrics``)."""
    race: Race
    metrics: dict


def race_run(*, start_logits, seeds: int, lr: float, error_below: float, max_steps: int,
             n_examples: int) -> RaceRun:
    """The chapter's race (:func:`escape_race`) with its medians, intervals and gradient flow's
    predictions, and the squared error rerun from the top start with two larger steps: the
    curvature bound's factor ("scaled") and 2 (the loss without its half, "no_half")."""
    from actlab.numbers import fmt
    from actlab.verdicts import bootstrap, measure_metrics

    race = escape_race(start_logits, seeds=seeds, lr=lr, n=n_examples, error_below=error_below,
                       max_steps=max_steps)
    top, first = race.starts[-1], race.starts[0]
    flow = lambda loss, v, factor=1.0: flow_steps(loss, v, error_below, lr * factor)  # noqa: E731
    m, misfit = {}, []  # misfit: the medians against gradient flow, every start and loss
    for loss in LOSSES:
        for j, v in enumerate(race.starts):
            med = m[f"steps_{loss}_{start_key(v)}"] = race.median(loss)[j]
            if np.isfinite(med):
                misfit.append(abs(med / flow(loss, v) - 1))
        m |= measure_metrics(f"steps_{loss}_top", bootstrap(race.steps[loss][:, -1]))
        m[f"steps_{loss}_top_text"] = spread_text(race.steps[loss][:, -1])
        m[f"flow_{loss}_top"] = flow(loss, top)
        m[f"flow_{loss}_top_text"] = fmt(m[f"flow_{loss}_top"])
    for j, v in enumerate(race.starts):  # the ratio per start, median over seeds (the exercise compares one)
        m[f"ratio_{start_key(v)}"] = np.median(race.ratio()[:, j])
    m |= measure_metrics("ratio_top", bootstrap(race.ratio()[:, -1]))
    m["ratio_top_text"] = spread_text(race.ratio()[:, -1])
    for loss in LOSSES:  # the smallest start, where the flow's constants dominate
        m[f"steps_{loss}_first"] = race.median(loss)[0]
        m[f"flow_{loss}_first"] = flow(loss, first)
    const = flow_constants(error_below)
    m |= {"flow_c": const["c"], "flow_e_c": const["e_c"], "flow_const_bce": const["bce"],
          "flow_const_mse": const["mse"], "ln_flow_const_mse": np.log(const["mse"]),
          "flow_ratio_top": flow("mse", top) / flow("bce", top)}
    # the squared error with a larger step: the curvature bound's factor, and 2 (the loss without the half)
    _, h_bce = curvature("bce")
    _, h_mse = curvature("mse")
    for name, factor in (("scaled", float(h_bce.max() / h_mse.max())), ("no_half", 2.0)):
        r2 = escape_race(race.starts[-1:], seeds=seeds, lr=lr, n=n_examples, error_below=error_below,
                         max_steps=max_steps, mse_step_factor=factor)
        m[f"mse_step_factor_{name}"] = factor
        m[f"steps_mse_{name}_top_text"] = spread_text(r2.steps["mse"][:, 0])
        m[f"flow_mse_{name}_top"] = flow("mse", top, factor)
        m[f"ratio_{name}_top_text"] = spread_text(r2.ratio()[:, 0])
    m["flow_misfit_max"] = max(misfit) if misfit else float("nan")
    m["flow_misfit_pct"] = 100 * max(misfit) if misfit else float("nan")
    m["top_start"], m["first_start"] = top, first
    if len(race.starts) >= 2:  # the last two starts: the cross-entropy's cost per unit of logit, the squared error's factor
        (a, b), med = race.starts[-2:], {loss: race.median(loss)[-2:] for loss in LOSSES}
        m["bce_per_logit"] = (med["bce"][1] - med["bce"][0]) / (b - a)
        m["mse_factor_per_logit"] = (med["mse"][1] / med["mse"][0]) ** (1 / (b - a))
        m["prev_start"] = a
    m |= {"e": np.e, "seeds": seeds, "lr": lr, "error_below": error_below, "n_examples": n_examples,
          "dims": race.dims}
    return RaceRun(race, m)


def race_figure(race: Race, z: np.ndarray):
    """Top: |dL/dz| of a sigmoid output for a positive target, each loss, log scale. Bottom: the
    race, updates to bring the mean error under the threshold against the starting logit,
    median over seeds with the min-max band, and the gradient-flow prediction dotted. One
    column, so that each panel keeps the full width of a phone's screen."""
    from actlab.plotting import NEUTRAL, color, figure, finish

    c = color("sigmoid")
    ls = {"bce": "-", "mse": (0, (5, 2))}
    fig, axes = figure(2, 1, width=4.4, height=6.2)
    (left,), (right,) = axes
    for loss, g in gradient_curves(z).items():
        left.plot(z, g, color=c, linestyle=ls[loss], label=LOSS_LABEL[loss])
    left.set_yscale("log")
    left.set_xlabel("logit z (target y = 1)")
    left.set_ylabel("|∂L/∂z|")
    left.set_title("gradient in the logit")
    left.legend(loc="lower center")
    zz = np.linspace(race.starts.min(), race.starts.max(), 60)
    for loss in LOSSES:
        s = race.steps[loss]
        right.plot(race.starts, np.median(s, 0), color=c, linestyle=ls[loss], marker="o", markersize=4,
                   label=f"{LOSS_LABEL[loss]}, measured")
        right.fill_between(race.starts, s.min(0), s.max(0), color=c, alpha=0.18, linewidth=0)
    for loss in LOSSES:
        right.plot(zz, [flow_steps(loss, v, race.error_below, race.lr) for v in zz], color=NEUTRAL,
                   linestyle=":", linewidth=1.2, label="gradient flow, predicted" if loss == "bce" else None)
    right.set_yscale("log")
    right.set_xlabel("starting logit, wrong side (|z₀|)")
    right.set_ylabel("updates to mean error < " + f"{race.error_below:g}")
    right.set_title("out of a confident mistake")
    right.legend(loc="upper left")
    return finish(fig)


# ---------------------------------------------------------------- the softmax and its numerics

def example_logits(k: int = 10, scale: float = 2.0, seed: int = 0) -> np.ndarray:
    """A fixed vector of k logits, N(0, scale^2), float64: the chapter's running example."""
    return scale * np.random.default_rng(seed).standard_normal(k)


def naive_softmax(z: np.ndarray) -> np.ndarray:
    """exp, then normalise: the textbook form, in z's own dtype (a torch tensor for bfloat16)."""
    if isinstance(z, torch.Tensor):
        e = z.exp()
        return e / e.sum(-1, keepdim=True)
    with np.errstate(all="ignore"):
        e = np.exp(z)
        return e / e.sum(-1, keepdims=True)


def stable_softmax(z: np.ndarray) -> np.ndarray:
    """exp(z - max z), then normalise: the same numbers, and no exponential above e^0 = 1."""
    if isinstance(z, torch.Tensor):
        e = (z - z.amax(-1, keepdim=True)).exp()
        return e / e.sum(-1, keepdim=True)
    with np.errstate(all="ignore"):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)


def logsumexp(z: np.ndarray) -> np.ndarray:
    """log sum exp z = max z + log sum exp(z - max z): finite for every finite z."""
    m = z.max(-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))[..., 0]


def is_distribution(p: np.ndarray) -> bool:
    """Finite, non-negative, and summing to 1 within a few roundings of its dtype."""
    if isinstance(p, torch.Tensor):
        eps, p = float(torch.finfo(p.dtype).eps), p.double().numpy()
    else:
        eps = float(np.finfo(p.dtype).eps)
    with np.errstate(all="ignore"):
        total = float(p.astype(np.float64).sum())
    return bool(np.isfinite(p).all() and (p >= 0).all() and abs(total - 1) <= 8 * p.size * eps)


def in_dtype(z: np.ndarray, dtype: str):
    """float64 logits rounded to ``dtype``: a numpy array, or a torch tensor for the dtypes numpy
    lacks (bfloat16)."""
    if dtype in TORCH_DTYPES:
        return torch.from_numpy(np.asarray(z, np.float64)).to(TORCH_DTYPES[dtype])
    return np.asarray(z, np.float64).astype(dtype)


def float_max_eps(dtype: str) -> tuple[float, float]:
    """(largest finite value, machine epsilon) of a numpy or torch dtype."""
    fi = torch.finfo(TORCH_DTYPES[dtype]) if dtype in TORCH_DTYPES else np.finfo(dtype)
    return float(fi.max), float(fi.eps)


def spacing_at(x: float, dtype: str) -> float:
    """The gap between neighbouring floats of ``dtype`` at |x| (normal range)."""
    return float_max_eps(dtype)[1] * 2.0 ** np.floor(np.log2(abs(x)))


def largest_safe_logit(dtype: str, offsets: np.ndarray, form=naive_softmax, hi: float = 1e4) -> float:
    """The largest top logit M at which ``form`` still returns a distribution for the logits
    M + offsets (offsets: the example's logits minus their maximum), computed in ``dtype``;
    found by bisection to 1e-9 (the failure is monotone in M: the sum overflows and stays so)."""
    ok = lambda m: is_distribution(form(in_dtype(m + offsets, dtype)))
    lo = 0.0
    if not ok(lo):
        return float("nan")
    if ok(hi):
        return float("inf")
    while hi - lo > 1e-9 * max(1.0, abs(lo)):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def overflow_rows(logits: np.ndarray, dtypes=DTYPES + tuple(TORCH_DTYPES), big: float = 1000.0) -> list[dict]:
    """Per dtype: log of the largest float (numpy's or torch's finfo), the largest top logit at
    which the naive softmax works (measured), the same predicted, log max - log sum exp(offsets),
    and the stable form with the top logit at ``big`` (or at half the largest float, if that is
    smaller): whether it returns a distribution, the largest relative error of a probability
    against the float64 softmax of the same (unrounded) logits, and the dtype's spacing there,
    which rounds the logits themselves."""
    offsets = logits - logits.max()
    rows = []
    for dt in dtypes:
        fmax, _ = float_max_eps(dt)
        log_max = float(np.log(fmax))
        at = min(big, fmax / 2)
        p = stable_softmax(in_dtype(at + offsets, dt))
        p64 = p.double().numpy() if isinstance(p, torch.Tensor) else p.astype(np.float64)
        ref = stable_softmax(at + offsets)
        rows.append({"dtype": dt, "log_max": log_max,
                     "naive_limit": largest_safe_logit(dt, offsets),
                     "predicted": log_max - float(logsumexp(offsets)),
                     "stable_at": at,
                     "stable_ok": is_distribution(p),
                     "stable_error": float(np.max(np.abs(p64 - ref) / ref)),
                     "spacing_at": spacing_at(at, dt)})
    return rows


def overflow_table(rows: list[dict]) -> str:
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    return markdown_table(
        ["dtype", "ln(largest float)", "naive softmax works up to a top logit of",
         "predicted: ln(largest) − ln Σ exp(z − max z)", "stable form, top logit at",
         "its largest relative error against float64", "the dtype's spacing there"],
        [[r["dtype"], fmt(r["log_max"], 6), fmt(r["naive_limit"], 6), fmt(r["predicted"], 6), fmt(r["stable_at"]),
          fmt(r["stable_error"], 2) if r["stable_ok"] else "no distribution", fmt(r["spacing_at"], 2)]
         for r in rows])


def softmax_xent_gap(k: int = 10, batch: int = 64, scale: float = 5.0, seed: int = 0) -> float:
    """Largest gap between autograd's gradient of the softmax cross-entropy in the logits and
    softmax - onehot, over a batch of random logits and targets (float64)."""
    g = torch.Generator().manual_seed(seed)
    z = (scale * torch.randn(batch, k, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, k, (batch,), generator=g)
    (auto,) = torch.autograd.grad(F.cross_entropy(z, y, reduction="sum"), z)
    formula = torch.softmax(z.detach(), -1) - F.one_hot(y, k).to(z.dtype)
    return float((auto - formula).abs().max())


def two_class_gap(z_max: float = 30.0, n: int = 2001) -> float:
    """softmax over the logits (z, 0), first entry, against sigma(z): the same function."""
    z = torch.linspace(-z_max, z_max, n, dtype=torch.float64)
    two = torch.softmax(torch.stack([z, torch.zeros_like(z)], -1), -1)[:, 0]
    return float(((two - torch.sigmoid(z)).abs() / torch.sigmoid(z)).max())


def torch_gaps(logits: np.ndarray, top: float = 1000.0) -> dict[str, float]:
    """torch.logsumexp and torch.softmax against this module's stable forms, with the top logit
    at ``top``, float32 and float64: largest relative gap of the log-sum-exp and absolute gap of
    the probabilities."""
    out = {}
    for dt in ("float32", "float64"):
        z = (top + logits - logits.max()).astype(dt)
        t = torch.from_numpy(z)
        out[f"lse_{dt}"] = float(abs(float(torch.logsumexp(t, 0)) - float(logsumexp(z))) / abs(float(logsumexp(z))))
        out[f"softmax_{dt}"] = float(np.abs(torch.softmax(t, 0).numpy() - stable_softmax(z)).max())
    return out


def naive_cross_entropy(z: np.ndarray, y: int) -> float:
    """-log(softmax(z)[y]) through the naive softmax: log of a probability that may have
    rounded to 0."""
    with np.errstate(all="ignore"):
        return float(-np.log(naive_softmax(z)[y]))


def stable_cross_entropy(z: np.ndarray, y: int) -> float:
    """logsumexp(z) - z[y]: never the log of a rounded probability."""
    return float(logsumexp(z) - z[y])


# ---------------------------------------------------------------- temperature

def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats along the last axis (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(-1)


@dataclass
class TemperatureSweep:
    temps: np.ndarray       # (T,)
    probs: np.ndarray       # (T, K)
    entropy: np.ndarray     # (T,)
    grad_right: np.ndarray  # (T,) |dL/dz| when the target is the largest logit's class
    grad_wrong: np.ndarray  # (T,) ... when it is the smallest logit's class
    log_k: float


def temperature_sweep(logits: np.ndarray, temps: np.ndarray) -> TemperatureSweep:
    """softmax(z / T) over a grid of temperatures: its entropy, and the norm of the gradient of
    the cross-entropy in the logits z, (softmax(z / T) - onehot) / T, for two targets."""
    temps = np.asarray(temps, float)
    p = stable_softmax(logits[None, :] / temps[:, None])
    k = len(logits)
    grad = lambda y: np.linalg.norm(p - np.eye(k)[y], axis=-1) / temps
    return TemperatureSweep(temps, p, entropy(p), grad(int(np.argmax(logits))), grad(int(np.argmin(logits))),
                            float(np.log(k)))


def temperature_gradient_gap(logits: np.ndarray, temps=(0.1, 1.0, 10.0)) -> float:
    """autograd's gradient of cross_entropy(z / T, y) in z against (softmax(z / T) - onehot) / T."""
    z = torch.tensor(logits, dtype=torch.float64)
    y = torch.tensor([int(np.argmin(logits))])
    worst = 0.0
    for T in temps:
        zz = z.clone().requires_grad_(True)
        (auto,) = torch.autograd.grad(F.cross_entropy(zz[None] / T, y), zz)
        formula = (torch.softmax(z / T, 0) - F.one_hot(y[0], len(logits)).to(z.dtype)) / T
        worst = max(worst, float((auto - formula).abs().max()))
    return worst


def half_entropy_temperature(sweep: TemperatureSweep) -> float:
    """The temperature at which the entropy is half of ln K (interpolated in log T; the entropy
    rises with T for these logits)."""
    target = sweep.log_k / 2
    return float(np.exp(np.interp(target, sweep.entropy, np.log(sweep.temps))))


def temperature_figure(sweep: TemperatureSweep):
    """Top: entropy of softmax(z / T) against T, with ln K (uniform) dashed. Bottom: the norm of
    the cross-entropy's gradient in z against T, for the most and the least likely class as
    target. One column, readable at a phone's width."""
    from actlab.plotting import NEUTRAL, figure, finish

    fig, axes = figure(2, 1, width=4.4, height=6.0)
    (left,), (right,) = axes
    left.plot(sweep.temps, sweep.entropy, color=NEUTRAL)
    left.axhline(sweep.log_k, color=NEUTRAL, linestyle=(0, (5, 2)), linewidth=1.0)
    left.text(sweep.temps[0], sweep.log_k * 0.93, f"ln K = ln {sweep.probs.shape[1]}: uniform", va="top",
              fontsize=9, color=NEUTRAL)
    left.set_xscale("log")
    left.set_xlabel("temperature T")
    left.set_ylabel("entropy (nats)")
    left.set_title("how spread out softmax(z / T) is")
    # no registry colour: the softmax is not one of the book's activations
    right.plot(sweep.temps, sweep.grad_wrong, color=NEUTRAL, linestyle=(0, (5, 2)), label="target: least likely class")
    right.plot(sweep.temps, sweep.grad_right, color=NEUTRAL, label="target: most likely class")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("temperature T")
    right.set_ylabel("‖∂L/∂z‖")
    right.set_title("cross-entropy gradient in the logits")
    right.legend(loc="lower right")
    return finish(fig)


# ---------------------------------------------------------------- the book's output layers and losses

@dataclass(frozen=True)
class OutputAndLoss:
    """One training experiment of the book: what it trains, its output, its loss, where a page
    shows it (a MyST reference), and where the code sets the loss: (file, text it contains),
    a file under src/actlab or chapters."""
    chapter: str
    what: str
    output: str
    loss: str
    shown: str
    code: tuple[tuple[str, str], ...]


SOFTMAX, SIGMOID_UNIT, LINEAR = "softmax, 10 classes", "one sigmoid unit", "linear"
XENT, BCE, SQUARED = "cross-entropy", "binary cross-entropy", "squared error"

TRAINED = (
    OutputAndLoss("linear-collapse", "XOR with one hidden layer", SIGMOID_UNIT, BCE, "{numref}`fig-xor-rate`",
            (("xor.py", 'loss="bce"'),)),
    OutputAndLoss("universal-approximation", "curve fits of sin, |x| and a step", LINEAR, SQUARED,
            "{numref}`fig-approx-fits`", (("approximation.py", 'loss="mse"'),)),
    OutputAndLoss("vanishing-gradients", "digit classifiers: gradients per layer, saturation, Xavier against Kaiming, "
            "fine-tuning", SOFTMAX, XENT, "{numref}`fig-he-curves`",
            (("gradients.py", 'loss="xent"'), ("gradients.py", 'member_losses(out, y, "xent")'),
             ("gradients.py", 'member_losses(o, t, "xent")'))),
    OutputAndLoss("vanishing-gradients", "the autoencoders of layer-wise pre-training", LINEAR, SQUARED,
            "{numref}`fig-pretraining`", (("gradients.py", 'fit(ae, h, h.detach(), loss="mse"'),)),
    OutputAndLoss("initial-scale", "digit classifiers from zero, constant and random starts", SOFTMAX, XENT,
            "{numref}`tab-symmetry`", (("symmetry.py", 'loss="xent"'),)),
    OutputAndLoss("zero-centred", "sign-locked updates in a digit classifier", SOFTMAX, XENT, "{doc}`zero-centred`",
            (("zerocentre.py", 'loss="xent"'),)),
    OutputAndLoss("zero-centred", "two weights of one linear unit", LINEAR, SQUARED, "{numref}`fig-weight-paths`",
            (("zerocentre.py", "(x[i] @ w - t[i])"), ("zerocentre.py", "err = (w * xi[:, None]).sum(-1) - ti"))),
    OutputAndLoss("zero-centred", "logistic regression on a random layer's outputs", SIGMOID_UNIT, BCE,
            "{numref}`tab-curvature`", (("zerocentre.py", "softplus(A @ w)"),)),
    OutputAndLoss("tanh", "digit classifiers, tanh against the sigmoid", SOFTMAX, XENT, "{numref}`tab-tanh-speed`",
            (("convergence.py", 'loss="xent"'),)),
    OutputAndLoss("relu", "digit classifiers: dead units, bias shift, speed", SOFTMAX, XENT, "{numref}`fig-dead-lr`",
            (("deadunits.py", 'loss="xent"'), ("biasshift.py", 'loss="xent"'), ("convergence.py", 'loss="xent"'))),
    OutputAndLoss("relu-variants", "digit classifiers: dead units, PReLU's slopes, speed", SOFTMAX, XENT,
            "{numref}`fig-prelu-slopes`", (("variants.py", 'loss="xent"'), ("deadunits.py", 'loss="xent"'))),
    OutputAndLoss("sparsity-pieces", "digit classifiers: sparsity per example", SOFTMAX, XENT, "{numref}`tab-sparsity`",
            (("regions.py", 'loss="xent"'),)),
    OutputAndLoss("sparsity-pieces", "a 2-D curve fit: linear pieces along lines", LINEAR, SQUARED, "{numref}`fig-pieces`",
            (("regions.py", 'loss="mse"'),)),
    OutputAndLoss("health", "digit classifiers, healthy and broken", SOFTMAX, XENT, "{numref}`tab-health`",
            (("health.py", 'loss="xent"'),)),
    OutputAndLoss("low-precision", "digit classifiers, quantised after training", SOFTMAX, XENT, "{numref}`tab-low-precision`",
            (("lowprecision.py", 'loss="xent"'),)),
    OutputAndLoss("mnist1d", "the MNIST-1D CNN and MLPs: speed, SGD against Adam, dead channels", SOFTMAX, XENT,
            "{numref}`fig-mnist1d-speed`", (("convergence.py", 'loss="xent"'), ("gradients.py", 'loss="xent"'),
                                             ("deadunits.py", 'loss="xent"'))),
    OutputAndLoss("gated", "gated and plain MLPs on digits and MNIST-1D", SOFTMAX, XENT, "{numref}`fig-gated-compare`",
            (("gating.py", "loss=task.loss"),)),
    OutputAndLoss("guide", "the leaderboard's classifiers: digit MLPs and the MNIST-1D CNN", SOFTMAX, XENT,
            "{numref}`tab-guide-board`", (("leaderboard.py", 'loss: str = "xent"'),)),
    OutputAndLoss("guide", "the leaderboard's curve fit", LINEAR, SQUARED, "{numref}`tab-guide-board`",
            (("leaderboard.py", 'loss="mse"'),)),
    OutputAndLoss("output-activations", "one unit out of a confidently wrong start", SIGMOID_UNIT, BCE,
            "{numref}`fig-output-race`", (("outputs.py", "g = p - Y"),)),
    OutputAndLoss("output-activations", "one unit out of a confidently wrong start", SIGMOID_UNIT, SQUARED,
            "{numref}`fig-output-race`", (("outputs.py", "g * p * (1 / (1 + np.exp(z)))"),)),
)

# where a loss is chosen by name: fit(..., loss="x") or member_losses(..., "x")
_LOSS_CALL = re.compile(r'loss="(\w+)"|member_losses\([^()]*(?:\([^()]*\))?[^()]*,\s*"(\w+)"\)')
_KNOWN = {"xent": XENT, "bce": BCE, "mse": SQUARED}


def _source(name: str) -> Path:
    from actlab.paths import CHAPTERS

    return CHAPTERS / name if name.endswith(".md") else Path(__file__).parent / name


def loss_audit(trained=TRAINED) -> list[str]:
    """What the list gets wrong, checked against the code: a loss chosen by name in the package
    or a chapter that no entry accounts for (same file, same loss), or an entry whose code is not
    where it says. Empty when the list is exact. This module and the ensemble (which defines the
    losses) are not experiments."""
    from actlab.paths import CHAPTERS

    problems = []
    claimed = {(f, e.loss) for e in trained for f, _ in e.code}
    for e in trained:
        for f, text in e.code:
            if text not in _source(f).read_text():
                problems.append(f"{e.chapter}: {f} does not contain {text!r}")
    files = [p for p in sorted(Path(__file__).parent.glob("*.py")) if p.name not in ("ensemble.py", "outputs.py")]
    files += sorted(CHAPTERS.glob("*.md"))
    for p in files:
        for m in _LOSS_CALL.finditer(p.read_text()):
            key = m.group(1) or m.group(2)
            loss = _KNOWN.get(key, key)
            if (p.name, loss) not in claimed:
                problems.append(f"{p.name}: chooses loss {key!r}, which no entry of outputs.TRAINED accounts for")
    return problems


def losses_table(trained=TRAINED) -> str:
    from actlab.tables import markdown_table

    return markdown_table(["chapter", "what is trained", "output", "loss", "shown in"],
                          [[f"{{doc}}`{e.chapter}`", e.what, e.output, e.loss, e.shown] for e in trained])


def pairing_counts(trained=TRAINED) -> dict[str, int]:
    """How many experiments use each (output, loss) pairing, keyed 'output / loss'."""
    out: dict[str, int] = {}
    for e in trained:
        out[f"{e.output} / {e.loss}"] = out.get(f"{e.output} / {e.loss}", 0) + 1
    return out


MAIN_PAIRING = (SOFTMAX, XENT)
PAIRING_NOTE = {
    (SIGMOID_UNIT, BCE): "two classes, the two-class case of the softmax with the cross-entropy",
    (LINEAR, SQUARED): "numbers fitted rather than classes",
    (SIGMOID_UNIT, SQUARED): "the pairing this chapter warns against, trained only to measure its cost",
}


def exceptions(trained=TRAINED, main=MAIN_PAIRING) -> dict[tuple[str, str], list[OutputAndLoss]]:
    """The experiments that do not train the main pairing, grouped by (output, loss), the largest
    group first (ties in the list's order)."""
    groups: dict[tuple[str, str], list[OutputAndLoss]] = {}
    for e in trained:
        if (e.output, e.loss) != main:
            groups.setdefault((e.output, e.loss), []).append(e)
    return dict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def exceptions_markdown(trained=TRAINED, main=MAIN_PAIRING) -> str:
    """The exceptions as a MyST list, one item per pairing, generated from the list so that the
    prose cannot fall behind it."""
    from actlab.numbers import count_word

    items = []
    for (output, loss), es in exceptions(trained, main).items():
        note = PAIRING_NOTE.get((output, loss))
        what = "; ".join(f"{e.what} ({{doc}}`{e.chapter}`, {e.shown})" for e in es)
        items.append(f"- **{output}, {loss}** ({count_word(len(es))} of the experiments"
                     + (f"; {note}" if note else "") + f"): {what}.")
    return "\n".join(items)
