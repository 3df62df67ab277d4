"""The evidence store: expensive experiments computed once and kept as data, with provenance.

A *cell* is a named experiment, a function ``module:function`` with its parameters, whose
JSON-serialisable result (per-run outcomes, learning curves; never weights) lives in
``evidence/NAME.json``. Its *key* hashes the code that computes it (the function's module and
every ``actlab`` module that module imports, transitively), its parameters and the torch and
numpy versions; a stored cell whose key differs from the current one is stale. Commit, machine,
date, wall time and peak memory are provenance: they say where a number came from without
making it stale.

``python -m actlab.evidence compute|check|spot-check`` (``make evidence``, ``make evidence-check``).
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import importlib
import inspect
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from actlab import paths

STORE = paths.ROOT / "evidence"       # committed: the cells at their registered parameters
CACHE = paths.BUILD / "evidence"      # other parameters (a student's run, the quick profile)
DEVICE = os.environ.get("DEVICE", "cpu")


@dataclass(frozen=True)
class Cell:
    """``summary`` is formatted with the parameters for the provenance line; ``spot`` lists
    parameter overrides for cheap blocks whose results the full data contains, and ``select``
    ("module:function" taking (data, **overrides)) cuts that block out of the stored data.
    ``timing``: the data are timings, so the cell is computed alone, after the others, and never
    spot-checked (a timing does not repeat to any tolerance worth checking)."""
    func: str
    params: dict
    expected_s: float
    summary: str = ""
    spot: tuple = ()
    select: str = ""
    atol: float = 0.0
    rtol: float = 0.0
    timing: bool = False


GUIDE = dict(
    activations=["relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu", "mish", "softplus", "tanh",
                 "lecun_tanh", "sigmoid", "maxout", "swiglu"],
    tasks=["digits", "cnn", "deep", "modern", "regression"], seeds=10, epochs=40, deep_depth=20, deep_epochs=120,
    modern_epochs=40, regression_steps=3000, digits_lrs=[0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
    deep_lrs=[0.0001, 0.0003, 0.001, 0.003, 0.01], modern_lrs=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
    regression_lrs=[0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3], cnn_lrs=[0.001, 0.003, 0.01, 0.03, 0.1], cnn_channels=25,
    cnn_epochs=48, cnn_train=2000, time_steps=10)

MNIST1D_SPEED = dict(
    n_train=4000, n_test=1000, speed_lrs=[0.01, 0.03, 0.1, 0.3], speed_seeds=10, speed_epochs=10, speed_target=0.25,
    tune_rounds=1, eval_every=42, eval_examples=300, adam_lrs=[0.003, 0.01, 0.03], mlp_width=100, mlp_lr=0.01)
# The ReLU chapter's defaults of its expensive experiments (chapters/relu.md; a test keeps them equal)
RELU_SPEED = dict(speed_lrs=[0.003, 0.01, 0.03, 0.1, 0.3, 1.0], speed_seeds=10, speed_depth=4, speed_target=0.25,
                  speed_epochs=5)
RELU_DEAD = dict(dead_lrs=[0.01, 0.0155, 0.024, 0.0373, 0.0578, 0.0897, 0.139, 0.216, 0.335, 0.519, 0.804, 1.25,
                           1.93, 3.0], dead_seeds=10, dead_epochs=8, widths=[64, 64, 64])
RELU_BORN = dict(born_widths=[2, 3, 4, 5], born_depths=[2, 4, 8, 16, 32, 50], born_samples=1000)
RELU_SHIFT = dict(shift_activations=["relu", "leaky_relu", "elu"], shift_depth=8, shift_width=128, shift_epochs=10,
                  shift_seeds=10)
# The variants chapter's defaults of its expensive experiments (chapters/relu-variants.md; a test keeps them equal)
VARIANTS_PRELU = dict(prelu_depth=4, prelu_seeds=10, prelu_steps=1500)
VARIANTS_DEAD = dict(dead_activations=["relu", "leaky_relu", "prelu", "elu"],
                     dead_lrs=[0.01, 0.0373, 0.139, 0.519, 1.25, 1.93, 3.0], dead_seeds=10, dead_epochs=8)
VARIANTS_SPEED = dict(speed_activations=["relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu", "mish", "maxout"],
                      speed_lrs=[0.01, 0.03, 0.1, 0.3], speed_seeds=10, speed_epochs=10)
# The tanh chapter's race (chapters/tanh.md; a test keeps them equal)
TANH_RACE = dict(activations=["sigmoid", "tanh"], depths=[1, 3, 5], lrs=[0.01, 0.03, 0.1, 0.3], tune_rounds=2,
                 seeds=10, epochs=20, target_error=0.05, heldout_target=0.1, eval_every=6, eval_examples=512, width=64,
                 starts=["recommended", "default", "matched"])
# The vanishing-gradients chapter's defaults of its expensive experiments (chapters/vanishing-gradients.md;
# a test keeps them equal)
VANISHING_NORMS = dict(activations=["sigmoid", "tanh", "relu"], inits=["default", "standard", "xavier", "kaiming"],
                       depths=[2, 3, 5, 10, 20, 30], seeds=10, n_samples=256, width=64)
VANISHING_HE = dict(he_lrs=[0.003, 0.01, 0.03, 0.1], he_depth=30, width=64, he_seeds=10, he_steps=200, he_max_rounds=6)
# The linear-pieces chapter's count (chapters/sparsity-pieces.md; a test keeps them equal)
REGIONS_PIECES = dict(architectures=["1 × 48", "2 × 24", "3 × 16", "4 × 12", "6 × 8"], seeds=10, steps=800, lr=0.003,
                      n_lines=8, n_points=2000)
# The properties chapter's timing (chapters/properties.md; a test keeps them equal)
PROPERTIES_COST = dict(cost_elements=2_000_000, cost_repeats=15, cost_block_ms=4.0, cost_builds=6, cost_threads=[1, 2])
VANISHING_PRETRAIN = dict(pretrain_depth=5, width=64, seeds=10, pretrain_lrs=[0.03, 0.1, 0.3, 1.0], pretrain_steps=200,
                          finetune_steps=600)

CELLS: dict[str, Cell] = {
    # The guide's defaults (chapters/guide.md); a test keeps the two equal. Spot blocks: one task at
    # its first or its last seed: each seed of a task trains as its own ensemble, so a block repeats
    # the stored runs exactly on the same CPU and torch. The two 20-layer tasks are left out: a seed
    # of either takes 60-80 s, a third of `make test`'s budget; test_ensemble covers their layers.
    # The tolerance is for another CPU, where rounding can move a run: 0.02 absolute is two points
    # of a share misclassified (a smaller CNN ensemble, which rounds differently, moved test errors
    # by up to 1.2 points here), 5% relative for the MSE.
    "guide-leaderboard": Cell(
        "actlab.leaderboard:board_data", GUIDE, expected_s=45,
        summary="{seeds} seeds × {n_activations} functions × {n_tasks} tasks × 4–7 learning rates, budget "
                "{epochs} epochs (digits), {deep_epochs} ({deep_depth}-layer), {modern_epochs} ({deep_depth}-layer residual), "
                "{cnn_epochs} (CNN), "
                "{regression_steps} full-batch steps (regression)",
        spot=tuple({"tasks": [t], "only_seeds": [s], "time_steps": 0} for t in ("regression", "digits", "cnn")
                   for s in (0, GUIDE["seeds"] - 1)),
        select="actlab.leaderboard:board_subset", atol=0.02, rtol=0.05),
    # The MNIST-1D chapter's sweeps at its defaults (chapters/mnist1d.md, the parameters of
    # actlab.mnist1dsweeps.SPEED_PARAMS; a test keeps the two equal). Spot blocks: one part each
    # (SGD's tuned sweep of the three functions, Adam's of ReLU, the MLP), each its own ensembles,
    # so a block repeats the stored runs exactly on the same CPU and torch. The tolerance is for
    # another CPU: 0.05 absolute is one dead channel of a layer's 25 (0.04) or 15 of the 300
    # signals an error is measured on; 5% relative for the final losses.
    "mnist1d-speed": Cell(
        "actlab.mnist1dsweeps:speed_data", MNIST1D_SPEED, expected_s=40,
        summary="{speed_seeds} seeds × 3 functions × {n_speed_lrs} learning rates of SGD with momentum (up to "
                "{tune_rounds} more while tuning), the ReLU CNN with Adam at {n_adam_lrs} learning rates (tuned the "
                "same way), an MLP "
                "at η = {mlp_lr}, the sigmoid and tanh again with He's initialisation; budget {speed_epochs} epochs of "
                "{n_train} MNIST-1D signals, errors every {eval_every} steps",
        spot=tuple({"parts": [p]} for p in ("mlp", "adam", "sgd", "he")),
        select="actlab.mnist1dsweeps:speed_parts", atol=0.05, rtol=0.05),
    # The ReLU chapter's race of sigmoid, tanh and ReLU at tuned rates. Spot blocks: one activation
    # each (each tunes on its own runs; every run is its own network, so a block repeats the stored
    # runs exactly on the same CPU). For another CPU: 0.05 absolute is about one evaluation of the
    # epochs to the target (1/23 epoch) or 20 of the 400 examples an error is measured on; 5%
    # relative for the final losses.
    "relu-speed": Cell(
        "actlab.speedsweeps:relu_speed_data", RELU_SPEED, expected_s=25,
        summary="{speed_seeds} seeds × 3 functions × {n_speed_lrs} learning rates (extended while tuning), a "
                "{speed_depth}-layer MLP on digits, budget {speed_epochs} epochs to a training error of {speed_target}",
        spot=tuple({"activations": [a]} for a in ("relu", "tanh", "sigmoid")),
        select="actlab.speedsweeps:relu_speed_part", atol=0.05, rtol=0.05),
    # The ReLU chapter's dead units against the learning rate. Spot blocks: the odd and the even
    # rates of the grid (every run its own network, the batch order shared: a block repeats the
    # stored runs exactly on the same CPU). For another CPU: 0.02 absolute is about four of the
    # 192 hidden units; 5% relative for losses and counts of units. Near divergence a run is
    # chaotic, and another CPU may need a recomputation there, not a wider tolerance.
    "relu-dead-units": Cell(
        "actlab.deadunits:relu_dead_data", RELU_DEAD, expected_s=10,
        summary="ReLU networks (hidden layers {widths}), {dead_seeds} seeds × {n_dead_lrs} learning rates of plain SGD "
                "on digits, budget {dead_epochs} epochs, every unit checked at 12 points",
        spot=tuple({"dead_lrs": RELU_DEAD["dead_lrs"][i::2]} for i in (0, 1)),
        select="actlab.deadunits:dead_part", atol=0.02, rtol=0.05),
    # The ReLU chapter's born-dead Monte Carlo: one generator for all settings, so no smaller block
    # repeats it; the whole cell is the block (a few seconds). For another CPU: 0.005 absolute is
    # five of the 1000 networks of a setting.
    "relu-born-dead": Cell(
        "actlab.deadunits:relu_born_data", RELU_BORN, expected_s=5,
        summary="{born_samples} random ReLU networks for each of {n_born_widths} widths × {n_born_depths} depths, "
                "one seed",
        atol=0.005),
    # The ReLU chapter's bias shift in two settings (default init, η = 0.05; Kaiming's, η = 0.02). Spot
    # blocks: one setting each, each its own ensemble (exact on the same CPU). For another CPU: 0.02
    # absolute on offsets (in standard deviations) and errors (7 of the 360 held-out digits); 5%
    # relative for curvature inflations and losses.
    "relu-bias-shift": Cell(
        "actlab.biasshift:relu_shift_data", RELU_SHIFT, expected_s=20,
        summary="{shift_seeds} seeds × {n_shift_activations} functions × 2 settings, {shift_depth} hidden layers "
                "of {shift_width} units on digits, budget {shift_epochs} epochs",
        spot=tuple({"settings": [s]} for s in ("default init", "Kaiming init")),
        select="actlab.biasshift:shift_part", atol=0.02, rtol=0.05),
    # The variants chapter's PReLU networks, whose learned slopes it reads. Spot block: the first two
    # seeds (every seed its own network, the batch order shared: exact on the same CPU). For another
    # CPU: 0.02 absolute on slopes and held-out errors (7 of 360 digits); 5% relative for losses.
    "variants-prelu": Cell(
        "actlab.variants:prelu_data", VARIANTS_PRELU, expected_s=6,
        summary="{prelu_seeds} seeds of a PReLU MLP of {prelu_depth} hidden layers on digits, budget "
                "{prelu_steps} steps of SGD with momentum",
        spot=({"prelu_seeds": 2},), select="actlab.variants:prelu_part", atol=0.02, rtol=0.05),
    # The variants chapter's inactive and dead units against the learning rate. Spot blocks: one
    # activation each (each its own ensemble: exact on the same CPU). Tolerances as relu-dead-units.
    "variants-dead-units": Cell(
        "actlab.deadunits:variants_dead_data", VARIANTS_DEAD, expected_s=15,
        summary="{n_dead_activations} functions × {n_dead_lrs} learning rates of plain SGD × {dead_seeds} seeds, "
                "three hidden layers of 64 units on digits, budget {dead_epochs} epochs",
        spot=tuple({"dead_activations": [a]} for a in VARIANTS_DEAD["dead_activations"]),
        select="actlab.deadunits:dead_part", atol=0.02, rtol=0.05),
    # The variants chapter's race on a small grid. Spot blocks: three activations each (every run its
    # own network: exact on the same CPU). For another CPU: 0.02 absolute on errors (29 of the 1437
    # training digits, 7 of the 360 held out); 5% relative for losses.
    "variants-speed": Cell(
        "actlab.speedsweeps:variants_speed_data", VARIANTS_SPEED, expected_s=15,
        summary="{n_speed_activations} functions × {n_speed_lrs} learning rates × {speed_seeds} seeds, three "
                "hidden layers of 64 units on digits, budget {speed_epochs} epochs of SGD with momentum",
        spot=tuple({"speed_activations": VARIANTS_SPEED["speed_activations"][i:i + 3]} for i in (0, 3, 6)),
        select="actlab.speedsweeps:variants_speed_part", atol=0.02, rtol=0.05),
    # The tanh chapter's race of the sigmoid and tanh from three starts. Spot blocks: one start each
    # (each its own sweep, every seed its own ensemble: exact on the same CPU). The store keeps error
    # curves and final losses; for another CPU, 0.05 absolute is 26 of the 512 examples a training
    # error is measured on (18 of the 360 held out), 5% relative for the losses.
    "tanh-race": Cell(
        "actlab.speedsweeps:tanh_race_data", TANH_RACE, expected_s=60,
        summary="{seeds} seeds × {n_activations} functions × {n_depths} depths × {n_lrs} learning rates (extended "
                "while tuning) from {n_starts} initialisations, MLPs of {width} units on digits, budget {epochs} "
                "epochs of SGD with momentum",
        spot=tuple({"starts": [s]} for s in TANH_RACE["starts"]),
        select="actlab.speedsweeps:tanh_race_part", atol=0.05, rtol=0.05),
    # The vanishing-gradients chapter's gradient norms at initialisation. Spot blocks: one part each
    # (digits, Gaussian inputs, batch normalisation: each its own ensembles, exact on the same CPU).
    # Norms fall through many orders of magnitude, so the tolerance is relative only: 1e-6 allows
    # another CPU's rounding through 30 layers of float64, and nothing else.
    "vanishing-norms": Cell(
        "actlab.gradientdata:norms_data", VANISHING_NORMS, expected_s=12,
        summary="{seeds} seeds × {n_activations} functions × {n_inits} initialisations × {n_depths} depths at "
                "initialisation, {width} units per layer, {n_samples} digits (with and without batch "
                "normalisation) and as many Gaussian inputs",
        spot=tuple({"parts": [p]} for p in ("gaussian", "digits", "batch_norm")),
        select="actlab.gradientdata:norms_part", rtol=1e-6),
    # The vanishing-gradients chapter's deep ReLU network under Xavier and Kaiming, trained. Spot
    # blocks: one initialisation each (each tunes on its own runs: exact on the same CPU). For another
    # CPU: 0.02 absolute on losses near chance (ln 10), 5% relative on the rest.
    "vanishing-he": Cell(
        "actlab.gradientdata:he_data", VANISHING_HE, expected_s=12,
        summary="{he_seeds} seeds × 2 initialisations × {n_he_lrs} learning rates (extended up to {he_max_rounds} "
                "times while tuning), a {he_depth}-layer ReLU MLP of {width} units on digits, budget {he_steps} steps",
        spot=tuple({"inits": [i]} for i in ("kaiming", "xavier")),
        select="actlab.gradientdata:he_part", atol=0.02, rtol=0.05),
    # The vanishing-gradients chapter's layer-wise pre-training against a random start. Spot blocks:
    # one start each (each tunes on its own runs: exact on the same CPU). Tolerances as vanishing-he.
    "vanishing-pretrain": Cell(
        "actlab.gradientdata:pretrain_data", VANISHING_PRETRAIN, expected_s=20,
        summary="{seeds} seeds × 4 starts × {n_pretrain_lrs} learning rates (extended while tuning), a "
                "{pretrain_depth}-layer sigmoid MLP of {width} units on digits, budget {pretrain_steps} "
                "autoencoder steps per layer and {finetune_steps} steps of fine-tuning",
        spot=tuple({"starts": [s]} for s in ("default init", "Xavier init", "tanh-matched init", "pre-trained")),
        select="actlab.gradientdata:pretrain_part", atol=0.02, rtol=0.05),
    # The count of linear pieces along lines in ReLU networks of equal size and different depth. Spot
    # blocks: one architecture each (each its own ensemble: exact on the same CPU). For another CPU:
    # 1 absolute is one piece in a mean over lines (a boundary that rounding moves across a grid
    # point), 5% relative for the training MSE.
    "regions-pieces": Cell(
        "actlab.regions:pieces_data", REGIONS_PIECES, expected_s=40,
        summary="ReLU MLPs of 48 hidden units as {n_architectures} architectures × {seeds} seeds, He's start, "
                "regressing a 2-D function with Adam for {steps} full-batch steps; pieces counted on {n_lines} "
                "lines of {n_points} points",
        spot=tuple({"architectures": [a]} for a in REGIONS_PIECES["architectures"]),
        select="actlab.regions:pieces_part", atol=1.0, rtol=0.05),
    # The properties chapter's timing of every function's kernels: whole timings in fresh processes
    # (builds) at one and two threads, so that a verdict rests on the spread across builds as well
    # as across rounds. Computed alone; not spot-checked (see Cell.timing).
    "properties-cost": Cell(
        "actlab.cost:timing_data", PROPERTIES_COST, expected_s=150, timing=True,
        summary="every elementwise kernel forward and backward on {cost_elements} float32 values, "
                "{cost_repeats} rounds in each of {cost_builds} fresh processes, at {cost_threads} torch threads, "
                "with nothing else running",
    ),
}


class EvidenceError(RuntimeError):
    """A cell the book needs is missing or stale; the message names the command that fixes it."""


# ---------------------------------------------------------------- strict JSON

def dumps(obj) -> str:
    """Strict JSON: a non-finite float becomes ``{"float": "inf"}`` (as ``record.metrics_json``)."""
    def enc(v):
        if isinstance(v, float) and not math.isfinite(v):
            return {"float": repr(v)}
        if isinstance(v, dict):
            return {k: enc(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [enc(x) for x in v]
        return v
    return json.dumps(enc(obj), sort_keys=True, allow_nan=False, separators=(",", ":"))


def loads(text: str):
    return json.loads(text, object_hook=lambda d: float(d["float"]) if set(d) == {"float"} else d)


def write_atomic(path: Path, text: str) -> None:
    """A reader never sees half a file: write beside it, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would follow the file into a commit
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- keys

# Packages whose modules enter a key when a cell imports them (a test adds a scratch package);
# third-party code enters through its version (torch, numpy), not its source.
ROOTS = {"actlab": Path(__file__).resolve().parent}


def source_file(module: str) -> Path | None:
    """The file of a module of ``ROOTS`` (found without importing it), or None if ``module``
    names no such module (``from actlab.x import f`` names ``actlab.x.f`` too)."""
    parts = module.split(".")
    if parts[0] not in ROOTS:
        return None
    base = ROOTS[parts[0]].joinpath(*parts[1:])
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def _imports(module: str) -> set[str]:
    """The modules of ``ROOTS`` ``module``'s source imports, anywhere in it (lazy imports too)."""
    return imports_of(source_file(module).read_text())


def imports_of(source: str) -> set[str]:
    """The modules of ``ROOTS`` a piece of code imports (a chapter's cells: IPython's ``%`` and
    ``!`` lines are skipped; code that does not parse counts as importing the package)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return {m for m in ROOTS if source_file(m)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if source_file(m) is not None}


def code_modules(module: str) -> tuple[str, ...]:
    """``module`` and every module of ``ROOTS`` it imports, transitively, sorted (not cached:
    a kernel that lives across an edit must see it; about 15 ms for the leaderboard)."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(_imports(m) - seen)
    return tuple(sorted(seen))


def versions() -> dict:
    from importlib.metadata import version
    return {"torch": version("torch"), "numpy": version("numpy")}


def cell_key(cell: Cell, params: dict | None = None) -> str:
    """sha256 of the code, the parameters and the library versions: what decides the numbers."""
    h = hashlib.sha256(cell.func.encode())
    for m in code_modules(cell.func.split(":")[0]):
        h.update(m.encode() + b"\0" + source_file(m).read_bytes() + b"\0")
    h.update(dumps(cell.params if params is None else params).encode())
    h.update(dumps(versions()).encode())
    return h.hexdigest()


# ---------------------------------------------------------------- store and cache

def store_path(name: str) -> Path:
    return STORE / f"{name}.json"


def cache_path(name: str, params: dict) -> Path:
    return CACHE / f"{name}-{hashlib.sha256(dumps(params).encode()).hexdigest()[:8]}.json"


def read(path: Path) -> dict | None:
    """The record at ``path``; None if missing, or if it does not parse (said in one line)."""
    if not path.exists():
        return None
    try:
        rec = loads(path.read_text())
        if not isinstance(rec, dict) or not {"key", "data", "provenance"} <= set(rec):
            raise ValueError("not an evidence record")
        return rec
    except (ValueError, UnicodeDecodeError) as e:
        print(f"evidence: {path} does not read back ({type(e).__name__}); treating it as missing", file=sys.stderr)
        return None


def problem(name: str) -> str | None:
    """One sentence if the committed cell is missing or stale, else None."""
    rec = read(store_path(name))
    if rec is None:
        why = "is missing or unreadable"
    elif rec["key"] != cell_key(CELLS[name]):
        why = "is stale (its code, parameters or library versions changed)"
    else:
        return None
    return f"Evidence cell {name} {why}: run `make evidence CELL={name}`."


def _params(name: str, params: dict) -> tuple[dict, bool]:
    """All of the cell's parameters (given ones over registered ones), and whether they are the
    registered ones (compared as JSON: a tuple equals a list, 1.0 equals 1)."""
    cell = CELLS[name]
    if unknown := set(params) - set(cell.params):
        raise TypeError(f"evidence cell {name} has no parameter {', '.join(sorted(unknown))}")
    full = loads(dumps({**cell.params, **params}))
    return full, full == loads(dumps(cell.params))


def registered(name: str, params: dict) -> bool:
    """Whether ``params`` (a subset of the cell's, the rest registered) are the cell's registered
    parameters: a chapter then reads the committed store and computes nothing."""
    return _params(name, params)[1]


def require_all(name: str, params: dict, what: str) -> None:
    """Refuse ``params`` that leave out one of the cell's: a missing one would silently take the
    stored value, and the chapter's number would then answer another question."""
    if missing := sorted(set(CELLS[name].params) - set(params)):
        raise TypeError(f"{what} takes every parameter of the evidence cell {name}; missing: {', '.join(missing)}")


def load(name: str, **params):
    """The cell's data. At its registered parameters, from the committed store (an error naming
    the command if it is missing or stale, so the book never renders stale data); at any other
    parameters, computed here once and cached under ``_build/evidence``, never in the store."""
    full, registered = _params(name, params)
    if registered:
        if msg := problem(name):
            raise EvidenceError(msg)
        return read(store_path(name))["data"]
    cell, path = CELLS[name], cache_path(name, full)
    key = cell_key(cell, full)
    rec = read(path)
    if rec is None or rec["key"] != key:
        t0 = time.perf_counter()
        data = call(cell.func, full, DEVICE)
        rec = record(name, key, full, data, time.perf_counter() - t0, peak_mb(), DEVICE)
        write_atomic(path, dumps(rec))
    return rec["data"]


def provenance_line(name: str, **params) -> str:
    """One Markdown line under a figure or verdict built on the cell: what was run, when, where,
    at what cost. Other parameters than the registered ones read the run's cache entry."""
    full, registered = _params(name, params)
    rec = read(store_path(name) if registered else cache_path(name, full))
    if rec is None:
        return f"Evidence `{name}`: not computed yet."
    p, prov = rec["params"], rec["provenance"]
    what = CELLS[name].summary.format(**p, **{f"n_{k}": len(v) for k, v in p.items() if isinstance(v, list)})
    head = f"Stored evidence `{name}`" if registered else f"Evidence `{name}`, computed for this run's parameters"
    commit = prov["commit"][:7] + (" with uncommitted changes" if prov["commit"].endswith("+dirty") else "")
    return (f"{head}: {what}; computed {prov['date'][:10]} at commit {commit} on {prov['machine']} "
            f"({prov['device']}) in {prov['wall_seconds']:.0f} s, peak {prov['peak_mb']:.0f} MB.")


# ---------------------------------------------------------------- computing

def call(func: str, params: dict, device: str = "cpu"):
    """Run ``module:function`` with ``params``; ``device`` reaches a function that takes one."""
    mod, _, fn = func.partition(":")
    f = getattr(importlib.import_module(mod), fn)
    kw = dict(params)
    if "device" in inspect.signature(f).parameters:
        kw["device"] = device
    return loads(dumps(f(**kw)))  # what a reader of the file gets: lists, plain floats


def peak_mb() -> float:
    """The larger peak of this process and of any process it started and waited for (a timing
    cell runs its builds in processes of their own), in MB."""
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=paths.ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def machine() -> str:
    """Host, CPU model and cores: what a timing or a rounding difference depends on."""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.machine()
    return f"{platform.node()} ({cpu}, {os.cpu_count()} cores)"


def record(name, key, params, data, wall, peak, device) -> dict:
    return {"cell": name, "key": key, "params": params, "data": data,
            "provenance": {"commit": git_commit(), "machine": machine(), "date": datetime.now(UTC).isoformat(timespec="seconds"),
                           "wall_seconds": round(wall, 2), "peak_mb": round(peak, 1), "device": device, **versions()}}


def _worker_init():
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us: no traceback per worker


def _work(func: str, params: dict, device: str):
    """In a fresh process: the cell's data, its wall time and this process's peak memory."""
    t0 = time.perf_counter()
    data = call(func, params, device)
    return data, time.perf_counter() - t0, peak_mb()


def _expected(name: str) -> float:
    rec = read(store_path(name)) if store_path(name).exists() else None
    return float(rec["provenance"]["wall_seconds"]) if rec else CELLS[name].expected_s


def compute(names: list[str], jobs: int = 2, device: str = "cpu") -> int:
    """Compute ``names``: the cells that train, ``jobs`` at a time (:func:`compute_side_by_side`),
    then the timing cells one at a time with the machine to themselves."""
    if not names:
        print("evidence: every cell is up to date")
        return 0
    shared = [n for n in names if not CELLS[n].timing]
    alone = [n for n in names if CELLS[n].timing]
    rc = compute_side_by_side(shared, jobs, device) if shared else 0
    if rc == 130 or not alone:
        return rc
    return max(rc, compute_side_by_side(alone, 1, device))


def compute_side_by_side(names: list[str], jobs: int = 2, device: str = "cpu") -> int:
    """Compute ``names`` side by side, one fresh process per cell (so its peak memory is its own),
    each written to the store the moment it finishes; 0 if all succeeded, 1 if one failed, 130
    on Ctrl-C (finished cells kept)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import psutil
    from tqdm import tqdm

    expected = {n: _expected(n) for n in names}
    keys = {n: cell_key(CELLS[n]) for n in names}
    jobs = max(1, min(jobs, len(names)))
    pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                               max_tasks_per_child=1)
    bar = tqdm(total=round(sum(expected.values())), unit="s", desc=f"evidence ({len(names)} cells, {jobs} jobs)",
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of work, ~{remaining} left",
               mininterval=0.5 if sys.stderr.isatty() else 30)  # a log gets a line every 30 s, not every 0.5
    failed, done_work = [], 0.0
    try:
        # longest first: the wall time is then closest to the total divided by the jobs
        futs = {pool.submit(_work, CELLS[n].func, CELLS[n].params, device): n
                for n in sorted(names, key=lambda n: -expected[n])}
        pending, started = set(futs), {}
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for f in finished:
                n = futs[f]
                try:
                    data, wall, peak = f.result()
                except Exception as e:  # one failed cell does not stop the others
                    failed.append(n)
                    tqdm.write(f"evidence: cell {n} failed: {type(e).__name__}: {e}")
                else:
                    write_atomic(store_path(n), dumps(record(n, keys[n], CELLS[n].params, data, wall, peak, device)))
                    tqdm.write(f"evidence: {n} computed in {wall:.1f} s, peak {peak:.0f} MB -> {store_path(n)}")
                done_work += expected[n]
            now = time.monotonic()  # a queued call counts as running too: credit the first `jobs` only
            running = sorted((started.setdefault(f, now), futs[f]) for f in pending if f.running())[:jobs]
            running = sum(min(now - t, 0.95 * expected[n]) for t, n in running)
            bar.update(min(done_work + running, bar.total) - bar.n)
    except KeyboardInterrupt:
        # the pool's manager thread can trip over workers killed under it; we are leaving anyway
        threading.excepthook = lambda args: None
        for child in psutil.Process().children(recursive=True):
            try:  # the workers and what they started; multiprocessing's resource tracker cleans up after them
                if "resource_tracker" not in " ".join(child.cmdline()):
                    child.kill()
            except psutil.NoSuchProcess:
                pass
        pool.shutdown(wait=True, cancel_futures=True)  # its workers are dead: this returns at once
        bar.close()
        kept = sum(1 for n in names if n not in failed and problem(n) is None)
        print(f"evidence: interrupted; {kept} finished cell(s) kept, run `make evidence` to compute the rest",
              file=sys.stderr)
        return 130
    bar.close()
    pool.shutdown()
    return 1 if failed else 0


def check(names: list[str]) -> int:
    """CI's test of the store: one sentence per missing or stale cell, exit 1 if any."""
    problems = [p for n in names if (p := problem(n))]
    for p in problems:
        print(p)
    if not problems:
        print(f"evidence: all {len(names)} cell(s) match the current code and parameters")
    return 1 if problems else 0


def compare(stored, fresh, atol: float, rtol: float, where: str = "data") -> str | None:
    """The first place where ``fresh`` differs from ``stored`` beyond the tolerance, or None."""
    if isinstance(stored, dict) and isinstance(fresh, dict):
        if set(stored) != set(fresh):
            return f"{where} has keys {sorted(fresh)}, stored {sorted(stored)}"
        return next((d for k in sorted(stored) if (d := compare(stored[k], fresh[k], atol, rtol, f"{where}.{k}"))), None)
    if isinstance(stored, list) and isinstance(fresh, list):
        if len(stored) != len(fresh):
            return f"{where} has {len(fresh)} items, stored {len(stored)}"
        return next((d for i, (a, b) in enumerate(zip(stored, fresh, strict=True))
                     if (d := compare(a, b, atol, rtol, f"{where}[{i}]"))), None)
    numbers = (int, float)
    if isinstance(stored, numbers) and isinstance(fresh, numbers) and not isinstance(stored, bool) \
            and not isinstance(fresh, bool):
        if stored == fresh or (math.isnan(stored) and math.isnan(fresh)) or abs(fresh - stored) <= atol + rtol * abs(stored):
            return None
        return f"{where} is {fresh!r}, stored {stored!r}"
    return None if stored == fresh else f"{where} is {fresh!r}, stored {stored!r}"


def spot_blocks() -> list[tuple[str, dict | None]]:
    """Every (cell, overrides) a spot check may draw; a cell without blocks is one block; a timing
    cell is none."""
    return [(n, b) for n, c in CELLS.items() if not c.timing for b in (c.spot or (None,))]


def spot_check(commit: str | None = None, device: str = "cpu") -> int:
    """Recompute one block, drawn from the commit hash, in a fresh process; compare it with the store."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    commit = commit or git_commit().split("+")[0]
    blocks = spot_blocks()
    name, over = blocks[int(hashlib.sha256(commit.encode()).hexdigest(), 16) % len(blocks)]
    cell = CELLS[name]
    if msg := problem(name):
        print(msg)
        return 1
    stored = read(store_path(name))["data"]
    if over:
        mod, _, fn = cell.select.partition(":")
        stored = loads(dumps(getattr(importlib.import_module(mod), fn)(stored, **over)))
    params = {**cell.params, **(over or {})}
    print(f"evidence: spot check of {name} {dumps(over or {})} (drawn from commit {commit[:7]})")
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), max_tasks_per_child=1) as pool:
        fresh, wall, peak = pool.submit(_work, cell.func, params, device).result()
    if diff := compare(stored, fresh, cell.atol, cell.rtol):
        print(f"Evidence cell {name} does not reproduce within atol {cell.atol} and rtol {cell.rtol}: {diff}; "
              f"recompute it with `make evidence CELL={name}` after finding why.")
        return 1
    print(f"evidence: {name} reproduces within atol {cell.atol}, rtol {cell.rtol} ({wall:.1f} s, peak {peak:.0f} MB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m actlab.evidence", description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["compute", "check", "spot-check"])
    ap.add_argument("--cell", default="", help="one cell by name (compute: even if it is up to date)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--device", default=DEVICE, choices=["cpu", "cuda"])
    ap.add_argument("--commit", default=None, help="spot-check: draw from this commit instead of HEAD")
    a = ap.parse_args(argv)
    if a.cell and a.cell not in CELLS:
        print(f"evidence: there is no cell {a.cell!r}; the cells are {', '.join(sorted(CELLS))}.")
        return 2
    names = [a.cell] if a.cell else sorted(CELLS)
    # Ctrl-C stops a computation even where it was started with SIGINT ignored (a shell's background
    # job, which Python would otherwise leave ignored); SIGTERM stops it the same way
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))
    if a.command == "check":
        return check(names)
    if a.command == "spot-check":
        return spot_check(a.commit, a.device)
    todo = names if a.cell else [n for n in names if problem(n)]
    return compute(todo, max(1, min(a.jobs, os.cpu_count() or 1)), a.device)


if __name__ == "__main__":
    sys.exit(main())
