"""A network's health, read on the instruments a practitioner watches while it trains.

The instruments (CS231n's "babysitting" notes): the loss at initialisation against chance,
ln K for K classes; per hidden layer, the share of saturated units (|tanh| above
:data:`SATURATED`) or of exact zeros (the ReLU family), and the units dead on every probe
example; the gradient each weight matrix receives at the start; and, at every step, the ratio of
each layer's update to its weights, ‖ΔW‖ / ‖W‖, whose rule of thumb is about 1e-3.

:func:`run` trains digits MLPs in the classic failures beside healthy runs, one batched ensemble
per activation: weights too large and too small (tanh, its recommended gain times a factor), and a
learning rate too high and too low (ReLU, the tuned rate times a factor), each against a run at
the function's recommended initialisation and tuned rate.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from actlab import data, functions
from actlab.ensemble import Ensemble, Member, fit, member_losses
from actlab.verdicts import Measure, bootstrap

SATURATED = 0.99      # |tanh(z)| above this: the derivative is under 2% of its peak
PROBE = 300           # training examples the activations are read on
FLOOR = 1e-12         # an update ratio of exactly zero (a layer no gradient reaches) counts as this
SCENARIOS = ("healthy tanh", "weights too large", "weights too small", "healthy ReLU", "rate too high", "rate too low")


def scenarios(large: float, small: float, rate: float) -> dict[str, tuple[str, float, float]]:
    """name: (activation, factor on the recommended gain, factor on the tuned rate)."""
    return {"healthy tanh": ("tanh", 1.0, 1.0), "weights too large": ("tanh", large, 1.0),
            "weights too small": ("tanh", small, 1.0), "healthy ReLU": ("relu", 1.0, 1.0),
            "rate too high": ("relu", 1.0, rate), "rate too low": ("relu", 1.0, 1 / rate)}


def tune(act: str, lrs: list[float], *, widths: tuple, seeds: int, steps: int) -> tuple[float, bool]:
    """The rate of ``lrs`` with the lowest median final training loss over seeds (a diverged run
    counts as infinite), at the function's recommended start; and whether it is interior to the grid."""
    X, y = data.digits("train", dtype=torch.float32)
    fn = functions.get(act)
    members = [Member(act, widths, seed=s, lr=lr, init=fn.init, gain=fn.gain) for lr in lrs for s in range(seeds)]
    ens = Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=X.dtype)
    fit(ens, X, y, loss="xent", steps=steps, optimizer="sgd", momentum=0.9, batch_size=64)
    with torch.no_grad():
        loss = member_losses(ens(X), y, "xent").numpy()
    loss = np.where(np.isfinite(loss), loss, np.inf).reshape(len(lrs), seeds)
    best = int(np.argmin(np.median(loss, axis=1)))
    return lrs[best], 0 < best < len(lrs) - 1


def _layer_stats(ens: Ensemble, x: torch.Tensor, act: str) -> tuple[np.ndarray, np.ndarray]:
    """(members, layers): the share of unhealthy values (saturated for tanh, exact zeros for the ReLU
    family) and the share of units dead on every probe example (:func:`actlab.deadunits.dead_mask`),
    per hidden layer."""
    from actlab.deadunits import dead_mask

    with torch.no_grad():
        _, _, post = ens.hidden(x)
    share = np.stack([(h.abs() > SATURATED if act == "tanh" else h == 0).float().mean(dim=(1, 2)).numpy()
                      for h in post], 1)
    return share, np.stack([m.mean(axis=1) for m in dead_mask(ens, x)], 1)


@dataclass
class Health:
    """Per scenario, per seed: what each instrument read. ``ratio``: (steps, seeds, layers)."""
    scenarios: list[str]
    chance: float
    lrs: dict               # activation -> (tuned rate, interior?)
    init_loss: dict         # scenario -> (seeds,)
    share_init: dict        # scenario -> (seeds, layers): saturated or zero share at the start
    share_end: dict
    dead_end: dict
    grad_init: dict         # scenario -> (seeds, layers): ‖∂L/∂W_l‖ at the first step
    ratio: dict             # scenario -> (steps, seeds, layers): ‖ΔW_l‖ / ‖W_l‖
    final_loss: dict        # scenario -> (seeds,): training loss at the end (inf if diverged)
    test_error: dict

    def diverged(self, scenario: str) -> np.ndarray:
        """(seeds,) whether the run's training loss ended infinite or NaN."""
        return ~np.isfinite(self.final_loss[scenario])

    def all_dead(self, scenario: str) -> np.ndarray:
        """(seeds,) whether a finite run ended with some hidden layer dead on every probe example."""
        return ~self.diverged(scenario) & (self.dead_end[scenario] >= 1).any(axis=1)

    def finite_median(self, scenario: str, what: dict) -> float:
        """The median over the runs that did not diverge of a per-layer share, averaged over layers
        (NaN if every run diverged: a diverged network's values are NaN, neither saturated nor zero)."""
        ok = ~self.diverged(scenario)
        return float(np.median(what[scenario][ok], 0).mean()) if ok.any() else float("nan")

    def seed_ratios(self, scenario: str, skip: int = 10) -> np.ndarray:
        """(seeds,) each seed's median update ratio over layers and over the steps after the first
        ``skip`` (momentum builds up over the first few), counting only the steps before its values
        turned infinite or NaN (a run that diverged within ``skip`` steps: over all its finite steps).
        A ratio of exactly zero, a layer that no longer moves, counts as :data:`FLOOR`."""
        r = np.where(np.isfinite(self.ratio[scenario]), self.ratio[scenario], np.nan)
        r = np.maximum(r, FLOOR).transpose(1, 0, 2)  # (seeds, steps, layers); NaN stays NaN
        late = r[:, skip:].reshape(len(r), -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a seed with no finite late step: handled below
            out = np.nanmedian(late, axis=1)
            early = np.nanmedian(r.reshape(len(r), -1), axis=1)
        return np.where(np.isnan(out), early, out)

    def update_ratio(self, scenario: str, skip: int = 10) -> Measure:
        """:meth:`seed_ratios`' median over seeds with its interval."""
        return bootstrap(self.seed_ratios(scenario, skip))


def instrumented_fit(ens: Ensemble, X: torch.Tensor, y: torch.Tensor, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Train (momentum SGD, minibatches of 64) with :func:`actlab.gradients.layer_updates`: every
    hidden weight matrix's update ratio ‖ΔW‖/‖W‖ at every step, (steps, members, layers), and its
    gradient norm on the whole of X at the start, (members, layers)."""
    from actlab.gradients import layer_updates

    u = layer_updates(ens, X, y, steps=steps, optimizer="sgd", momentum=0.9, batch_size=64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return u.update[:, :, :-1] / u.weight_before[:, :, :-1], u.grad_init[:, :-1]


def run(*, width: int, depth: int, seeds: int, steps: int, lrs: list[float], large: float = 4.0,
        small: float = 0.25, rate: float = 30.0) -> Health:
    """Tune each activation's rate on ``lrs`` (momentum SGD, ``steps`` steps), then train every
    scenario of :func:`scenarios` from its start at its rate, recording every instrument."""
    plan = scenarios(large, small, rate)
    X, y = data.digits("train", dtype=torch.float32)
    Xt, yt = data.digits("test", dtype=torch.float32)
    widths, probe = (width,) * depth, X[:PROBE]
    k = int(y.max()) + 1
    tuned = {a: tune(a, lrs, widths=widths, seeds=seeds, steps=steps) for a in ("tanh", "relu")}
    out = {f: {} for f in ("init_loss", "share_init", "share_end", "dead_end", "grad_init", "ratio", "final_loss",
                           "test_error")}
    for act in ("tanh", "relu"):
        names = [s for s, (a, _, _) in plan.items() if a == act]
        fn = functions.get(act)
        members = [Member(act, widths, seed=s, lr=tuned[act][0] * plan[n][2], init=fn.init,
                          gain=fn.gain * plan[n][1]) for n in names for s in range(seeds)]
        ens = Ensemble(members, X.shape[1], k, dtype=X.dtype)
        with torch.no_grad():
            init_loss = member_losses(ens(X), y, "xent").numpy()
        share0, _ = _layer_stats(ens, probe, act)
        ratio, grad0 = instrumented_fit(ens, X, y, steps)
        share1, dead1 = _layer_stats(ens, probe, act)
        with torch.no_grad():
            final = member_losses(ens(X), y, "xent").numpy()
            wrong = (ens(Xt).argmax(-1) != yt).float().mean(-1).numpy()
        for j, n in enumerate(names):
            part = slice(j * seeds, (j + 1) * seeds)
            out["init_loss"][n], out["share_init"][n], out["share_end"][n] = init_loss[part], share0[part], share1[part]
            out["dead_end"][n], out["grad_init"][n] = dead1[part], grad0[part]
            out["ratio"][n], out["test_error"][n] = ratio[:, part], wrong[part]
            out["final_loss"][n] = np.where(np.isfinite(final[part]), final[part], np.inf)
    return Health(list(SCENARIOS), float(np.log(k)), tuned, **out)


KEYS = dict(zip(SCENARIOS, ("healthy_tanh", "large", "small", "healthy_relu", "rate_high", "rate_low"), strict=True))


def metrics(h: Health) -> dict:
    """Per scenario (short keys of :data:`KEYS`): ``init_loss_K``, ``share_init_K`` and
    ``share_end_K`` (mean over layers of the seeds' median), ``dead_end_K``, ``grad_first_K`` (the
    first layer's gradient norm at the start, median), ``update_ratio_K`` with its interval,
    ``final_loss_K`` and ``test_error_K`` with theirs; the tuned rates and the chance loss. A
    diverged run's update ratio is that of its steps before it diverged (:meth:`Health.seed_ratios`)."""
    from actlab.verdicts import measure_metrics

    out = {"chance_loss": h.chance, "lr_tanh": h.lrs["tanh"][0], "lr_relu": h.lrs["relu"][0],
           "lr_interior": bool(h.lrs["tanh"][1] and h.lrs["relu"][1])}
    for name, k in KEYS.items():
        out |= {f"init_loss_{k}": float(np.median(h.init_loss[name])),
                f"share_init_{k}": float(np.median(h.share_init[name], 0).mean()),
                f"share_end_{k}": h.finite_median(name, h.share_end),
                f"dead_end_{k}": h.finite_median(name, h.dead_end),
                f"grad_first_{k}": float(np.median(h.grad_init[name][:, 0])),
                f"n_diverged_{k}": int(h.diverged(name).sum()),
                f"n_all_dead_{k}": int(h.all_dead(name).sum())}
        out |= measure_metrics(f"update_ratio_{k}", h.update_ratio(name))
        out |= measure_metrics(f"final_loss_{k}", bootstrap(h.final_loss[name]))
        out |= measure_metrics(f"test_error_{k}", bootstrap(h.test_error[name]))
    out["ratio_fall_rate_low"] = out["update_ratio_healthy_relu"] / out["update_ratio_rate_low"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out["early_ratio_rate_high"] = float(np.nanmedian(np.where(np.isfinite(h.ratio["rate too high"][:5]),
                                                                   h.ratio["rate too high"][:5], np.nan)))
    # the rule of thumb's scale: decades between each seed's ratio and 1e-3, signed and unsigned
    for name, k in KEYS.items():
        with np.errstate(divide="ignore"):
            d = np.log10(h.seed_ratios(name) / 1e-3)
        out |= measure_metrics(f"decades_{k}", bootstrap(np.abs(d) if k.startswith("healthy") else d))
    return out
    return out


def table(h: Health) -> str:
    """One row per scenario, one column per instrument."""
    from actlab.numbers import fmt, pct
    from actlab.tables import markdown_table

    rows = []
    for name in h.scenarios:
        r, e = h.update_ratio(name), bootstrap(h.test_error[name])
        n, bad, dead = len(h.final_loss[name]), int(h.diverged(name).sum()), int(h.all_dead(name).sum())
        final = np.median(h.final_loss[name][~h.diverged(name)]) if bad < n else np.nan
        ended = (f"{fmt(final, 3)}" if bad < n else "—") + (f"; {bad} of {n} runs diverged" if bad else "") + \
            (f"; {dead} of {n} with a layer all dead" if dead else "")
        dead_share = h.finite_median(name, h.dead_end)
        rows.append([name, fmt(np.median(h.init_loss[name]), 3), pct(np.median(h.share_init[name], 0).mean()),
                     fmt(np.median(h.grad_init[name][:, 0])),
                     (f'{fmt(r.value)} <span class="actlab-nowrap">({fmt(r.lo)}–{fmt(r.hi)})</span>'
                      if np.isfinite(r.hi) else "infinite: every step diverged"),
                     pct(dead_share) if np.isfinite(dead_share) else "—", ended, pct(e.value)])
    return markdown_table(["network", f"loss at the start (chance {fmt(h.chance, 3)})",
                           "saturated (tanh) or zero (ReLU) at the start", "‖∂ℒ/∂W₁‖ at the start",
                           "update ÷ weight, per step", "units dead at the end (runs that did not diverge)",
                           "training loss at the end (runs that did not diverge)",
                           "test error"], rows)


def ratio_figure(h: Health):
    """Each scenario's update-to-weight ratio over training (median over seeds and layers), log
    scale, with the rule of thumb's decade around 1e-3 shaded."""
    from actlab import plotting

    fig, axes = plotting.figure(1, 1, width=6.0, height=4.0)
    ax = axes[0, 0]
    ax.axhspan(1e-4, 1e-2, color=plotting.NEUTRAL, alpha=0.08, lw=0)
    ax.axhline(1e-3, color=plotting.NEUTRAL, linestyle=":", linewidth=1)
    styles = {"healthy tanh": ("tanh", "-"), "weights too large": ("tanh", "--"), "weights too small": ("tanh", ":"),
              "healthy ReLU": ("relu", "-"), "rate too high": ("relu", "--"), "rate too low": ("relu", ":")}
    for name in h.scenarios:
        act, ls = styles[name]
        with warnings.catch_warnings():  # a step where every run has diverged is left out
            warnings.simplefilter("ignore", RuntimeWarning)
            r = np.nanmedian(np.where(np.isfinite(h.ratio[name]), h.ratio[name], np.nan), axis=(1, 2))
        steps = np.arange(1, len(r) + 1)
        ok = np.isfinite(r)
        ax.plot(steps[ok], r[ok], color=plotting.color(act), linestyle=ls, label=name)
    ax.set_yscale("log")
    ax.set_ylim(1e-6, 10)  # a run whose layers die falls towards zero: it leaves the chart below
    ax.set_xlabel("training step")
    ax.set_ylabel("‖ΔW‖ ÷ ‖W‖")
    fig.legend(loc="outside lower center", ncol=3)
    return plotting.finish(fig)


def run_cost(*, width: int, depth: int, seeds: int, steps: int, n_lrs: int) -> tuple[float, float]:
    """(seconds, bytes) of :func:`run`: per activation a tuning ensemble and a scenario ensemble."""
    from actlab import workload

    net = workload.mlp(64, (width,) * depth, 10)
    tune_s, tune_b = workload.fit(net, n_lrs * seeds, 64, steps, optimizer="momentum")
    run_s, run_b = workload.fit(net, 3 * seeds, 64, steps, optimizer="momentum", evals=3, keep_rows=PROBE)
    return 2 * (tune_s + 3 * run_s), max(tune_b, run_b)
