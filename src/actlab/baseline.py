"""The quick profile's metrics, pinned: CI as a regression check on every number and every verdict.

What is pinned (:func:`pinned`): every number (int, float, bool) and every categorical value, a
verdict's outcome ("holds", "does not hold") or a label of one or two words ("soft", "GELU",
"interior"), except the timings and machine descriptions of ``TIMINGS``. Prose made from numbers is
not pinned (keys ending in ``PROSE``, and any string that is not a label): its numbers are pinned as
numbers, and how they are worded is :mod:`actlab.numbers`' to test.

How closely (:func:`tolerance`), per chapter, from a run of the quick book as an AVX2-only CPU runs
it (``ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2``, numpy without
AVX-512) compared with the AVX-512 machine that wrote the baseline: analytic chapters moved by at
most 6e-12 relative, smoothly trained ones by at most 5.5e-6, and five chapters by up to 100% (a unit
dead or not, a run diverged or not, another learning rate picked), which no tolerance absorbs; the
tolerances below leave 25 times or more room over what moved. Those
five (and the claims whose verdicts read them) are compared only on the CPU that wrote the baseline
(its fingerprint, :func:`cpu`, is stored in the file); on another CPU the test says what it skipped.
Strings, booleans and integers (counts) compare exactly.

Why not pytest-regressions (it was in the lock, unused, and is removed): ``num_regression`` needs
pandas, which the lock does not have; it writes a CSV whose tolerances are per column, so one column
per metric puts 2,500 metrics on one line (a change no longer reads as one line of the diff) and one
row per metric loses both the names (an integer index) and per-metric tolerances; strings would need
``data_regression`` beside it, whose floats compare exactly; and ``--force-regen`` regenerates by
failing the test, so ``make baseline`` would run a failing pytest. Here the file is strict JSON, one
metric a line (a non-finite float as ``{"float": "inf"}``), and a failure prints one line per metric.
``make baseline`` rewrites it on purpose.
"""
from __future__ import annotations

import fnmatch
import math
import re

from actlab.paths import ROOT
from actlab.record import EXERCISE_SEP

BASELINE = ROOT / "tests" / "baseline" / "quick_metrics.json"
CPU_KEY = "_cpu"  # the baseline file's one entry that is not a metric: the CPU that wrote it

# chapter.metric glob patterns of metrics that are timings, or depend on one, or describe the machine
TIMINGS = (
    "properties.fwd_*", "properties.bwd_*", "properties.relu_over_copy*", "properties.linear_over_*",
    "properties.exp_over_*", "properties.gelu_registry_over_torch*", "properties.slowest*",
    "properties.machine", "properties.cost_*_text", "properties.n_kernels*", "properties.kernels_not_cheap",
    "reproducing.*",
    "mnist1d.step_*",
    "claims.verdict_exp_costly", "claims.verdict_sigmoid_cost", "claims.n_*",
)

PROSE = ("_text", "_phrase", "_ci", "_iv", "_word")  # numbers in words, the interval's method in words
LABEL = re.compile(r"[A-Za-z][A-Za-z0-9-]*( [A-Za-z][A-Za-z0-9-]*)?")  # "soft", "bfloat16", "lies below"

# moved <= 6e-12 relative on another CPU, a rounding threshold (where float64 tanh first gives 1) 4e-7;
# 1e-12 absolute absorbs float64 rounding-level values (an error of 1e-16 moved by one unit)
ANALYTIC = {"rtol": 1e-5, "atol": 1e-12}
TRAINED = {"rtol": 1e-3, "atol": 1e-9}  # smooth training moved <= 5.5e-6 relative (tanh's losses) on another CPU
SAME_CPU = {"rtol": 1e-9, "atol": 1e-12}  # deterministic on one CPU: the tolerance only absorbs printing
TRAINED_CHAPTERS = ("tanh", "mnist1d", "zero-centred", "output-activations", "linear-collapse", "guide")
# where another CPU's rounding changes discrete outcomes (dead units, divergence, the learning rate picked)
SAME_CPU_CHAPTERS = ("relu", "relu-variants", "universal-approximation", "gated", "vanishing-gradients")


def is_timing(key: str) -> bool:
    """A timing, or an exercise's answer that is one (``chapter.ID__metric`` as ``chapter.metric``)."""
    chapter, _, metric = key.partition(".")
    plain = f"{chapter}.{metric.partition(EXERCISE_SEP)[2] or metric}"
    return any(fnmatch.fnmatchcase(k, p) for p in TIMINGS for k in (key, plain))


def is_pinnable(key: str, value) -> bool:
    """A number, or a verdict's outcome or a one- or two-word label (not prose made from numbers)."""
    from actlab.verdicts import OUTCOMES

    if isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str) and not key.endswith(PROSE):
        return value in OUTCOMES or LABEL.fullmatch(value) is not None
    return False


def pinned(metrics: dict) -> dict:
    """The metrics the baseline pins, sorted by key."""
    return {k: v for k, v in sorted(metrics.items()) if not is_timing(k) and is_pinnable(k, v)}


def chapters_of(key: str) -> set[str]:
    """The chapters a metric's value comes from: its own, or for a claim's verdict those its rules read."""
    chapter, _, name = key.partition(".")
    if chapter == "claims" and name.startswith("verdict_"):
        from actlab import claims

        for c in claims.CLAIMS:
            if name == "verdict_" + c.id.replace("-", "_"):
                return {claims.rule_chapter(c, r) for r in c.rules} | ({c.chapter} if c.chapter else set())
    return {chapter}


def tolerance(key: str) -> dict:
    """``rtol`` and ``atol`` for the metric's floats: the loosest class among the chapters it comes from."""
    chapters = chapters_of(key)
    if chapters & set(SAME_CPU_CHAPTERS):
        return SAME_CPU
    return TRAINED if chapters & set(TRAINED_CHAPTERS) else ANALYTIC


def same_cpu_only(key: str) -> bool:
    return tolerance(key) is SAME_CPU


def cpu() -> str:
    """What decides which kernels run: the CPU's vendor, model and vector instruction sets, and the
    instruction set torch dispatches to (which ``ATEN_CPU_CAPABILITY`` can lower)."""
    import platform

    import torch

    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    vector = sorted(f for f in info.get("flags", "").split() if f.startswith(("avx", "amx", "fma", "f16c")))
    return " | ".join([info.get("vendor_id", platform.machine()), info.get("model name", platform.processor()),
                       "torch " + torch.backends.cpu.get_cpu_capability(), " ".join(vector)])


def same(a, b, tol: dict = ANALYTIC) -> bool:
    """Strings, booleans and integers exactly; floats within ``tol``, NaN equal to NaN, inf only to itself."""
    if isinstance(a, (bool, str)) or isinstance(b, (bool, str)) or (isinstance(a, int) and isinstance(b, int)):
        return type(a) is type(b) and a == b
    if a == b:
        return True
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isfinite(a) and math.isfinite(b) and math.isclose(a, b, rel_tol=tol["rtol"], abs_tol=tol["atol"])


def compare(baseline: dict, metrics: dict, same_cpu: bool = True) -> tuple[list[str], list[str]]:
    """(one readable line per pinned metric that moved, appeared or disappeared; the pinned metrics not
    compared because this CPU is not the baseline's). ``metrics``: the run's metrics, all of them."""
    now = pinned(metrics)
    keys = sorted(set(baseline) | set(now))
    skipped = [k for k in keys if not same_cpu and same_cpu_only(k)]
    out = []
    for k in (k for k in keys if not (not same_cpu and same_cpu_only(k))):
        if k not in now:
            out.append(f"{k}: {baseline[k]!r} → {metrics[k]!r} (no longer a number or a label)" if k in metrics
                       else f"{k}: gone (was {baseline[k]!r})")
        elif k not in baseline:
            out.append(f"{k}: new, {now[k]!r} (run `make baseline` to pin it)")
        elif not same(baseline[k], now[k], tolerance(k)):
            a, b = baseline[k], now[k]
            move = ""
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (a, b)) and a:
                move = f" ({(b - a) / abs(a):+.1e} relative; allowed {tolerance(k)['rtol']:.0e})"
            out.append(f"{k}: {a!r} → {b!r}{move}")
    return out, skipped


def read() -> tuple[str, dict]:
    """(the CPU that wrote the baseline, its pinned metrics)."""
    from actlab.record import load_metrics

    metrics = load_metrics(BASELINE.read_text())
    return metrics.pop(CPU_KEY, ""), metrics


def write(metrics: dict) -> int:
    """Pin ``metrics`` (all of a quick run's) with this CPU's fingerprint; the number pinned."""
    from actlab.evidence import write_atomic
    from actlab.record import metrics_json

    keep = pinned(metrics)
    write_atomic(BASELINE, metrics_json({CPU_KEY: cpu(), **keep}) + "\n")
    return len(keep)
