"""Every chapter, executed in the quick profile, asserted on its recorded metrics."""
import pytest

pytestmark = pytest.mark.chapters


def test_every_chapter_recorded_metrics(quick_metrics):
    from actlab import pipeline

    for name in pipeline.chapters():
        assert any(k.startswith(name + ".") for k in quick_metrics), f"chapter {name} recorded nothing"


def test_gallery(quick_metrics):
    from actlab import functions

    assert quick_metrics["gallery.n_functions"] == len(functions.names())
    assert quick_metrics["gallery.max_autograd_gap"] < 1e-8


def test_sigmoid(quick_metrics):
    m = {k.split(".", 1)[1]: v for k, v in quick_metrics.items() if k.startswith("sigmoid.")}
    assert m["dmax"] == pytest.approx(0.25, abs=1e-12)
    assert abs(m["dmax_at"]) < 1e-9
    assert m["saturation_x"] == pytest.approx(5.99, abs=0.02)  # sigma'(x) = 0.0025 at |x| = 5.99
    assert 0 < m["range_lo"] < 1e-20 and m["range_hi_gap"] == pytest.approx(1.9287e-22, rel=1e-3)
    assert abs(m["mean_out"] - 0.5) < 4 * m["mean_out_se"]  # not zero-centred
    assert abs(m["tanh_mean_out"]) < 0.05  # tanh is
    assert m["autograd_gap"] < 1e-12
    assert m["bound_5_layers"] == pytest.approx(0.25**5)
