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


def metrics_of(all_metrics, chapter):
    return {k.split(".", 1)[1]: v for k, v in all_metrics.items() if k.startswith(chapter + ".")}


def test_linear_collapse(quick_metrics):
    m = metrics_of(quick_metrics, "linear-collapse")
    assert m["depth_max"] == 50
    # rounding level: a few dozen float64 epsilons, at every depth to 50, with and without bias
    assert m["collapse_gap_max"] < 100 * m["float64_eps"]
    assert m["collapse_gap_bias_max"] < 100 * m["float64_eps"]
    assert m["lstsq_accuracy"] <= 0.75 and m["linear_threshold_best"] <= 0.75
    assert m["linear_threshold_best"] == 0.75 and m["separable_labelings"] == 14
    assert m["xor_rate_identity_narrow"] == 0 and m["xor_rate_identity_wide"] == 0
    assert m["xor_rate_tanh_w4"] >= 0.85  # tanh with 4 hidden units: nearly every seed
    assert m["xor_rate_relu_narrow"] < m["xor_rate_relu_wide"]  # narrow relu fails more
    assert m["relu_narrow_failures"] == m["relu_narrow_failures_dead"] + m["relu_narrow_failures_alive"]


def test_universal_approximation(quick_metrics):
    m = metrics_of(quick_metrics, "universal-approximation")
    for target in ("sin", "abs", "step"):
        # the identity network is one straight line at every width: flat error, slope ~ 0
        assert 0.98 < m[f"mse_{target}_identity_fall"] < 1.02
        assert abs(m[f"slope_{target}_identity"]) < 0.01
        assert m[f"mse_{target}_identity_wide"] == pytest.approx(m[f"line_mse_{target}"], rel=0.02)
    assert m["mse_sin_tanh_fall"] >= 10  # at least an order of magnitude over the widths
    assert m["mse_sin_relu_fall"] >= 10
    assert m["slope_sin_tanh"] < -0.5
    # a discontinuous target keeps a sup error of about one half while the MSE falls
    assert m["sup_step_tanh_wide"] > 0.45 and m["sup_step_relu_wide"] > 0.45
    assert m["mse_step_relu_fall"] > 2


def test_vanishing_gradients(quick_metrics):
    m = metrics_of(quick_metrics, "vanishing-gradients")
    # sigmoid, default init, depth 10: the first layer gets under 1e-3 of the last's gradient
    assert m["ratio_sigmoid_default_d10"] < 1e-3
    # relu under Kaiming: within a factor of 10 of 1 at every depth measured
    for d in (2, 5, 10, 20):
        assert 0.1 < m[f"ratio_relu_kaiming_d{d}"] < 10
    # batch norm lifts the sigmoid ratio by orders of magnitude
    assert m["ratio_bn_sigmoid_default_d10"] / m["ratio_sigmoid_default_d10"] > 1e3
    assert m["vanish_depth_sigmoid_default"] == 5 and m["ratio_sigmoid_default_5_hi"] < 1e-2
    assert m["ratio_sigmoid_default_5_lo"] <= m["ratio_sigmoid_default_5"] <= m["ratio_sigmoid_default_5_hi"]
    assert m["vanish_depth_tanh_xavier"] == 0 and m["vanish_depth_relu_kaiming"] == 0
    # the ratio hides a shrink common to every layer; the reach (error at layer 1 / output error) shows it
    for a in ("tanh", "relu"):
        assert 0.1 < m[f"ratio_{a}_standard_deepest"] < 10 and m[f"reach_{a}_standard_deepest"] < 1e-3
    assert m["reach_relu_xavier_deepest"] < 1e-2 < m["reach_relu_kaiming_deepest_lo"]
    assert m["vanish_depth_reach_relu_xavier"] > 0 and m["vanish_depth_reach_relu_kaiming"] == 0
    # the sigmoid: scale alone does not rescue it; x4 weights with shifted biases (a tanh network) does
    assert m["rescue_reach_xavier_hi"] < 1e-6 and m["rescue_reach_orthogonal_hi"] < 1e-6
    assert m["rescue_reach_tanh_like_lo"] > 1e-2 and m["rescue_reach_orthogonal_tanh_like_lo"] > 1e-2
    # a square Gaussian matrix: mean singular value 8/(3 pi), mean squared singular value 1
    assert abs(m["gauss_sv"] - m["quarter_circle_mean"]) < 0.05 and abs(m["gauss_sv2"] - 1) < 0.05
    assert m["jacobian_sv2_standard"] < m["jacobian_sv2_xavier"] <= 1
    # Glorot & Bengio: standard init shrinks more than normalised (paper: ~0.5 vs ~0.8)
    assert 0.35 < m["jacobian_sv_standard"] < m["jacobian_sv_xavier"] < 0.9
    # He et al.: Xavier's output scale after L relu layers is about (1/sqrt 2)^L of Kaiming's
    assert 0.2 < m["he_output_ratio"] / m["he_output_ratio_predicted"] < 5
    assert m["he_test_xavier"] > m["he_test_kaiming"] and m["he_lr_interior_kaiming"]  # held-out, tuned
    assert m["sat_top_end"] < m["sat_top_start"] - 0.1  # the top sigmoid layer drifts to 0
    # pre-training against a random start with a tuned learning rate and as many steps in all
    assert m["pretrain_total_steps"] == m["finetune_steps"] + m["pretrain_steps_all"]
    assert m["pretrain_heldout_gain_lo"] > 0 and m["pretrain_lr_interior_pretrained"]
    assert m["pretrain_learned_random"] == 0 < m["pretrain_learned_pretrained"]  # no random-start rate learned
    assert m["bn_reach_sigmoid_lo"] > 1e-2 > m["bn_reach_sigmoid_without"]


def test_zero_centred(quick_metrics):
    m = metrics_of(quick_metrics, "zero-centred")
    # per-example updates behind a sigmoid layer share one sign (LeCun et al. 1998, 4.3)
    assert m["same_sign_sigmoid_single"] == 1.0 and m["same_sign_tanh_single"] < 0.01
    assert m["same_sign_tanh_batch"] < m["same_sign_sigmoid_batch"] < 1.0
    assert m["path_same_sigmoid"] == 1.0 and 0.3 < m["path_same_tanh"] < 0.7
    assert m["path_steps_tanh"] > 0 and m["path_steps_sigmoid"] > 3 * m["path_steps_tanh"]
    assert m["kappa_sigmoid"] > 5 * m["kappa_tanh"]
    assert m["kappa_sigmoid_centred"] < m["kappa_sigmoid"] / 5  # centring removes most of it
    assert m["gd_iters_sigmoid"] > 3 * m["gd_iters_tanh"]


def test_tanh(quick_metrics):
    m = metrics_of(quick_metrics, "tanh")
    assert m["identity_gap64"] < 1e-6 and m["identity_gap32"] < 1e-6
    assert m["dmax"] == pytest.approx(1.0) and m["dmax_at"] == 0 and m["dmax_ratio"] == pytest.approx(4.0)
    assert 2.9 < m["saturation_x"] < 3.1 and m["saturation_x"] < m["sigmoid_saturation_x"]
    assert 18 < m["reaches_one_64"] < 20 and 8 < m["reaches_one_32"] < 10
    # tanh reaches the target error no later than sigmoid at the deeper setting
    assert m["epochs_tanh_deepest"] <= m["epochs_sigmoid_deepest"]
    assert m["tanh_faster_depths"] >= 1


def test_relu(quick_metrics):
    m = metrics_of(quick_metrics, "relu")
    # the top learning rates kill a sizeable share of units; diverged runs are excluded
    assert m["dead_peak"] > 0.2 and m["dead_low_lr"] < 0.05
    assert m["born_point_vs_bound"] < 0.06  # one-input Monte Carlo matches the formula
    assert m["born_w2_deepest"] > m["born_w2_shallowest"]  # born dead rises with depth at width 2
    assert m["shift_relu_mean_end"] > 0 and m["shift_elu_mean_end"] < m["shift_relu_mean_end"]
    assert m["revived_layer1"] == 0  # first-layer units never come back


def test_dead_sweep_counts_diverged_runs_separately(quick_metrics):
    import numpy as np
    import torch

    from actlab import data, deadunits as du
    X, y = data.digits("train", dtype=torch.float32)
    # a linear network at a huge learning rate overflows: its loss becomes inf/nan
    s = du.sweep(["identity"], [1e-3, 1e3], 2, X[:256], y[:256], widths=(16, 16), epochs=2)
    assert s.diverged[0, 1].all() and not s.diverged[0, 0].any()
    assert np.isnan(s.fraction()[0, 1]).all()  # never counted as dead
    assert np.isfinite(s.fraction()[0, 0]).all()  # the finite runs are measured


def test_dead_fraction_rises_with_learning_rate(quick_metrics):
    m = metrics_of(quick_metrics, "relu")
    curve = [m[f"dead_median_lr{i}"] for i in range(m["dead_n_lrs"]) if m[f"dead_median_lr{i}"] == m[f"dead_median_lr{i}"]]
    # non-decreasing up to divergence, within a tolerance of 5 points
    assert all(b >= a - 0.05 for a, b in zip(curve, curve[1:]))
    assert m["dead_peak_lr"] >= 0.8


def test_relu_variants(quick_metrics):
    m = metrics_of(quick_metrics, "relu-variants")
    assert m["dead_max_relu"] > 0.2
    # where relu loses the most units, leaky relu and prelu have none (or diverged, never "dead")
    for act in ("leaky_relu", "prelu"):
        v = m[f"dead_at_relu_peak_{act}"]
        assert v == 0 or (v != v and m[f"diverged_at_relu_peak_{act}"] > 0)
    assert m["selu_max_abs_mean"] < 0.1 and m["selu_max_var_dev"] < 0.2  # 30 layers in quick
    assert abs(m["mish_argmin"] + 1.1924) < 1e-3 and abs(m["mish_min"] + 0.30884) < 1e-4
    assert m["gelu_tanh_gap"] < 1e-3
    assert m["maxout_weights"] == 2 * m["dense_weights"]


def test_properties(quick_metrics):
    m = metrics_of(quick_metrics, "properties")
    assert m["n_kinks_relu"] == 1 and m["relu_torch_at_0"] == 0  # not differentiable at 0
    assert m["decrease_mish"] > 0.3 and m["decrease_relu"] == 0 and m["decrease_sigmoid"] == 0
    assert m["f0_tanh"] == 0 and abs(m["mean_tanh"]) < 0.01  # zero-centred
    assert m["bounded_below_sigmoid"] and m["bounded_above_sigmoid"]
    assert m["bounded_below_selu"] and not m["bounded_above_selu"]
    assert m["extra_prelu"] == 1 and m["extra_relu"] == 0 and m["extra_maxout"] == 64 * 64 + 64
    assert not m["nonlinear_identity"] and m["nonlinear_sigmoid"]
    assert m["hessian_min_squared"] < 0 <= m["hessian_min_xent"] + 1e-12


def test_saturation(quick_metrics):
    m = metrics_of(quick_metrics, "saturation")
    expect = {"sigmoid": ("soft", "soft"), "tanh": ("soft", "soft"), "relu": ("hard", "none"),
              "hardtanh": ("hard", "hard"), "elu": ("soft", "none"), "softplus": ("soft", "none"),
              "identity": ("none", "none"), "leaky_relu": ("none", "none"), "gelu_tanh": ("soft", "none")}
    for name, (left, right) in expect.items():
        assert (m[f"left_{name}"], m[f"right_{name}"]) == (left, right), name


EXPECTED_VERDICTS = {  # claims decided by a rule; the quick profile's verdicts
    "linear_collapse": "holds", "xor": "holds with a qualification", "universal": "holds with a qualification",
    "any_nonlinear": "holds with a qualification", "nonlinearity": "holds", "relu_kink": "holds",
    "exp_costly": "holds with a qualification", "relu_left_saturated": "holds", "leaky_fix": "holds with a qualification",
    "monotone_convex": "does not hold", "mish_nonmonotone": "holds", "prelu_param": "holds",
    "maxout_k": "holds", "sigmoid_derivative": "holds", "sigmoid_range": "holds",
    "sigmoid_vanish": "holds", "sigmoid_not_centred": "holds", "five_layers": "holds with a qualification",
    "init_repairs": "holds", "remedies": "holds", "zigzag": "holds", "natural_gradient": "holds with a qualification",
    "tanh_faster": "holds", "tanh_centred": "holds", "tanh_saturates": "holds",
    "relu_speed": "does not hold", "relu_die": "holds", "relu_irreversible": "does not hold",
    "relu_40": "holds with a qualification", "relu_offset": "holds", "saturation_defs": "holds",
}


def test_claims_verdicts(quick_metrics):
    """A change that flips a verdict must be made on purpose: update this table with it."""
    m = metrics_of(quick_metrics, "claims")
    got = {k[len("verdict_"):]: v for k, v in m.items() if k.startswith("verdict_")}
    assert {k: got[k] for k in EXPECTED_VERDICTS} == EXPECTED_VERDICTS
    assert m["n_missing"] == 0


def test_reproducing(quick_metrics):
    m = metrics_of(quick_metrics, "reproducing")
    assert m["torch_threads"] == 1 and m["deterministic"] is True
    assert len(m["lock_sha256"]) == 64 and m["torch"].startswith("2.13.0")
