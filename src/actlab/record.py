"""Record a named metric: glued for the prose, collected into _build/metrics.json.

A metric is a plain float, int, bool or short string. NumPy scalars are converted:
NumPy 2's ``np.float64(...)`` repr breaks ``{glue:text}`` format specs.
"""
from __future__ import annotations

import ast
import json
import math
import numbers

import numpy as np


def as_plain(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (numbers.Real, np.floating)):
        return float(value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # 0-d tensor or array
        return as_plain(value.item())
    if isinstance(value, str):
        return value
    raise TypeError(f"a metric must be a number, bool or string, not {type(value).__name__}")


_RECORDED: dict = {}


def recorded() -> dict:
    """What this kernel has recorded so far, by name (a chapter's claim boxes read it)."""
    return dict(_RECORDED)


def record(name: str, value, *, display: bool = False):
    """Glue ``value`` under ``name`` and return it as a plain Python value."""
    from myst_nb import glue

    if not name.isidentifier():
        raise ValueError(f"metric name {name!r} must be an identifier (letters, digits, _)")
    if name in _RECORDED:  # myst-nb refuses a duplicate glue key when the book is built: say so now
        raise ValueError(f"metric {name!r} is recorded twice in this chapter; give the second one another name")
    value = as_plain(value)  # a non-finite value is kept as it is: a diverged run is a result
    glue(name, value, display=display)
    _RECORDED[name] = value
    return value


EXERCISE_SEP = "__"  # an exercise's answer is recorded as ID__metric (actlab.contents reads it back)


def record_all(metrics: dict, exercise: str = "") -> dict:
    """Record every metric of an experiment's result; under ``EXERCISE__name`` when the run
    answers that exercise of the chapter (the same experiment with the exercise's parameters)."""
    if exercise and not exercise.isidentifier():
        raise ValueError(f"exercise id {exercise!r} must be an identifier")
    prefix = f"{exercise}{EXERCISE_SEP}" if exercise else ""
    return {k: record(prefix + k, v) for k, v in metrics.items()}


def record_texts(names) -> None:
    """Glue each already recorded number ``n`` of ``names`` once more as ``n_text``, formatted by
    the book's one formatter (``actlab.numbers.fmt``), for prose. Safe to call again later in
    a chapter: a name glued as text before is not glued twice (myst-nb refuses duplicates)."""
    from actlab.numbers import fmt

    for n in names:
        if n in _RECORDED and f"{n}_text" not in _RECORDED:
            record(f"{n}_text", fmt(_RECORDED[n]))


GLUE_MIME = "application/papermill.record/text/plain"


def metrics_from_notebook(nb) -> dict:
    """Every recorded metric in an executed notebook (nbformat node), by name."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook")
            data = o.get("data", {})
            if not meta:
                continue
            text = data.get(GLUE_MIME, data.get("text/plain"))
            if text is None:
                continue
            try:
                out[meta["name"]] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                if text in ("nan", "inf", "-inf"):
                    out[meta["name"]] = float(text)
    return out


def metrics_json(metrics: dict) -> str:
    """Strict JSON (``JSON.parse`` rejects NaN and Infinity): a non-finite float is written
    ``{"float": "inf"}`` (or "-inf", "nan") and decoded back by :func:`load_metrics`."""
    def enc(v):
        if isinstance(v, float) and not math.isfinite(v):
            return {"float": repr(v)}
        return v
    return json.dumps({k: enc(v) for k, v in metrics.items()}, indent=1, sort_keys=True, allow_nan=False)


def load_metrics(text: str) -> dict:
    def dec(v):
        return float(v["float"]) if isinstance(v, dict) and set(v) == {"float"} else v
    return {k: dec(v) for k, v in json.loads(text).items()}
