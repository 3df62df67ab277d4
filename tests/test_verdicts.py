"""Verdict records: intervals, rules on both sides of their thresholds, and every claim's rule."""
import math
from dataclasses import replace

import numpy as np
import pytest

from actlab import claims, literature, tables
from actlab.numbers import fmt, pct
from actlab.verdicts import (
    DISCUSSED,
    FAILS,
    HOLDS,
    QUALIFIED,
    UNDECIDED,
    Measure,
    Rule,
    Verdict,
    bootstrap,
    combine,
    exact,
    judge,
    measure_from,
    normal,
    wilson,
)


def test_wilson_matches_published_values():
    """Newcombe (1998, Stat Med 17:857, table I, the score method) and the 0-of-10 bound 0.2775."""
    m = wilson(0, 10)
    assert m.value == 0 and m.lo == 0 and m.hi == pytest.approx(0.2775, abs=1e-4)
    for k, n, lo, hi in [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
                         (1, 29, 0.0061, 0.1718), (5, 10, 0.2366, 0.7634)]:
        m = wilson(k, n)
        assert (m.lo, m.hi) == pytest.approx((lo, hi), abs=5e-5), (k, n)
        assert m.value == k / n and m.n == n and f"({k} of {n})" in m.method
    assert wilson(20, 20).hi == 1 and wilson(20, 20).lo == pytest.approx(0.8389, abs=1e-4)  # the mirror of 0 of 20
    assert wilson(0, 0).n == 0  # no events: nothing to estimate
    assert wilson(3, 10, level=0.99).hi - wilson(3, 10, level=0.99).lo > wilson(3, 10).hi - wilson(3, 10).lo


@pytest.mark.parametrize("n", [20, 50])
def test_wilson_intervals_cover_the_true_share_about_95_percent_of_the_time(n):
    """Exact coverage, summed over the binomial outcomes: near the level asked (a Wald interval or a
    wrong quantile would fall well short at these sizes)."""
    for p in (0.2, 0.3, 0.4, 0.5):
        coverage = sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)
                       if wilson(k, n).lo <= p <= wilson(k, n).hi)
        assert 0.93 <= coverage <= 0.985, (n, p, coverage)


def test_bootstrap_interval_contains_median_and_narrows_with_more_seeds():
    rng = np.random.default_rng(1)
    few, many = bootstrap(rng.normal(size=5)), bootstrap(rng.normal(size=500))
    assert few.lo <= few.value <= few.hi and many.lo <= many.value <= many.hi
    assert many.hi - many.lo < few.hi - few.lo
    assert bootstrap([3.0]).lo == bootstrap([3.0]).hi == 3.0


def test_bootstrap_of_a_median_of_seven_ends_at_the_second_and_sixth_values():
    """The resampled median of 7 is the smallest value with chance P(Bin(7, 1/7) >= 4) = 1.0%, and at
    most the second smallest with chance P(Bin(7, 2/7) >= 4) = 10.8%: the 2.5% point is the second
    value (and by symmetry the 97.5% point the sixth), up to resampling noise far below these gaps."""
    def at_least_4(p):
        return sum(math.comb(7, k) * p**k * (1 - p) ** (7 - k) for k in range(4, 8))

    assert at_least_4(1 / 7) < 0.02 and at_least_4(2 / 7) > 0.05
    x = np.random.default_rng(7).normal(size=7)
    m = bootstrap(x)
    assert (m.lo, m.hi) == tuple(np.sort(x)[[1, 5]]) and m.value == np.median(x)
    assert bootstrap(x) == m  # seeded: the same interval every run
    assert bootstrap(x, stat="mean").lo != bootstrap(x, stat="mean", seed=1).lo  # ...and the seed is the resampling's


@pytest.mark.parametrize("n,coverage", [(3, "75%"), (4, "88%"), (5, "94%")])
def test_a_median_of_five_seeds_or_fewer_says_its_interval_is_their_range(n, coverage):
    x = np.random.default_rng(n).normal(size=n)
    m = bootstrap(x)
    assert (m.lo, m.hi) == (x.min(), x.max())
    assert f"their range, which covers the median with probability {coverage}" in m.method
    assert "their range" not in bootstrap(np.random.default_rng(0).normal(size=12)).method


def test_three_seeds_always_give_exactly_their_range():
    """scipy's quantile of equal resampled medians can round a unit away from them (about 3% of
    values): the range must still be found, and be the seeds themselves, for any three seeds."""
    rng = np.random.default_rng(4)
    for x in rng.normal(size=(300, 3)) * 10.0 ** rng.integers(-6, 6, size=(300, 1)):
        m = bootstrap(x, n_boot=1000)
        assert (m.lo, m.hi) == (x.min(), x.max()) and "their range" in m.method, x


def test_bootstrap_intervals_cover_the_median_as_often_as_they_say():
    """Simulated seeds from a standard normal (true median 0): three seeds' interval (their range)
    covers it about 75% of the time, as its method says; fifteen seeds' about 95% (the percentile
    bootstrap of a median runs a little short at that size)."""
    rng = np.random.default_rng(3)
    three = np.mean([(m := bootstrap(x, n_boot=1000)).lo <= 0 <= m.hi for x in rng.normal(size=(400, 3))])
    assert abs(three - 0.75) < 0.065, three  # 3 binomial standard errors of 400 draws
    fifteen = np.mean([(m := bootstrap(x, n_boot=1000)).lo <= 0 <= m.hi for x in rng.normal(size=(150, 15))])
    assert 0.88 <= fifteen <= 0.995, fifteen


def test_degenerate_and_diverged_seeds_give_an_interval_without_a_warning():
    """All seeds equal: the interval is the value (scipy's default BCa would warn and give NaN);
    a diverged seed (inf) leaves the median finite and opens the upper end; a NaN seed has none."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = bootstrap([0.25] * 8)
        diverged = bootstrap([1.0, 2.0, np.inf, np.inf, np.inf, 3.0, 4.0, 5.0, 6.0])
        mean_inf = bootstrap([1.0, 2.0, np.inf, 3.0, 4.0, 5.0, 6.0], stat="mean")
        nan = bootstrap([1.0, np.nan, 3.0, 4.0])
    assert (same.value, same.lo, same.hi) == (0.25, 0.25, 0.25)
    assert diverged.value == 5.0 and diverged.lo == 2.0 and diverged.hi == np.inf
    assert mean_inf.value == mean_inf.hi == np.inf and math.isfinite(mean_inf.lo)
    assert math.isnan(nan.value) and math.isnan(nan.lo) and math.isnan(nan.hi) and nan.n == 4


def test_normal_interval_uses_the_normal_quantile():
    """z = 1.959964 at 95% and 1.644854 at 90% (any normal table)."""
    m = normal(0.5, 0.01)
    assert (m.lo, m.hi) == pytest.approx((0.5 - 0.01959964, 0.5 + 0.01959964), abs=1e-8)
    assert normal(0.0, 1.0, level=0.90).hi == pytest.approx(1.644854, abs=1e-6)
    assert m.method == "normal 95% (standard error)"


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_rule_holds_fails_and_is_undecided_when_the_interval_straddles(op):
    r = Rule("x", op, 1.0, "x")
    below, above, across = Measure(0.5, 0.4, 0.6, 5, "b"), Measure(1.5, 1.4, 1.6, 5, "b"), Measure(1.0, 0.8, 1.2, 5, "b")
    want_below = HOLDS if op in ("<", "<=") else FAILS
    assert r.outcome(below) == want_below
    assert r.outcome(above) == (FAILS if want_below == HOLDS else HOLDS)
    assert r.outcome(across) == UNDECIDED
    assert r.outcome(Measure(math.nan, math.nan, math.nan, 0, "none")) == UNDECIDED


def test_combine_settings_names_where_a_claim_holds():
    h = Rule("a", ">", 1, "a", "setting A")
    f = Rule("b", ">", 1, "b", "setting B")
    v = judge("c", [h, f], {"a": exact(2), "b": exact(0)}, mode="settings")
    assert v.outcome == QUALIFIED and v.qualification.startswith("Holds in setting A") and "setting B" in v.qualification
    assert judge("c", [h, f], {"a": exact(2), "b": exact(2)}, mode="settings").outcome == HOLDS
    assert judge("c", [h, f], {"a": exact(0), "b": exact(0)}, mode="settings").outcome == FAILS
    assert combine("c", [], qualification="q").outcome == QUALIFIED


def test_undecided_phrase_names_the_number_of_seeds():
    v = judge("c", [Rule("x", "<", 1, "x")], {"x": Measure(1, 0.5, 1.5, 7, "bootstrap")})
    assert v.outcome == UNDECIDED and v.phrase().startswith("undecided at 7 seeds")


def test_measure_roundtrip_through_flat_metrics():
    m = {"x": 2.0, "x_lo": 1.0, "x_hi": 3.0, "x_n": 4, "x_ci": "bootstrap"}
    assert measure_from(m, "x") == Measure(2.0, 1.0, 3.0, 4, "bootstrap")
    assert measure_from({"y": 5}, "y").exact and measure_from({}, "z") is None


def _flip(rule: Rule, holds: bool):
    """A synthetic exact measure on the chosen side of ``rule``."""
    if rule.op == "==":
        t = rule.threshold
        return exact(t) if holds and not isinstance(t, str) else (
            Measure(t, t, t, 1, "exact") if holds else
            (Measure(t + "-not", t + "-not", t + "-not", 1, "exact") if isinstance(t, str) else exact(t + 1)))
    eps = max(abs(rule.threshold), 1.0) * 0.5
    up = rule.op in (">", ">=")
    return exact(rule.threshold + (eps if up == holds else -eps))


@pytest.mark.parametrize("claim", [c for c in claims.CLAIMS if c.rules], ids=lambda c: c.id)
def test_every_claim_rule_can_flip(claim):
    """Synthetic measures on each side of every threshold: the verdict must follow them."""
    for holds in (True, False):
        measures = {r.metric: _flip(r, holds) for r in claim.rules}
        v = judge(claim.id, list(claim.rules), measures, claim.qualification, mode=claim.mode)
        if holds:
            assert v.outcome in (HOLDS, QUALIFIED)
            assert (v.outcome == QUALIFIED) == bool(claim.qualification)
        else:
            assert v.outcome == FAILS
    # one part only failing: an "all" claim fails, a "settings" claim is qualified
    if len(claim.rules) > 1:
        measures = {r.metric: _flip(r, i > 0) for i, r in enumerate(claim.rules)}
        v = judge(claim.id, list(claim.rules), measures, claim.qualification, mode=claim.mode)
        assert v.outcome == (FAILS if claim.mode == "all" else QUALIFIED)


def test_claim_without_rule_is_labelled_not_measured():
    for c in claims.CLAIMS:
        if not c.rules:
            assert claims.decide(c, {}).outcome in (claims.UNTESTABLE, claims.DISCUSSED, claims.CONSTRUCTION)
    with pytest.raises(ValueError, match="give it a rule"):
        claims.Claim("x", "s", "t", None)
    with pytest.raises(ValueError, match="says why"):
        claims.Claim("x", "s", "t", None, status=claims.CONSTRUCTION)


def test_true_by_construction_is_not_a_measured_hold():
    """A passing check of arithmetic is its own outcome, with the reason; a failing one still fails,
    and the ledger's summary counts the category apart from the holds."""
    c = claims.get("prelu-param")
    assert c.construction
    ok = {"properties.extra_prelu": 1, "properties.layer_params_64": 4160}
    v = claims.decide(c, ok)
    assert v.outcome == claims.CONSTRUCTION and v.note.startswith("Arithmetic")
    assert claims.decide(c, {**ok, "properties.extra_prelu": 0}).outcome == claims.FAILS
    plain = claims.decide(replace(c, construction=""), ok)
    assert plain.outcome == claims.HOLDS
    rows = [{"id": "prelu-param", "verdict": v.outcome, "text": c.text}]
    text = claims.summary_markdown(rows)
    assert "0 hold," in text and "1 is true by construction" in text


def test_missing_metrics_say_so():
    v = claims.decide("five-layers", {})
    assert v.outcome == claims.MISSING


def test_cited_constants_render_with_their_citation():
    assert literature.markdown("glorot_jacobian_sv_standard") == "*≈0.5*"
    assert literature.markdown("mish_min", "{:.5f}") == "*≈−0.30884*"
    with pytest.raises(KeyError, match="known"):
        literature.get("nope")


def test_cited_keys_exist_in_the_bibliography():
    from actlab import paths

    bib = (paths.CHAPTERS / "references.bib").read_text()
    for c in literature.CITED.values():
        assert "{" + c.key + "," in bib


@pytest.mark.parametrize("value, text", [
    (0.0, "0"), (-1.67e-16, "−1.67×10⁻¹⁶"), (4140.0, "4140"), (1.3e7, "1.3×10⁷"), (9.3e-4, "9.3×10⁻⁴"),
    (float("inf"), "never"), (float("nan"), "n/a"), (-0.096, "−0.096"), (0.99999, "1"), (2, "2"),
    (17599.3, "17 600"), (1098.0, "1100"), (-17599.0, "−17 600"), (-12000, "−12 000")])
def test_one_number_formatter(value, text):
    assert fmt(value) == text
    assert fmt(-1e-17, zero=1e-12) == "0" and "-" not in fmt(-0.0)


def test_pct():
    assert pct(0.583) == "58%" and pct(1.0) == "100%" and pct(0.0) == "0%"


def test_table_cells_escape_pipes_outside_and_inside_math():
    t = tables.markdown_table(["a", "b"], [["|x|", "$|x|$"]])
    row = t.splitlines()[-1]
    assert row == r"| \|x\| | $\vert x\vert $ |"


def test_every_cited_number_in_prose_is_followed_by_its_citation():
    import re

    from actlab import paths

    for md in paths.CHAPTERS.glob("*.md"):
        text = md.read_text()
        for m in re.finditer(r"\{glue:md\}`cited_(\w+)`", text):
            key = literature.get(m.group(1)).key
            after = text[m.end():m.end() + 80]
            # the citation follows at once, or after the number's unit ("30 layers [He et al.]")
            assert re.match(r"\s*([a-z]+\s+)?(\([^)]*\)\s*)?\{cite:[pt]\}`" + key + "`", after), (md.name, m.group(0), after)


def test_tuning_extends_the_grid_until_the_best_is_interior():
    from actlab.tuning import tune

    calls = []

    def run(lrs):  # a bowl with its minimum at lr = 1; lr > 10 diverges
        calls.append(list(lrs))
        return np.array([[abs(np.log10(lr)) if lr <= 10 else np.nan for lr in lrs]] * 3)

    t = tune(run, [0.01, 0.03, 0.1])
    assert t.interior and t.lr == pytest.approx(0.9) and t.rounds == 3
    assert tune(run, [0.1, 1.0, 3.0]).rounds == 0
    stuck = tune(lambda lrs: np.array([[-lr for lr in lrs]] * 2), [1.0, 2.0], max_rounds=2)
    assert not stuck.interior and "largest" in stuck.edge_note()
    never = tune(lambda lrs: np.full((2, len(lrs)), np.inf), [1.0, 2.0])
    assert never.best is None and "no learning rate from 1 to 54" in never.edge_note() and never.rounds == 3
    # a rate too small to learn in the budget: the grid grows until one learns
    late = tune(lambda lrs: np.array([[1.0 / lr if lr >= 5 else np.inf for lr in lrs]] * 2), [0.5, 1.0])
    assert late.best is not None and late.lr >= 5 and late.rounds >= 2
    # ...and stops when the largest rate diverges
    blown = tune(lambda lrs: np.array([[np.inf if lr < 2 else np.nan for lr in lrs]] * 2), [0.5, 1.0])
    assert blown.best is None and blown.rounds == 1 and "diverged" in blown.edge_note()


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 1e999])
def test_non_finite_parameter_values_are_refused(value):
    from actlab.params import ParameterError, check, number, positive

    with pytest.raises(ParameterError, match="parameter 'x_max' must be a finite number"):
        check(x_max=(value, positive()))
    with pytest.raises(ParameterError, match="finite"):
        check(x=(value, number(lo=-1)))
    assert check(x=(3.0, positive())) == {"x": 3.0}


def test_censored_speed_ratio_uses_bounds_and_drops_seeds_where_neither_reached():
    from actlab.convergence import censored_ratio, slowest

    inf = np.inf
    m = censored_ratio([2.0, inf, inf], [1.0, 1.0, inf], budget=5.0)  # ratios 2, >= 5; third dropped
    assert m.n == 2 and m.value == pytest.approx(3.5) and "1 of 3 censored as lower bounds" in m.method
    assert m.hi == np.inf  # a lower bound never shows that a ratio is small
    assert "dropped" in m.method
    assert censored_ratio([inf], [inf], 5.0).n == 0
    low = censored_ratio([1.0, 1.0], [inf, inf], budget=4.0)  # relu never reached: at most 1/4
    assert low.value == pytest.approx(0.25) and "upper bounds" in low.method and low.lo == 0
    s = slowest(Measure(3, 2, 4, 5, "b"), Measure(1, 0.5, 5, 5, "b"))
    assert (s.value, s.lo, s.hi) == (1, 0.5, 4)


def test_born_dead_bound_is_stable_at_practical_widths():
    from actlab.deadunits import born_dead_bound

    assert born_dead_bound(2, 2) == pytest.approx(0.25)
    assert born_dead_bound(64, 50) == pytest.approx(49 * 2.0**-64, rel=1e-9)  # not rounded to 0


def test_bias_shift_offset_and_curvature_inflation():
    import torch

    from actlab.biasshift import layer_stats

    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 20000, 8, generator=g, dtype=torch.float64)
    off, infl = layer_stats([torch.relu(z), z, torch.full_like(z, float("nan"))][:2])
    assert off[0, 0] == pytest.approx(1 / math.sqrt(math.pi - 1), abs=0.02)  # relu of a standard normal
    assert abs(off[0, 1]) < 0.02 and infl[0, 1] == pytest.approx(1, abs=0.02)  # zero mean: no inflation
    assert infl[0, 0] > 2
    off, infl = layer_stats([torch.full((1, 5, 3), float("nan"), dtype=torch.float64)])
    assert math.isnan(off[0, 0]) and math.isnan(infl[0, 0])  # a diverged run is not measured


def test_size_parameters_beyond_their_bound_stop_with_one_sentence():
    from actlab.params import ParameterError, check, integer, list_of, positive

    with pytest.raises(ParameterError, match=r"parameter 'seeds' must be an integer from 1 to 200; got 10000000\."):
        check(seeds=(10_000_000, integer(lo=1, hi=200)))
    with pytest.raises(ParameterError, match="a list of 1 to 50 item"):
        check(lrs=(list(range(1, 100)), list_of(positive())))


@pytest.mark.parametrize("value, format_spec, text", [
    (0.5591, ".3f", "0.559"), (-0.0001, ".2f", "−1×10⁻⁴"), (-0.001, ".2f", "−0.001"), (-0.0, ".2f", "0.00"),
    (-0.004, ".0%", "0%"), (0.583, ".0%", "58%"), (4140.0, ".2e", "4140"), (2.5e-5, ".1e", "2.5×10⁻⁵"),
    (float("inf"), ".2f", "never"), (12345, "s", "12 345"), (0.1 + 0.2, "s", "0.3"), (23456.7, ".0f", "23 457"),
    ("relu", "s", "relu"), (-1.5, ".1f", "−1.5")])
def test_prose_numbers_go_through_the_one_formatter(value, format_spec, text):
    """What a glued number prints in prose ({glue:text}`name:spec`, via actlab.sphinxext)."""
    from actlab.numbers import spec

    assert spec(value, format_spec) == text


def test_settings_mode_joins_the_parts_that_name_one_setting():
    """Parts naming the same setting are one setting (all must hold there); settings are then
    combined as settings: a failure in one setting qualifies the claim, it does not refute it."""
    a1, a2 = Rule("a1", ">", 1, "a1", "setting A"), Rule("a2", ">", 1, "a2", "setting A")
    b1, b2 = Rule("b1", ">", 1, "b1", "setting B"), Rule("b2", ">", 1, "b2", "setting B")
    rules = [a1, a2, b1, b2]
    got = lambda **v: judge("c", rules, {k: exact(x) for k, x in v.items()}, mode="settings")
    v = got(a1=0, a2=2, b1=2, b2=2)  # one comparison fails in A: A fails, B holds
    assert v.outcome == QUALIFIED and v.qualification == "Holds in setting B; does not hold in setting A"
    assert got(a1=0, a2=2, b1=0, b2=2).outcome == FAILS  # each setting fails in one part
    assert got(a1=2, a2=2, b1=2, b2=2).outcome == HOLDS
    # an undecided part leaves its setting undecided, never a side
    und = judge("c", rules, {"a1": exact(2), "a2": Measure(1, 0.5, 1.5, 3, "b"), "b1": exact(0), "b2": exact(2)},
                mode="settings")
    assert und.outcome == UNDECIDED


def test_relu_speed_combines_its_settings_and_each_chapter_judges_its_own():
    """The ledger reads both chapters; each chapter's box judges its own settings and says what the
    ledger adds, instead of reading "not yet measured" for the other chapter's metrics. A setting that
    holds from the recommended initialisation and fails from He's for all is named as such."""
    def ratio(v):
        return {"": v, "_lo": v * 0.9, "_hi": v * 1.1, "_n": 3, "_ci": "bootstrap"}

    relu = {f"speed_ratio_vs_{s}{k}": x for s, r in (("tanh", 0.5), ("sigmoid", 4.0)) for k, x in ratio(r).items()}
    cnn = {f"{m}_vs_{s}{k}": x for m, s, r in (("speed_ratio", "tanh", 3.0), ("speed_ratio", "sigmoid", 3.0),
                                               ("he_ratio", "tanh", 1.5), ("he_ratio", "sigmoid", 3.0))
           for k, x in ratio(r).items()}
    both = {**{f"relu.{k}": v for k, v in relu.items()}, **{f"mnist1d.{k}": v for k, v in cnn.items()}}
    v = claims.decide("relu-speed", both)
    assert v.outcome == QUALIFIED and len(v.parts) == 6
    assert v.qualification == ("Holds in the MNIST-1D CNN; does not hold in the digits MLP's first steps, "
                               "the MNIST-1D CNN from He's start")
    assert claims.decide("relu-speed", {f"relu.{k}": x for k, x in relu.items()}).outcome == claims.MISSING
    here = claims.decide_local("relu-speed", relu)
    assert here.outcome == FAILS and len(here.parts) == 2 and "MNIST-1D CNN" in here.note
    assert "<mnist1d>" in here.note  # a link to the chapter that measures it
    there = claims.decide_local("relu-speed", cnn, chapter="mnist1d")
    assert there.outcome == QUALIFIED
    assert {p.rule.setting for p in there.parts} == {"the MNIST-1D CNN", "the MNIST-1D CNN from He's start"}
    assert "digits MLP" in there.note and "<relu>" in there.note
    box = claims.box("relu-speed", metrics=cnn, chapter="mnist1d")
    assert "not yet measured" not in box and "**holds with a qualification**" in box
    with pytest.raises(ValueError, match="no rule reads"):
        claims.decide_local("relu-speed", cnn, chapter="tanh")


def test_notes_and_qualifications_read_as_sentences_of_their_own():
    v = Verdict("c", DISCUSSED, note="practice, not a claim", qualification="only in float64")
    assert v.note == "Practice, not a claim" and v.qualification == "Only in float64"


def test_a_verdict_is_decided_again_on_each_half_of_its_seeds():
    """Halves that decide opposite ways leave the claim undecided; halves that agree keep the verdict;
    a measure's halves survive recording (a censored ratio's infinite end included)."""
    from actlab import convergence
    from actlab.verdicts import bootstrap, measure_from, measure_metrics

    assert bootstrap([1.0, 2.0, 3.0]).halves is None  # a half of one seed decides nothing
    m = bootstrap([1.0, 1.1, 1.2, 1.3, 3.0, 3.1, 3.2, 3.3])
    assert [h.n for h in m.halves] == [4, 4] and m.halves[0].hi < 2 < m.halves[1].lo
    rule = Rule("r", ">", 2.0, "a ratio")
    assert judge("c", [rule], {"r": m}).stability == "disagree"  # (all the seeds straddle 2 too)
    # a decisive verdict whose halves decide opposite ways is undecided
    split = Measure(3.0, 2.5, 3.5, 8, "bootstrap", halves=(Measure(1.5, 1.2, 1.8, 4, "half"),
                                                          Measure(3.2, 3.0, 3.5, 4, "half")))
    v = judge("c", [rule], {"r": split})
    assert v.extra["halves"] == (FAILS, HOLDS) and v.stability == "disagree"
    assert v.outcome == UNDECIDED and "opposite ways" in v.note
    steady = bootstrap([3.0, 3.1, 3.2, 3.3, 3.0, 3.1, 3.2, 3.3])
    w = judge("c", [rule], {"r": steady})
    assert w.outcome == HOLDS and w.stability == "agree"
    assert judge("c", [rule], {"r": exact(3.0)}).stability == "no seeds (exact)"
    assert judge("c", [rule], {"r": bootstrap([3.0, 3.1, 3.2])}).stability.startswith("not split")
    wil = judge("c", [Rule("r", ">", 0.05, "a share")], {"r": wilson(2, 120)})
    assert wil.outcome == UNDECIDED and wil.label == "undecided at 120 runs"  # runs, not seeds
    assert Verdict("c", DISCUSSED, note="σ′ = σ(1 − σ)").note.startswith("σ′")  # no "Σ′"
    # recorded and read back, as a chapter's metrics reach the ledger
    ratio = convergence.censored_ratio(np.array([np.inf, 8, 9, 9, 8, 7]), np.array([2.0, 2, 3, 3, 2, 2]), 10)
    back = measure_from(measure_metrics("x", ratio), "x")
    assert [(h.lo, h.hi) for h in back.halves] == [(h.lo, h.hi) for h in ratio.halves]
    assert ratio.halves[0].hi == np.inf  # its first half holds the censored seed
    assert convergence.slowest(ratio, m).halves is not None
