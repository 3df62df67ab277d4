"""Unit tests for the experiment helpers of the zero-centred, universal-approximation, tanh and
linear-collapse chapters: small, seconds in all."""
import math

import numpy as np
import pytest
import torch

from actlab import approximation, convergence, xor, zerocentre
from actlab.verdicts import Measure, Rule, exact, judge


def test_speed_ratio_censors_never_at_the_budget():
    r = convergence.speed_ratio([2.0, np.inf, np.inf, 4.0], [1.0, 5.0, np.inf, np.inf], budget=20)
    assert r.tolist() == [2.0, 4.0, 1.0, 0.2]  # a bound, never inf or nan


def test_xor_plateaus_are_the_merged_losses():
    p = xor.plateau_losses()
    assert p[4] == pytest.approx(math.log(2))
    assert p[3] == pytest.approx(0.4774, abs=1e-4)  # (3/4) H(1/3)
    assert p[2] == pytest.approx(math.log(2) / 2)
    # labels (0, 1, 1, 0): three points share one logit and mix both classes; then all four;
    # then two of different classes; a same-class pair alone does not count
    logits = np.array([[0.69, 0.69, 0.69, -9.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 9.0, -9.0],
                       [5.0, -5.0, -5.0, 6.0]])
    assert xor.merged_points(logits).tolist() == [3, 4, 2, 0]


def test_merged_loss_matches_a_network_output():
    """The loss of outputs 2/3 on three points (labels 0, 1, 1) and a perfect fourth is the plateau."""
    p = torch.tensor([2 / 3, 2 / 3, 2 / 3, 1e-15], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    loss = torch.nn.functional.binary_cross_entropy(p, y)
    assert float(loss) == pytest.approx(xor.plateau_losses()[3], abs=1e-6)


def test_path_steps_finite_at_a_stable_rate_and_never_when_diverging():
    s = zerocentre.path_steps("tanh", [1.0, 100.0], seeds=2, n=50, epochs=10)
    assert s.shape == (2, 2)
    assert np.isfinite(s[:, 0]).all() and np.isinf(s[:, 1]).all()
    # the same seed draws the same inputs for every feed: centred sigmoid equals sigmoid at lr -> 0
    a = zerocentre.path_steps("sigmoid", [1e-6], seeds=1, n=20, epochs=1)
    assert np.isinf(a).all()


def test_curvature_study_shapes_and_the_offset():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 8, generator=g, dtype=torch.float64)
    labels = X[:, 0] > 0
    out = zerocentre.curvature_study(X, labels, {"s": ("sigmoid", False), "c": ("sigmoid", True)},
                                     seeds=2, width=8, ridge=1e-3)
    assert out["s"]["kappa"].shape == (2,) and (out["s"]["kappa"] > out["c"]["kappa"]).all()
    assert (np.abs(out["c"]["cos"]) <= 1 + 1e-12).all()


def test_approximation_grids_hold_out_the_points_between():
    x, xt, held = approximation.grids(5)
    assert len(xt) == approximation.FINER * 4 + 1 and int((~held).sum()) == 5
    assert torch.allclose(xt[~held], x)


def test_approximation_run_picks_a_rate_per_config_and_says_if_it_is_interior():
    sw = approximation.run([1, 4], ["relu", "identity"], ["abs"], 1, n_points=9, steps=30,
                           lrs=[0.01, 0.1], max_rounds=1)
    assert sw.mse.shape == sw.mse_train.shape == sw.sup.shape == (1, 2, 2, 1)
    assert set(np.unique(sw.lr)) <= set(sw.lrs_tried)
    assert not sw.interior[0, 1].any() or len(sw.lrs_tried) > 2  # 2 rates: nothing interior without extension
    assert (sw.sup >= np.sqrt(sw.mse)).all()  # the largest error bounds the held-out RMS
    assert sw.n_trained >= 2 * 2 * 2


def test_convergence_fractional_epochs_held_out_and_tuning_rounds():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(96, 6, generator=g)
    y = (X[:, 0] > 0).long()
    sw = convergence.run(["tanh"], [1], [0.01, 0.03], 2, X, y, width=8, epochs=2, batch_size=16, target=0.6,
                         eval_every=2, X_test=X[:32], y_test=y[:32], tune_rounds=1)
    assert sw.eval_epochs[1] == pytest.approx(2 / 6)  # 6 steps an epoch, evaluated every 2
    assert sw.error_test.shape == sw.error.shape
    # every rate hits the (easy) target at once, so the best is the smallest: one rate added below
    assert len(sw.lrs) == 3 and sw.lrs[0] < 0.01 and sw.trained.sum() == 3
    ep = sw.epochs_to_target(held_out=True)
    assert ep.shape == (1, 1, 3, 2)


def test_undecided_phrase_counts_seeds_not_exact_parts():
    rules = [Rule("a", "<=", 1, "a"), Rule("b", ">", 0.5, "b")]
    v = judge("c", rules, {"a": exact(0.5), "b": Measure(0.6, 0.4, 0.8, 20, "bootstrap 95% (median of 20)")})
    assert v.phrase().startswith("undecided at 20 seeds")


# ---------------------------------------------------------------- figures beside their experiments


def _png_ok(img):
    """A figure as the page shows it: a PNG no wider than the column (drawn at 2x), whose
    smallest text (written into the PNG by plotting.finish) is at least the floor."""
    import re
    import struct

    from IPython.display import Image

    from actlab import plotting

    assert isinstance(img, Image)
    width_px = struct.unpack(">I", img.data[16:20])[0]
    assert width_px <= 2 * plotting.DISPLAY_DPI * (plotting.MAX_WIDTH_IN + 2 * plotting.PAD_IN) + 2
    smallest = float(re.search(rb"min-font-pt=([0-9.]+)", img.data).group(1))
    assert smallest >= plotting.FONT_FLOOR_PT


def test_xor_figures():
    sw = xor.train_sweep(["identity", "relu", "tanh"], [2, 4], 3, steps=20)
    _png_ok(xor.xor_regions(sw, 4, seed=0))
    _png_ok(xor.rate_vs_width(sw))


def test_approximation_figures():
    sw = approximation.run([1, 4], ["relu", "identity", "tanh"], ["sin", "abs", "step"], 2, n_points=9,
                           steps=10, lrs=[0.01, 0.1], max_rounds=0)
    _png_ok(approximation.approximation_fits(sw, "sin", ["relu", "identity", "tanh"], [1, 4]))
    _png_ok(approximation.error_vs_width(sw, "mse"))
    _png_ok(approximation.error_vs_width(sw, "sup"))


def test_speed_dots_show_every_seed_and_the_never_band():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(96, 6, generator=g)
    y = (X[:, 0] > 0).long()
    sw = convergence.run(["sigmoid", "tanh"], [1, 2], [0.01, 0.1], 3, X, y, width=8, epochs=2, batch_size=16,
                         target=0.3, eval_every=2)
    ep, _ = sw.tuned()
    ep[0, 1, :2] = np.inf  # two seeds that never got there, one that did
    _png_ok(convergence.speed_dots(sw, ep))


def test_gallery_figures():
    from actlab import functions, gallery

    _png_ok(gallery.function_panels(functions.names(), n_points=51))
    _png_ok(gallery.function_and_derivative("sigmoid", 8.0, saturation_at=4.6))
    _png_ok(gallery.function_and_derivative("tanh", 6.0, saturation_at=3.0, compare="sigmoid"))


# ---------------------------------------------------------------- figures of the ReLU chapters


def _fake_sweep(acts=("relu", "elu"), lrs=(0.01, 0.1, 1.0), seeds=3, widths=(4, 4)):
    from actlab import deadunits

    rng = np.random.default_rng(0)
    shape = (len(acts), len(lrs), seeds, len(widths))
    dead = rng.uniform(0, 1, shape)
    div = np.zeros(shape[:3], bool)
    div[:, -1, 0] = True
    dead[div] = np.nan
    return deadunits.DeadSweep(list(acts), list(lrs), seeds, widths, dead, div, np.ones(shape), np.zeros(shape),
                               rng.uniform(0, 1, shape[:3]), dead.copy())


def test_dead_unit_figures_draw_at_the_books_sizes():
    from actlab import deadunits

    _png_ok(deadunits.dead_vs_lr(_fake_sweep()))
    _png_ok(deadunits.inactive_figure(_fake_sweep()))
    domain, point = deadunits.born_dead([2, 3], [2, 4], 20)
    bound = np.array([[deadunits.born_dead_bound(n, L) for L in (2, 4)] for n in (2, 3)])
    _png_ok(deadunits.born_dead_curves([2, 3], [2, 4], domain, point, bound))


def test_layer_values_and_offset_figures_draw():
    from actlab import biasshift, variants

    _png_ok(variants.layer_values({"prelu": np.random.default_rng(0).uniform(0, 1, (3, 4))}, "slope",
                                   reference=0.25, ref_label="initial 0.25"))
    rng = np.random.default_rng(1)
    acts = ["relu", "elu"]
    sh = biasshift.BiasShift(acts, 2, {w: rng.uniform(0, 1, (2, 2, 3)) for w in ("init", "trained")},
                             {w: rng.uniform(1, 2, (2, 2, 3)) for w in ("init", "trained")},
                             np.ones((2, 2)), np.zeros((2, 2)), 10)
    _png_ok(biasshift.offset_figure({"default init": sh, "Kaiming init": sh}))


def test_cost_bars_draw_from_a_small_timing():
    from actlab import cost

    t = cost.time_activations(["relu", "sigmoid"], 1000, 2, width=16, block_s=1e-4)
    _png_ok(cost.cost_bars(t, ["relu", "sigmoid"]))


def test_zero_centred_and_saturation_figures_render_at_the_floor():
    """The figure functions that moved next to their experiments still draw, legibly, and the
    saturation figure marks exactly-zero derivatives only on sides classified hard."""
    import re

    import torch
    from IPython.display import Image

    from actlab import functions, saturation, zerocentre
    from actlab.plotting import FONT_FLOOR_PT

    paths = {"sigmoid": np.cumsum(np.ones((5, 2)), 0) * 0.1, "tanh": np.cumsum(np.ones((5, 2)), 0) * 0.2}
    imgs = [zerocentre.weight_paths(paths),
            zerocentre.paired_bars(["sigmoid", "sigmoid, centred"], {"κ": [1234.5, 1.0], "iterations": [10, 2]},
                                   {"sigmoid": "sigmoid", "sigmoid, centred": "sigmoid"}, "value"),
            saturation.saturation_curves(functions.names(elementwise_only=True), 50.0, n_points=201)]
    for img in imgs:
        assert isinstance(img, Image)
        smallest = re.search(rb"min-font-pt=([0-9.]*[0-9])", img.data)
        assert smallest and float(smallest.group(1)) >= FONT_FLOOR_PT
    x = torch.linspace(-50, 50, 1001, dtype=torch.float64)
    assert saturation.exact_zeros("relu", x)[x.numpy() < 0].all()
    assert not saturation.exact_zeros("relu", x)[x.numpy() > 0].any()
    assert not saturation.exact_zeros("gelu", x).any()  # its left tail underflows, but the side is soft
    fams = saturation.families(functions.names(elementwise_only=True))
    assert sorted(n for m in fams.values() for n in m) == sorted(functions.names(elementwise_only=True))


def test_digits_are_scikit_learns_load_digits():
    from sklearn.datasets import load_digits

    from actlab import data

    X, y = data._digits_raw()
    ref = load_digits()
    assert X.shape == (1797, 64) and np.array_equal(X, ref.data) and np.array_equal(y, ref.target)


def test_only_units_that_died_during_training_count_as_deaths_and_revivals():
    from actlab.deadunits import deaths_and_revivals

    # checks down the rows (the first before training), units across: born dead and later alive;
    # alive, dead, alive; alive then dead for good; never dead; born dead, alive, dead, alive
    m = np.array([[1, 0, 0, 0, 1],
                  [1, 1, 1, 0, 0],
                  [0, 0, 1, 0, 1],
                  [0, 0, 1, 0, 0]], bool)[:, None, :]
    died, back = deaths_and_revivals(m)
    assert died[0].tolist() == [False, True, True, False, True]
    assert back[0].tolist() == [False, True, False, False, True]
