"""Every pinned metric of the quick profile against its committed baseline (the rules: test_baseline_rules.py)."""
import warnings

import pytest

from actlab import baseline

pytestmark = pytest.mark.chapters


def test_quick_metrics_match_the_baseline(quick_metrics):
    assert baseline.BASELINE.exists(), "no baseline yet: run `make baseline`"
    written_on, pinned = baseline.read()
    here = baseline.cpu()
    moved, skipped = baseline.compare(pinned, quick_metrics, same_cpu=written_on == here)
    if skipped:
        chapters = sorted(set().union(*(baseline.chapters_of(k) for k in skipped)) & set(baseline.SAME_CPU_CHAPTERS))
        warnings.warn(f"{len(skipped)} pinned metrics of {', '.join(chapters)} not compared: their training takes "
                      f"other paths on another CPU, and this one ({here}) is not the baseline's ({written_on})", stacklevel=1)
    assert not moved, (f"{len(moved)} metric(s) moved; if on purpose, `make baseline` and commit:\n"
                       + "\n".join(moved[:60]))


def test_timings_are_declared_and_nothing_else_is_skipped(quick_metrics):
    skipped = sorted(k for k in quick_metrics if baseline.is_timing(k))
    assert all(k.split(".")[0] in ("properties", "reproducing", "claims", "mnist1d") for k in skipped), skipped
    assert "properties.hessian_min_squared" not in skipped and "claims.verdict_relu_speed" not in skipped
    # the MNIST-1D chapter's timings are its CPU times per training step, and nothing else of it
    assert {k for k in skipped if k.startswith("mnist1d.")} == {k for k in quick_metrics if k.startswith("mnist1d.step_")}
    assert "mnist1d.speed_ratio_vs_tanh" not in skipped


def test_every_number_of_the_quick_book_is_pinned(quick_metrics):
    """Only strings are left out: every number that is not a timing is in the pinned set."""
    numbers = {k for k, v in quick_metrics.items() if isinstance(v, (int, float)) and not baseline.is_timing(k)}
    assert numbers <= set(baseline.pinned(quick_metrics))
