"""The low-precision lesson: the quantiser, the ranges and the GELU comparison it rests on."""
import numpy as np
import pytest
import torch

from actlab import lowprecision


def test_fake_quantise_rounds_to_2_to_the_bits_levels_within_the_range():
    h = torch.linspace(-1, 5, 10_001)
    q = lowprecision.fake_quantise(h, torch.tensor(0.0), torch.tensor(3.0), 2)
    assert sorted(set(q.tolist())) == pytest.approx([0.0, 1.0, 2.0, 3.0])  # four levels, both ends included
    assert (q[h < 0] == 0).all() and (q[h > 3] == 3).all()  # clamped to the range
    inside = (h >= 0) & (h <= 3)
    assert (q[inside] - h[inside]).abs().max() <= 0.5 + 1e-6  # nearest level: within half a step
    with pytest.raises(ValueError, match="bits must be"):
        lowprecision.fake_quantise(h, torch.tensor(0.0), torch.tensor(1.0), 0)


def test_a_tail_widens_every_step():
    h = torch.cat([torch.rand(1000, generator=torch.Generator().manual_seed(0)), torch.tensor([40.0])])  # outputs in [0, 1) and one outlier
    lo, hi = h.min(), h.max()
    q = lowprecision.fake_quantise(h, lo, hi, 3)
    assert (q[:-1] == 0).all()  # the step is about 40/7: every ordinary output rounds to the level at 0
    assert (lowprecision.fake_quantise(h[:-1], lo, h[:-1].max(), 3) != 0).sum() > 500  # without the outlier


def test_zero_is_a_level_and_the_range_is_widened_to_reach_it():
    h = torch.linspace(-0.3, 5, 1001)
    q = lowprecision.fake_quantise(h, torch.tensor(-0.3), torch.tensor(5.0), 4)
    assert (q[h.abs() < 1e-3] == 0).all() and len(set(q.tolist())) <= 16
    pos = lowprecision.fake_quantise(torch.tensor([0.0, 0.5]), torch.tensor(1.0), torch.tensor(2.0), 2)
    assert pos.tolist() == pytest.approx([0.0, 2 / 3])  # a range of [1, 2] is widened to [0, 2]


def test_the_gelu_gap_is_the_largest_difference_on_the_grid():
    gap, x = lowprecision.gelu_gap()
    assert 2 < abs(x) < 3.5 and 4e-4 < gap < 5e-4
    xs = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    from actlab import functions
    assert (functions.get("gelu")(xs) - functions.get("gelu_tanh")(xs)).abs().max() <= gap


@pytest.fixture(scope="module")
def small():
    return lowprecision.run(["relu6", "relu", "relu"], [8, 2], width=16, depth=2, seeds=2, steps=30, lr=1e-3)


def test_run_returns_each_function_once_in_registry_order_with_its_bounds(small):
    lp, ens = small
    assert lp.activations == ["relu", "relu6"] and len(ens) == 4
    assert (lp.top["relu6"] <= 6).all() and (0 < lp.spread["relu"]).all() and (lp.spread["relu"] <= 1).all()
    assert set(lp.error) == {(a, b) for a in lp.activations for b in (None, 8, 2)}
    m = lowprecision.metrics(lp)
    assert m["lp_relu_minus_relu6_2"] == pytest.approx(np.median(lowprecision.lost(lp, "relu", 2)
                                                                 - lowprecision.lost(lp, "relu6", 2)))


def test_a_network_evaluated_with_its_own_function_changes_nothing(small):
    lp, ens = small
    same = lowprecision.swapped(ens, lp, "relu", "relu")
    assert (same["flipped"] == 0).all() and (same["logit_change"] == 0).all()
    other = lowprecision.swapped(ens, lp, "relu", "identity")
    assert (other["logit_change"] > 0).all()


def test_the_figure_shows_every_function_at_every_precision(small, monkeypatch):
    import matplotlib.pyplot as plt

    from actlab import plotting
    lp, _ = small
    seen = {}
    monkeypatch.setattr(plotting, "finish", lambda fig: seen.setdefault("fig", fig))
    lowprecision.figure(lp)
    top, bottom = seen["fig"].axes[:2]
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["float32", "8 bits", "2 bits"]
    assert [t.get_text() for t in seen["fig"].legends[0].get_texts()] == ["ReLU", "ReLU6"]
    for ax, source in ((top, lp.error), (bottom, lp.clipped)):
        relu, relu6 = [ln for ln in ax.get_lines() if ln.get_marker() != "_"]  # the medians, not the caps
        assert relu.get_ydata()[1:] == pytest.approx([np.median(source["relu", b]) for b in lp.bits])
        assert relu.get_marker() != relu6.get_marker()  # the two share a hue, not a marker
    plt.close(seen["fig"])


def test_the_8_bit_step_is_that_of_the_grid_with_0_in_it():
    lp, _ = lowprecision.run(["sigmoid"], [8], width=8, depth=1, seeds=2, steps=5, lr=1e-3)
    assert (lp.step8["sigmoid"] == pytest.approx(lp.top["sigmoid"] / 255))  # outputs above 0: the grid starts at 0
