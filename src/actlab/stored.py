"""Results as plain JSON for the evidence store, read back bit for bit: arrays (dtype, shape and
values, the format of ``leaderboard.array_data``), tuned learning-rate grids, and the
checkpoints of a learning curve that a cell keeps."""
from __future__ import annotations

import numpy as np

from actlab.tuning import Tuned


def array_data(a) -> dict:
    a = np.asarray(a)
    return {"dtype": str(a.dtype), "shape": list(a.shape), "values": a.ravel().tolist()}


def array_from(d: dict) -> np.ndarray:
    return np.array(d["values"], dtype=d["dtype"]).reshape(d["shape"])


def curve_points(n: int, points: int) -> np.ndarray:
    """Indices of about ``points`` evenly spaced entries of a curve of ``n`` (the first and the
    last always among them): the checkpoints of a learning curve that a cell keeps."""
    return np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(int))


def tuned_data(t: Tuned) -> dict:
    return {"lrs": [float(v) for v in t.lrs], "scores": array_data(t.scores),
            "best": None if t.best is None else int(t.best), "interior": bool(t.interior), "rounds": int(t.rounds)}


def tuned_from(d: dict) -> Tuned:
    return Tuned(tuple(d["lrs"]), array_from(d["scores"]), d["best"], d["interior"], d["rounds"])
