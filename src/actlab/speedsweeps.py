"""Speed sweeps kept as data: the ReLU chapter's race of the sigmoid, tanh and ReLU at tuned
learning rates (the evidence cell ``relu-speed``) and the variants chapter's race on a small grid
(``variants-speed``), each a function of the chapter's parameters returning plain JSON (per run:
epochs to the target, divergence, final loss, error curves at a few dozen checkpoints; never
weights), with the readers that turn it back into the objects the chapters read."""
from __future__ import annotations

import numpy as np

from actlab import convergence
from actlab.stored import array_data, array_from, curve_points, tuned_data, tuned_from

CURVE_POINTS = 30  # checkpoints of each error curve kept in the store (epochs to target use every evaluation)

# ---------------------------------------------------------------- the ReLU chapter's race

RELU_RACE = ("sigmoid", "tanh", "relu")
RELU_RACE_INIT = {"sigmoid": "xavier", "tanh": "xavier", "relu": "kaiming"}  # each its recommended one
RELU_SPEED_PARAMS = ("speed_lrs", "speed_seeds", "speed_depth", "speed_target", "speed_epochs")


def relu_speed_data(*, speed_lrs, speed_seeds: int, speed_depth: int, speed_target: float, speed_epochs: int,
                    activations=RELU_RACE, device: str = "cpu") -> dict:
    """Epochs to ``speed_target`` error on digits for each activation of ``activations`` in an MLP of
    ``speed_depth`` layers of 64 units (SGD with momentum, minibatches of 64, its recommended
    initialisation), its learning rate tuned from ``speed_lrs`` (:func:`convergence.tuned_speed`;
    errors 23 times an epoch on 400 training examples and on the held-out split). Seeded here as the
    chapter seeds itself. ``activations``: some of them only (a spot check's block: each tunes alone)."""
    from actlab import data
    from actlab.seeding import deterministic

    if device != "cpu":
        raise ValueError(f"the speed sweeps train on the CPU only (actlab.ensemble has no device support); got {device!r}")
    deterministic(0)
    X, y = data.digits("train")
    held = data.digits("test")
    speed = convergence.tuned_speed(list(activations), speed_lrs, speed_seeds, X, y, held, depth=speed_depth,
                                    epochs=speed_epochs, target=speed_target,
                                    init={a: RELU_RACE_INIT[a] for a in activations}, evals_per_epoch=23,
                                    eval_examples=400)
    return tuned_speed_data(speed)


def relu_speed_part(data: dict, activations) -> dict:
    """The part of stored ``relu_speed_data`` that ``relu_speed_data(..., activations=...)`` recomputes."""
    return {**data, "activations": list(activations), "by_activation": {a: data["by_activation"][a] for a in activations}}


# ---------------------------------------------------------------- the variants chapter's race

VARIANTS_SPEED_PARAMS = ("speed_activations", "speed_lrs", "speed_seeds", "speed_epochs")
VARIANTS_SPEED_DEPTH, VARIANTS_SPEED_TARGET = 3, 0.05  # three hidden layers of 64 units, 5% training error


def variants_speed_data(*, speed_activations, speed_lrs, speed_seeds: int, speed_epochs: int,
                        device: str = "cpu") -> dict:
    """Epochs to 5% training error on digits for every activation of ``speed_activations`` in an MLP
    of three hidden layers of 64 units (SGD with momentum, minibatches of 64, PyTorch's default
    initialisation) at every rate of ``speed_lrs`` (:func:`convergence.run`, errors once an epoch),
    as :func:`speed_sweep_data`. Every run is its own network: ``speed_activations`` narrowed to
    some is a spot check's block."""
    from actlab import data
    from actlab.seeding import deterministic

    if device != "cpu":
        raise ValueError(f"the speed sweeps train on the CPU only (actlab.ensemble has no device support); got {device!r}")
    deterministic(0)
    X, y = data.digits("train")
    sweep = convergence.run(list(speed_activations), [VARIANTS_SPEED_DEPTH], list(speed_lrs), speed_seeds, X, y,
                            epochs=speed_epochs, target=VARIANTS_SPEED_TARGET, held_out=data.digits("test"))
    return speed_sweep_data(sweep)


def variants_speed_part(data: dict, speed_activations, **_) -> dict:
    """The part of stored ``variants_speed_data`` that it recomputes for ``speed_activations`` alone."""
    return {**data, "activations": list(speed_activations),
            "runs": [r for a in speed_activations for r in data["runs"] if r["activation"] == a]}


# ---------------------------------------------------------------- the tanh chapter's race

TANH_STARTS = ("recommended", "default", "matched")


def tanh_starts(start: str, activations) -> dict:
    """Each activation's (scheme, gain) in the tanh chapter's race. "recommended": its registry entry
    (Glorot & Bengio's scheme with PyTorch's gains, 5/3 for tanh and 1 for the sigmoid); "default":
    PyTorch's default for a linear layer; "matched": tanh's recommended start, and the sigmoid at four
    times tanh's weights: sigma(x) = (1 + tanh(x / 2)) / 2, so a layer fed by sigmoid units with four
    times a tanh layer's weights computes what the tanh layer does, up to offsets its biases can
    absorb (in the first layer, fed by the data, the exact factor is two)."""
    from actlab import functions

    if start not in TANH_STARTS:
        raise ValueError(f"start must be one of {', '.join(TANH_STARTS)}; got {start!r}")
    if start == "default":
        return {a: "default" for a in activations}
    own = {a: (functions.get(a).init, functions.get(a).gain) for a in activations}
    if start == "matched":
        scheme, gain = functions.get("tanh").init, functions.get("tanh").gain
        own |= {"tanh": (scheme, gain), "sigmoid": (scheme, 4 * gain)}
    return own


def tanh_race_data(*, activations, depths, lrs, tune_rounds: int, seeds: int, epochs: int, target_error: float,
                   heldout_target: float, eval_every: int, eval_examples: int, width: int, starts,
                   device: str = "cpu") -> dict:
    """The tanh chapter's race from each of ``starts`` (:func:`tanh_starts`): MLPs of ``width`` units
    and each of ``depths`` hidden layers on the digits training split (SGD with momentum 0.9,
    minibatches of 64), every activation x depth x rate x seed, the rate tuned per (activation,
    depth) on the training target (``tune_rounds``); errors every ``eval_every`` steps on the first
    ``eval_examples`` training examples and on the test split (``heldout_target`` is read from them
    later). As :func:`speed_sweep_data`, by start; each start is its own sweep (a spot check's block)."""
    from actlab import data
    from actlab.seeding import deterministic

    if device != "cpu":
        raise ValueError(f"the speed sweeps train on the CPU only (actlab.ensemble has no device support); got {device!r}")
    deterministic(0)
    X, y = data.digits("train")
    Xt, yt = data.digits("test")
    out = {}
    for start in starts:
        sweep = convergence.run(list(activations), list(depths), list(lrs), seeds, X, y, width=width, epochs=epochs,
                                target=target_error, eval_every=eval_every, eval_examples=eval_examples, X_test=Xt,
                                y_test=yt, tune_rounds=tune_rounds, init=tanh_starts(start, activations))
        out[start] = speed_sweep_data(sweep)
    return {"by_start": out}


def tanh_race_part(data: dict, starts, **_) -> dict:
    """The part of stored ``tanh_race_data`` that it recomputes for ``starts`` alone."""
    return {"by_start": {s: data["by_start"][s] for s in starts}}


# ---------------------------------------------------------------- SpeedSweep as data

def speed_sweep_data(sw: convergence.SpeedSweep) -> dict:
    """A sweep as plain lists, one record per run that was trained (activation, depth, rate): per seed
    its training and held-out error at every evaluation, its final loss, what ``inspect`` returned
    (the MNIST-1D CNN's dead channels).
    :func:`speed_sweep_from` gives back the same arrays, bit for bit."""
    runs = []
    for a, act in enumerate(sw.activations):
        for d, depth in enumerate(sw.depths):
            for j, lr in enumerate(sw.lrs):
                if sw.trained is not None and not sw.trained[a, d, j]:
                    continue
                run = {"activation": act, "depth": depth, "lr": lr, "error": sw.error[a, d, j].tolist(),
                       "loss": sw.loss[a, d, j].tolist()}
                if sw.error_test is not None:
                    run["error_test"] = sw.error_test[a, d, j].tolist()
                if sw.inspected is not None:
                    run["inspected"] = np.asarray(sw.inspected[(act, depth, lr)]).tolist()
                runs.append(run)
    return {"activations": list(sw.activations), "depths": list(sw.depths), "lrs": [float(v) for v in sw.lrs],
            "seeds": sw.seeds, "target": sw.target, "evals_per_epoch": sw.evals_per_epoch,
            "eval_epochs": None if sw.eval_epochs is None else sw.eval_epochs.tolist(),
            "dtypes": {"error": str(sw.error.dtype), "loss": str(sw.loss.dtype)}, "runs": runs}


def speed_sweep_from(d: dict) -> convergence.SpeedSweep:
    """The sweep :func:`speed_sweep_data` wrote; a run not trained reads as :func:`convergence.run` leaves
    it (error 1, loss nan: it never reaches the target)."""
    acts, depths, lrs, S = d["activations"], d["depths"], d["lrs"], d["seeds"]
    T = len(d["runs"][0]["error"][0])
    shape = (len(acts), len(depths), len(lrs), S)
    err, loss = np.ones(shape + (T,), d["dtypes"]["error"]), np.full(shape, np.nan, d["dtypes"]["loss"])
    has_test = "error_test" in d["runs"][0]
    test = np.ones(shape + (T,), d["dtypes"]["error"]) if has_test else None
    trained, seen = np.zeros(shape[:3], bool), {}
    for r in d["runs"]:
        i = (acts.index(r["activation"]), depths.index(r["depth"]), lrs.index(r["lr"]))
        err[i], loss[i], trained[i] = r["error"], r["loss"], True
        if has_test:
            test[i] = r["error_test"]
        if "inspected" in r:
            seen[(r["activation"], r["depth"], r["lr"])] = np.array(r["inspected"])
    return convergence.SpeedSweep(list(acts), list(depths), list(lrs), S, err, loss, d["target"], d["evals_per_epoch"],
                                  test, None if d["eval_epochs"] is None else np.array(d["eval_epochs"]), trained,
                                  seen or None)


# ---------------------------------------------------------------- TunedSpeed as data

def tuned_speed_data(speed: convergence.TunedSpeed, points: int = CURVE_POINTS) -> dict:
    """Per activation its tuned grid (``tuning.Tuned``) and every rate it tried: per seed the epochs
    to the target on training and held-out data, divergence, final loss, and the error curves at
    about ``points`` of the evaluations. :func:`tuned_speed_from` reads it back."""
    keep = curve_points(len(speed.eval_epochs), points)

    def run(r: convergence.Run) -> dict:
        return {"lr": float(r.lr), "to_target": array_data(r.to_target), "to_target_test": array_data(r.to_target_test),
                "diverged": array_data(r.diverged), "loss": array_data(r.loss),
                "error": array_data(r.error[:, keep]), "error_test": array_data(r.error_test[:, keep])}

    return {"activations": list(speed.activations), "epochs": int(speed.epochs),
            "curve_epochs": array_data(speed.eval_epochs[keep]),
            "by_activation": {a: {"tuned": tuned_data(speed.tuned[a]), "runs": [run(r) for r in speed.runs[a].values()]}
                              for a in speed.activations}}


def tuned_speed_from(d: dict) -> convergence.TunedSpeed:
    """The :class:`convergence.TunedSpeed` that :func:`tuned_speed_data` wrote, bit for bit, except
    that each run's error curves (and ``eval_epochs``) hold the stored checkpoints only."""
    tuned, train, test, div, every = {}, {}, {}, {}, {}
    for act in d["activations"]:
        part = d["by_activation"][act]
        t = tuned_from(part["tuned"])
        runs = {r["lr"]: convergence.Run(r["lr"], array_from(r["error"]), array_from(r["error_test"]),
                                         array_from(r["to_target"]), array_from(r["to_target_test"]),
                                         array_from(r["diverged"]), array_from(r["loss"])) for r in part["runs"]}
        seeds = len(next(iter(runs.values())).to_target)
        r = runs[t.lr] if t.best is not None else None  # no rate reached the target: censored at the budget
        tuned[act], every[act] = t, runs
        train[act] = r.to_target if r else np.full(seeds, np.inf)
        test[act] = r.to_target_test if r else np.full(seeds, np.inf)
        div[act] = r.diverged if r else None
    return convergence.TunedSpeed(list(d["activations"]), tuned, train, test, div, d["epochs"], every,
                                  array_from(d["curve_epochs"]))
