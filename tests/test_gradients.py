"""The vanishing-gradients experiment module: measures that cannot hide a common shrink, and
the sigmoid rewrites the chapter relies on."""
import re

import numpy as np
import pytest
import torch

from actlab import data
from actlab import gradients as gr
from actlab.ensemble import Ensemble, Member


@pytest.fixture(scope="module")
def batch():
    return data.dataset("digits", 64)


def test_x4_without_the_shift_is_not_the_tanh_network(batch):
    X, _ = batch
    tanh = Ensemble([Member("tanh", (16, 16, 16), seed=0, init="xavier")], 64, 10)
    x4 = gr.sigmoid_as_tanh_(Ensemble([Member("sigmoid", (16, 16, 16), seed=0, init="xavier")], 64, 10), shift=False)
    shifted = gr.sigmoid_as_tanh_(Ensemble([Member("sigmoid", (16, 16, 16), seed=0, init="xavier")], 64, 10))
    assert not torch.allclose(tanh(X), x4(X), atol=1e-3)
    for a, b in zip(x4.blocks[0].weights, shifted.blocks[0].weights, strict=True):
        assert torch.equal(a, b)  # the same weights; only the biases differ


def test_sigmoid_as_tanh_computes_the_tanh_network(batch):
    X, _ = batch
    tanh = Ensemble([Member("tanh", (16, 16, 16), seed=s, init="xavier") for s in range(2)], 64, 10)
    sig = gr.sigmoid_as_tanh_(Ensemble([Member("sigmoid", (16, 16, 16), seed=s, init="xavier") for s in range(2)], 64, 10))
    assert torch.allclose(tanh(X), sig(X), atol=1e-12)
    plain = Ensemble([Member("sigmoid", (16, 16, 16), seed=0, init="xavier")], 64, 10)
    assert not torch.allclose(tanh(X)[:1], plain(X), atol=1e-3)  # the rewrite is what does it


def test_orthogonal_weights_have_unit_singular_values():
    ens = gr.orthogonal_(Ensemble([Member("tanh", (32, 32), seed=s) for s in range(2)], 64, 10), gain=1.0)
    for w in ens.blocks[0].weights:
        sv = torch.linalg.svdvals(w.detach())
        assert torch.allclose(sv, torch.ones_like(sv), atol=1e-12)
    a, b = (w.detach() for w in ens.blocks[0].weights[1])
    assert not torch.allclose(a, b)  # each member its own matrix


def test_gaussian_matrix_preserves_squared_norm_not_mean_singular_value():
    sv = gr.gaussian_singular_values(128, n=10)
    assert abs(np.mean(sv ** 2) - 1) < 0.02
    assert abs(np.mean(sv) - 8 / (3 * np.pi)) < 0.02


def test_reach_is_the_error_at_layer_one_over_the_output_error(batch):
    X, y = batch
    ens = Ensemble([Member("relu", (8, 8), seed=0, init="kaiming")], 64, 10)
    w, d = gr.layer_gradients(ens, X, y)
    blk = ens.blocks[0]
    out, pre, _ = blk.forward(X, keep=True)
    for z in pre + [out]:
        z.retain_grad()
    torch.nn.functional.cross_entropy(out[0], y, reduction="sum").backward()  # per-example losses summed
    # root mean square over examples and units: per unit, so layers of different widths compare
    per_example = lambda z: z.grad[0].pow(2).mean().sqrt().item()
    assert d[0][0] == pytest.approx(per_example(pre[0]), rel=1e-10)
    assert d[0][-1] == pytest.approx(per_example(out), rel=1e-10)
    assert w[0][0] == pytest.approx(blk.weights[0].grad[0].norm().item() / len(y), rel=1e-10)


def test_ratio_hides_a_common_shrink_that_reach_shows(batch):
    X, y = batch
    sw = gr.norm_sweep(["relu"], ["standard", "kaiming"], [20], 2, X, y, width=32)
    # the standard init shrinks every layer alike: the ratio stays near one, the reach does not
    assert 0.1 < np.median(sw.ratio("relu", "standard", 20)) < 10
    assert np.median(sw.reach("relu", "standard", 20)) < 1e-4
    assert np.median(sw.reach("relu", "kaiming", 20)) > 0.1
    assert gr.vanishing_depth(sw, "relu", "standard") == 0
    assert gr.vanishing_depth(sw, "relu", "standard", measure="reach") == 20


def _fake(finals: dict):
    """make(grid) -> Trained whose final validation (and test) loss per seed is finals[lr]."""
    calls = []

    def make(grid):
        calls.append(list(grid))
        test = np.array([[finals[lr] for lr in grid]])  # (1 log, lrs, seeds)
        return gr.Trained(np.array([10]), test, test, test)
    return make, calls


def test_the_rate_is_chosen_on_the_validation_half_and_reported_on_the_test_half():
    # validation prefers 0.1, test would prefer 0.01: the choice follows validation only
    val = np.array([[[2.0, 2.0], [1.0, 1.0]]])   # (1 log, 2 lrs, 2 seeds)
    test = np.array([[[0.5, 0.5], [1.5, 1.5]]])
    make = lambda grid: gr.Trained(np.array([10]), test, test, val)
    tuned, runs = gr.tuned_curves(make, [0.01, 0.1], max_rounds=0)
    assert tuned.lr == 0.1 and (runs[0.1].test[-1] == 1.5).all()
    base, lrs = gr.per_seed_best(tuned, runs)
    assert lrs == [0.1, 0.1] and (base.test[-1] == 1.5).all()


def test_heldout_loss_reads_the_two_halves_apart():
    import torch

    from actlab.ensemble import Ensemble, Member

    ens = Ensemble([Member("relu", (4,), seed=0, lr=0.1)], 3, 2)
    X = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    val, test = gr.heldout_loss(ens, X, y)
    assert np.allclose(val, _xent(ens, X[:3], y[:3]))
    assert np.allclose(test, _xent(ens, X[3:], y[3:]))


def _xent(ens, X, y):
    import torch

    with torch.no_grad():
        return torch.nn.functional.cross_entropy(ens(X)[0], y).numpy()


def test_runs_at_chance_never_win_a_tuning_and_extend_the_grid_upward():
    ln10 = float(np.log(10))
    at_chance = {lr: [ln10 + 1e-4 * k, ln10 - 1e-3, ln10] for k, lr in enumerate([0.01, 0.1, 1.0, 3.0, 9.0, 27.0])}
    make, calls = _fake(at_chance)
    tuned, runs = gr.tuned_curves(make, [0.01, 0.1, 1.0], chance=ln10)
    # noise at chance picks nothing; larger rates are tried (never smaller), up to max_rounds
    assert tuned.best is None and calls == [[0.01, 0.1, 1.0], [3.0], [9.0], [27.0]]
    assert gr.learned_count(tuned, runs, ln10) == (0, 6)
    lr, _ = gr.chosen(tuned, runs)
    assert lr == 27.0  # shown: the largest rate whose runs all finished
    assert "neither learned nor diverged" in gr.grid_outcome(tuned, runs, ln10)


def test_no_rate_learns_until_the_largest_diverges():
    ln10 = float(np.log(10))
    finals = {0.01: [ln10] * 2, 0.1: [ln10] * 2, 0.1 * 3: [np.nan] * 2}
    make, calls = _fake(finals)
    tuned, runs = gr.tuned_curves(make, [0.01, 0.1], chance=ln10, max_rounds=6)
    assert calls == [[0.01, 0.1], [0.1 * 3]] and tuned.best is None
    assert gr.diverged(runs, tuned.lrs[-1]) == (2, 2)
    assert "diverged on all 2 seeds" in gr.grid_outcome(tuned, runs, ln10)


def test_a_diverged_run_is_not_learned_and_an_edge_best_extends():
    ln10 = float(np.log(10))
    finals = {0.01: [1.0, 1.1, 1.2], 0.1: [0.5, np.nan, np.nan], 1.0: [np.nan] * 3, 0.1 / 3: [0.9, 0.9, 0.9],
              0.01 / 3: [1.5, 1.5, 1.5]}
    make, calls = _fake(finals)
    tuned, runs = gr.tuned_curves(make, [0.01, 0.1, 1.0], chance=ln10)
    assert calls == [[0.01, 0.1, 1.0], [0.01 / 3]]  # best on the edge: one rate below it was tried
    assert tuned.lr == 0.01 and tuned.interior
    assert gr.learned_count(tuned, runs, ln10)[0] == 2  # 0.01 and 0.01/3; 0.1 diverged on 2 of 3 seeds


def test_runs_with_different_step_axes_share_one_axis():
    a = gr.Trained(np.array([10, 20, 30]), np.zeros((3, 2)), np.ones((3, 2)), np.ones((3, 2)))
    b = gr.Trained(np.array([20, 30]), np.zeros((2, 2)), 2 * np.ones((2, 2)), 2 * np.ones((2, 2)))
    axis, out = gr.on_one_axis({"a": a, "b": b})
    assert list(axis) == [10, 20, 30] and np.isnan(out["b"][0]).all() and (out["b"][1:] == 2).all()


# --- initialisation theory: the measured per-layer variances against the closed form ----------

def test_relu_variances_follow_the_closed_form_forward_and_backward():
    """ReLU's E[f(z)^2] = Var z / 2 and E[f'(z)^2] = 1/2 are exact, so He's scale keeps both
    variances, Xavier's halves them per layer and twice He's doubles them, within sampling noise."""
    from actlab import initialisation as ini

    configs = {k: ini.CONFIGS[k] for k in ("ReLU, He", "ReLU, Xavier", "ReLU, 2 × He")}
    p = ini.measure(configs, width=128, depth=8, n_inputs=256, seeds=2)
    for name in configs:
        for direction in ("forward", "backward"):
            assert p.measured_factor(name, direction) == pytest.approx(p.factor(name), rel=0.1), (name, direction)
        assert np.median(p.forward[name], 0) == pytest.approx(p.predicted_forward(name), rel=0.3)


def test_tanh_variances_follow_the_mean_field_and_the_linear_theory_when_small():
    from actlab import initialisation as ini

    configs = {k: ini.CONFIGS[k] for k in ("tanh, Xavier", "tanh, standard")}
    p = ini.measure(configs, width=128, depth=8, n_inputs=256, seeds=2)
    for name in configs:
        assert np.median(p.forward[name], 0) == pytest.approx(p.mean_field_forward(name), rel=0.15)
        assert np.median(p.backward[name], 0) == pytest.approx(p.mean_field_backward(name), rel=0.25)
    # where the pre-activations are small (standard: variance 1/3 per layer) tanh is linear
    assert p.measured_factor("tanh, standard", "backward") == pytest.approx(1 / 3, rel=0.1)
    # Xavier's forward variance decays (tanh compresses), which the linear theory misses
    assert p.measured_factor("tanh, Xavier", "forward") < 0.9


def test_figures_of_the_moved_gradient_and_initialisation_functions_are_legible(batch):
    from IPython.display import Image

    from actlab import initialisation as ini
    from actlab.plotting import FONT_FLOOR_PT

    X, y = batch
    sweep = gr.norm_sweep(["sigmoid", "relu"], ["default", "kaiming", "xavier"], [3], 2, X, y, width=8)
    steps = np.arange(4)
    means = np.random.default_rng(0).random((4, 2, 3))
    curves = {"a": np.ones((4, 2)), "b": np.full((4, 2), np.nan)}
    p = ini.measure(ini.CONFIGS, width=16, depth=3, n_inputs=32, seeds=2)
    for img in (gr.layer_gradient_norms(sweep, 3), gr.heatmaps(sweep), gr.activation_means("sigmoid", steps, means),
                gr.loss_curves(steps, curves, "relu"), ini.variance_figure(p)):
        assert isinstance(img, Image)
        smallest = re.search(rb"min-font-pt=([0-9.]*[0-9])", img.data)  # finish() writes it, refuses < floor
        assert smallest and float(smallest.group(1)) >= FONT_FLOOR_PT
