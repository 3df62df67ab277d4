"""The tanh chapter's race: the sigmoid against tanh on digits, epochs to a target error by depth,
each at its tuned learning rate (:func:`actlab.convergence.run`), with the per-seed ratios the
claim is decided on. :func:`run` takes the chapter's parameters and returns every number the
chapter quotes as one result, so the chapter and its exercise record the same names."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actlab import convergence, data
from actlab.numbers import fmt
from actlab.plotting import label
from actlab.verdicts import bootstrap, measure_metrics, wilson


@dataclass
class Race:
    sweep: convergence.SpeedSweep
    ep: np.ndarray    # (acts, depths, seeds) epochs to the training target at the tuned rate
    ept: np.ndarray   # (acts, depths, seeds) epochs to the held-out target at the same rate
    metrics: dict     # what the chapter records (actlab.record.record_all)


CELL = "tanh-race"


def run(**params) -> dict[str, Race]:
    """The race from each start of ``params["starts"]`` (the evidence cell ``tanh-race``: stored at
    the chapter's defaults, computed once under ``_build/evidence`` at other parameters), by start.
    The first start's metrics are recorded under their own names (the claim reads them), the
    others' with the start as a prefix (``default_speed_ratio_deep``)."""
    from actlab import evidence, speedsweeps

    evidence.require_all(CELL, params, "the tanh race")
    stored = evidence.load(CELL, **params)["by_start"]
    p = {k: v for k, v in params.items() if k != "starts"}
    races = {s: _race(speedsweeps.speed_sweep_from(stored[s]), **p) for s in params["starts"]}
    first = params["starts"][0]
    for s, r in races.items():
        if s != first:
            races[first].metrics |= {f"{s}_{k}": v for k, v in r.metrics.items()}
    return races


def _race(sweep: convergence.SpeedSweep, *, activations, depths, lrs, tune_rounds: int, seeds: int, epochs: int,
          target_error: float, heldout_target: float, eval_every: int, eval_examples: int, width: int) -> Race:
    """Every number the chapter quotes about one sweep of the race."""
    y = data.digits("train")[1]
    ep, loss = sweep.tuned()
    best = sweep.best_lr()
    ep_all_test = sweep.epochs_to_target(held_out=True, target=heldout_target)
    ept = np.array([[ep_all_test[a, d, best[a, d]] for d in range(len(sweep.depths))]
                    for a in range(len(sweep.activations))])
    m = {}
    for a, act in enumerate(sweep.activations):
        for d, depth in enumerate(sweep.depths):
            m |= measure_metrics(f"epochs_{act}_d{depth}", bootstrap(ep[a, d]))
            m |= measure_metrics(f"epochs_test_{act}_d{depth}", bootstrap(ept[a, d]))
            m[f"never_{act}_d{depth}"] = int(np.isinf(ep[a, d]).sum())
            m[f"loss_{act}_d{depth}"] = float(np.nanmedian(loss[a, d]))
            m[f"lr_{act}_d{depth}"] = sweep.lrs[best[a, d]]
    deep = len(sweep.depths) - 1
    for a, act in enumerate(sweep.activations):
        m[f"epochs_{act}_deepest"] = float(np.median(ep[a, deep]))
        m[f"never_{act}_deepest"] = int(np.isinf(ep[a, deep]).sum())
        m[f"loss_{act}_deepest"] = float(np.nanmedian(loss[a, deep]))
        m[f"loss_{act}_deepest_text"] = fmt(float(np.nanmedian(loss[a, deep])), sig=2)
    m["deepest"] = sweep.depths[-1]
    if "tanh" in sweep.activations:
        e = float(np.median(ep[sweep.activations.index("tanh"), deep]))
        m["tanh_deepest_need_text"] = (f"needed a median {fmt(e, sig=2)} epochs" if np.isfinite(e)
                                       else "did not reach the target either (median over seeds)")
    m["shallowest"] = sweep.depths[0]
    m["shallowest_layers_text"] = f"{sweep.depths[0]} hidden layer" + ("" if sweep.depths[0] == 1 else "s")
    m |= {"seeds": seeds, "epochs": epochs, "tune_rounds": tune_rounds, "target_error": target_error,
          "heldout_target": heldout_target,
          "width": width, "eval_every": eval_every, "eval_examples": eval_examples}
    m["eval_fraction"] = eval_every / (-(-len(y) // 64))
    m["n_networks"] = int(sweep.trained.sum()) * seeds
    m["diverged"] = int(sweep.diverged().sum())
    m["lrs_tried"] = ", ".join(fmt(v) for v in sweep.lrs)
    reached = np.isfinite(ep).any(-1)  # (acts, depths): some rate reached the training target
    # a setting where no rate reached the target has no tuned rate: its "best" is not on an edge or inside
    n_set, n_edge = int(reached.sum()), int((~sweep.interior() & reached).sum())
    m["lr_edges"], m["lr_settings"] = n_edge, n_set
    none_reached = [f"{label(a)} with {depth} hidden layer{'s' if depth > 1 else ''}"
                    for i, a in enumerate(sweep.activations) for d, depth in enumerate(sweep.depths)
                    if not reached[i, d]]
    m["none_reached_text"] = "; ".join(none_reached) if none_reached else "none"
    m["n_none_reached"] = len(none_reached)
    m["lr_edge_text"] = _edge_text(n_set, n_edge, none_reached)
    m["init_bound_text"] = f"±1/√{width}"
    m["eval_step_text"] = fmt(float(np.diff(sweep.epochs())[0]), sig=2)
    if {"sigmoid", "tanh"} <= set(sweep.activations):
        m |= _ratios(sweep, ep, ept, epochs, seeds)
    return Race(sweep, ep, ept, m)


def _edge_text(n_set: int, n_edge: int, none_reached: list[str]) -> str:
    text = (f"Of the {n_set} setting{'s' if n_set != 1 else ''} in which some rate reached the target, "
            + ("none has its best rate on an edge of what was tried" if n_edge == 0 else
               f"{'all' if n_edge == n_set else n_edge} ha{'ve' if n_edge != 1 else 's'} "
               f"{'their' if n_edge != 1 else 'its'} best rate on an edge of what was tried "
               "(a faster rate may lie beyond it)") + ". ")
    if none_reached:
        k = len(none_reached)
        return text + (f"No rate reached the target in {k} setting{'s' if k != 1 else ''} "
                       f"({'; '.join(none_reached)}): there is no tuned rate to speak of, and "
                       f"{'those settings count' if k != 1 else 'that setting counts'} as censored below.")
    return text + "In every setting some rate reached the target."


def _ratios(sweep: convergence.SpeedSweep, ep: np.ndarray, ept: np.ndarray, epochs: int, seeds: int) -> dict:
    """The claim's numbers: per seed, the sigmoid's epochs over tanh's at the shallowest and the
    deepest setting, on training and held-out error, and the deep sigmoid's final error."""
    s, t = sweep.activations.index("sigmoid"), sweep.activations.index("tanh")
    deep = len(sweep.depths) - 1
    ratios = {}
    for name, d in (("shallow", 0), ("deep", deep)):
        # per seed: sigmoid's epochs / tanh's (seed k of each starts from its own init); a censored
        # lower bound where the sigmoid never reached the target on any seed
        ratios[f"speed_ratio_{name}"] = convergence.ratio_measure(ep[s, d], ep[t, d], epochs, "sigmoid")
        ratios[f"speed_ratio_test_{name}"] = convergence.ratio_measure(ept[s, d], ept[t, d], epochs, "sigmoid")
    m = {}
    bounds = sorted({r.method.split(": ", 1)[1] for r in ratios.values() if r.hi == float("inf")})
    m["censor_note_text"] = ("“At least” marks a lower bound: " + "; ".join(bounds) + ".") if bounds else ""
    for key, r in ratios.items():
        m |= measure_metrics(key, r)
        if r.hi == float("inf"):  # censored: a bound, never shown with an interval
            short = f"at least {fmt(r.value)}"
            text = f"{short} (a lower bound: {r.method.split(': ', 1)[1]})"
        else:
            short = text = fmt(r.value) + ("" if r.lo == r.hi else f" ({fmt(r.lo)}–{fmt(r.hi)})")
        m[key + "_text"] = text
        m[key + "_short"] = short  # for a sentence that states the censoring itself
    m |= measure_metrics("never_sigmoid_deep_rate", wilson(int(np.isinf(ep[s, deep]).sum()), seeds))
    # the sigmoid's final training error at the deepest setting, at every rate tried (chance: 0.9)
    tried = sweep.trained[s, deep]
    err_min = float(sweep.error[s, deep, ..., -1][tried].min())
    m["final_err_sigmoid_deepest_min"] = err_min
    lr_top = fmt(max(np.array(sweep.lrs)[tried]))
    at_chance = err_min > 0.8 and bool(np.isinf(ep[s, deep]).all())
    m["chance_text"] = (
        f"At every rate tried up to {lr_top}, the deep sigmoid's final training error is at least "
        f"{fmt(err_min, sig=2)}, about the 0.9 of guessing among ten classes (a loss of ln 10 ≈ 2.3): "
        "it stays at chance." if at_chance else
        f"The deep sigmoid's lowest final training error over the rates tried is {fmt(err_min, sig=2)}.")
    return m


def _cell(v: np.ndarray) -> str:
    """Median (95% bootstrap interval) of epochs to target; one value when the interval is a point."""
    m = bootstrap(v)
    if not np.isfinite(m.value):
        return f"never ({int(np.isinf(v).sum())} of {len(v)})"
    iv = "" if m.lo == m.hi else f" ({fmt(m.lo)}–{fmt(m.hi)})"
    miss = int(np.isinf(v).sum())
    return fmt(m.value) + iv + (f", {miss} of {len(v)} never" if miss else "")


def speed_table(race: Race) -> str:
    """The chapter's table: per depth and activation, epochs to the training and the held-out
    target at the tuned rate (median and interval over seeds), and the tuned rate."""
    from actlab.tables import markdown_table

    sw, ep, ept, best = race.sweep, race.ep, race.ept, race.sweep.best_lr()
    reached = np.isfinite(ep).any(-1)
    rows = [[str(depth)] + [f"{_cell(ep[a, d])}; held-out {_cell(ept[a, d])} "
                            + (f"(lr {fmt(sw.lrs[best[a, d]])})" if reached[a, d] else "(no rate reached it)")
                            for a in range(len(sw.activations))] for d, depth in enumerate(sw.depths)]
    return markdown_table(["hidden layers"] + [label(a) for a in sw.activations], rows)


START_NAMES = {"recommended": "each its recommended (Xavier; gain 5/3 for tanh, 1 for the sigmoid)",
               "default": "PyTorch's default (uniform ±1/√fan-in, weights and biases)",
               "matched": "matched scale (tanh's recommended; the sigmoid's weights four times tanh's)"}


def starts_table(races: dict[str, Race]) -> str:
    """The claim's four ratios (sigmoid ÷ tanh epochs to the target, per seed) from each start."""
    from actlab.tables import markdown_table

    keys = ("speed_ratio_shallow", "speed_ratio_deep", "speed_ratio_test_shallow", "speed_ratio_test_deep")
    rows = [[START_NAMES[s]] + [r.metrics[k + "_short"] for k in keys] for s, r in races.items()]
    return markdown_table(["initial weights", "training, shallowest", "training, deepest", "held out, shallowest",
                           "held out, deepest"], rows)
