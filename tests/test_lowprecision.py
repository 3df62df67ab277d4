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
    assert (q[:-1] == lo).all()  # the step is about 40/7: every ordinary output rounds to the bottom level
    assert (lowprecision.fake_quantise(h[:-1], lo, h[:-1].max(), 3) != lo).sum() > 500  # without the outlier


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
    left, right = seen["fig"].axes[:2]
    assert [t.get_text() for t in left.get_xticklabels()] == ["float32", "8 bits", "2 bits"]
    labels = [t.get_text() for t in right.get_legend().get_texts()]
    assert labels == ["ReLU", "ReLU6"]
    for ax, source in ((left, lp.error), (right, lp.clipped)):
        line = ax.get_lines()[0]  # ReLU's medians: float32, then each bit width
        assert line.get_ydata()[1:] == pytest.approx([np.median(source["relu", b]) for b in lp.bits])
    plt.close(seen["fig"])
