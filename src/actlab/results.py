"""An experiment's result as the flat metrics a chapter records in one call
(``actlab.record.record_all``): a :class:`~actlab.verdicts.Measure` becomes the six metrics
``record_measure`` records, so a function in the package can return them and the chapter, its
exercise and the command it prints record the same names."""
from __future__ import annotations

from actlab.verdicts import Measure, interval_words


def measure_metrics(name: str, m: Measure) -> dict:
    """``name`` (the value), ``name_lo``, ``name_hi``, ``name_n``, ``name_ci`` (the method) and
    ``name_iv`` (the interval in words), as ``verdicts.record_measure`` records them."""
    return {name: m.value, f"{name}_lo": m.lo, f"{name}_hi": m.hi, f"{name}_n": m.n,
            f"{name}_ci": m.method, f"{name}_iv": interval_words(m)}


def measures_metrics(measures: dict[str, Measure]) -> dict:
    """Every measure of ``{name: Measure}``, flattened by :func:`measure_metrics`."""
    out = {}
    for name, m in measures.items():
        out |= measure_metrics(name, m)
    return out
