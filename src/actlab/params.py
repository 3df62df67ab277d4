"""Validate a chapter's parameters: one clear sentence for a wrong value.

A chapter calls, right after its ``parameters`` cell::

    P = check(x_max=(x_max, positive()), acts=(acts, activations()))

Unknown parameter *names* are rejected by the pipeline before a chapter starts
(papermill itself only warns about them).
"""
from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable


class ParameterError(ValueError):
    """A chapter parameter has a value outside what the chapter allows."""


Rule = tuple[Callable[[object], bool], str]  # (accepts?, what is allowed)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def integer(lo: int | None = None, hi: int | None = None) -> Rule:
    def ok(v):
        return _is_int(v) and (lo is None or v >= lo) and (hi is None or v <= hi)
    bounds = (f" from {lo}" if lo is not None else "") + (f" to {hi}" if hi is not None else "")
    return ok, f"an integer{bounds}"


def number(lo: float | None = None, hi: float | None = None, *, open_lo: bool = False) -> Rule:
    def ok(v):
        if not _is_num(v) or not math.isfinite(v):  # 1e999 is inf: never a valid setting
            return False
        if lo is not None and (v <= lo if open_lo else v < lo):
            return False
        return hi is None or v <= hi
    lo_txt = "" if lo is None else (f" greater than {lo:g}" if open_lo else f" at least {lo:g}")
    hi_txt = "" if hi is None else f" at most {hi:g}"
    return ok, "a finite number" + lo_txt + (" and" if lo_txt and hi_txt else "") + hi_txt


def positive() -> Rule:
    return number(0, open_lo=True)


def among(*allowed) -> Rule:
    return (lambda v: v in allowed), "one of " + ", ".join(repr(a) for a in allowed)


def list_of(rule: Rule, *, min_len: int = 1, max_len: int = 50, increasing: bool = False) -> Rule:
    """A list of values each satisfying ``rule``; at most ``max_len`` of them, since every item
    of a sweep list multiplies the work."""
    ok_item, what = rule
    def ok(v):
        if not isinstance(v, (list, tuple)) or not min_len <= len(v) <= max_len or not all(ok_item(x) for x in v):
            return False
        return not increasing or all(a < b for a, b in itertools.pairwise(v))
    order = " in increasing order" if increasing else ""
    return ok, f"a list of {min_len} to {max_len} item(s){order}, each {what}"


def thread_counts() -> Rule:
    """Torch thread counts to time at, one first: the single-thread timing is the one every
    ratio of the chapter is read at; the others test whether a verdict survives more threads."""
    ok, what = list_of(integer(lo=1, hi=64), max_len=4, increasing=True)
    return (lambda v: ok(v) and v[0] == 1), what + ", the first of them 1"


def activations(*, elementwise_only: bool = True, min_len: int = 1) -> Rule:
    from actlab.functions import names
    return list_of(among(*names(elementwise_only=elementwise_only)), min_len=min_len)


def activation(*, elementwise_only: bool = True) -> Rule:
    from actlab.functions import names
    return among(*names(elementwise_only=elementwise_only))


def check(**params: tuple[object, Rule]) -> dict:
    """Check each ``name=(value, rule)``; return ``{name: value}`` or raise ParameterError."""
    for name, (value, (ok, allowed)) in params.items():
        if not ok(value):
            raise ParameterError(f"parameter '{name}' must be {allowed}; got {value!r}.")
    return {name: value for name, (value, _) in params.items()}


# ---------------------------------------------------------------- budgets: the product of the values

# The book's budget: every process under 1.5 GB of memory. The kernel with torch, numpy and
# matplotlib loaded takes about 0.5 GB before a chapter computes anything (the quick book's chapters
# peak at 0.47 to 0.62 GB), so a chapter's own arrays get the other 1 GB.
MEMORY_BYTES = 1.0e9
# A chapter run should take at most a few minutes.
SECONDS = 300.0


def _amount(v: float) -> str:
    if not math.isfinite(v) or v >= 1e4:
        return f"{v:.1e}".replace("e+0", "e").replace("e+", "e")
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def budget(name: str, estimate: float, limit: float, unit: str, advice: str) -> float:
    """Refuse a parameter set whose estimated cost exceeds the budget, in one sentence naming the
    estimate, the budget and the parameters to lower; return the estimate otherwise.

    ``name``: what is estimated (``"the width sweep's memory"``); ``unit``: of both numbers
    (``"GB"``, ``"s"``); ``advice``: the parameters to lower (``"seeds, widths or n_points"``)."""
    if not math.isfinite(estimate) or estimate > limit:
        raise ParameterError(f"these parameters need about {_amount(estimate)} {unit} for {name}, over the "
                             f"budget of {_amount(limit)} {unit}; lower {advice}.")
    return estimate


def memory(name: str, n_bytes: float, advice: str, limit: float = MEMORY_BYTES) -> float:
    """:func:`budget` for memory: ``n_bytes`` held at once against :data:`MEMORY_BYTES`, in GB."""
    return budget(name, n_bytes / 1e9, limit / 1e9, "GB of memory", advice) * 1e9


def seconds(name: str, estimate_s: float, advice: str, limit: float = SECONDS) -> float:
    """:func:`budget` for time: an estimate in seconds against :data:`SECONDS`."""
    return budget(name, estimate_s, limit, "s", advice)
