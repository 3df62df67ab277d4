"""Gated units in practice (chapter 'gated'): what a gate costs, whether gated units beat their
plain counterparts at the same parameter count, what a trained sigmoid gate does, and why
LeCun's tanh has its constants.

The comparison reuses the practical guide's machinery (``actlab.leaderboard``): every
(activation, seed, learning rate) of a setting trains in one batched ensemble with Adam, each
activation's rate is chosen on a validation split and scored on the test split, and gated
layers are narrowed to the plain network's parameter count (``functions.matched_width``).
A gated unit is compared with its plain counterpart seed by seed; the verdict's interval is a
bootstrap over seeds of the median paired difference, decided only when it excludes zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from actlab import functions
from actlab import leaderboard as lb
from actlab.ensemble import Ensemble, Member, fit
from actlab.verdicts import Measure, Rule, bootstrap, judge

ACTIVATIONS = ("relu", "gelu", "silu", "glu", "reglu", "geglu", "swiglu")
PAIRS = (("swiglu", "silu"), ("geglu", "gelu"), ("reglu", "relu"))  # (gated, its gate as a plain unit)
SWITCH = 0.05  # a sigmoid gate below this, or above 1 - this, acts as a switch (off, or on)
# Shazeer (2020) calls SiLU (swish with beta = 1) "Swish": our names -> his rows of Table 1
SHAZEER_ROWS = {"relu": "relu", "gelu": "gelu", "silu": "swish", "glu": "glu",
                "reglu": "reglu", "geglu": "geglu", "swiglu": "swiglu"}


# ---------------------------------------------------------------- what a gate costs

def width_ratio(n_in: int, n_out: int) -> float:
    """Gated width / plain width at the same weight count, biases ignored: a plain hidden layer of
    width n costs n (n_in + n_out), a gated one of width m costs m (2 n_in + n_out). With
    n_in = n_out (a Transformer's feed-forward block) the ratio is 2/3."""
    return (n_in + n_out) / (2 * n_in + n_out)


def cost_row(n_in: int, width: int, n_out: int, gated: str = "swiglu", depth: int = 1) -> dict:
    """A plain MLP's hidden width and weight count beside the gated one matched to it."""
    m = functions.matched_width(gated, n_in, width, n_out, depth)
    return {"n_in": n_in, "n_out": n_out, "width": width, "gated_width": m,
            "plain_count": functions.weight_count("relu", n_in, (width,) * depth, n_out),
            "gated_count": functions.weight_count(gated, n_in, (m,) * depth, n_out),
            "ratio": m / width, "ratio_formula": width_ratio(n_in, n_out)}


def cost_table(rows: list[tuple[str, dict]]) -> str:
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    out = [[name, str(r["n_in"]), str(r["n_out"]), str(r["width"]), str(r["gated_width"]),
            fmt(r["plain_count"]), fmt(r["gated_count"]), fmt(r["ratio"], 3), fmt(r["ratio_formula"], 3)]
           for name, r in rows]
    return markdown_table(["setting", "inputs", "outputs", "plain width", "gated width", "plain weights",
                           "gated weights", "width ratio", "(n_in + n_out)/(2 n_in + n_out)"], out)


# ---------------------------------------------------------------- the comparison

def settings(*, depth: int = 1, digits_width: int = 64, digits_epochs: int = 10, digits_lrs=(0.003, 0.01, 0.03),
             mnist1d_width: int = 128, mnist1d_epochs: int = 12, mnist1d_lrs=(0.003, 0.01, 0.03)) -> dict[str, lb.Task]:
    """The two settings, by name: MLPs of ``depth`` equal hidden layers on digits (minibatches of
    64) and on MNIST-1D (minibatches of 128), He's initialisation for every function, as in the guide."""
    title = lambda data, w: f"{data}, MLP {'-'.join([str(w)] * depth)}"
    return {
        "digits": lb.Task("digits", title("digits", digits_width), (digits_width,) * depth, tuple(digits_lrs),
                          epochs=digits_epochs),
        "mnist1d": lb.Task("mnist1d", title("MNIST-1D", mnist1d_width), (mnist1d_width,) * depth,
                           tuple(mnist1d_lrs), epochs=mnist1d_epochs, batch_size=128, data="mnist1d"),
    }


_tasks = settings  # for compare(), whose parameter ``settings`` is the chapter's list of setting names


def pairs_in(activations) -> list[tuple[str, str]]:
    """The (gated, plain) pairs whose both members are among ``activations``."""
    return [(g, p) for g, p in PAIRS if g in activations and p in activations]


def paired_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Seed by seed a - b of two test errors (a failed run is inf): a failure against a finished run
    counts as +inf or -inf (the failed side is worst), two failures as a tie, 0."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    fa, fb = ~np.isfinite(a), ~np.isfinite(b)
    with np.errstate(invalid="ignore"):  # inf - inf, replaced below
        d = np.where(fa | fb, 0.0, a - b)
    return np.where(fa & ~fb, np.inf, np.where(fb & ~fa, -np.inf, d))


def metric(gated: str, plain: str, setting: str) -> str:
    return f"{gated}_minus_{plain}_{setting}"


def differences(results: list[lb.TaskResult], pairs) -> dict[str, Measure]:
    """Per (pair, setting): the median over seeds of the gated unit's test error minus its plain
    counterpart's, each at its own chosen rate, with a bootstrap interval over seeds."""
    out = {}
    for r in results:
        err = r.tuned_test()
        for g, p in pairs:
            d = paired_difference(err[r.activations.index(g)], err[r.activations.index(p)])
            out[metric(g, p, r.task.name)] = bootstrap(d, "median")
    return out


def claim_text(gated: str, plain: str) -> str:
    from actlab.plotting import label

    return f"{label(gated)} beats {label(plain)} at the same parameter count"


def verdicts(results: list[lb.TaskResult], pairs) -> list[tuple[str, object]]:
    """One verdict per (gated, plain) pair, a part per setting. Rule, fixed before the numbers: the
    gated unit is better where the median paired difference of test errors is below 0 over its
    whole interval, not better where none of the interval is, undecided where it straddles 0."""
    m = differences(results, pairs)
    items = []
    for g, p in pairs:
        rules = [Rule(metric(g, p, r.task.name), "<", 0.0,
                      f"median over seeds of the paired difference of test errors, {functions.get(g).label} "
                      f"minus {functions.get(p).label}", r.task.title) for r in results]
        items.append((claim_text(g, p) + ".", judge(f"{g}-vs-{p}", rules, m, mode="settings")))
    return items


def tally(items) -> dict[str, int]:
    """Parts (pair x setting) by outcome: 'holds', 'fails', 'undecided'."""
    from actlab.verdicts import FAILS, HOLDS, UNDECIDED

    parts = [p.outcome for _, v in items for p in v.parts]
    return {"holds": parts.count(HOLDS), "fails": parts.count(FAILS), "undecided": parts.count(UNDECIDED),
            "parts": len(parts)}


def agreement(items, n_seeds: int) -> str:
    """Whether our comparisons say what Shazeer's table says (every gated variant better than its
    plain counterpart), as one sentence generated from the verdicts."""
    t = tally(items)
    n = t["parts"]
    if n == 0:
        return "No comparison was run, so there is nothing to set beside it."
    counts = f"the gated unit is better in {t['holds']} of our {n} comparisons, not better in {t['fails']}, " \
             f"and undecided in {t['undecided']} at {n_seeds} seeds"
    if t["holds"] == n:
        return f"Our small setting agrees: {counts}."
    if t["holds"] == 0 and t["fails"] == 0:
        return f"Our small setting can neither confirm nor contradict it: {counts}."
    if t["holds"] == 0:
        return f"Our small setting does not agree: {counts}."
    return f"Our small setting agrees only in part: {counts}."


def shazeer_better(pairs) -> bool:
    """Whether, in Shazeer's Table 1, every gated variant of ``pairs`` has a lower log-perplexity
    than its plain counterpart at both training lengths (cited numbers, compared, not measured)."""
    from actlab import literature

    c = lambda a, steps: literature.get(f"shazeer_logppl_{SHAZEER_ROWS[a]}_{steps}").value
    return all(c(g, s) < c(p, s) for g, p in pairs for s in ("65k", "524k"))


def shazeer_text(pairs) -> str:
    """What Shazeer's Table 1 says about ``pairs``, as a sentence computed from the cited numbers:
    whether every gated variant is better at both training lengths, and whether, after the shorter
    runs, by more than either variant's run-to-run spread."""
    from actlab import literature

    if not pairs:
        return "No pair is compared in this run."
    c = lambda kind, a, steps: literature.get(f"shazeer_{kind}_{SHAZEER_ROWS[a]}_{steps}").value
    if not shazeer_better(pairs):
        return "In his table not every gated variant beats its plain counterpart."
    clear = all(c("logppl", p, "65k") - c("logppl", g, "65k") > max(c("spread", p, "65k"), c("spread", g, "65k"))
                for g, p in pairs)
    return ("In his table every gated variant beats its plain counterpart at both training lengths"
            + (", after the shorter runs by more than either one's run-to-run spread." if clear else "."))


def direction(m: Measure) -> str:
    """'rose', 'fell' or 'did not change decisively': the sign of a paired change, by its interval."""
    return "rose" if m.lo > 0 else "fell" if m.hi < 0 else "did not change decisively"


def shazeer_table(items, measures: dict[str, Measure], results: list[lb.TaskResult]) -> str:
    """Per pair: Shazeer's log-perplexities (cited, in italics) beside our paired differences of
    test errors in each setting, with their intervals and the pair's verdict."""
    from actlab import literature
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    def cited(a, steps):
        row = SHAZEER_ROWS[a]
        text = literature.markdown(f"shazeer_logppl_{row}_{steps}", "{:.3f}")
        return text + (f" ({literature.markdown(f'shazeer_spread_{row}_65k', '{:.3f}')})" if steps == "65k" else "")

    def ours(m: Measure) -> str:
        return f"{fmt(m.value, 2, zero=1e-12)} [{fmt(m.lo, 2, zero=1e-12)}, {fmt(m.hi, 2, zero=1e-12)}]"

    rows = []
    for _, v in items:
        g, p = v.claim.split("-vs-")
        row = [f"{functions.get(g).label} vs {functions.get(p).label}",
               f"{cited(p, '65k')} → {cited(g, '65k')}", f"{cited(p, '524k')} → {cited(g, '524k')}"]
        row += [ours(measures[metric(g, p, r.task.name)]) for r in results]
        row.append(v.label)
        rows.append(row)
    head = ["gated vs plain", "Shazeer, shorter runs (their spread)", "Shazeer, full run"]
    head += [f"ours, {r.task.title}" for r in results] + ["our verdict"]
    return markdown_table(head, rows)


def comparison_figure(results: list[lb.TaskResult]):
    """One panel per setting: every activation's test error at its chosen rate, seed by seed (dots),
    with the median over seeds and its bootstrap interval (bar and line); pairs side by side."""
    from actlab import plotting

    fig, axes = plotting.figure(1, len(results), width=7.0, height=3.0)
    for ax, r in zip(axes[0], results, strict=True):
        err = r.tuned_test()
        order = [a for pair in PAIRS for a in pair[::-1] if a in r.activations]
        order += [a for a in r.activations if a not in order]
        for i, a in enumerate(order):
            e = err[r.activations.index(a)]
            y = len(order) - 1 - i
            finite = np.isfinite(e)
            jitter = np.linspace(-0.18, 0.18, len(e)) if len(e) > 1 else np.zeros(1)
            c = plotting.color(a)
            ax.scatter(100 * e[finite], y + jitter[finite], s=14, color=c, alpha=0.55, linewidths=0)
            m = bootstrap(e, "median")
            if np.isfinite(m.value):  # an interval reaching a failed run is drawn to the worst finished one
                hi = m.hi if np.isfinite(m.hi) else e[finite].max()
                ax.plot([100 * m.lo, 100 * hi], [y, y], color=c, lw=1.8)
                ax.plot([100 * m.value] * 2, [y - 0.3, y + 0.3], color=c, lw=2.6)
        ax.set_yticks(range(len(order)), [plotting.label(a) for a in order][::-1])
        ax.set_ylim(-0.6, len(order) - 0.4)
        ax.set_xlabel("test error (%)")
        ax.set_title(r.task.title)
        ax.grid(axis="y", visible=False)
    return plotting.finish(fig)


@dataclass
class Comparison:
    results: list[lb.TaskResult]   # one per setting
    pairs: list[tuple[str, str]]   # (gated, plain) pairs among the activations
    measures: dict[str, Measure]   # per pair and setting: the median paired difference
    items: list                    # (claim text, Verdict) per pair, a part per setting
    metrics: dict                  # what the chapter records (actlab.record.record_all)


COMPARE_PARAMS = ("activations", "settings", "seeds", "depth", "digits_width", "digits_epochs", "digits_lrs",
                  "mnist1d_width", "mnist1d_epochs", "mnist1d_lrs")  # the chapter's parameters compare() takes


def compare(*, activations, settings, seeds: int, depth: int, digits_width: int, digits_epochs: int, digits_lrs,
            mnist1d_width: int, mnist1d_epochs: int, mnist1d_lrs) -> Comparison:
    """The chapter's comparison at its parameters: every activation, seed and rate of each setting
    (:func:`settings`, by name) as one ensemble, each gated unit against its plain counterpart."""
    from actlab import literature
    from actlab.numbers import pct
    from actlab.verdicts import measure_metrics, measures_metrics

    tasks = _tasks(depth=depth, digits_width=digits_width, digits_epochs=digits_epochs, digits_lrs=digits_lrs,
                   mnist1d_width=mnist1d_width, mnist1d_epochs=mnist1d_epochs, mnist1d_lrs=mnist1d_lrs)
    results = [lb.run_task(tasks[s], activations, seeds) for s in settings]
    pairs = pairs_in(activations)
    measures = differences(results, pairs)
    items = verdicts(results, pairs)
    m = measures_metrics(measures)
    m |= {f"verdict_{v.claim.replace('-vs-', '_')}": v.outcome for _, v in items}
    m |= {f"n_{k}": v for k, v in tally(items).items()}
    m |= {"agreement": agreement(items, seeds), "shazeer_text": shazeer_text(pairs), "n_seeds": seeds}
    for r in results:
        err = r.tuned_test()
        for i, a in enumerate(r.activations):
            m |= measure_metrics(f"err_{a}_{r.task.name}", bootstrap(err[i], "median"))
    board = lb.Board(results)  # the guide's bookkeeping of grid edges
    edges = board.edge_sides()
    m |= {"n_edge": len(edges), "n_choices": board.n_choices(),
          "edge_text": "; ".join(f"{lb.names_text([a])} on {t} ({side})" for t, a, side in edges) or "none"}
    mnist = next((r for r in results if r.task.name == "mnist1d"), None)
    if mnist is not None and "relu" in mnist.activations:
        relu_err = float(np.median(mnist.tuned_test()[mnist.activations.index("relu")]))
        m["relu_acc_mnist1d_text"] = pct(1 - relu_err)
        below = 1 - relu_err < literature.get("greydanus_mnist1d_mlp").value
        m["relu_vs_greydanus"] = "below" if below else "not below"
    else:
        m["relu_acc_mnist1d_text"] = "not measured in this run"
        m["relu_vs_greydanus"] = "to be set beside"
    m["mnist1d_epochs"] = mnist1d_epochs
    return Comparison(results, pairs, measures, items, m)


# ---------------------------------------------------------------- the gate as a switch

def gate_values(task: lb.Task, seeds: int, lr: float, dtype=torch.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(initial, trained, test error): the sigmoid gates sigma(b) of GLU networks of ``task`` on its
    test inputs, before and after the task's training at rate ``lr``, each (seeds, test examples x
    units of the first hidden layer), and the trained networks' test errors (seeds,). These are the
    networks of the comparison's GLU row at that rate (the same widths, seeds, initialisation,
    steps and minibatch order), which their test errors confirm."""
    before, after, err = [], [], []
    for s in range(seeds):  # as lb.run_task: each seed its own split, initial weights and minibatch order
        d = lb.task_data(task, dtype, s)
        (xt, yt), (xs, ys) = d["train"], d["test"]
        ens = Ensemble([lb.member(task, "glu", d["n_in"], d["n_out"], seed=s, lr=lr)], d["n_in"], d["n_out"],
                       dtype=dtype)

        def gates(ens=ens, xs=xs):
            with torch.no_grad():
                _, pre, _ = ens.hidden(xs)
            b = pre[0].chunk(2, -1)[1]  # a gated layer's pre-activations: values, then gate inputs
            return torch.sigmoid(b).reshape(-1).double().numpy()

        before.append(gates())
        steps = task.epochs * math.ceil(len(xt) / task.batch_size) if task.batch_size else task.epochs
        fit(ens, xt, yt, loss=task.loss, steps=steps, batch_size=task.batch_size, seed=s)
        after.append(gates())
        with torch.no_grad():
            err.append(lb.errors(task, ens(xs), ys)[0])
    return np.stack(before), np.stack(after), np.array(err)


def glu_rate(results: list[lb.TaskResult], task: lb.Task) -> tuple[float, np.ndarray | None]:
    """The rate the comparison chose for GLU on ``task`` and the test errors of its networks there
    (seeds,); without a GLU row for the task, the middle of the task's grid and None."""
    r = next((r for r in results if r.task == task and "glu" in r.activations), None)
    if r is None:
        return task.lrs[len(task.lrs) // 2], None
    a = r.activations.index("glu")
    i = r.chosen()[0][a]
    return r.lrs[i], r.test[a, :, i]


def switch_share(gates: np.ndarray, eps: float = SWITCH) -> np.ndarray:
    """(seeds,) share of gate values below ``eps`` or above 1 - ``eps``: gates that act as switches."""
    g = np.asarray(gates)
    return ((g < eps) | (g > 1 - eps)).mean(axis=-1)


# ---------------------------------------------------------------- LeCun's tanh

@cache
def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.hermite_e.hermegauss(n)  # an eigenvalue problem: computed once per n
    return x, w / math.sqrt(2 * math.pi)


def gaussian_mean(fn, n: int = 201) -> float:
    """E[fn(z)] for z ~ N(0, 1), by Gauss-Hermite quadrature (exact for polynomials up to degree
    2n - 1; for the smooth bounded functions here, to about 1e-12)."""
    x, w = _hermite(n)
    return float(np.sum(w * fn(x)))


def _f(name: str):
    act = functions.get(name)
    return lambda x: act.numpy(np.asarray(x, dtype=np.float64))


def output_variance(name: str, input_sd: float = 1.0) -> float:
    """Var f(s z) for z ~ N(0, 1); the functions here are odd, so it is E f(s z)^2."""
    f = _f(name)
    mean = gaussian_mean(lambda z: f(input_sd * z))
    return gaussian_mean(lambda z: f(input_sd * z) ** 2) - mean ** 2


def mean_slope(name: str, input_sd: float = 1.0) -> float:
    """E f'(s z) for z ~ N(0, 1): the gain a unit's slope applies on average over its inputs."""
    act = functions.get(name)
    return gaussian_mean(lambda z: act.numpy_derivative(np.asarray(input_sd * z, dtype=np.float64)))


def unit_variance_scale(slope: float = functions.LECUN_TANH_SLOPE) -> float:
    """The a for which Var(a tanh(slope z)) = 1 with z ~ N(0, 1)."""
    return 1 / math.sqrt(gaussian_mean(lambda z: np.tanh(slope * z) ** 2))


def unit_at_one_scale(slope: float = functions.LECUN_TANH_SLOPE) -> float:
    """The a for which a tanh(slope) = 1: LeCun's f(1) = 1."""
    return 1 / math.tanh(slope)


def variance_map(name: str, depth: int, q0: float = 1.0) -> np.ndarray:
    """(depth,) pre-activation variance layer by layer in a wide network with LeCun-normal weights
    (variance 1/fan_in) and no biases: q_1 = q0, q_{l+1} = E f(sqrt(q_l) z)^2 (mean-field, the
    width taken to infinity): the vanishing-gradients chapter's recursion with weight variance 1."""
    from actlab.initialisation import mean_field

    return mean_field(name, 1.0, depth, q1=q0, n_nodes=201)[0]


def fixed_point(name: str, lo: float = 1e-3, hi: float = 10.0) -> float:
    """The nonzero q with E f(sqrt(q) z)^2 = q, by bisection; nan if there is none in [lo, hi]."""
    f = _f(name)
    g = lambda q: gaussian_mean(lambda z: f(math.sqrt(q) * z) ** 2) - q
    if g(lo) * g(hi) > 0:
        return math.nan
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if g(lo) * g(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def measured_variances(names, depth: int, width: int, seeds: int, n: int = 256,
                       dtype=torch.float64) -> np.ndarray:
    """(names, seeds, depth) variance of the pre-activations of each hidden layer of random
    networks (LeCun-normal weights, zero biases) on standard-normal inputs of dimension ``width``:
    the finite-width check of :func:`variance_map`."""
    x = torch.randn(n, width, generator=torch.Generator().manual_seed(12345), dtype=dtype)
    ens = Ensemble([Member(a, (width,) * depth, seed=s, init="lecun") for a in names for s in range(seeds)],
                   width, 1, dtype=dtype)
    with torch.no_grad():
        _, pre, _ = ens.hidden(x)
    v = torch.stack([p.var(dim=(1, 2), unbiased=False) for p in pre], -1)  # (members, depth)
    return v.reshape(len(names), seeds, depth).numpy()


def measured_variances_cost(n_names: int, depth: int, width: int, seeds: int, n: int = 256) -> tuple[float, float]:
    """(seconds, bytes) of :func:`measured_variances`: one float64 forward pass, every layer kept."""
    from actlab import workload

    return workload.fit(workload.mlp(width, (width,) * depth, 1), n_names * seeds, 0, 0, itemsize=8, evals=1,
                        keep_rows=n)


def curvature_peak(name: str = "lecun_tanh", x_max: float = 3.0, n: int = 300_001) -> float:
    """Where |f''| is largest for x > 0 (LeCun et al. chose the constants so that it is near 1),
    from autograd of the registry's derivative on a fine grid."""
    x = torch.linspace(0, x_max, n, dtype=torch.float64, requires_grad=True)
    d2, = torch.autograd.grad(functions.get(name).derivative(x).sum(), x)
    return float(x.detach()[d2.abs().argmax()])


def gate_and_variance_figure(before: np.ndarray, after: np.ndarray, depth_q: dict, measured: np.ndarray,
                             names: list[str], eps: float = SWITCH):
    """Left: histograms of GLU gate values at initialisation and after training, with the switch
    zones (below eps, above 1 - eps) shaded. Right: pre-activation variance layer by layer for
    tanh and LeCun's tanh, mean-field (lines) and random networks (dots, one per seed)."""
    from actlab import plotting

    fig, axes = plotting.figure(1, 2, width=7.0, height=3.0)
    ax = axes[0, 0]
    bins = np.linspace(0, 1, 41)
    for vals, text, colour, ls in ((before, "at initialisation", plotting.NEUTRAL, "--"),
                                   (after, "after training", plotting.color("glu"), "-")):
        h, _ = np.histogram(vals.ravel(), bins=bins)
        ax.stairs(100 * h / vals.size, bins, color=colour, linestyle=ls, lw=1.8, label=text)
    for a, b in ((0, eps), (1 - eps, 1)):
        ax.axvspan(a, b, color="#999999", alpha=0.25, lw=0)
    ax.set_xlabel("gate value σ(b)")
    ax.set_ylabel("share of gate values (%)")
    ax.set_title("GLU gates, digits")
    ax.legend(loc="upper center")
    ax = axes[0, 1]
    layers = np.arange(1, measured.shape[-1] + 1)
    for i, a in enumerate(names):
        ax.plot(layers, depth_q[a], **plotting.style(a))
        for s in range(measured.shape[1]):
            ax.scatter(layers, measured[i, s], s=10, color=plotting.color(a), alpha=0.6, linewidths=0)
    ax.axhline(1.0, color=plotting.NEUTRAL, lw=0.8)
    ax.set_ylim(0, None)
    ax.set_xlabel("hidden layer")
    ax.set_ylabel("pre-activation variance")
    ax.set_title("LeCun-normal weights")
    ax.legend(loc="center right")
    return plotting.finish(fig)
