"""Verdicts as data: a measured value with its interval, a rule stated before the numbers,
and the outcome the rule gives on that interval.

A chapter records a :class:`Measure` (``record_measure``), never a verdict phrase. The
claims ledger (``actlab.claims``) applies each claim's :class:`Rule` to the recorded
measures and builds a :class:`Verdict`; prose is generated from the verdict
(:meth:`Verdict.phrase`), so no English is ever parsed back.

An interval that straddles a rule's threshold gives ``UNDECIDED``, never a side.
"""
from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass, field, replace

import numpy as np

HOLDS = "holds"
QUALIFIED = "holds with a qualification"
CONSTRUCTION = "true by construction"  # by definition or arithmetic: checked, never counted as a measured hold
FAILS = "does not hold"
UNDECIDED = "undecided"
UNTESTABLE = "not testable as stated"
DISCUSSED = "discussed, not measured"
MISSING = "not yet measured"
OUTCOMES = (HOLDS, QUALIFIED, CONSTRUCTION, FAILS, UNDECIDED, UNTESTABLE, DISCUSSED, MISSING)

LEVEL = 0.95


@dataclass(frozen=True)
class Measure:
    """A value with an interval. ``n`` is the number of seeds (or trials) behind it;
    ``method`` says how the interval was made ("exact" for a deterministic computation)."""
    value: float
    lo: float
    hi: float
    n: int = 1
    method: str = "exact"
    # the same measure on the first and on the second half of the seeds (or runs), where it is made
    # from samples: a verdict is decided again on each (the ledger's stability column)
    halves: tuple | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if isinstance(self.value, str):  # a category ("soft", "hard"), exact by nature
            return
        if not (self.lo <= self.value <= self.hi) and all(map(math.isfinite, (self.lo, self.value, self.hi))):
            raise ValueError(f"interval [{self.lo}, {self.hi}] does not contain the value {self.value}")

    @property
    def exact(self) -> bool:
        return self.method == "exact"


def exact(value: float) -> Measure:
    """A deterministic quantity (no seeds): its interval is the value itself."""
    v = float(value)
    return Measure(v, v, v, 1, "exact")


def range_coverage(n: int) -> float:
    """The chance that the range of ``n`` seeds covers the true median (continuous outcomes)."""
    return 1 - 2.0 ** (1 - n)


def resampled_interval(data: tuple, statistic, level: float = LEVEL, n_boot: int = 4000, seed: int = 0):
    """(lo, hi): scipy's percentile bootstrap of ``statistic`` over ``data`` (one array per stratum,
    each resampled within itself), seeded so that a chapter prints the same interval every run.

    Percentile, not scipy's default BCa: BCa's jackknife acceleration is NaN for a sample whose values
    are all equal (it warns and returns NaN), and for a median of a few seeds it is unstable."""
    from scipy.stats import bootstrap as scipy_bootstrap

    # a diverged run's inf makes scipy's standard error inf - inf (a warning); the ends are still right
    with np.errstate(invalid="ignore"):
        res = scipy_bootstrap(data, statistic, confidence_level=level, n_resamples=n_boot, method="percentile",
                              rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


MIN_HALF = 2  # seeds in each half, at least, for a measure to be decided again on its halves


def halved(m: Measure, make, *samples) -> Measure:
    """``m`` with :attr:`Measure.halves`: ``make`` applied to the first and to the second half of
    each of ``samples`` (arrays over the same seeds, in seed order); unchanged if a half would hold
    fewer than :data:`MIN_HALF` seeds."""
    n = len(samples[0])
    if n < 2 * MIN_HALF:
        return m
    h = n // 2
    return replace(m, halves=(make(*[np.asarray(a)[:h] for a in samples]), make(*[np.asarray(a)[h:] for a in samples])))


def bootstrap(samples, stat: str = "median", level: float = LEVEL, n_boot: int = 4000, seed: int = 0,
              halves: bool = True) -> Measure:
    """Percentile bootstrap interval of the median (or mean) over seeds (:func:`resampled_interval`),
    with the same on each half of the seeds (:func:`halved`) unless ``halves`` is false.

    Non-finite samples (a diverged run) are kept: the median of a set with a few infinite
    values is still finite, and a mean that is not finite says so honestly.
    """
    x = np.asarray(samples, dtype=float).ravel()
    m = _bootstrap(x, stat, level, n_boot, seed)
    return halved(m, lambda half: _bootstrap(half, stat, level, n_boot, seed), x) if halves else m


def _bootstrap(x: np.ndarray, stat: str, level: float, n_boot: int, seed: int) -> Measure:
    if x.size == 0:
        raise ValueError("bootstrap needs at least one sample")
    f = {"median": np.median, "mean": np.mean}[stat]
    value = float(f(x))
    if x.size == 1:
        return Measure(value, value, value, 1, "one seed, no interval")
    method = f"bootstrap {round(100 * level)}% ({stat} of {x.size})"
    if np.isnan(x).any():  # the statistic is NaN, and so is every resample's: there is no interval to make
        return Measure(value, math.nan, math.nan, int(x.size), method)
    lo, hi = resampled_interval((x,), f, level, n_boot, seed)
    lo, hi = min(lo, value), max(hi, value)  # a percentile interval need not contain the statistic itself
    if stat == "median" and x.size <= 5 and np.isclose([lo, hi], [x.min(), x.max()], rtol=1e-12, atol=0).all():
        # the percentile bootstrap of a median of five or fewer is their range, whose chance of
        # covering the true median (continuous outcomes) is 1 - 2^(1 - n), not the level asked;
        # scipy interpolates between two equal resampled medians as (1 - t) a + t b, which can round
        # a unit away from a: the ends are the smallest and largest seed exactly
        lo, hi = float(x.min()), float(x.max())
        method += f"; with so few seeds, {RANGE}, which covers the median with probability {range_coverage(x.size):.0%}"
    return Measure(value, lo, hi, int(x.size), method)


def wilson(k: int, n: int, level: float = LEVEL) -> Measure:
    """Wilson score interval of a proportion k/n (scipy's); with n = 0 there is nothing to estimate."""
    if n <= 0:
        return Measure(math.nan, 0.0, 1.0, 0, "no events")
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return Measure(k / n, float(ci.low), float(ci.high), int(n), f"Wilson {round(100 * level)}% ({k} of {n})")


def normal(value: float, se: float, level: float = LEVEL, what: str = "standard error") -> Measure:
    """``value`` ± scipy's normal quantile × ``se``: for a Monte Carlo mean of many samples, whose
    sampling distribution is normal to within far less than its standard error."""
    from scipy.stats import norm

    lo, hi = norm.interval(level, loc=value, scale=se)
    return Measure(float(value), float(lo), float(hi), 1, f"normal {round(100 * level)}% ({what})")


_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}


@dataclass(frozen=True)
class Rule:
    """``metric op threshold`` decides a claim. ``says`` is what the comparison means in
    words, written before any number was seen; ``setting`` names data, model and optimiser."""
    metric: str
    op: str
    threshold: float | str
    says: str
    setting: str = ""

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"op must be one of {', '.join(_OPS)}; got {self.op!r}")

    def outcome(self, m: Measure) -> str:
        """HOLDS if the whole interval satisfies the rule, FAILS if none of it does."""
        if self.op == "==":
            return HOLDS if m.value == self.threshold else FAILS
        if m.n == 0 or math.isnan(m.lo) or math.isnan(m.hi):
            return UNDECIDED
        ok = _OPS[self.op]
        lo_ok, hi_ok = ok(m.lo, self.threshold), ok(m.hi, self.threshold)
        if lo_ok and hi_ok:
            return HOLDS
        if not lo_ok and not hi_ok:
            return FAILS
        return UNDECIDED

    def text(self) -> str:
        from actlab.numbers import fmt

        t = self.threshold if isinstance(self.threshold, str) else fmt(self.threshold)
        return f"{self.metric} {self.op} {t}"


@dataclass(frozen=True)
class Part:
    rule: Rule
    measure: Measure | None
    outcome: str


@dataclass(frozen=True)
class Verdict:
    """What the ledger says of one claim, with everything that decided it."""
    claim: str
    outcome: str
    parts: tuple[Part, ...] = ()
    qualification: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        # both are printed as sentences of their own, after the rule's
        for name in ("qualification", "note"):
            text = getattr(self, name)
            if text and "a" <= text[0] <= "z":  # not "σ′ = …", which would become "Σ′"
                object.__setattr__(self, name, text[0].upper() + text[1:])

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def n_min(self) -> int:
        """The fewest seeds behind a measured part; exact parts (no seeds) do not count."""
        ns = [p.measure.n for p in self.parts if p.measure and not p.measure.exact]
        return min(ns, default=min((p.measure.n for p in self.parts if p.measure), default=0))

    @property
    def stability(self) -> str:
        """Whether the verdict survives halving the seeds: "agree" (each half decides as all the
        seeds do), "disagree" (the halves decide opposite ways: the verdict is then undecided), or
        what each half gives; where no measure was split, whether there were seeds at all."""
        halves = self.extra.get("halves")
        if not halves:
            measured = [p.measure for p in self.parts if p.measure is not None]
            if all(m.exact for m in measured):
                return "no seeds (exact)"
            return "not split (too few seeds, or counted over runs)"
        if opposite(halves):
            return "disagree"
        if all(o == self.outcome for o in halves):
            return "agree"
        return f"first half {halves[0]}, second {halves[1]}"

    @property
    def label(self) -> str:
        """The outcome as shown beside a claim; an undecided one says how many seeds stand behind it."""
        if self.outcome == UNDECIDED:  # a Wilson share counts runs (seeds x settings), not seeds
            n = self.n_min
            runs = any(p.measure and p.measure.n == n and p.measure.method.startswith("Wilson") for p in self.parts)
            return f"undecided at {n} {'run' if runs else 'seed'}{'s' if n != 1 else ''}"
        return self.outcome

    def part_texts(self) -> list[str]:
        """One line per rule: what it says, its setting, the threshold and the measured value;
        where a claim has several parts, each says its own outcome (a verdict that fails in one
        comparison and holds in another shows both)."""
        from actlab.numbers import fmt

        out = []
        for p in self.parts:
            thr = p.rule.threshold if isinstance(p.rule.threshold, str) else fmt(p.rule.threshold)
            m = p.measure
            if m is None:
                got = "not recorded"
            elif isinstance(m.value, str):
                got = m.value
            elif m.hi == math.inf and m.method.startswith("censored"):  # a bound, not an estimate
                got = f"≥ {fmt(m.value)} ({m.method})"
            else:
                got = fmt(m.value) + ("" if m.exact or m.lo == m.hi
                                      else f" [{fmt(m.lo)}, {fmt(m.hi, never='no upper limit')}], {m.method}")
            setting = f" ({p.rule.setting})" if p.rule.setting else ""
            own = f" — {p.outcome} in this part" if len(self.parts) > 1 else ""
            out.append(f"{p.rule.says}{setting}: rule {p.rule.op} {thr}; measured {got}{own}")
        return out

    def details(self) -> str:
        """Each rule, then the measured value with its interval and setting; the qualification and
        note after them (for a claim no rule decides, its note)."""
        if not self.parts:
            return self.note
        return ("; ".join(self.part_texts()) + (f". *{self.qualification}*" if self.qualification else "")
                + (f". {self.note}" if self.note else ""))

    def phrase(self) -> str:
        """One sentence, generated from the record."""
        return f"{self.label}: {self.details()}"

def _all(outs: list[str]) -> str:
    """Every part must hold: any decisive failure fails, else any undecided part leaves it undecided."""
    return FAILS if FAILS in outs else UNDECIDED if UNDECIDED in outs else HOLDS


def combine(claim: str, parts: list[Part], qualification: str = "", note: str = "", mode: str = "all") -> Verdict:
    """Combine the parts of a claim.

    mode "all": holds when every part holds, fails when any part fails decisively,
    otherwise undecided. mode "settings": each setting (a rule's ``setting``, or its metric
    where it names none) is judged on its own; parts that name the same setting are one setting,
    in which every part must hold (as in mode "all"). Holds in all settings → holds, in none →
    fails, in some → holds with a qualification naming where.
    A stated qualification turns a HOLDS into QUALIFIED.
    """
    outs = [p.outcome for p in parts]
    if any(o == MISSING for o in outs):
        return Verdict(claim, MISSING, tuple(parts), qualification, note)
    if mode == "all":
        out = _all(outs)
    elif mode == "settings":
        by_setting: dict[str, list[str]] = {}
        for p in parts:
            by_setting.setdefault(p.rule.setting or p.rule.metric, []).append(p.outcome)
        settings = {s: _all(o) for s, o in by_setting.items()}
        outs = list(settings.values())
        where = lambda o: ", ".join(s for s, v in settings.items() if v == o)
        if all(o == HOLDS for o in outs):
            out = HOLDS
        elif all(o == FAILS for o in outs):
            out = FAILS
        elif HOLDS in outs:
            said = [f"holds in {where(HOLDS)}"] + [f"{o} in {where(o)}" for o in (FAILS, UNDECIDED) if o in outs]
            qualification = "; ".join(([qualification] if qualification else []) + said)
            out = QUALIFIED
        else:
            out = UNDECIDED
    else:
        raise ValueError(f"mode must be 'all' or 'settings'; got {mode!r}")
    if out == HOLDS and qualification:
        out = QUALIFIED
    return Verdict(claim, out, tuple(parts), qualification, note)


DECISIVE = {HOLDS: True, QUALIFIED: True, FAILS: False}  # the outcomes that decide a claim, and which way


def opposite(halves) -> bool:
    """Whether two verdicts decide a claim opposite ways (one holds, the other does not)."""
    return {DECISIVE.get(o) for o in halves} >= {True, False}


def judge(claim: str, rules: list[Rule], measures: dict[str, Measure], qualification: str = "",
          note: str = "", mode: str = "all") -> Verdict:
    """The verdict of ``rules`` on ``measures``, decided again on each half of the seeds where a
    measure has halves (the others, exact or counted over runs, enter both halves whole): if one
    half's verdict holds and the other's does not, the verdict is UNDECIDED, whatever all the seeds
    say (``Verdict.extra["halves"]`` records both; :attr:`Verdict.stability` reads them)."""
    def parts_of(ms):
        return [Part(r, ms.get(r.metric), r.outcome(ms[r.metric]) if r.metric in ms else MISSING) for r in rules]
    v = combine(claim, parts_of(measures), qualification, note, mode)
    used = [measures[r.metric] for r in rules if r.metric in measures]
    if not any(m.halves for m in used):
        return v
    halves = tuple(combine(claim, parts_of({k: m.halves[i] if m.halves else m for k, m in measures.items()}),
                           qualification, "", mode).outcome for i in (0, 1))
    v = replace(v, extra={**v.extra, "halves": halves})
    if v.outcome in DECISIVE and opposite(halves):
        said = "its two halves of the seeds decide it opposite ways"
        v = replace(v, outcome=UNDECIDED, note=f"{v.note}; {said}" if v.note else said[:1].upper() + said[1:])
    return v


# --- recording measures as flat metrics -------------------------------------------------------

SUFFIXES = ("_lo", "_hi", "_n", "_ci", "_iv", "_halves")  # what record_measure adds to a name


RANGE = "their range"  # bootstrap()'s mark of an interval that is the seeds' range


def interval_words(m: Measure) -> str:
    """What the interval of ``m`` is, for prose before its ends: "95% bootstrap interval", or for a
    median of five seeds or fewer "range of the 3 seeds, which covers the median with probability 75%"."""
    if RANGE in m.method:
        return f"range of the {m.n} seeds, which covers the median with probability {range_coverage(m.n):.0%},"
    return "95% bootstrap interval" if m.method.startswith("bootstrap") else "95% interval"


def measure_metrics(name: str, m: Measure) -> dict:
    """``name`` (the value) and ``name_lo``, ``name_hi``, ``name_n``, ``name_ci``, and ``name_iv``:
    what the interval is, in words (:func:`interval_words`), as metrics for ``record_all``; where
    the measure has halves, ``name_halves``: "value,lo,hi,n;value,lo,hi,n"."""
    out = {name: m.value, name + "_lo": m.lo, name + "_hi": m.hi, name + "_n": m.n,
           name + "_ci": m.method, name + "_iv": interval_words(m)}
    if m.halves:  # one string: a notebook's glued text reads back a number, a word or a string, not inf in a list
        out[name + "_halves"] = ";".join(f"{h.value!r},{h.lo!r},{h.hi!r},{h.n}" for h in m.halves)
    return out


def measures_metrics(measures: dict[str, Measure]) -> dict:
    """Every measure of ``{name: Measure}``, flattened by :func:`measure_metrics`."""
    out = {}
    for name, m in measures.items():
        out |= measure_metrics(name, m)
    return out


def record_measure(name: str, m: Measure) -> Measure:
    """Record the metrics of :func:`measure_metrics`."""
    from actlab.record import record_all

    record_all(measure_metrics(name, m))
    return m


def measure_from(metrics: dict, name: str) -> Measure | None:
    """The measure recorded under ``name``; a bare number counts as exact."""
    if name not in metrics:
        return None
    v = metrics[name]
    if isinstance(v, str):
        return Measure(v, v, v, 1, "exact")
    if isinstance(v, bool):
        v = float(v)
    if name + "_lo" in metrics:
        halves = metrics.get(name + "_halves")
        return Measure(float(v), float(metrics[name + "_lo"]), float(metrics[name + "_hi"]),
                       int(metrics[name + "_n"]), str(metrics[name + "_ci"]),
                       halves=tuple(Measure(float(a), float(lo), float(hi), int(n), "half of the seeds")
                                    for a, lo, hi, n in (h.split(",") for h in halves.split(";")))
                       if halves else None)
    return exact(v)
