"""The practical guide's leaderboard: activations x tasks x seeds, ranked with uncertainty.

Every task trains all its networks (activations x seeds x learning rates) as one batched
ensemble with Adam. For each activation the learning rate is picked by the median
*validation* error over seeds; the table reports the *test* error at that rate, so the
split that chose the rate never scores it. A run **fails** when its final training loss is
not finite (diverged) or not below ``FAIL_FRACTION`` of a constant predictor's loss (died,
or never learned); a failed run's error counts as the worst in its task. The failure share
counts every run of the grid (all rates, all seeds): how forgiving a function is. What the guide
reports tells the kinds of failure apart (:meth:`TaskResult.failure_kinds`): diverged, never
learned, or still learning when the budget ran out.

Ranks are taken within each (task, seed), averaged over tasks and seeds; their interval is a
bootstrap that resamples seeds within each task. A difference between two activations'
mean ranks is decided only when its paired interval excludes zero.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, field
from functools import cache

import numpy as np
import torch

from actlab import data, functions
from actlab.ensemble import CONV_PADDING, CONV_STRIDE, INITS, MNIST1D_KERNELS, Ensemble, Member, fit, member_losses
from actlab.timing import time_ops
from actlab.tuning import best_index
from actlab.verdicts import Measure, resampled_interval

FAIL_FRACTION = 0.95  # a run "fails" unless its training loss ends below 95% of a constant predictor's
# How a failed run failed, from its learning curve: never pooled into one word in what the guide reports
DIVERGED, NEVER_LEARNED, STILL_LEARNING = "diverged", "never learned", "still learning"
FAILURE_KINDS = (DIVERGED, NEVER_LEARNED, STILL_LEARNING)
STILL_FALLING = 0.02  # a finite failed run is still learning if its loss fell 2% over the last quarter of its curve
LEVEL = 0.95


DATA = ("digits", "mnist1d", "curve")  # the data sets task_data knows
RECOMMENDED = "recommended"  # a task's init: each function's own (actlab.functions' init and gain)


@dataclass(frozen=True)
class Task:
    """One setting of the leaderboard. ``widths``: hidden widths of the MLP; ``loss``: xent or mse;
    ``data``: 'digits' (8x8 images), 'mnist1d' (Greydanus's length-40 signals) or 'curve' (the
    1-D regression)."""
    name: str
    title: str
    widths: tuple[int, ...]   # dense hidden widths; for a CNN, its channels per conv layer
    lrs: tuple[float, ...]
    loss: str = "xent"
    epochs: int = 20          # full-batch tasks (batch_size None): steps
    batch_size: int | None = 64
    init: str = "kaiming"     # an actlab.ensemble.INITS scheme for every function, or RECOMMENDED
    data: str = "digits"      # digits, curve or mnist1d
    conv: bool = False        # widths are the conv layers of the MNIST-1D paper's CNN
    n_train: int = 0          # mnist1d: the first n_train signals of the training split (0: all)
    modern: bool = False      # an MLP with layer norm and a residual connection around each hidden layer

    def __post_init__(self):
        if self.init not in (*INITS, RECOMMENDED):
            raise ValueError(f"task {self.name}: init must be one of {', '.join((*INITS, RECOMMENDED))}; "
                             f"got {self.init!r}")
        if self.data not in DATA:
            raise ValueError(f"task {self.name}: data must be one of {', '.join(DATA)}; got {self.data!r}")
        if self.modern and self.conv:
            raise ValueError(f"task {self.name}: the modern defaults (layer norm, residual) are for MLPs")

    def ensemble(self, members: list[Member], n_in: int, n_out: int, dtype) -> Ensemble:
        return Ensemble(members, n_in, n_out, layer_norm=self.modern, residual=self.modern, dtype=dtype)


TASK_PARAMS = ("digits_lrs", "deep_lrs", "modern_lrs", "regression_lrs", "cnn_lrs", "deep_depth", "epochs",
               "deep_epochs", "modern_epochs", "regression_steps", "cnn_channels", "cnn_epochs", "cnn_train")


def tasks(*, digits_lrs, deep_lrs, regression_lrs, cnn_lrs, modern_lrs=(1e-3,), deep_depth: int = 20,
          epochs: int = 20, deep_epochs: int = 10, modern_epochs: int = 10, regression_steps: int = 1500,
          cnn_channels: int = 25, cnn_epochs: int = 5, cnn_train: int = 4000,
          init: str = RECOMMENDED) -> dict[str, Task]:
    """The tasks, by name. The deep task has no normalisation; the modern one is the same depth
    and width with layer norm and residual connections. Every network starts from its function's
    recommended initialisation (``init``: or one scheme for all)."""
    return {
        "cnn": Task("cnn", f"MNIST-1D, CNN {cnn_channels}", (cnn_channels,) * 3, tuple(cnn_lrs),
                    epochs=cnn_epochs, batch_size=100, data="mnist1d", conv=True, n_train=cnn_train, init=init),
        "digits": Task("digits", "digits, MLP 64", (64,), tuple(digits_lrs), epochs=epochs, init=init),
        "deep": Task("deep", f"digits, {deep_depth}-layer MLP 32", (32,) * deep_depth, tuple(deep_lrs),
                     epochs=deep_epochs, batch_size=128, init=init),
        "modern": Task("modern", f"digits, {deep_depth}-layer residual MLP 32, layer norm", (32,) * deep_depth,
                       tuple(modern_lrs), epochs=modern_epochs, batch_size=128, init=init, modern=True),
        "regression": Task("regression", "1-D regression, MLP 32-32", (32, 32), tuple(regression_lrs),
                           loss="mse", epochs=regression_steps, batch_size=None, data="curve", init=init),
    }


def regression_target(x: torch.Tensor) -> torch.Tensor:
    """A smooth oscillation plus a kink: neither a line nor a single bump."""
    return torch.sin(2 * math.pi * x) + x.abs()


def task_data(task: Task, dtype=torch.float32, seed: int = 0) -> dict:
    """Train, validation and test splits. Digits and MNIST-1D: the data set's training split with
    a fifth held out for validation, drawn by ``seed`` (each seed of a sweep draws its own), and
    its test split. The curve: 64 training points on [-1, 1], the points between them (a grid 4x
    finer) alternate between validation and test: a design, not a draw, the same for every seed."""
    if task.data == "curve":
        xt = torch.linspace(-1, 1, 64, dtype=dtype)[:, None]
        fine = torch.linspace(-1, 1, 4 * 63 + 1, dtype=dtype)[:, None]
        between = fine[torch.arange(len(fine)) % 4 != 0]
        xv, xs = between[0::2], between[1::2]
        return {"train": (xt, regression_target(xt)), "val": (xv, regression_target(xv)),
                "test": (xs, regression_target(xs)), "n_in": 1, "n_out": 1}
    if task.data == "mnist1d":
        X, y, Xs, ys = data.mnist1d(n_train=task.n_train or data.MNIST1D_TRAIN, dtype=dtype)
    else:
        (X, y), (Xs, ys) = data.digits("train", dtype=dtype), data.digits("test", dtype=dtype)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_val = len(y) // 5
    val, train = order[:n_val], order[n_val:]
    return {"train": (X[train], y[train]), "val": (X[val], y[val]), "test": (Xs, ys),
            "n_in": X.shape[1], "n_out": 10}


def constant_loss(task: Task, y: torch.Tensor) -> float:
    """The training loss of the best constant predictor: the chance level a failed run sits at."""
    if task.loss == "mse":
        return float(y.var(unbiased=False))
    p = torch.bincount(y, minlength=10).double() / len(y)
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def errors(task: Task, out: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """(E,) held-out error per member: misclassified share, or MSE / variance of the target."""
    with torch.no_grad():
        if task.loss == "mse":
            return (((out - y) ** 2).mean(dim=(1, 2)) / y.var(unbiased=False)).double().numpy()
        return (out.argmax(-1) != y).double().mean(1).numpy()


@dataclass
class TaskResult:
    """One task's grid: every array is (activations, seeds, learning rates)."""
    task: Task
    activations: list[str]
    lrs: list[float]
    val: np.ndarray
    test: np.ndarray
    failed: np.ndarray
    curve: np.ndarray | None = None   # (activations, seeds, rates, checkpoints) training loss
    curve_steps: list[int] | None = None
    # the same runs halfway: val, test and failed at step half_step (see :meth:`at_half`)
    half: dict | None = None
    half_step: int | None = None
    # (activations, seeds, rates, test examples): which test examples each classifier got wrong,
    # so that the test set can be resampled as well as the seeds (None for the regression)
    test_wrong: np.ndarray | None = None

    def to_data(self) -> dict:
        """Plain lists and dicts for the evidence store; arrays keep their dtype and shape, so
        :meth:`from_data` gives back the same bits."""
        return {"task": asdict(self.task), "activations": list(self.activations), "lrs": list(self.lrs),
                "val": array_data(self.val), "test": array_data(self.test), "failed": array_data(self.failed),
                "curve": None if self.curve is None else array_data(self.curve), "curve_steps": self.curve_steps,
                "half": None if self.half is None else {k: (bits_data if k == "test_wrong" else array_data)(v)
                                                        for k, v in self.half.items()},
                "half_step": self.half_step,
                "test_wrong": None if self.test_wrong is None else bits_data(self.test_wrong)}

    @classmethod
    def from_data(cls, d: dict) -> TaskResult:
        t = d["task"]
        task = Task(**{**t, "widths": tuple(t["widths"]), "lrs": tuple(t["lrs"])})
        curve = None if d.get("curve") is None else array_from(d["curve"])
        half = None if d.get("half") is None else {k: (bits_from if k == "test_wrong" else array_from)(v)
                                                   for k, v in d["half"].items()}
        wrong = None if d.get("test_wrong") is None else bits_from(d["test_wrong"])
        return cls(task, list(d["activations"]), list(d["lrs"]), array_from(d["val"]), array_from(d["test"]),
                   array_from(d["failed"]), curve, d.get("curve_steps"), half, d.get("half_step"), wrong)

    def at_half(self) -> TaskResult:
        """The same runs stopped at half the budget (their rates chosen again on validation then):
        if the board read there says what it says at the end, doubling the budget from half to
        full changed nothing, the check that the budget is long enough."""
        if self.half is None:
            raise ValueError(f"task {self.task.name}: no halfway errors were kept")
        return TaskResult(self.task, self.activations, self.lrs, self.half["val"], self.half["test"],
                          self.half["failed"], test_wrong=self.half.get("test_wrong"))

    def chosen(self) -> tuple[np.ndarray, np.ndarray]:
        """Per activation: the index of the rate with the lowest median validation error (failed
        runs count as never), and whether it lies inside the grid."""
        idx, interior = [], []
        for a in range(len(self.activations)):
            scores = np.where(self.failed[a], np.inf, self.val[a])
            b = best_index(scores)
            b = 0 if b is None else b  # every rate failed: any index, all its runs fail
            idx.append(b)
            interior.append(0 < b < len(self.lrs) - 1)
        return np.array(idx), np.array(interior)

    def failure_kinds(self) -> np.ndarray:
        """(activations, seeds, rates) of "" for a run that learned, else how it failed: its loss
        became non-finite (diverged), or stayed finite and was still falling over the last quarter
        of the logged curve (still learning when the budget ran out), or was not (never learned)."""
        if self.curve is None:
            raise ValueError(f"task {self.task.name}: no learning curves were kept, so failures cannot be told apart")
        kinds = np.full(self.failed.shape, "", dtype=object)
        finite = np.isfinite(self.curve).all(-1)
        back = max(1, self.curve.shape[-1] // 4)
        with np.errstate(invalid="ignore"):
            falling = self.curve[..., -1] < (1 - STILL_FALLING) * self.curve[..., -1 - back]
        kinds[self.failed & ~finite] = DIVERGED
        kinds[self.failed & finite & falling] = STILL_LEARNING
        kinds[self.failed & finite & ~falling] = NEVER_LEARNED
        return kinds

    def tuned_test(self) -> np.ndarray:
        """(activations, seeds) test error at the chosen rate; a failed run is inf (ranked last)."""
        idx, _ = self.chosen()
        a = np.arange(len(self.activations))
        err = self.test[a, :, idx]
        return np.where(self.failed[a, :, idx], np.inf, err)

    def test_draws(self, counts: np.ndarray | None) -> np.ndarray:
        """(draws, activations, seeds): :meth:`tuned_test` on resampled test sets, ``counts``
        (draws, test examples) how often each example is drawn, the same draw for every function
        and seed (comparisons stay paired). Without per-example errors (the regression, whose test
        points are a fixed grid, not a sample) every draw is the error itself."""
        err = self.tuned_test()
        if self.test_wrong is None or counts is None:
            return np.broadcast_to(err, (1 if counts is None else len(counts), *err.shape))
        idx, _ = self.chosen()
        wrong = self.test_wrong[np.arange(len(self.activations)), :, idx]      # (A, S, N)
        drawn = np.einsum("asn,dn->das", wrong.astype(np.float32), counts.astype(np.float32)) / counts.shape[1]
        return np.where(np.isfinite(err), drawn, np.inf)


def member(task: Task, activation: str, n_in: int, n_out: int, **kw) -> Member:
    """One network of ``task``: an MLP, or the MNIST-1D paper's CNN (its kernels, stride and
    padding), with layers of several maps per unit narrowed to the same parameter count, started
    from the task's initialisation (or the function's recommended one)."""
    init, gain = init_of(task, activation)
    kw = {"init": init, "gain": gain, **kw}
    if task.conv:
        c = matched_channels(activation, task.widths[0], n_in, n_out)
        return Member(activation, (), conv=(c,) * len(task.widths), kernels=MNIST1D_KERNELS[:len(task.widths)],
                      stride=CONV_STRIDE, padding=CONV_PADDING, **kw)
    return Member(activation, widths_for(task, activation, n_in, n_out), **kw)


def init_of(task: Task, activation: str) -> tuple[str, float]:
    """(scheme, gain) a network of ``task`` with ``activation`` starts from."""
    if task.init == RECOMMENDED:
        f = functions.get(activation)
        return f.init, f.gain
    return task.init, 1.0


@cache  # asked once per member of a sweep, the same few questions each time
def matched_channels(activation: str, channels: int, n_in: int, n_out: int) -> int:
    """The channels per conv layer for which the paper's CNN with ``activation`` has the
    parameter count nearest to its plain count with ``channels`` (ties: the fewer)."""
    count = lambda name, c: int(Ensemble([Member(name, (), conv=(c,) * 3, kernels=MNIST1D_KERNELS)],
                                         n_in, n_out).parameter_counts()[0])
    if functions.get(activation).pieces == 1:
        return channels
    target = count("identity", channels)
    return min(range(1, channels + 1), key=lambda c: (abs(count(activation, c) - target), c))


def widths_for(task: Task, activation: str, n_in: int, n_out: int) -> tuple[int, ...]:
    """The task's hidden widths, narrowed for a layer with several maps per unit (maxout, the
    gated units) so that every network has about the same number of parameters."""
    w, depth = task.widths[0], len(task.widths)
    if len(set(task.widths)) != 1:
        raise ValueError(f"task {task.name}: matched widths need equal hidden widths, got {task.widths}")
    return (functions.matched_width(activation, n_in, w, n_out, depth),) * depth


def bits_data(a: np.ndarray) -> dict:
    """A boolean array packed eight to a byte, base64: a tenth of the JSON list's size."""
    import base64

    return {"shape": list(a.shape), "bits": base64.b64encode(np.packbits(a.astype(bool).ravel())).decode()}


def bits_from(d: dict) -> np.ndarray:
    import base64

    n = int(np.prod(d["shape"]))
    return np.unpackbits(np.frombuffer(base64.b64decode(d["bits"]), np.uint8))[:n].astype(bool).reshape(d["shape"])


def array_data(a: np.ndarray) -> dict:
    return {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.ravel().tolist()}


def array_from(d: dict) -> np.ndarray:
    return np.array(d["values"], dtype=d["dtype"]).reshape(d["shape"])


CHECKPOINTS = 24  # points of each run's learning curve kept (training loss)


def run_task(task: Task, activations: list[str], seeds: int | list[int], dtype=torch.float32) -> TaskResult:
    """Train every (activation, seed, rate of the task's grid): each seed as one batched ensemble
    of the activations and rates, with its own initial weights, minibatch order and validation
    split, so that the seeds vary everything random. ``seeds``: how many (0, 1, ...), or which.
    Keeps each run's training loss at about ``CHECKPOINTS`` steps and its errors halfway as well
    as at the end (logging them changes no number)."""
    seed_ids = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    lrs = list(task.lrs)
    n = len(task_data(task, dtype)["train"][1])
    if task.batch_size is None:
        steps, batch = task.epochs, None
    else:
        steps, batch = task.epochs * math.ceil(n / task.batch_size), task.batch_size
    every = max(1, steps // CHECKPOINTS)
    half_step = every * max(1, (steps // 2) // every)  # a logged step, at or just below half the budget
    logged = [s for s in range(1, steps + 1) if s % every == 0 or s == steps]
    keys = ("val", "test", "failed", "half_val", "half_test", "half_failed")
    keys += ("test_wrong", "half_test_wrong") if task.loss == "xent" else ()
    out = {k: [] for k in keys + ("curve",)}
    for seed in seed_ids:
        d = task_data(task, dtype, seed)
        (xt, yt), (xv, yv), (xs, ys) = d["train"], d["val"], d["test"]
        chance = FAIL_FRACTION * constant_loss(task, yt)
        ens = task.ensemble([member(task, a, d["n_in"], d["n_out"], seed=seed, lr=lr) for a in activations for lr in lrs],
                            d["n_in"], d["n_out"], dtype)

        def read(prefix, ens=ens, xt=xt, yt=yt, xv=xv, yv=yv, xs=xs, ys=ys, chance=chance):
            with torch.no_grad():
                final = member_losses(ens(xt), yt, task.loss).double().numpy()
                val = errors(task, ens(xv), yv)
                out[prefix + "val"].append(np.where(np.isfinite(val), val, np.inf))
                o = ens(xs)
                out[prefix + "test"].append(errors(task, o, ys))
                if task.loss == "xent":
                    out[prefix + "test_wrong"].append((o.argmax(-1) != ys).numpy())
            out[prefix + "failed"].append(~np.isfinite(final) | ~(final < chance))

        history = fit(ens, xt, yt, loss=task.loss, steps=steps, batch_size=batch, seed=seed, log_every=every,
                      callback=lambda step, _: read("half_") if step == half_step else None)
        read("")
        out["curve"].append(history.T)
    shape = (len(seed_ids), len(activations), len(lrs))
    arr = {k: np.stack(v).reshape(shape + np.shape(v[0])[1:]).swapaxes(0, 1) for k, v in out.items()}
    half = {k: arr[f"half_{k}"] for k in ("val", "test", "failed", "test_wrong") if f"half_{k}" in arr}
    return TaskResult(task, list(activations), lrs, arr["val"], arr["test"], arr["failed"], arr["curve"], logged,
                      half, half_step, arr.get("test_wrong"))


def step_times(task: Task, activations: list[str], steps: int = 10, rounds: int = 5, dtype=torch.float32) -> np.ndarray:
    """(activations, rounds) CPU seconds of this thread per training step of one network
    (minibatch, Adam), after a warm-up, in each of ``rounds`` rounds of ``steps`` steps, the
    functions taking turns within a round (:func:`actlab.timing.time_ops`), so that ratios are
    paired by round. On networks this small a step is mostly fixed overhead; the function's own
    cost is in the properties chapter."""
    d = task_data(task, dtype)
    xt, yt = d["train"]
    nets = [task.ensemble([member(task, a, d["n_in"], d["n_out"], seed=0, lr=task.lrs[0])], d["n_in"], d["n_out"], dtype)
            for a in activations]
    ops = {i: functools.partial(fit, net, xt, yt, loss=task.loss, steps=steps, batch_size=task.batch_size)
           for i, net in enumerate(nets)}
    t = time_ops(ops, rounds, inner=1, calls=1, clock=time.thread_time)
    return np.stack([t[i] / steps for i in range(len(nets))])


# ---------------------------------------------------------------- ranking with uncertainty

def ranks(err: np.ndarray, axis: int = 1) -> np.ndarray:
    """(tasks, activations, seeds) errors -> ranks among the activations (``axis``) within each
    (task, seed); 1 is best, ties share the average rank, failed runs (inf or nan) tie for last."""
    from scipy.stats import rankdata

    e = np.where(np.isnan(err), np.inf, err)
    return rankdata(e, axis=axis, method="average")


TEST_DRAWS = 10_000  # resampled test sets behind each interval that includes the test set's uncertainty


def _envelope(m: Measure, per_draw: np.ndarray, level: float) -> Measure:
    """``m`` (an interval over seeds) widened to the central ``level`` range of ``per_draw``, the same
    statistic on each resampled test set: a verdict is decided on the wider of the two."""
    from dataclasses import replace

    lo, hi = np.quantile(per_draw, [(1 - level) / 2, (1 + level) / 2])
    if lo >= m.lo and hi <= m.hi:
        return m
    return replace(m, lo=min(m.lo, float(lo)), hi=max(m.hi, float(hi)),
                   method=m.method + "; widened by resampling the test examples")


def _mean_of_task_means(*tasks, axis=-1):
    """The mean rank over tasks and seeds, from one array of seeds per task (equal seeds per task)."""
    return np.mean([np.mean(t, axis=axis) for t in tasks], axis=0)


@dataclass
class Ranking:
    activations: list[str]
    mean: np.ndarray    # (A,) mean rank over tasks and seeds
    ranks: np.ndarray   # (T, A, S) the ranks within each (task, seed)
    n_boot: int = 2000
    seed: int = 0
    draw_ranks: np.ndarray | None = None  # (draws, T, A, S) the same on resampled test sets

    @property
    def n_tasks(self) -> int:
        return self.ranks.shape[0]

    @property
    def n_seeds(self) -> int:
        return self.ranks.shape[2]

    def _measure(self, per_seed: np.ndarray, family: int = 1, per_draw: np.ndarray | None = None) -> Measure:
        """(T, S) values -> their mean with scipy's bootstrap interval, seeds resampled within each task,
        widened where resampling the test examples (``per_draw``, (draws, T, S)) moves it further.
        ``family``: the number of comparisons decided together; each interval is then Bonferroni's,
        at level 1 - 5%/family, so that all of them cover together at 95%."""
        v = float(per_seed.mean())
        if self.n_seeds < 2:  # one seed per task: nothing to resample
            return Measure(v, v, v, self.n_seeds, "one seed, no interval")
        level = 1 - (1 - LEVEL) / family
        n_boot = max(self.n_boot, round(100 / (1 - level)))  # about 50 resamples in each tail
        lo, hi = resampled_interval(tuple(per_seed), _mean_of_task_means, level, n_boot, self.seed)
        method = f"bootstrap {round(100 * LEVEL)}% over seeds"
        if family > 1:
            method += f", joint over {family} comparisons (Bonferroni: {100 * level:.2f}% each)"
        m = Measure(v, min(lo, v), max(hi, v), self.n_seeds, method)
        return m if per_draw is None else _envelope(m, per_draw.mean(axis=(1, 2)), level)

    def _draws(self, a: int) -> np.ndarray | None:
        return None if self.draw_ranks is None else self.draw_ranks[:, :, a]

    def measure(self, name: str, family: int = 1) -> Measure:
        """The activation's mean rank with its interval (joint over ``family`` comparisons)."""
        a = self.activations.index(name)
        return self._measure(self.ranks[:, a], family, self._draws(a))

    def difference(self, name: str, reference: str, family: int = 1) -> Measure:
        """Mean rank of ``name`` minus ``reference``'s (negative: ``name`` ranks better), with a
        paired interval (the seed-by-seed differences resampled: both ranks from the same seeds,
        and from the same resampled test sets), joint over ``family`` comparisons."""
        a, b = self.activations.index(name), self.activations.index(reference)
        draws = None if self.draw_ranks is None else self._draws(a) - self._draws(b)
        return self._measure(self.ranks[:, a] - self.ranks[:, b], family, draws)

    def order(self) -> list[str]:
        return [self.activations[i] for i in np.argsort(self.mean, kind="stable")]

    def decisively(self, name: str, reference: str) -> str:
        """"better", "worse" or "tied" (the paired interval contains zero), as one of the comparisons of
        every other function with ``reference``: the intervals are joint over all of them."""
        m = self.difference(name, reference, family=len(self.activations) - 1)
        return "better" if m.hi < 0 else "worse" if m.lo > 0 else "tied"


def rank(err: np.ndarray, activations: list[str], n_boot: int = 2000, seed: int = 0,
         draws: np.ndarray | None = None) -> Ranking:
    """Mean rank of each activation over (tasks, seeds), with a bootstrap over seeds and, given
    ``draws`` ((draws, tasks, activations, seeds) errors on resampled test sets), over test examples."""
    r = ranks(err)                      # (T, A, S)
    return Ranking(list(activations), r.mean(axis=(0, 2)), r, n_boot, seed,
                   None if draws is None else ranks(draws, axis=2))


# ---------------------------------------------------------------- advice from the numbers

@dataclass
class Advice:
    """Groups computed from the ranking and the failure shares, by rules fixed in advance:

    - *top*: no activation ranks decisively better (paired interval of the difference with the
      best-ranked excludes zero in its favour for none);
    - *fragile*: at least ``fragile_share`` of its runs failed on some task (name: tasks);
    - *avoid*: decisively worse than the best-ranked, and its whole interval (joint, as the
      comparisons') in the worse half.
    """
    best: str
    top: list[str]
    avoid: list[str]
    fragile: dict
    undecided: list[str]


def advice(ranking: Ranking, fail_share: np.ndarray, task_titles: list[str], fragile_share: float = 1 / 3) -> Advice:
    """``fail_share``: (tasks, activations), the share of each activation's runs that failed."""
    order = ranking.order()
    best = order[0]
    A = len(order)
    top = [a for a in order if a == best or ranking.decisively(a, best) != "worse"]
    avoid = [a for a in order if a != best and ranking.decisively(a, best) == "worse"
             and ranking.measure(a, family=A - 1).lo > (A + 1) / 2]
    fragile = {}
    for j, a in enumerate(ranking.activations):
        where = [task_titles[t] for t in range(fail_share.shape[0]) if fail_share[t, j] >= fragile_share]
        if where:
            fragile[a] = where
    undecided = [a for a in order if a not in top and a not in avoid]
    return Advice(best, top, avoid, fragile, undecided)


# ---------------------------------------------------------------- the board and its figure

@dataclass
class Board:
    """All tasks for the same activations and seeds."""
    results: list[TaskResult]
    step_time: np.ndarray | None = None  # (tasks, activations, rounds) seconds per step, or None
    _draws: dict = field(default_factory=dict, repr=False, compare=False)  # test_draws, made once

    @property
    def activations(self) -> list[str]:
        return self.results[0].activations

    @property
    def titles(self) -> list[str]:
        return [r.task.title for r in self.results]

    def tuned_test(self) -> np.ndarray:
        """(tasks, activations, seeds) test error at each activation's chosen rate."""
        return np.stack([r.tuned_test() for r in self.results])

    def fail_share(self) -> np.ndarray:
        """(tasks, activations): the share of the grid's runs (every rate and seed) that failed."""
        return np.stack([r.failed.mean(axis=(1, 2)) for r in self.results])

    def failure_counts(self) -> np.ndarray:
        """(tasks, activations, kinds): the grid's failed runs by :data:`FAILURE_KINDS`."""
        return np.stack([np.stack([(r.failure_kinds() == k).sum(axis=(1, 2)) for k in FAILURE_KINDS], -1)
                         for r in self.results])

    def fail_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(tasks, activations) runs of the grid that failed, and (tasks,) runs per activation:
        each task has its own grid of rates and seeds."""
        return (np.stack([r.failed.sum(axis=(1, 2)) for r in self.results]),
                np.array([r.failed[0].size for r in self.results]))

    def at_half(self) -> Board:
        """The board of the same runs stopped at half their budget (:meth:`TaskResult.at_half`)."""
        return Board([r.at_half() for r in self.results])

    def to_data(self) -> dict:
        return {"results": [r.to_data() for r in self.results],
                "step_time": None if self.step_time is None else array_data(self.step_time)}

    @classmethod
    def from_data(cls, d: dict) -> Board:
        """The board :meth:`to_data` wrote (the evidence store's ``guide-leaderboard``)."""
        return cls([TaskResult.from_data(r) for r in d["results"]],
                   None if d["step_time"] is None else array_from(d["step_time"]))

    def medians(self) -> tuple[np.ndarray, np.ndarray]:
        """(tasks, activations): the median test error over seeds at the chosen rate (inf if half
        or more of the runs failed), and each function's rank by it within its task."""
        err = self.tuned_test()
        med = np.median(np.where(np.isnan(err), np.inf, err), axis=2)
        return med, ranks(med[:, :, None])[:, :, 0]

    def informative(self) -> list[int]:
        """Tasks where at least one run learned: in a task where every run failed all functions
        tie, which says something about the budget, not about the functions."""
        return [t for t, r in enumerate(self.results) if not r.failed.all()]

    def ranking(self, n_boot: int = 2000) -> Ranking:
        """Mean ranks over the informative tasks, intervals over seeds and test examples."""
        keep = self.informative()
        if not keep:
            raise ValueError("no run of any task learned: nothing to rank (raise the budgets)")
        return rank(self.tuned_test()[keep], self.activations, n_boot=n_boot, draws=self.test_draws()[:, keep])

    def test_draws(self, n: int = TEST_DRAWS, seed: int = 0) -> np.ndarray:
        """(draws, tasks, activations, seeds): :meth:`tuned_test` with the test examples resampled
        with replacement (a bootstrap of the test set), ``n`` times. Tasks on the same data share
        each draw (the digits tasks are scored on the same images), so their errors move together.
        Made once per board: the ranking and the folklore read the same draws."""
        if (n, seed) in self._draws:
            return self._draws[n, seed]
        rng = np.random.default_rng(seed)
        drawn, out = {}, []
        for r in self.results:
            size = 0 if r.test_wrong is None else r.test_wrong.shape[-1]
            if size and (r.task.data, size) not in drawn:
                drawn[r.task.data, size] = rng.multinomial(size, np.full(size, 1 / size), size=n)
            d = r.test_draws(drawn.get((r.task.data, size)))
            out.append(np.broadcast_to(d, (n, *d.shape[1:])))
        self._draws[n, seed] = np.stack(out, 1)
        return self._draws[n, seed]

    def edge_sides(self) -> list[tuple[str, str, str]]:
        """(task title, activation, 'smallest' or 'largest') for each chosen rate on its grid's edge."""
        out = []
        for r in self.results:
            idx, interior = r.chosen()
            for j, (a, ok, i) in enumerate(zip(r.activations, interior, idx, strict=True)):
                if not ok and not r.failed[j, :, i].all():
                    out.append((r.task.title, a, "smallest" if i == 0 else "largest"))
        return out

    def n_choices(self) -> int:
        """(task, activation) pairs whose chosen rate has at least one run that learned."""
        return sum(int(not r.failed[j, :, i].all()) for r in self.results
                   for j, i in enumerate(r.chosen()[0]))

    def best_accuracy(self, t: int) -> float:
        """1 - the lowest median test error over seeds at the chosen rate, failed runs included
        with the error they ended with (a share misclassified is finite even when a run failed)."""
        r = self.results[t]
        idx, _ = r.chosen()
        raw = r.test[np.arange(len(r.activations)), :, idx]
        return 1 - float(np.min(np.median(raw, axis=1)))


def run_board(task_list: list[Task], activations: list[str], seeds: int | list[int], *, time_steps: int = 0) -> Board:
    """Every task's grid; with ``time_steps``, also each (task, activation)'s time per step."""
    results = [run_task(t, activations, seeds) for t in task_list]
    times = None
    if time_steps:
        times = np.stack([step_times(t, activations, steps=time_steps) for t in task_list])
    return Board(results, times)


def board_data(device: str = "cpu", **p) -> dict:
    """The guide's leaderboard at the chapter's parameters ``p``, as data: the evidence cell
    ``guide-leaderboard`` (seeded here as the chapter seeds itself, so a live run and the stored
    one give the same bits)."""
    from actlab.seeding import deterministic

    if device != "cpu":
        raise ValueError(f"the leaderboard trains on the CPU only (actlab.ensemble has no device support); got {device!r}")
    deterministic(0)
    by_name = tasks(**{k: p[k] for k in TASK_PARAMS})
    seeds = p.get("only_seeds") or p["seeds"]  # a spot check's block: some of the seeds
    board = run_board([by_name[t] for t in p["tasks"]], p["activations"], seeds, time_steps=p["time_steps"])
    return board.to_data()


def board_subset(data: dict, tasks: list[str], only_seeds: list[int], time_steps: int = 0) -> dict:
    """The part of stored board data that ``board_data`` recomputes for ``tasks`` and the seeds
    ``only_seeds`` alone (a spot check's block: each seed is its own ensemble, so a block repeats
    the stored runs); timings are measurements, not results, and are left out."""
    results = []
    for r in (TaskResult.from_data(r) for t in tasks for r in data["results"] if r["task"]["name"] == t):
        pick = lambda a, axis=1: np.take(a, only_seeds, axis=axis)
        half = {k: pick(v) for k, v in r.half.items()} if r.half is not None else None
        results.append(TaskResult(r.task, r.activations, r.lrs, pick(r.val), pick(r.test), pick(r.failed),
                                  None if r.curve is None else pick(r.curve), r.curve_steps, half,
                                  r.half_step, None if r.test_wrong is None else pick(r.test_wrong)).to_data())
    return {"results": results, "step_time": None}


def error_text(task: Task, e: float) -> str:
    from actlab.numbers import fmt, pct

    if not np.isfinite(e):
        return "failed"
    return pct(e) if task.loss == "xent" else fmt(e, sig=2)


# ---------------------------------------------------------------- words from the numbers

def names_text(names: list[str]) -> str:
    """"ReLU, GELU and tanh": activations by their labels, in the given order."""
    from actlab import plotting

    labels = [plotting.label(n) for n in names]
    if not labels:
        return "none"
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def advice_markdown(adv: Advice, ranking: Ranking, edges=(), scope: str = "", board: Board | None = None) -> str:
    """The guide's recommendations, each generated from a group of :class:`Advice`. ``edges``:
    (task, activation, side) of chosen rates on a grid's edge (``Board.edge_sides``), named beside
    the functions the advice rests on; ``scope``: the setting the advice holds in, said first;
    ``board``: where given, each expected failure says how the runs failed."""
    from actlab.numbers import fmt

    on_edge = {}  # activation -> side -> tasks
    for task, a, side in edges:
        on_edge.setdefault(a, {}).setdefault(side, []).append(task)

    def flag(names):  # one parenthesis for all the functions of a line whose rates sit on an edge
        said = [f"{names_text([a])} at the {side} rate of its grid on {' and on '.join(tasks)}"
                for a in names if a in on_edge for side, tasks in on_edge[a].items()]
        return f" (chosen rates on a grid's edge: {'; '.join(said)})" if said else ""
    m = ranking.measure(adv.best)
    others = [a for a in adv.top if a != adv.best]
    lines = [f"- *{scope}*"] if scope else []
    best = (f"{names_text([adv.best])} has the best mean rank ({fmt(m.value, 2)}, interval {fmt(m.lo, 2)} to "
            f"{fmt(m.hi, 2)})")
    if others:  # a tie is a group, not a winner
        lines.append(f"- **Start with one of {names_text(adv.top)}:** {best}, but at {ranking.n_seeds} seeds it "
                     f"cannot be told apart from {names_text(others)}" + flag(adv.top) + ".")
    else:
        lines.append(f"- **Start with {names_text([adv.best])}:** {best}, and every other function ranks "
                     "decisively worse" + flag(adv.top) + ".")
    middle = fmt((len(ranking.activations) + 1) / 2)
    if adv.avoid:
        lines.append(f"- **Avoid {names_text(adv.avoid)}:** decisively worse than {names_text([adv.best])}, "
                     f"with the whole joint interval of the mean rank worse than the middle rank, {middle}"
                     + flag(adv.avoid) + ".")
    if adv.fragile:
        counts, runs = (board.failure_counts(), board.fail_counts()[1]) if board is not None else (None, None)

        def how(a, title):  # "(12 of 12 runs: 8 diverged, 4 never learned)"
            if board is None:
                return ""
            t = board.titles.index(title)
            return f" ({failures_text(counts[t, board.activations.index(a)], runs[t])})"
        parts = [f"{names_text([a])} on {' and '.join(t + how(a, t) for t in w)}" for a, w in adv.fragile.items()]
        lines.append("- **Expect failures** (a third or more of the grid's runs diverged, never learned, or were "
                     "still learning when the budget ran out) with " + "; ".join(parts) + ".")
    if adv.undecided:
        lines.append(f"- **No advice either way** on {names_text(adv.undecided)}: decisively worse than the best, "
                     f"but the joint interval of the mean rank reaches the middle rank, {middle}, or better (the "
                     "leaderboard table's mean-rank intervals are each function's own, narrower than the joint ones).")
    return "\n".join(lines)


def tasks_table(task_list: list[Task], seeds: int) -> str:
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    rows = []
    for t in task_list:
        steps = (f"{t.epochs} steps, full batch" if t.batch_size is None
                 else f"{t.epochs} epoch{'s' if t.epochs != 1 else ''}, batches of {t.batch_size}")
        error = "test error (share misclassified)" if t.loss == "xent" else "test MSE ÷ variance of the target"
        if t.conv:
            layers = f"{len(t.widths)} conv layers of {t.widths[0]} channels"
        elif len(set(t.widths)) == 1:
            layers = f"{len(t.widths)} × {t.widths[0]}" if len(t.widths) > 1 else f"1 × {t.widths[0]}"
        else:
            layers = ", ".join(str(w) for w in t.widths)
        rows.append([t.title, layers, steps, ", ".join(fmt(lr) for lr in t.lrs), error])
    return markdown_table(["task", "hidden layers × width", "training (Adam)", "learning-rate grid", "scored by"], rows)


def error_table(board: Board, ranking: Ranking) -> str:
    """Median test error over seeds at the chosen rate with its bootstrap interval, per task
    (rows in ranking order); "failed" where the median run failed."""
    from actlab.tables import markdown_table
    from actlab.verdicts import bootstrap

    err = board.tuned_test()
    rows = []
    for a in ranking.order():
        j = board.activations.index(a)
        cells = []
        for t, r in enumerate(board.results):
            m = bootstrap(err[t, j])
            v, lo, hi = (error_text(r.task, x) for x in (m.value, m.lo, m.hi))
            cells.append(v if m.lo == m.hi else f"{v} [{lo}, {hi}]")
        rows.append([names_text([a])] + cells)
    return markdown_table(["function"] + board.titles, rows)


def failures_text(counts: np.ndarray, runs: int) -> str:
    """"4 of 12 runs: 3 diverged, 1 still learning" from one (kinds,) row of :meth:`Board.failure_counts`."""
    parts = [f"{int(n)} {k}" for n, k in zip(counts, FAILURE_KINDS, strict=True) if n]
    return f"{int(counts.sum())} of {runs} runs: {', '.join(parts)}" if parts else "none"


def failure_table(board: Board, ranking: Ranking) -> str:
    """The failed runs of each function's whole grid, per task and by kind (functions with none left out)."""
    from actlab.tables import markdown_table

    counts, runs = board.failure_counts(), board.fail_counts()[1]
    rows = [[names_text([a])] + [failures_text(counts[t, j], runs[t]) if counts[t, j].sum() else "—"
                                 for t in range(len(board.results))]
            for a in ranking.order() for j in [board.activations.index(a)] if counts[:, j].sum()]
    return markdown_table(["function"] + board.titles, rows) if rows else ""


# ---------------------------------------------------------------- the folklore, checked

DELTA = 0.005  # "within delta of the best", fixed before the numbers: half a point of test error


def excess_over_best(board: Board, name: str) -> dict[str, Measure]:
    """Per informative task (by name): ``name``'s test error minus that of the task's best function
    (the lowest median error), seed by seed, averaged over the seeds, a failed run counting as an
    error of 1; bootstrap intervals joint over the tasks (Bonferroni), with the same on each half of
    the seeds, widened where resampling the test examples moves them further. Errors are a share
    misclassified or the share of the target's variance left, so :data:`DELTA` is half a point on either."""
    from dataclasses import replace

    from actlab.verdicts import bootstrap

    keep = board.informative()
    err = np.minimum(board.tuned_test(), 1.0)
    draws = np.minimum(board.test_draws(), 1.0)
    best = np.median(err, axis=2).argmin(axis=1)
    a = board.activations.index(name)
    level = 1 - (1 - LEVEL) / len(keep)
    out = {}
    for t in keep:
        m, d = bootstrap(err[t, a] - err[t, best[t]], "mean", level=level), draws[:, t, a] - draws[:, t, best[t]]
        h = d.shape[1] // 2  # the halves of the seeds, as verdicts.halved cuts them
        halves = None if m.halves is None else (_envelope(m.halves[0], d[:, :h].mean(1), level),
                                                _envelope(m.halves[1], d[:, h:].mean(1), level))
        out[board.results[t].task.name] = replace(_envelope(m, d.mean(1), level), halves=halves)
    return out


def folklore_measures(ranking: Ranking, board: Board) -> dict[str, Measure]:
    acts = ranking.activations
    out = {f"relu_excess_{t}": m for t, m in excess_over_best(board, "relu").items()}
    pairs = [(a, "relu") for a in ("sigmoid", "tanh", "leaky_relu", "maxout", "elu") if a in acts]
    pairs += [("tanh", "maxout")] if "tanh" in acts and "maxout" in acts else []
    for a, b in pairs:  # the folklore's planned comparisons, decided together
        out[f"{a}_minus_{b}"] = ranking.difference(a, b, family=len(pairs))
    return out


def _diff_rule(a: str, op: str, b: str = "relu"):
    from actlab.verdicts import Rule

    key = f"{a}_minus_{b}"
    return Rule(key, op, 0.0, f"{names_text([a])}'s mean rank minus {names_text([b])}'s", "")


def folklore(board: Board, ranking: Ranking, setting: str) -> list[tuple[str, object]]:
    """The CS231n notes' advice (paraphrased) with the verdict our leaderboard gives each part.
    Rules, fixed before the numbers: "use ReLU" holds where on every task ReLU's test error is
    within :data:`DELTA` of the best function's (a default need not be the best, only close to it);
    a difference of mean ranks counts only when its paired interval excludes zero; "worth a try"
    holds where a variant ranks decisively better than ReLU."""
    from dataclasses import replace

    from actlab.numbers import fmt
    from actlab.verdicts import DISCUSSED, Rule, Verdict, judge

    m = folklore_measures(ranking, board)
    set_ = lambda rules: [replace(r, setting=setting) for r in rules]
    titles = {r.task.name: r.task.title for r in board.results}
    items = [
        (f"Use ReLU (tested as: on every task its mean test error is within {fmt(100 * DELTA)} points of the "
         "best function's).",
         judge("relu-default", [Rule(k, "<=", DELTA, "ReLU's test error minus the best function's, mean over seeds, "
                                     f"as a fraction ({fmt(DELTA)} is {fmt(100 * DELTA)} points)",
                                     titles[k.removeprefix("relu_excess_")])
                                for k in m if k.startswith("relu_excess_")], m)),
        ("Never use the sigmoid (tested as: it ranks below ReLU on average).", judge("never-sigmoid", set_([_diff_rule("sigmoid", ">")]), m)),
        ("Try tanh, but expect it to do worse than ReLU or maxout.",
         judge("tanh-worse", set_([_diff_rule("tanh", ">"), _diff_rule("tanh", ">", "maxout")]), m)),
        ("If dead units are a worry, give leaky ReLU or maxout a try (tested as: at least one ranks "
         "decisively better than ReLU).",
         judge("variants", [replace(_diff_rule(a, "<"), setting=f"{names_text([a])}, {setting}")
                            for a in ("leaky_relu", "maxout")],
              m, mode="settings")),
        ("Be careful with the learning rate and watch the fraction of dead units.",
         Verdict("careful", DISCUSSED, note="practice, not a claim to test; the failure shares of the grid show how "
                                             "forgiving each function is")),
    ]
    return items


def folklore_box(items, title: str = "What the folklore says, and our verdict") -> str:
    """The claim box of the guide (and of any chapter that checks claims against a rule): each
    claim, its verdict, and one line per rule, under ``title``."""
    lines = []
    for text, v in items:
        head = f"- *{text}* — **{v.label}**."
        if not v.parts:
            lines.append(f"{head} {v.note.rstrip('.')}.")
            continue
        subs = [p + "." for p in v.part_texts()]
        subs += [f"*{v.qualification}*." for _ in [0] if v.qualification]
        subs += [v.note.rstrip(".") + "." for _ in [0] if v.note]
        lines.append(head + "\n" + "\n".join(f"  - {x}" for x in subs))
    return f":::{{admonition}} {title}\n:class: claim\n\n" + "\n".join(lines) + "\n:::"


def profile_text(board: Board, name: str) -> str:
    """One function task by task: its rank (of the median test error) within each task, and
    the share of the grid's runs that failed where any did."""
    from actlab.numbers import pct

    a = board.activations.index(name)
    _, within = board.medians()
    fails = board.fail_share()
    parts = []
    for t, title in enumerate(board.titles):
        r = within[t, a]
        text = f"rank {r:g} of {len(board.activations)} on {title}"
        if fails[t, a] > 0:
            text += f" ({pct(fails[t, a])} of the runs of its learning-rate grid failed)"  # no apostrophe: Sphinx curls it
        parts.append(text)
    return "; ".join(parts)


def uninformative_text(board: Board) -> str:
    """A sentence naming the tasks left out of the ranking because every run failed; empty if none."""
    left = [board.titles[t] for t in range(len(board.results)) if t not in board.informative()]
    if not left:
        return ""
    return (f"Every run on {' and '.join(left)} failed within its budget, so that task ranks nothing "
            "and is left out of the mean ranks.")
