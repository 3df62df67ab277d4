"""Every non-timing metric of the quick profile against its committed baseline."""
import pytest

from actlab import baseline
from actlab.record import load_metrics, metrics_json

pytestmark = pytest.mark.chapters


def test_quick_metrics_match_the_baseline(quick_metrics):
    assert baseline.BASELINE.exists(), "no baseline yet: run `make baseline`"
    pinned = load_metrics(baseline.BASELINE.read_text())
    moved = baseline.differences(pinned, baseline.pinned(quick_metrics))
    assert not moved, (f"{len(moved)} metric(s) moved; if on purpose, `make baseline` and commit:\n"
                       + "\n".join(moved[:60]))


def test_timings_are_declared_and_nothing_else_is_skipped(quick_metrics):
    skipped = sorted(k for k in quick_metrics if baseline.is_timing(k))
    assert all(k.split(".")[0] in ("properties", "reproducing", "claims", "mnist1d") for k in skipped), skipped
    assert "properties.hessian_min_squared" not in skipped and "claims.verdict_relu_speed" not in skipped
    # the MNIST-1D chapter's timings are its CPU times per training step, and nothing else of it
    assert {k for k in skipped if k.startswith("mnist1d.")} == {k for k in quick_metrics if k.startswith("mnist1d.step_")}
    assert "mnist1d.speed_ratio_vs_tanh" not in skipped


def test_differences_reads_one_line_per_moved_metric():
    lines = baseline.differences({"a.x": 1.0, "a.y": "soft", "a.z": 3}, {"a.x": 1.1, "a.y": "soft", "a.w": 1})
    assert lines == ["a.w: new, 1 (run `make baseline` to pin it)", "a.x: 1.0 → 1.1 (+10.00%)", "a.z: gone (was 3)"]
    assert baseline.same(float("nan"), float("nan")) and not baseline.same(1.0, "1.0")
    assert metrics_json({"a": float("inf")})  # the baseline file is strict JSON too
