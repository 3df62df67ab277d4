"""Convergence speed on digits: epochs to a target error, learning rate tuned per activation
and depth, as one ensemble over activations x depths x learning rates x seeds.

Speed here is a number of SGD steps, never wall time: the cost of one step is a separate
question (the properties chapter times it).

Errors are measured every ``eval_every`` steps, so "epochs to target" has the resolution of a
fraction of an epoch, on the training set and, when given, on held-out data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from actlab.ensemble import Ensemble, Member, fit
from actlab.tuning import best_index


@dataclass
class SpeedSweep:
    activations: list[str]
    depths: list[int]
    lrs: list[float]
    seeds: int
    error: np.ndarray  # (acts, depths, lrs, seeds, evals): training error at each evaluation
    loss: np.ndarray   # (acts, depths, lrs, seeds): final training loss (nan/inf if diverged)
    target: float
    evals_per_epoch: int = 1
    error_test: np.ndarray | None = None      # same shape as error, on held-out data
    eval_epochs: np.ndarray | None = None     # (evals,) the epoch (fractional) of each evaluation
    trained: np.ndarray | None = None         # (acts, depths, lrs) bool: that rate was run (tuning)
    inspected: dict | None = None             # (act, depth, lr) -> inspect(ens) of its seeds, when asked

    @property
    def test_error(self):
        return self.error_test

    def epochs(self) -> np.ndarray:
        if self.eval_epochs is not None:
            return self.eval_epochs
        return np.arange(self.error.shape[-1]) / self.evals_per_epoch

    def epochs_to_target(self, held_out: bool = False, target: float | None = None) -> np.ndarray:
        """First evaluation (in epochs) with error <= target; inf if never, or if the run
        diverged (non-finite final loss) even after reaching it. (acts, depths, lrs, seeds)."""
        err = self.error_test if held_out else self.error
        if err is None:
            raise ValueError("no held-out errors were measured: pass X_test and y_test to run()")
        hit = err <= (self.target if target is None else target)
        first = self.epochs()[np.argmax(hit, axis=-1)].astype(float)
        first[~hit.any(-1) | ~np.isfinite(self.loss)] = np.inf
        return first

    def diverged(self) -> np.ndarray:
        bad = ~np.isfinite(self.loss)
        return bad if self.trained is None else bad & self.trained[..., None]

    def best_lr(self) -> np.ndarray:
        """Index of the tuned learning rate per (act, depth): fewest median epochs to target,
        ties broken by the lower median final loss."""
        ep = np.median(self.epochs_to_target(), -1)
        loss = np.median(np.where(np.isfinite(self.loss), self.loss, np.inf), -1)
        return np.array([[min(range(len(self.lrs)), key=lambda j: (ep[a, d, j], loss[a, d, j]))
                          for d in range(len(self.depths))] for a in range(len(self.activations))])

    def tuned(self) -> tuple[np.ndarray, np.ndarray]:
        """(epochs to target, final loss) at the tuned learning rate: (acts, depths, seeds) each."""
        j = self.best_lr()
        ep, loss = self.epochs_to_target(), self.loss
        pick = lambda v: np.array([[v[a, d, j[a, d]] for d in range(len(self.depths))]
                                   for a in range(len(self.activations))])
        return pick(ep), pick(loss)

    def interior(self) -> np.ndarray:
        """(acts, depths) bool: the tuned rate is neither the smallest nor the largest tried."""
        j = self.best_lr()
        return (j > 0) & (j < len(self.lrs) - 1)


def mlp(width: int = 64):
    """The default network of a speed sweep: ``depth`` hidden layers of ``width`` units; ``init`` is a
    scheme or a (scheme, gain) pair."""
    def make(act, depth, lr, seed, init):
        scheme, gain = (init, 1.0) if isinstance(init, str) else init
        return Member(act, (width,) * depth, seed=seed, lr=lr, init=scheme, gain=gain)
    return make


def _train(specs, seeds: int, X, y, *, width, epochs, batch_size, momentum, scheme, eval_every,
           eval_examples, X_test, y_test, dtype, network=None, optimizer="sgd", inspect=None):
    """Train every (activation, depth, lr) spec x seed; errors (specs, seeds, evals), final
    losses (specs, seeds), held-out errors or None, the epoch of each evaluation, and
    ``inspect(ens)`` of the trained ensemble (member order) or None."""
    make = network or mlp(width)
    X = X.to(dtype)
    Xe, ye = X[:eval_examples], y[:eval_examples]
    Xt = None if X_test is None else X_test.to(dtype)
    per_epoch = -(-len(y) // batch_size)
    steps = epochs * per_epoch
    logged = [0] + [k for k in range(1, steps + 1) if k % eval_every == 0 or k == steps]
    errs, tests, finals, seen = [], [], [], []
    for s in range(seeds):  # each seed its own ensemble: its own initial weights and minibatch order
        ens = Ensemble([make(a, d, lr, s, scheme[a]) for a, d, lr in specs], X.shape[1], int(y.max()) + 1,
                       dtype=dtype)
        errors, test = [], []

        def error(step, e, errors=errors, test=test):
            with torch.no_grad():
                errors.append((e(Xe).argmax(-1) != ye).double().mean(1).numpy())
                if Xt is not None:
                    test.append((e(Xt).argmax(-1) != y_test).double().mean(1).numpy())

        error(0, ens)
        hist = fit(ens, X, y, loss="xent", steps=steps, optimizer=optimizer, momentum=momentum,
                   batch_size=batch_size, log_every=eval_every, callback=error, seed=s)
        errs.append(np.stack(errors, -1))
        tests.append(np.stack(test, -1) if test else None)
        finals.append(hist[-1])
        if inspect is not None:
            seen.append(np.asarray(inspect(ens)))
    shape = (len(specs), seeds)
    err = np.stack(errs, 1)  # (specs, seeds, evals)
    test = np.stack(tests, 1) if tests[0] is not None else None
    seen = np.stack(seen, 1) if inspect is not None else None  # (specs, seeds, ...)
    return err, np.stack(finals, 1).reshape(shape), test, np.array(logged) / per_epoch, seen


def run(activations, depths, lrs, seeds: int, X, y, *, width: int = 64, epochs: int = 20,
        batch_size: int = 64, target: float = 0.05, momentum: float = 0.9,
        init: str | dict = "default", evals_per_epoch: int = 1, eval_examples: int | None = None,
        eval_every: int | None = None, X_test=None, y_test=None, tune_rounds: int = 0,
        factor: float = 3.0, dtype=torch.float32, held_out: tuple | None = None, network=None,
        optimizer: str = "sgd", inspect=None) -> SpeedSweep:
    """``init``: one scheme for all, or {activation: scheme or (scheme, gain)}. ``network(act, depth, lr, seed, init)``
    makes one :class:`~actlab.ensemble.Member` (default :func:`mlp` of ``width``: a CNN such as
    ``ensemble.mnist1d_cnn`` fits in too, with ``depths`` only labelling it); ``optimizer``: "sgd"
    (with ``momentum``) or "adam". ``inspect(ens)``, if given, is called on each trained ensemble and
    returns one row per member (say, its dead units), kept per (activation, depth, rate) in
    ``SpeedSweep.inspected`` as (seeds, ...). The training error is measured on
    the first ``eval_examples`` training examples (all if None), every ``eval_every`` steps (or
    ``evals_per_epoch`` times an epoch), and on (X_test, y_test) when given.

    ``tune_rounds`` > 0: where an (activation, depth)'s best rate (fewest median epochs to the
    training target) is the smallest or largest of the grid, train it once more at a rate
    ``factor`` beyond, batched, up to that many times; where no rate reached the target, a rate
    ``factor`` above the largest, unless every run at the largest diverged. The returned grid is the union of the
    rates tried; an (activation, depth) not trained at a rate reads as never reaching the target
    there (nan loss), so it cannot win."""
    if held_out is not None:  # (X_test, y_test), the other spelling
        X_test, y_test = held_out
    scheme = init if isinstance(init, dict) else {a: init for a in activations}
    per_epoch = -(-len(y) // batch_size)
    if eval_every is None:
        if per_epoch % evals_per_epoch:
            raise ValueError(f"evals_per_epoch must divide the {per_epoch} steps of an epoch")
        eval_every = per_epoch // evals_per_epoch
    kw = dict(width=width, epochs=epochs, batch_size=batch_size, momentum=momentum, scheme=scheme,
              eval_every=eval_every, eval_examples=eval_examples, X_test=X_test, y_test=y_test, dtype=dtype,
              network=network, optimizer=optimizer, inspect=inspect)
    results = {}  # (a, d, lr) -> (err (S, T), loss (S,), test (S, T) | None)
    seen = {}     # (a, d, lr) -> inspect's rows of its seeds

    def train(specs):
        err, loss, test, when, rows = _train(specs, seeds, X, y, **kw)
        for k, sp in enumerate(specs):
            results[sp] = (err[k], loss[k], None if test is None else test[k])
            if rows is not None:
                seen[sp] = rows[k]
        return when

    when = train([(a, d, lr) for a in activations for d in depths for lr in lrs])
    grid = sorted(float(v) for v in lrs)

    def first(err, loss):
        hit = err <= target
        ep = when[np.argmax(hit, -1)].astype(float)
        ep[~hit.any(-1) | ~np.isfinite(loss)] = np.inf
        return ep

    for _ in range(tune_rounds):
        todo = {}
        for a in activations:
            for d in depths:
                have = [lr for lr in grid if (a, d, lr) in results]
                scores = np.stack([first(*results[(a, d, lr)][:2]) for lr in have], 1)
                b = best_index(scores)
                if b is not None and 0 < b < len(have) - 1:
                    continue
                if b is None:  # no rate reached the target: a larger one, unless the largest diverged
                    if not np.isfinite(results[(a, d, have[-1])][1]).any():
                        continue
                    new = have[-1] * factor
                else:
                    new = have[0] / factor if b == 0 else have[-1] * factor
                todo.setdefault(new, []).append((a, d, new))
        if not todo:
            break
        for new, specs in todo.items():
            train(specs)
            grid = sorted(set(grid) | {new})
    T = len(when)
    blank = (np.ones((seeds, T)), np.full(seeds, np.nan), None if X_test is None else np.ones((seeds, T)))
    get = lambda a, d, lr, i: results.get((a, d, lr), blank)[i]
    shape = (len(activations), len(depths), len(grid), seeds)
    err = np.stack([get(a, d, lr, 0) for a in activations for d in depths for lr in grid]).reshape(*shape, T)
    loss = np.stack([get(a, d, lr, 1) for a in activations for d in depths for lr in grid]).reshape(shape)
    test = None if X_test is None else np.stack(
        [get(a, d, lr, 2) for a in activations for d in depths for lr in grid]).reshape(*shape, T)
    trained = np.array([(a, d, lr) in results for a in activations for d in depths for lr in grid])
    return SpeedSweep(list(activations), list(depths), grid, seeds, err, loss, target,
                      evals_per_epoch, test, when, trained.reshape(shape[:3]), seen if inspect is not None else None)


def run_cost(activations, depths, n_lrs: int, seeds: int, n: int, *, n_in: int, n_out: int = 10, width: int = 64,
             epochs: int, batch_size: int = 64, eval_every: int, eval_examples: int | None = None, n_test: int = 0,
             tune_rounds: int = 0, optimizer: str = "sgd", momentum: float = 0.9, network=None,
             itemsize: int = 4) -> tuple[float, float]:
    """(seconds, bytes) of :func:`run` (one ensemble per seed) on ``n`` training examples of ``n_in`` features, each round of
    ``tune_rounds`` priced as one more rate for every (activation, depth), trained on its own.
    ``network(activation, depth)``: the :class:`~actlab.workload.Net` of a member (an MLP of
    ``width`` by default).

    Not priced: the ReLU chapter's speed sweep (three activations in one block, evaluated after
    every step) measured 0.64 to 1.6 GB where it allocates about 0.2 GB: under the Makefile's
    MALLOC_MMAP_THRESHOLD_ (32 MB) glibc does not reuse the freed evaluation buffers and the heap
    grows with every evaluation (with 4 MB it stays at 0.22 GB, at twice the CPU time)."""
    from actlab import functions, workload

    steps = workload.steps(n, epochs, batch_size)
    kw = dict(optimizer="momentum" if optimizer == "sgd" and momentum else optimizer, itemsize=itemsize,
              evals=steps // eval_every + 2, eval_rows=min(eval_examples or n, n) + n_test)
    nets = [network(a, d) if network else workload.mlp(n_in, (width,) * d, n_out, functions.get(a).pieces)
            for a in activations for d in depths]
    blocks = [(net, n_lrs * nets.count(net), nets.count(net)) for net in set(nets)]  # equal shapes share one
    seconds, peak = workload.ensemble(blocks, batch_size, steps, **kw)
    seconds *= seeds  # each seed its own ensemble, one after another
    more = sum(workload.fit(net, seeds, batch_size, steps, **kw)[0] for net in nets)  # one (activation, depth)
    return seconds + tune_rounds * more, peak


def speed_ratio(slow: np.ndarray, fast: np.ndarray, budget: float) -> np.ndarray:
    """Elementwise slow / fast epochs, pairing seeds, with a run that never reached the target
    counted as reaching it at the end of the ``budget``. The ratio is then a bound, never an
    exaggeration: a lower bound when only the slow run never got there, an upper bound when only
    the fast one did not, and 1 (a tie) when neither did."""
    slow, fast = (np.where(np.isfinite(v), v, budget).astype(float) for v in (slow, fast))
    return slow / fast


CENSORED = "censored lower bound"


def ratio_measure(slow: np.ndarray, fast: np.ndarray, budget: float, slow_name: str = "the slower",
                  halves: bool = True):
    """Seed-by-seed ``slow`` ÷ ``fast`` epochs to a target as a Measure.

    When every ``slow`` run never reached the target and every ``fast`` run did, the ratio is
    censored: each seed's ratio is at least budget ÷ fast, and nothing bounds it from above. The
    Measure is then a lower bound, not an estimate: value = the median of those per-seed bounds,
    lo = the smallest (every seed's ratio is at least that), hi = +inf, and its method starts with
    :data:`CENSORED` (the verdict prints it as "≥ value"). Otherwise, a bootstrap interval of
    :func:`speed_ratio` (never-runs counted at the budget), the censored seeds counted in its method.
    With ``halves``, the same on each half of the seeds (:func:`actlab.verdicts.halved`)."""
    from actlab.verdicts import Measure, bootstrap, halved

    slow, fast = np.asarray(slow, float), np.asarray(fast, float)
    n, k = len(slow), int((~np.isfinite(slow)).sum())
    if k == n and np.isfinite(fast).all():
        lb = budget / fast
        m = Measure(float(np.median(lb)), float(lb.min()), float("inf"), n,
                    f"{CENSORED}: {slow_name} never reached the target on {k} of {n} seeds")
    else:
        b = bootstrap(speed_ratio(slow, fast, budget), halves=False)
        kf = int((~np.isfinite(fast)).sum())
        notes = [f"{c} of {n} {w} never reached it, counted at the budget"
                 for c, w in ((k, slow_name), (kf, "the other")) if c]
        m = Measure(b.value, b.lo, b.hi, b.n, b.method + ("; " + "; ".join(notes) if notes else ""))
    return halved(m, lambda s, f: ratio_measure(s, f, budget, slow_name, halves=False), slow, fast) if halves else m


@dataclass
class TunedSpeed:
    """Per activation: the tuned learning rate (``tuning.Tuned``, scored on epochs to the
    training target) and, at that rate, epochs to the target on training and held-out data
    (seeds,) plus which of those runs diverged (None where no rate reached the target).

    ``runs[act][lr]`` keeps every rate tried: a :class:`Run` with the error curves (seeds, evals)
    at the epochs ``eval_epochs``, and what ``inspect`` returned for its seeds."""
    activations: list[str]
    tuned: dict
    train: dict
    test: dict
    diverged: dict
    epochs: int
    runs: dict = field(default_factory=dict)
    eval_epochs: np.ndarray | None = None

    def at_tuned(self, act: str):
        """The :class:`Run` at ``act``'s tuned rate; None where no rate reached the target."""
        t = self.tuned[act]
        return None if t.best is None else self.runs[act][t.lr]

    def ratio(self, slow: str, fast: str, held_out: bool = False):
        """``slow`` ÷ ``fast`` epochs to target, seed by seed, as a bootstrap Measure."""
        d = self.test if held_out else self.train
        return censored_ratio(d[slow], d[fast], self.epochs)


@dataclass
class Run:
    """One (activation, rate) of a tuned sweep: per seed, error curves on training and held-out
    data (seeds, evals), epochs to the target on each, whether it diverged, final loss, and
    ``inspect``'s rows (None if not asked)."""
    lr: float
    error: np.ndarray
    error_test: np.ndarray
    to_target: np.ndarray
    to_target_test: np.ndarray
    diverged: np.ndarray
    loss: np.ndarray
    inspected: np.ndarray | None = None


def tuned_speed(activations, lrs, seeds: int, X, y, held_out: tuple, *, depth: int, epochs: int,
                target: float, init: dict | str = "default", max_rounds: int = 3, **kw) -> TunedSpeed:
    """Tune each activation's learning rate with :func:`actlab.tuning.tune` (extending the grid
    until the best is interior, at most ``max_rounds`` times): the starting grid is one batched
    sweep over all activations; each extension is a small sweep of one activation at one new
    rate. ``kw`` goes to :func:`run` (``network``, ``optimizer``, ``inspect``, ...)."""
    from actlab.tuning import tune

    first = run(activations, [depth], lrs, seeds, X, y, epochs=epochs, target=target, init=init,
                held_out=held_out, **kw)

    def scores(sweep, a):  # (seeds, lrs) of epochs to the training target, nan if diverged
        ep = sweep.epochs_to_target()[a, 0].T.copy()
        ep[sweep.diverged()[a, 0].T] = np.nan
        return ep

    tuned, train, test, div, every = {}, {}, {}, {}, {}
    for a, act in enumerate(activations):
        runs = {}

        def score(grid, a=a, act=act, runs=runs):
            if list(grid) == [float(v) for v in lrs]:
                sw, i = first, a
            else:
                sw = run([act], [depth], list(grid), seeds, X, y, epochs=epochs, target=target,
                         init=init, held_out=held_out, **kw)
                i = 0
            for j, lr in enumerate(grid):
                runs[lr] = Run(lr, sw.error[i, 0, j], sw.error_test[i, 0, j], sw.epochs_to_target()[i, 0, j],
                               sw.epochs_to_target(True)[i, 0, j], sw.diverged()[i, 0, j], sw.loss[i, 0, j],
                               None if sw.inspected is None else sw.inspected[(act, depth, lr)])
            return scores(sw, i)

        t = tune(score, list(lrs), max_rounds=max_rounds)
        tuned[act], every[act] = t, runs
        # no rate reached the target: epochs are censored at the budget, no rate to report runs of
        r = runs[t.lr] if t.best is not None else None
        train[act] = r.to_target if r else np.full(seeds, np.inf)
        test[act] = r.to_target_test if r else np.full(seeds, np.inf)
        div[act] = r.diverged if r else None
    return TunedSpeed(list(activations), tuned, train, test, div, epochs, every, first.eval_epochs)


def tuned_from_sweep(sweep: SpeedSweep, first_grid, depth_index: int = 0) -> TunedSpeed:
    """A :class:`TunedSpeed` from one :func:`run` with ``tune_rounds`` (its extensions batched over
    the activations, one sweep per new rate, instead of one sweep per activation and rate as
    :func:`tuned_speed` does: the same rule, fewer and larger sweeps). Each activation's grid is
    the rates it was trained at; its best is :func:`actlab.tuning.best_index` of epochs to the
    training target (diverged counts as never), as in :func:`tuned_speed`; ``first_grid`` is
    the grid before extension (to count the rounds)."""
    from actlab.tuning import Tuned, best_index

    d = depth_index
    ep, ep_test, div = sweep.epochs_to_target(), sweep.epochs_to_target(True), sweep.diverged()
    tuned, train, test, dvs, every = {}, {}, {}, {}, {}
    for a, act in enumerate(sweep.activations):
        js = [j for j in range(len(sweep.lrs)) if sweep.trained is None or sweep.trained[a, d, j]]
        scores = np.stack([np.where(div[a, d, j], np.nan, ep[a, d, j]) for j in js], 1)
        b = best_index(scores)
        lrs = tuple(sweep.lrs[j] for j in js)
        tuned[act] = Tuned(lrs, scores, b, b is not None and 0 < b < len(js) - 1, len(js) - len(first_grid))
        runs = {sweep.lrs[j]: Run(sweep.lrs[j], sweep.error[a, d, j], sweep.error_test[a, d, j], ep[a, d, j],
                                  ep_test[a, d, j], div[a, d, j], sweep.loss[a, d, j],
                                  None if sweep.inspected is None else
                                  sweep.inspected[(act, sweep.depths[d], sweep.lrs[j])])
                for j in js}
        every[act] = runs
        r = runs[lrs[b]] if b is not None else None
        train[act] = r.to_target if r else np.full(sweep.seeds, np.inf)
        test[act] = r.to_target_test if r else np.full(sweep.seeds, np.inf)
        dvs[act] = r.diverged if r else None
    return TunedSpeed(list(sweep.activations), tuned, train, test, dvs, int(round(sweep.epochs()[-1])), every,
                      sweep.eval_epochs)


def censored_ratio(slow: np.ndarray, fast: np.ndarray, budget: float, halves: bool = True):
    """Seed-by-seed ratio slow ÷ fast of epochs to a target, as a bootstrap Measure of the median.

    A run that never reached the target within ``budget`` epochs is censored: if only ``slow``
    missed, the ratio is at least budget ÷ fast and that lower bound is used (so the median is a
    lower bound too); if only ``fast`` missed, the ratio is at most slow ÷ budget; a seed on which
    both missed says nothing and is dropped (it never decides a tie). The interval is then open on
    the bound's side (upper end infinite for lower bounds, lower end 0 for upper bounds), so a rule
    can be decided by a bound only in the direction the bound supports. With ``halves``, the same
    on each half of the seeds (:func:`actlab.verdicts.halved`)."""
    from actlab.verdicts import Measure, bootstrap, halved

    if halves:
        return halved(censored_ratio(slow, fast, budget, halves=False),
                      lambda s, f: censored_ratio(s, f, budget, halves=False), slow, fast)
    slow, fast = np.asarray(slow, float), np.asarray(fast, float)
    s_in, f_in = np.isfinite(slow), np.isfinite(fast)
    keep = s_in | f_in
    r = np.where(s_in, slow, budget)[keep] / np.where(f_in, fast, budget)[keep]
    n_slow, n_fast, n_drop = int((~s_in & f_in).sum()), int((s_in & ~f_in).sum()), int((~keep).sum())
    if not keep.any():
        return Measure(float("nan"), float("nan"), float("nan"), 0, f"no seed reached the target ({n_drop} dropped)")
    m = bootstrap(r, halves=False)
    notes = [f"{k} of {len(slow)} {w}" for k, w in ((n_slow, "censored as lower bounds"),
                                                   (n_fast, "censored as upper bounds"),
                                                   (n_drop, "dropped (neither reached it)")) if k]
    # a censored seed's true ratio lies beyond its bound, so the interval is open on that side:
    # a lower bound can show that a ratio is large, never that it is small (and the reverse)
    lo, hi = (0.0 if n_fast else m.lo), (float("inf") if n_slow else m.hi)
    return Measure(m.value, lo, hi, m.n, m.method + ("; " + ", ".join(notes) if notes else ""))


def slowest(*measures):
    """The smallest of several ratios as one Measure (for "faster than A and B"): value, lower
    and upper ends are each the minimum, so the claim holds only if every ratio does."""
    from actlab.verdicts import Measure

    ms = [m for m in measures]
    if any(m.n == 0 for m in ms):
        return Measure(float("nan"), float("nan"), float("nan"), 0, "a ratio has no data")
    # a ratio whose runs never reached the target is a bound: the smallest of lower bounds is one too
    bounds = [kind for kind in ("lower bounds", "upper bounds") if any(f"censored as {kind}" in m.method for m in ms)]
    note = "; " + " and ".join(bounds) + " among them (runs that never reached the target)" if bounds else ""
    halves = tuple(slowest(*[m.halves[i] for m in ms]) for i in (0, 1)) if all(m.halves for m in ms) else None
    return Measure(min(m.value for m in ms), min(m.lo for m in ms), min(m.hi for m in ms),
                   min(m.n for m in ms), "smallest of " + str(len(ms)) + " ratios (each bootstrap 95%)" + note,
                   halves=halves)


def ratio_text(m) -> str:
    """A ratio Measure with its interval, and "at least"/"at most" where runs that never reached
    the target bound it: "at least 2.46 [2.19, no upper limit]"."""
    from actlab.numbers import fmt

    bound = "at least " if "lower bound" in m.method else "at most " if "upper bound" in m.method else ""
    top = "no upper limit" if np.isinf(m.hi) else fmt(m.hi)
    return f"{bound}{fmt(m.value)} [{fmt(m.lo)}, {top}]"


def tuned_text(t) -> str:
    """A ``tuning.Tuned`` rate in words: the rate, whether it is on an edge, or that none reached the target."""
    from actlab.numbers import fmt

    if t.best is None:
        return "none reached the target"
    return fmt(t.lr) + ("" if t.interior else f", the {'smallest' if t.best == 0 else 'largest'} of the grid")


def parameter_count(act: str, widths, n_in: int = 64, n_out: int = 10) -> int:
    """Trainable parameters of one MLP (weights, biases, learned slopes; maxout's k pieces)."""
    return int(Ensemble([Member(act, tuple(widths))], n_in, n_out).parameter_counts()[0])


# ---------------------------------------------------------------- figure

MARKERS = "osD^v<>ph"  # one per activation, so the dots differ by shape as well as colour


def speed_dots(sweep: SpeedSweep, epochs: np.ndarray, ylabel: str = "epochs to the\ntarget training error"):
    """Epochs to target at each activation's tuned learning rate: every seed a dot (jittered
    sideways, deterministically), one group per depth, a short bar at the median where the
    median seed got there. Seeds that never got there sit in their own band above the axis
    break, with their count ("3 of 5 never")."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    from actlab.numbers import fmt
    from actlab.plotting import NEUTRAL, color, figure, finish, label

    epochs = np.asarray(epochs, float)
    n_a, n_d = len(sweep.activations), len(sweep.depths)
    budget = float(sweep.epochs()[-1])
    fig, axes = figure(2, 1, width=6.4, height=3.6, sharex=True, gridspec_kw={"height_ratios": [1, 3.2]})
    top, ax = axes[0, 0], axes[1, 0]
    rng = np.random.default_rng(0)
    for a, act in enumerate(sweep.activations):
        c, m = color(act), MARKERS[a % len(MARKERS)]
        for d in range(n_d):
            pos = d * (n_a + 1) + a
            vals = epochs[a, d]
            ok = np.isfinite(vals)
            jitter = rng.uniform(-0.22, 0.22, len(vals))
            ax.scatter(pos + jitter[ok], vals[ok], s=22, marker=m, facecolor=c, edgecolor="white",
                       linewidth=0.5, alpha=0.85, zorder=3)
            med = np.median(vals)
            if np.isfinite(med):
                ax.plot([pos - 0.35, pos + 0.35], [med, med], color=c, linewidth=2.2, zorder=4)
            never = int((~ok).sum())
            if never:
                top.scatter(pos + jitter[~ok], rng.uniform(0.12, 0.38, never), s=22, marker=m, facecolor=c,
                            edgecolor="white", linewidth=0.5, alpha=0.85, zorder=3)
                top.text(pos, 0.5, f"{never} of {len(vals)}\nnever", ha="center", va="bottom", fontsize=9, color=c)
    top.set_ylim(0, 1.25)
    top.set_yticks([])
    top.set_ylabel("never\nreached", rotation=0, ha="right", va="center")
    top.spines["bottom"].set_visible(False)
    top.spines["left"].set_visible(False)
    top.tick_params(bottom=False)
    top.grid(False)
    ax.set_ylim(0, budget * 1.04)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt(float(v), zero=1e-9)))
    ax.set_ylabel(ylabel)
    # the break between the band and the axis: two short diagonal strokes on the left
    for axis, y in ((top, 0.0), (ax, 1.0)):
        axis.plot([-0.012, 0.012], [y - 0.03, y + 0.03], transform=axis.transAxes, color=NEUTRAL,
                  linewidth=1, clip_on=False)
    ax.set_xticks([d * (n_a + 1) + (n_a - 1) / 2 for d in range(n_d)],
                  [f"{d} hidden layer{'s' if d > 1 else ''}" for d in sweep.depths])
    ax.set_xlim(-0.8, n_d * (n_a + 1) - 1.2)
    ax.grid(axis="x", visible=False)
    handles = [Line2D([], [], linestyle="none", marker=MARKERS[a % len(MARKERS)], color=color(act),
                      markersize=6, label=label(act)) for a, act in enumerate(sweep.activations)]
    handles.append(Line2D([], [], color=NEUTRAL, linewidth=2.2, label="median seed"))
    fig.legend(handles=handles, loc="outside right center")
    return finish(fig)
