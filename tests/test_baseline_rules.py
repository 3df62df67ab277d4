"""The baseline's rules on small dicts and on the committed file: what is pinned, and how closely
(the comparison with a freshly built quick book is tests/test_baseline.py, in the book's tier)."""
import math

import pytest

from actlab import baseline, paths
from actlab.record import load_metrics, metrics_json


def test_numbers_verdict_words_and_labels_are_pinned_prose_is_not():
    metrics = {
        "a.x": 1.5, "a.k": 3, "a.ok": True, "a.inf": float("inf"),
        "claims.verdict_relu_die": "holds with a qualification", "a.left_relu": "hard", "a.best": "GELU",
        "a.dtype": "bfloat16", "a.vs_bound": "lies below",
        "a.x_text": "1.5", "a.x_ci": "bootstrap 95% (median of 7)", "a.x_iv": "95% bootstrap interval",
        "a.edge_phrase": "never exactly 0 out to |x| = 50", "a.kinds_word": "three", "a.never_text": "never",
        "a.reading": "The interval includes zero: these random layers do not settle the direction.",
        "a.names": "hard sigmoid, tanh, LeCun tanh", "a.rate": "1.83 (1.67–2)",
        "properties.fwd_relu": 1.0, "mnist1d.step_s": 2.0,
    }
    assert list(baseline.pinned(metrics)) == sorted(
        ["a.x", "a.k", "a.ok", "a.inf", "claims.verdict_relu_die", "a.left_relu", "a.best", "a.dtype", "a.vs_bound"])


@pytest.mark.parametrize("key, small, large", [
    ("saturation.x", 1e-6, 1e-4),              # analytic: rtol 1e-5
    ("tanh.loss", 1e-4, 1e-2),                 # trained smoothly: rtol 1e-3
    ("relu.dead_share", 1e-10, 1e-8),          # compared on the baseline's CPU only: rtol 1e-9
])
def test_floats_move_within_their_chapters_tolerance(key, small, large):
    assert baseline.same(0.5, 0.5 * (1 + small), baseline.tolerance(key))
    assert not baseline.same(0.5, 0.5 * (1 + large), baseline.tolerance(key))


def test_exact_kinds_and_non_finite_values():
    tol = baseline.TRAINED
    assert baseline.same(float("nan"), float("nan")) and baseline.same(float("inf"), float("inf"), tol)
    assert not baseline.same(float("inf"), 1e308, tol) and not baseline.same(float("nan"), 0.0, tol)
    assert not baseline.same(1000, 1001, tol)  # a count is exact, whatever its chapter's tolerance
    assert baseline.same(2, 2.0000001, tol)  # ...but an int against a float compares as floats
    assert not baseline.same(True, 1, tol) and not baseline.same(1.0, "1.0") and not baseline.same("soft", "hard")
    assert baseline.same(0.0, 1e-13) and not baseline.same(0.0, 1e-11)  # absolute floor for values at zero


def test_a_claims_verdict_takes_the_class_of_the_chapters_it_reads():
    assert baseline.chapters_of("claims.verdict_relu_speed") == {"relu", "mnist1d"}
    assert baseline.same_cpu_only("claims.verdict_relu_die") and not baseline.same_cpu_only("claims.verdict_tanh_range")
    assert baseline.chapters_of("tanh.loss") == {"tanh"} and baseline.chapters_of("claims.n_claims") == {"claims"}


def test_compare_reads_one_line_per_moved_metric_and_skips_what_another_cpu_changes():
    pinned = {"a.x": 1.0, "a.y": "soft", "a.z": 3, "a.w": "GELU", "relu.dead": 0.25}
    run = {"a.x": 1.1, "a.y": "soft", "a.n": 1, "a.w": "GELU, SiLU", "a.n_text": "one", "relu.dead": 0.5}
    moved, skipped = baseline.compare(pinned, run)
    assert moved == ["a.n: new, 1 (run `make baseline` to pin it)",
                     "a.w: 'GELU' → 'GELU, SiLU' (no longer a number or a label)",
                     "a.x: 1.0 → 1.1 (+1.0e-01 relative; allowed 1e-05)", "a.z: gone (was 3)",
                     "relu.dead: 0.25 → 0.5 (+1.0e+00 relative; allowed 1e-09)"]
    assert skipped == []
    moved, skipped = baseline.compare(pinned, run, same_cpu=False)
    assert skipped == ["relu.dead"] and not any(line.startswith("relu.") for line in moved)


def test_the_tolerance_classes_name_real_chapters_and_do_not_overlap():
    chapters = {p.stem for p in paths.CHAPTERS.glob("*.md")}
    assert set(baseline.TRAINED_CHAPTERS) <= chapters and set(baseline.SAME_CPU_CHAPTERS) <= chapters
    assert not set(baseline.TRAINED_CHAPTERS) & set(baseline.SAME_CPU_CHAPTERS)


def test_the_committed_baseline_is_exactly_its_pinned_metrics():
    """Re-pinning the file changes nothing: no number was dropped, no prose kept; it names its CPU."""
    text = baseline.BASELINE.read_text()
    written_on, pinned = baseline.read()
    raw = load_metrics(text)
    assert written_on and raw.pop(baseline.CPU_KEY) == written_on
    assert list(baseline.pinned(raw)) == list(raw) == list(pinned)
    assert sum(isinstance(v, (int, float)) for v in raw.values()) > 2000  # the numbers are all there
    assert not any(k.endswith(baseline.PROSE) for k in raw)
    assert metrics_json({baseline.CPU_KEY: written_on, **raw}) + "\n" == text  # as `make baseline` writes it


def test_the_committed_baseline_against_itself_moved_within_and_beyond_its_tolerances():
    """Every float of the real file moved by a tenth of its tolerance passes; by ten times it, each one
    above its absolute floor (atol, for values at zero) is named."""
    _, pinned = baseline.read()
    floats = [k for k, v in pinned.items() if isinstance(v, float) and math.isfinite(v)
              and abs(v) * baseline.tolerance(k)["rtol"] > baseline.tolerance(k)["atol"]]
    nudged = lambda f: {**pinned, **{k: pinned[k] * (1 + f * baseline.tolerance(k)["rtol"]) for k in floats}}
    assert baseline.compare(pinned, nudged(0.1)) == ([], [])
    moved, _ = baseline.compare(pinned, nudged(10))
    assert len(moved) == len(floats)
    assert len(baseline.compare(pinned, nudged(10), same_cpu=False)[0]) == sum(
        not baseline.same_cpu_only(k) for k in floats)


def test_write_pins_and_records_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(baseline, "BASELINE", tmp_path / "b.json")
    assert baseline.write({"a.x": 1.0, "a.x_text": "1", "properties.fwd_relu": 2.0, "a.inf": float("inf")}) == 2
    assert baseline.read() == (baseline.cpu(), {"a.inf": float("inf"), "a.x": 1.0})
