"""The quick profile's metrics, pinned: CI as a regression check on every number.

Every recorded metric is compared with ``tests/baseline/quick_metrics.json`` except those
declared here as timings or as descriptions of the machine (they change from run to run by
nature, and no verdict may hang on them without an interval). ``make baseline`` rewrites the
file on purpose; a change then shows in the diff, one metric a line.
"""
from __future__ import annotations

import fnmatch
import math

from actlab.paths import ROOT

BASELINE = ROOT / "tests" / "baseline" / "quick_metrics.json"

# chapter.metric glob patterns of metrics that are timings, or depend on one, or describe the machine
TIMINGS = (
    "properties.fwd_*", "properties.bwd_*", "properties.relu_over_copy*", "properties.linear_over_*",
    "properties.exp_over_*", "properties.gelu_registry_over_torch*", "properties.slowest*",
    "properties.machine", "properties.cost_*_text", "properties.n_kernels*", "properties.kernels_not_cheap",
    "reproducing.*",
    "mnist1d.step_*",
    "claims.verdict_exp_costly", "claims.verdict_sigmoid_cost", "claims.n_*",
)

REL, ABS = 1e-9, 1e-12  # floats: deterministic on one machine; the tolerance only absorbs printing


def is_timing(key: str) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in TIMINGS)


def pinned(metrics: dict) -> dict:
    return {k: v for k, v in sorted(metrics.items()) if not is_timing(k)}


def differences(baseline: dict, metrics: dict) -> list[str]:
    """One readable line per metric that moved, appeared or disappeared."""
    out = []
    for k in sorted(set(baseline) | set(metrics)):
        if k not in metrics:
            out.append(f"{k}: gone (was {baseline[k]!r})")
        elif k not in baseline:
            out.append(f"{k}: new, {metrics[k]!r} (run `make baseline` to pin it)")
        elif not same(baseline[k], metrics[k]):
            a, b = baseline[k], metrics[k]
            move = ""
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and a:
                move = f" ({(b - a) / abs(a):+.2%})" if math.isfinite(a) and math.isfinite(b) else ""
            out.append(f"{k}: {a!r} → {b!r}{move}")
    return out


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if not all(isinstance(v, (int, float)) for v in (a, b)):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or math.isclose(a, b, rel_tol=REL, abs_tol=ABS)
    return a == b
