"""The vanishing-gradients chapter's expensive experiments kept as data (evidence cells): the
gradient norms at initialisation over activations × initialisations × depths × seeds, on digits,
with batch normalisation and on Gaussian inputs (``vanishing-norms``); a deep ReLU network trained
under Xavier's and Kaiming's initialisation at tuned learning rates (``vanishing-he``); a sigmoid
network from a random start and after layer-wise pre-training (``vanishing-pretrain``). Each is a
function of the chapter's parameters returning plain JSON (per run: norms per layer, or learning
curves at a few dozen steps; never weights), with the readers that give back the chapter's objects
bit for bit."""
from __future__ import annotations

import math

from actlab import gradients as gr
from actlab.stored import array_data, array_from, tuned_data, tuned_from


def _cpu(device: str, what: str) -> None:
    if device != "cpu":
        raise ValueError(f"{what} run on the CPU only (actlab.ensemble has no device support); got {device!r}")


# ---------------------------------------------------------------- gradient norms at initialisation

NORMS_PARAMS = ("activations", "inits", "depths", "seeds", "n_samples", "width")  # the cell vanishing-norms
NORM_PARTS = ("digits", "gaussian", "batch_norm")


def norms_data(*, activations, inits, depths, seeds: int, n_samples: int, width: int, parts=NORM_PARTS,
               device: str = "cpu") -> dict:
    """:func:`gradients.norm_sweep` of every activation × init × depth × seed on ``n_samples``
    standardised digits ("digits"), the same with batch normalisation ("batch_norm"), and at the
    deepest depth on as many standard-normal inputs with random labels ("gaussian"), in float64.
    Each part is its own ensembles: ``parts`` computes some only (a spot check's block)."""
    from actlab import data
    from actlab.seeding import deterministic

    _cpu(device, "the gradient sweeps")
    deterministic(0)
    X, y = data.dataset("digits", n_samples)
    out = {}
    if "digits" in parts:
        out["digits"] = norm_sweep_data(gr.norm_sweep(activations, inits, depths, seeds, X, y, width=width))
    if "gaussian" in parts:
        Xg, yg = data.dataset("gaussian", n_samples)
        out["gaussian"] = norm_sweep_data(gr.norm_sweep(activations, inits, [depths[-1]], seeds, Xg, yg, width=width))
    if "batch_norm" in parts:
        out["batch_norm"] = norm_sweep_data(gr.norm_sweep(activations, inits, depths, seeds, X, y, width=width,
                                                          batch_norm=True))
    return out


def norms_part(data: dict, parts, **_) -> dict:
    """The parts of stored ``norms_data`` that ``norms_data(..., parts=parts)`` recomputes."""
    return {p: data[p] for p in parts}


def norm_sweep_data(sw: gr.NormSweep) -> dict:
    """One record per (activation, init, depth): each seed's weight-gradient norm and rms error per
    layer (hidden layers, then the output)."""
    runs = [{"activation": a, "init": i, "depth": d, "norms": array_data(sw.norms[a, i, d]),
             "deltas": array_data(sw.deltas[a, i, d])} for (a, i, d) in sw.norms]
    return {"activations": list(sw.activations), "inits": list(sw.inits), "depths": list(sw.depths),
            "seeds": int(sw.seeds), "runs": runs}


def norm_sweep_from(d: dict) -> gr.NormSweep:
    key = lambda r: (r["activation"], r["init"], r["depth"])
    return gr.NormSweep(list(d["activations"]), list(d["inits"]), list(d["depths"]), d["seeds"],
                        {key(r): array_from(r["norms"]) for r in d["runs"]},
                        {key(r): array_from(r["deltas"]) for r in d["runs"]})


def norm_sweeps_from(data: dict) -> dict:
    """{part: NormSweep} of :func:`norms_data`."""
    return {p: norm_sweep_from(v) for p, v in data.items()}


# ---------------------------------------------------------------- tuned training runs

def tuned_runs_data(tuned, runs: dict) -> dict:
    """A tuned grid (``tuning.Tuned``) and every rate it tried: per rate the logged steps and each
    seed's training, test and validation loss there (``gradients.Trained``)."""
    return {"tuned": tuned_data(tuned),
            "runs": [{"lr": float(lr), **{f: array_data(getattr(t, f)) for f in ("steps", "train", "test", "val")}}
                     for lr, t in runs.items()]}


def tuned_runs_from(d: dict) -> tuple:
    """(Tuned, {lr: Trained}) as ``gradients.tuned_curves`` returned them."""
    return tuned_from(d["tuned"]), {r["lr"]: gr.Trained(*(array_from(r[f]) for f in ("steps", "train", "test", "val")))
                                    for r in d["runs"]}


def _digits32():
    import torch

    from actlab import data

    return (*data.digits("train", dtype=torch.float32), *data.digits("test", dtype=torch.float32))


# ---------------------------------------------------------------- Xavier against Kaiming, trained

HE_PARAMS = ("he_lrs", "he_depth", "width", "he_seeds", "he_steps", "he_max_rounds")  # the cell vanishing-he
HE_INITS = ("kaiming", "xavier")


def he_data(*, he_lrs, he_depth: int, width: int, he_seeds: int, he_steps: int, he_max_rounds: int,
            inits=HE_INITS, device: str = "cpu") -> dict:
    """:func:`gradients.tuned_inits` of a ReLU MLP of ``he_depth`` layers of ``width`` units on digits
    in float32 (SGD with momentum, minibatches of 64, the loss logged 20 times), each init's rate
    tuned on validation loss from ``he_lrs``, as {init: :func:`tuned_runs_data`}. Each init tunes on
    its own runs: ``inits`` narrowed to one is a spot check's block."""
    from actlab.seeding import deterministic

    _cpu(device, "the training runs")
    deterministic(0)
    X, y, Xt, yt = _digits32()
    tuned = gr.tuned_inits("relu", list(inits), he_lrs, he_depth, width, he_seeds, X, y, Xt, yt, chance=math.log(10),
                           steps=he_steps, batch_size=64, every=max(1, he_steps // 20), max_rounds=he_max_rounds)
    return {i: tuned_runs_data(*tuned[i]) for i in inits}


def he_from(data: dict) -> dict:
    """{init: (Tuned, {lr: Trained})} of :func:`he_data`, Kaiming's first (Xavier's curve falls back
    on Kaiming's rate where no rate learned); the store keeps JSON's keys sorted, not this order."""
    return {i: tuned_runs_from(data[i]) for i in HE_INITS if i in data}


def he_part(data: dict, inits, **_) -> dict:
    """The inits of stored ``he_data`` that ``he_data(..., inits=inits)`` recomputes."""
    return {i: data[i] for i in inits}


# ---------------------------------------------------------------- layer-wise pre-training

PRETRAIN_PARAMS = ("pretrain_depth", "width", "seeds", "pretrain_lrs", "pretrain_steps", "finetune_steps")
STARTS = gr.PRETRAIN_STARTS


def pretrain_data(*, pretrain_depth: int, width: int, seeds: int, pretrain_lrs, pretrain_steps: int,
                  finetune_steps: int, starts=STARTS, device: str = "cpu") -> dict:
    """:func:`gradients.pretrain_compare` of a sigmoid MLP of ``pretrain_depth`` layers of ``width``
    units on digits in float32 (the loss logged every fifth of ``pretrain_steps``), as
    {start: :func:`tuned_runs_data` and the gradients at the start}. Each start tunes on its own
    runs: ``starts`` narrowed to one is a spot check's block."""
    from actlab.seeding import deterministic

    _cpu(device, "the training runs")
    deterministic(0)
    X, y, Xt, yt = _digits32()
    pt = gr.pretrain_compare(pretrain_depth, width, seeds, pretrain_lrs, X, y, Xt, yt, pretrain_steps=pretrain_steps,
                             finetune_steps=finetune_steps, every=max(1, pretrain_steps // 5), chance=math.log(10),
                             starts=starts)
    return {s: {**tuned_runs_data(tuned, runs), "start": {k: array_data(v) for k, v in grads.items()}}
            for s, (tuned, runs, grads) in pt.items()}


def pretrain_from(data: dict) -> dict:
    """{start: (Tuned, {lr: Trained})} of :func:`pretrain_data`, in the order of ``STARTS`` (the
    figure's legend); the store keeps JSON's keys sorted, not this order."""
    return {s: tuned_runs_from(data[s]) for s in STARTS if s in data}


def pretrain_start_gradients(data: dict) -> dict:
    """{start: {"weight_norms": (seeds, layers), "deltas": (seeds, layers + 1)}} at the weights
    supervised training starts from (:func:`gradients.pretrain_compare`)."""
    return {s: {k: array_from(v) for k, v in data[s]["start"].items()} for s in STARTS if s in data}


def pretrain_part(data: dict, starts, **_) -> dict:
    """The starts of stored ``pretrain_data`` that ``pretrain_data(..., starts=starts)`` recomputes."""
    return {s: data[s] for s in starts}
