"""Every chapter, executed in the quick profile, asserted on its recorded metrics."""
import itertools

import pytest

from actlab.verdicts import SUFFIXES

pytestmark = pytest.mark.chapters


def test_every_chapter_recorded_metrics(quick_metrics):
    from actlab import contents

    for name in contents.chapters():
        assert any(k.startswith(name + ".") for k in quick_metrics), f"chapter {name} recorded nothing"


def test_gallery(quick_metrics):
    from actlab import functions

    m = metrics_of(quick_metrics, "gallery")
    assert m["n_functions"] == len(functions.names())
    assert m["n_layers"] == len(functions.names()) - len(functions.names(elementwise_only=True)) == 5
    assert m["max_autograd_gap"] < 1e-8
    assert m["lecun_f1"] == pytest.approx(1.0, abs=1e-4) and m["lecun_slope0"] == pytest.approx(1.7159 * 2 / 3)
    assert m["match_glu_width"] == 2048  # Shazeer (2020): 3072 plain units -> 2048 gated, d_model 768


def test_sigmoid(quick_metrics):
    m = {k.split(".", 1)[1]: v for k, v in quick_metrics.items() if k.startswith("sigmoid.")}
    assert m["dmax"] == pytest.approx(0.25, abs=1e-12)
    assert abs(m["dmax_at"]) < 1e-9
    assert m["saturation_x"] == pytest.approx(5.99, abs=0.02)  # sigma'(x) = 0.0025 at |x| = 5.99
    assert 0 < m["range_lo"] < 1e-20 and m["range_hi_gap"] == pytest.approx(1.9287e-22, rel=1e-3)
    assert abs(m["mean_out"] - 0.5) < 4 * m["mean_out_se"]  # not zero-centred
    assert abs(m["tanh_mean_out"]) < 0.05  # tanh is
    assert m["autograd_gap"] < 1e-12  # the textbook sigma(1 - sigma), against autograd
    assert m["bound_5_layers"] == pytest.approx(0.25**5)
    assert 36 < m["naive_zero_from"] < 38  # sigma(1 - sigma) rounds to 0 from x = 36.7 ...
    assert m["stable_at_40"] == pytest.approx(4.248354255291589e-18, rel=1e-12)  # ... sigma(x) sigma(-x) does not


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
    assert m["relu_narrow_failures"] == sum(m[f"relu_narrow_merged_{k}"] for k in (4, 3, 2, "other"))
    assert m["plateau_3"] == pytest.approx(0.4774, abs=1e-4)
    # the intervention: leaky ReLU on the same seeds rescues some dead-unit failures
    assert m["leaky_rescues_dead"] >= 1 and m["leaky_wins_narrow"] > m["xor_wins_relu_narrow"]
    assert m["xor_rate_tanh_wide_lo"] < m["xor_rate_tanh_wide"] <= m["xor_rate_tanh_wide_hi"]


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
    assert m["mse_step_relu_vs_line"] < 1  # the widest ReLU layer beats every straight line on the step
    # held-out points are the fine grid's points between the training points
    assert m["n_held"] == m["n_fine"] - m["n_points"]
    assert m["mse_sin_tanh_wide"] < 10 * m["mse_train_sin_tanh_wide"]  # the fit holds between the points
    assert 0 < m["lr_interior"] <= m["lr_configs"]


def test_sparsity_pieces(quick_metrics):
    m = metrics_of(quick_metrics, "sparsity-pieces")
    assert 0.3 < m["zero_relu_init"] < 0.7 and m["zero_gelu_trained"] < 0.01 and m["zero_silu_trained"] == 0
    assert m["dead_relu_trained"] <= m["zero_relu_trained"] <= m["near_relu_trained"]
    assert m["montufar_last"] == 8**5 * 9 and m["pieces_last_init"] < m["montufar_last"] / 100
    assert m["pieces_fine_gap"] < 0.1 * m["pieces_first_init"]  # the grid is fine enough
    assert m["deeper__pieces_0_init"] > 0 and m["deeper__pieces_1_trained"] > 0


def test_low_precision(quick_metrics):
    m = metrics_of(quick_metrics, "low-precision")
    assert m["lp_top_relu6"] <= 6 and m["lp_top_tanh"] <= 1 and m["lp_top_relu"] > 6  # the bounds, and ReLU's tail
    assert m["lp_spread_relu6"] > m["lp_spread_relu"]  # a bound leaves no tail to stretch the range
    assert m["lp_lost_relu_3"] > m["lp_clipped_relu_3"]  # the outliers cost the accuracy
    assert 4e-4 < m["gelu_gap"] < 5e-4 and m["swap_gelu_flipped"] < 0.01 and m["gelu_halfstep_over_gap"] > 10
    assert m["two_bits__bits"] == 2 and "two_bits__lp_lost_relu_2" in m


def test_health(quick_metrics):
    m = metrics_of(quick_metrics, "health")
    assert m["lr_interior"] and m["share_init_large"] > 5 * m["share_init_healthy_tanh"]
    assert m["grad_first_small"] < 0.5 * m["grad_first_healthy_tanh"] and abs(m["init_loss_small"] - m["chance_loss"]) < 0.01
    assert m["update_ratio_rate_high"] > m["update_ratio_healthy_relu"] > m["update_ratio_rate_low"]
    assert m["broken__share_init_large"] > m["share_init_large"]  # eight times too large saturates more than four
    assert m["ratio_fall_rate_low"] > 1


def test_initial_scale(quick_metrics):
    m = metrics_of(quick_metrics, "initial-scale")
    # every function's gain: ReLU's two are He's; tanh keeps the signal at g_f and its error grows as predicted
    assert abs(m["gain_f_relu"] - 2**0.5) < 1e-4 and abs(m["gain_b_relu"] - 2**0.5) < 1e-3
    assert m["gain_torch_tanh"] > m["gain_f_tanh"] > m["gain_b_tanh"] > 1 and m["gain_slope_silu"] > 1 > m["gain_slope_tanh"]
    assert abs(m["gain_fwd_tanh"] - 1) < 0.03 and abs(m["gain_bwd_tanh"] / m["gain_chi_tanh"] - 1) < 0.05
    assert m["selu_q_gap_from_2"] < 0.01 and m["selu_q_gap_from_half"] < 0.01 and m["gain_chi_tanh_torch"] > 1
    # a symmetric start stays symmetric; a random one keeps every unit
    assert m["sym_rank_tanh_zero"] == 0 and m["sym_rank_relu_constant"] == 1 == m["sym_distinct_sigmoid_zero"]
    assert m["sym_distinct_relu_random"] == m["sym_width"] and m["sym_error_relu_random"] < m["sym_error_relu_constant"]


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
    assert m["pretrain_heldout_gain_default_lo"] > 0 and m["pretrain_lr_interior_pretrained"]
    assert m["pretrain_learned_random"] == 0 < m["pretrain_learned_pretrained"]  # no default-start rate learned
    # the autoencoders lift the gradient that reaches the first layer far above the default start's;
    # the tanh-matched start learns at some rate, so the verdict's baseline is a network that trains
    assert m["pretrain_reach_gain_default_lo"] > 2 and m["pretrain_learned_matched"] > 0
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
    # the offset costs through the learning rate: same inputs, centred, at their tuned rates
    assert m["path_speedup_lo"] > 1 and m["race_lr_sigmoid_centred"] > m["race_lr_sigmoid"]
    # the direct natural-gradient test: centring does not raise the cosine decisively; tanh (information only) lowers it
    assert m["cos_gain_lo"] < 0.02 and m["cos_gain_tanh_hi"] < 0


def test_tanh(quick_metrics):
    m = metrics_of(quick_metrics, "tanh")
    assert m["identity_gap64"] < 1e-6 and m["identity_gap32"] < 1e-6
    assert m["dmax"] == pytest.approx(1.0) and m["dmax_at"] == 0 and m["dmax_ratio"] == pytest.approx(4.0)
    assert 2.9 < m["saturation_x"] < 3.1 and m["saturation_x"] < m["sigmoid_saturation_x"]
    assert 18 < m["reaches_one_64"] < 20 and 8 < m["reaches_one_32"] < 10
    # tanh reaches the target error no later than sigmoid at the deeper setting, seed by seed
    assert m["epochs_tanh_deepest"] <= m["epochs_sigmoid_deepest"]
    assert m["speed_ratio_deep_lo"] > 1 and m["speed_ratio_test_deep"] > 1
    assert 0 < m["eval_fraction"] < 1  # finer than whole epochs
    assert m["abs_mean_out_hi"] < 0.05


def test_relu(quick_metrics):
    m = metrics_of(quick_metrics, "relu")
    # the top learning rates kill a sizeable share of units; diverged runs are excluded
    assert m["dead_peak"] > 0.2 and m["dead_low_lr"] < 0.05
    assert m["born_point_vs_bound"] < 0.06  # one-input Monte Carlo matches the formula
    assert m["born_w2_deepest"] > m["born_w2_shallowest"]  # born dead rises with depth at width 2
    # the decision uses every seed at a learning rate where none diverged, with its interval
    assert m["dead_share_stable_n"] == m["dead_seeds"]
    assert m["dead_share_stable_lo"] <= m["dead_share_stable"] <= m["dead_share_stable_hi"]
    assert m["dead_stable_lr"] < m["diverge_lr"]
    # revival: a share per run, bootstrapped over the runs in which some unit died; counts beside it
    assert m["revived_share_n"] == m["runs_with_deaths"] and "over runs" in m["revived_share_text"]
    assert m["revived_upper"] + m["revived_layer1"] == m["revived_total"]
    # the rule's share: only the runs at rates where no seed diverged, a subset of the runs with deaths
    assert m["revived_share_stable_n"] == m["runs_with_deaths_stable"] <= m["runs_with_deaths"]
    assert m["revived_stable"] <= m["revived_total"] and m["ever_dead_stable"] <= m["ever_dead_total"]
    assert "0 of 0" not in m["layer1_summary"]
    # "may be dead": finite runs with >= 40% dead, counted where some seeds diverged and where none did
    assert m["dead40_runs_ci"] == f"Wilson 95% ({m['dead40_runs_k']} of {m['finite_runs']})"
    assert m["dead40_runs_k_stable"] + m["dead40_runs_k_unstable"] == m["dead40_runs_k"]
    # the rule counts only the rates where no seed diverged (every seed's run is there)
    assert m["dead40_runs_stable_ci"] == f"Wilson 95% ({m['dead40_runs_k_stable']} of {m['dead40_runs_n_stable']})"
    # bias shift: ReLU's offset (mean / std) is about 1/sqrt(pi - 1) at a symmetric init, ELU's is smaller,
    # and the offset inflates the next layer's curvature (1 for zero-mean inputs)
    assert 0.5 < m["offset_relu_kaiming_init"] < 0.8 and m["offset_elu_kaiming_init"] < m["offset_relu_kaiming_init"]
    assert m["inflation_relu_kaiming_init"] > 2 * m["inflation_elu_kaiming_init"] >= 2
    # speed: one part per comparison, each decided by the smaller of its training and held-out ratios
    for slow in ("tanh", "sigmoid"):
        for k in ("train", "test"):
            assert m[f"speed_ratio_vs_{slow}"] <= m[f"speed_ratio_{slow}_{k}"]
        assert "e-" not in m[f"speed_ratio_{slow}_test_text"]
    assert "speed_verdict" not in m and "paper_speed_ratio" not in m and "forty_verdict" not in m


def test_dead_sweep_counts_diverged_runs_separately():
    import numpy as np
    import torch

    from actlab import data
    from actlab import deadunits as du
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
    assert all(b >= a - 0.05 for a, b in itertools.pairwise(curve))
    assert m["dead_peak_lr"] >= 0.8


def test_relu_variants(quick_metrics):
    m = metrics_of(quick_metrics, "relu-variants")
    assert m["dead_max_relu"] > 0.2
    # the derivative rule: leaky relu and prelu cannot have a dead unit (by construction)
    assert m["dead_max_leaky_relu"] == 0 and m["dead_max_prelu"] == 0
    # variants are compared with relu only where neither diverged, seed by seed
    for act in ("leaky_relu", "prelu", "elu"):
        assert m[f"compare_lr_{act}"] > 0  # some learning rate at which neither diverged
        assert m[f"inactive_diff_{act}_lo"] <= m[f"inactive_diff_{act}"] <= m[f"inactive_diff_{act}_hi"]
    assert m["elu_saturation_runs_n"] == m["elu_finite_runs"]
    assert m["selu_max_abs_mean"] < 0.1 and m["selu_max_var_dev"] < 0.2  # 30 layers in quick
    assert abs(m["mish_argmin"] + 1.1924) < 1e-3 and abs(m["mish_min"] + 0.30884) < 1e-4
    assert "paper_mish_min" not in m and "prelu_trend" not in m
    assert m["gelu_tanh_gap"] < 1e-3
    assert m["maxout_weights"] == 2 * m["dense_weights"]
    # maxout trained: its network has about twice the parameters of ReLU's, and it learned
    assert m["params_maxout"] == 2 * m["params_relu"] - 10 - 64 * 10
    assert m["test_error_maxout"] < 0.2


def test_output_activations(quick_metrics):
    import math

    m = metrics_of(quick_metrics, "output-activations")
    # the closed forms sigma - y and (sigma - y) sigma' are autograd's gradients in the logit
    assert m["grad_gap_bce"] < 1e-12 and m["grad_gap_mse"] < 1e-6
    assert m["grad_ratio_at_8"] == pytest.approx(2 + math.exp(8) + math.exp(-8), rel=1e-9)  # 1/sigma'(-8)
    # cross-entropy convex in the logit; squared error concave below -ln 2 for y = 1
    assert m["curv_min_bce"] > 0 and m["curv_max_bce"] == pytest.approx(0.25) and m["curv_min_mse"] < 0
    assert m["concave_below"] == pytest.approx(-math.log(2), abs=1e-9)
    # the race from |z0| = 8: the squared error needs over 100 times the updates, seed by seed, and
    # both losses follow gradient flow (about |z0| updates against about e^|z0|)
    assert m["top_start"] == 8 and m["ratio_top_lo"] > 100 and m["ratio_top_n"] == 5
    assert m["steps_bce_top_hi"] < 25 and m["steps_mse_top_lo"] > 2000 and m["flow_misfit_max"] < 0.15
    assert 0.8 < m["bce_per_logit"] < 1.3 and 2.0 < m["mse_factor_per_logit"] < math.e + 0.1
    # the softmax: its gradient is p - onehot, two classes are a sigmoid, and the naive form stops at
    # ln(largest float) less the log-sum-exp of the offsets, where the stable form goes on
    assert m["xent_grad_gap"] < 1e-14 and m["two_class_gap"] < 1e-13
    for dt in ("float16", "float32", "float64"):
        assert m[f"naive_limit_{dt}"] < m[f"log_max_{dt}"] and m[f"stable_ok_{dt}"]
        assert abs(m[f"naive_limit_{dt}"] - m[f"predicted_limit_{dt}"]) < 0.01, dt
    assert m["log_max_float32"] == pytest.approx(88.7228, abs=1e-3)
    assert m["log_max_float64"] == pytest.approx(709.7827, abs=1e-3)
    assert m["naive_ce_far"] == math.inf and 1000 < m["stable_ce_far"] < 1010
    assert m["naive_low_nan"] == m["n_classes"] and m["stable_low_ok"]
    assert m["torch_gap_lse_float32"] < 1e-6 and m["torch_gap_softmax_float64"] < 1e-12
    # temperature: one-hot at low T, uniform at high T; a wrong target's push tends to sqrt(2)/T
    assert m["entropy_tmin"] < 1e-6 and m["entropy_tmax"] > 0.99 * m["log_k"] and m["entropy_monotone"]
    assert m["grad_wrong_tmin_times_t"] == pytest.approx(math.sqrt(2), rel=1e-6) and m["grad_right_tmin"] < 1e-10
    # the book's losses: the list matches the code; only this chapter's race trains a sigmoid on squared error
    assert m["loss_audit_problems"] == 0 and m["n_sigmoid_squared"] == 1
    assert m["n_softmax_xent"] + m["n_sigmoid_bce"] + m["n_linear_squared"] + 1 == m["n_experiments"]


def test_properties(quick_metrics):
    m = metrics_of(quick_metrics, "properties")
    assert m["n_kinks_relu"] == 1 and m["relu_torch_at_0"] == 0  # not differentiable at 0
    assert m["decrease_mish"] > 0.3 and m["decrease_relu"] == 0 and m["decrease_sigmoid"] == 0
    assert m["f0_tanh"] == 0 and abs(m["mean_tanh"]) < 0.01  # zero-centred
    assert m["bounded_below_sigmoid"] and m["bounded_above_sigmoid"]
    assert m["bounded_below_selu"] and not m["bounded_above_selu"]
    assert m["extra_prelu"] == 1 and m["extra_relu"] == 0 and m["extra_maxout"] == 64 * 64 + 64
    for n in ("glu", "reglu", "geglu", "swiglu"):  # the gate's map; never monotone in the gate's input
        assert m[f"extra_{n}"] == 64 * 64 + 64 and m[f"monotone_gate_{n}"] is False
    assert m["monotone_value_glu"] and m["monotone_value_reglu"]  # sigma, relu >= 0
    assert not m["monotone_value_geglu"] and not m["monotone_value_swiglu"]  # GELU, SiLU dip below 0
    assert m["f0_lecun_tanh"] == 0 and abs(m["mean_lecun_tanh"]) < 0.01 and m["n_kinks_lecun_tanh"] == 0
    assert not m["nonlinear_identity"] and m["nonlinear_sigmoid"]
    assert m["hessian_min_squared"] < 0 <= m["hessian_min_xent"] + 1e-12
    assert m["layer_params_64"] == 64 * 64 + 64
    assert "convex_verdict" not in m  # verdicts come from claims, not phrases
    # timings: every ratio carries its interval over the rounds, and the rounds are counted
    for key in ("fwd_rel_sigmoid", "bwd_rel_sigmoid", "fwd_rel_tanh", "bwd_share_sigmoid", "linear_over_sigmoid",
                "gelu_registry_over_torch", "relu_over_copy", "fwd_rel_step", "bwd_rel_step"):
        assert m[key + "_lo"] <= m[key] <= m[key + "_hi"], key
        assert m[key + "_n"] == m["cost_repeats"] * m["cost_builds"], key
    for key in ("exp_over_relu", "fwd_rel_sigmoid", "bwd_share_sigmoid"):  # the claims' ratios at each thread count
        assert {f"{key}_t1", f"{key}_t2", f"{key}_tmax"} <= set(m) and m[f"{key}_tmax"] == m[f"{key}_t2"]
    assert m["fwd_rel_relu"] == 1.0 and m["bwd_rel_relu"] == 1.0  # each round's ReLU against itself
    assert m["threads_timed"] == "1, 2" and "cores present" in m["machine"]


def test_saturation(quick_metrics):
    m = metrics_of(quick_metrics, "saturation")
    expect = {"sigmoid": ("soft", "soft"), "tanh": ("soft", "soft"), "lecun_tanh": ("soft", "soft"),
              "relu": ("hard", "none"),
              "hardtanh": ("hard", "hard"), "elu": ("soft", "none"), "softplus": ("soft", "none"),
              "identity": ("none", "none"), "leaky_relu": ("none", "none"), "gelu_tanh": ("soft", "none"),
              "gelu": ("soft", "none"), "silu": ("soft", "none"), "mish": ("soft", "none"),
              "softsign": ("soft", "soft"), "relu6": ("hard", "hard"), "step": ("hard", "hard")}
    for name, (left, right) in expect.items():
        assert (m[f"left_{name}"], m[f"right_{name}"]) == (left, right), name
    # the textbook forms hit a false exact zero; the registry's forms never do on |x| <= 50
    assert 19.0 < m["naive_zero_from_tanh"] < 19.2 and 36.6 < m["naive_zero_from_sigmoid"] < 36.8
    assert m["naive_zero_left_sigmoid"] == float("inf") and m["naive_zero_left_sigmoid_text"] == "never"
    assert m["stable_zero_from_tanh"] == m["stable_zero_from_sigmoid"] == float("inf")


def test_mnist1d(quick_metrics):
    """The second setting: the paper's CNN, its speed against tanh and the sigmoid, and what Adam
    changes (the update, not the gradient) in a deep MLP."""
    m = metrics_of(quick_metrics, "mnist1d")
    assert m["n_params_cnn"] == 5210 and m["readout_inputs"] == 125  # Greydanus's ConvBase: 40 -> 19 -> 10 -> 5
    assert m["cnn_lengths_text"] == "40 → 19 → 10 → 5" and m["n_params_mlp"] == 40 * 100 + 100 + 100 * 100 + 100 + 1010
    # held-out accuracies above chance (ten classes), each inside its interval
    for k in ("cnn_adam", "mlp_adam", "cnn_sgd_relu"):
        assert 0.1 < m[f"acc_{k}_lo"] <= m[f"acc_{k}"] <= m[f"acc_{k}_hi"] <= 1, k
    # ReLU reaches the (quick) training target at an interior tuned rate within the budget
    assert m["speed_never_relu"] == 0 and m["speed_epochs_relu"] <= m["speed_epochs_budget"]
    # each comparison is decided by the smaller of its training and held-out ratios, as in the relu chapter
    for slow in ("tanh", "sigmoid"):
        assert m[f"speed_ratio_vs_{slow}"] <= min(m[f"speed_ratio_{slow}_train"], m[f"speed_ratio_{slow}_test"])
        assert "e-" not in m[f"speed_ratio_{slow}_test_text"] and "inf" not in m[f"speed_ratio_{slow}_test_text"]
        # the same comparison from He's start for both: its own setting of the claim, decided by the same rule
        assert m[f"he_ratio_vs_{slow}"] <= min(m[f"he_ratio_{slow}_train"], m[f"he_ratio_{slow}_test"])
    from actlab import claims

    he_parts = [p for p in claims.decide_local("relu-speed", m, "mnist1d").parts if "He's start" in p.rule.setting]
    assert len(he_parts) == 2 and all(p.measure is not None for p in he_parts)
    # Adam changes the update, not the gradient: in the deep sigmoid MLP the first layer's gradient and
    # SGD's update vanish (both under 1% of the last hidden layer's), Adam's update does not
    assert m["deep_grad_ratio_sigmoid_hi"] < 1e-2 and m["deep_update_ratio_sgd_sigmoid_hi"] < 1e-2
    assert m["deep_update_ratio_adam_sigmoid_lo"] > 0.3
    # Adam's first step moves every weight by eta: a layer's update is eta sqrt(its weights)
    assert m["deep_update_first_step_adam_tanh"] == pytest.approx(m["deep_adam_predicted"], rel=1e-3)
    # dead channels are shares; SGD at its largest rate loses more than at its tuned one
    for t in ("sgd", "adam"):
        assert 0 <= m[f"dead_{t}_tuned_lo"] <= m[f"dead_{t}_tuned"] <= m[f"dead_{t}_tuned_hi"] <= 1
    assert m["dead_sgd_top"] > m["dead_sgd_tuned"] and m["dead_sgd_top_lr"] > m["dead_sgd_lr"]
    assert m["step_ms_relu"] > 0 and m["step_ratio_relu"] == 1.0


def test_guide(quick_metrics):
    """The leaderboard ranks every function of the profile, with intervals around the ranks, and
    the folklore's verdicts are records."""
    m = metrics_of(quick_metrics, "guide")
    acts = [k[len("rank_"):] for k in m if k.startswith("rank_") and not k.endswith(SUFFIXES)]
    assert len(acts) == m["n_functions"] >= 7
    assert sum(m[f"rank_{a}"] for a in acts) == pytest.approx(len(acts) * (len(acts) + 1) / 2)  # ranks 1..A
    for a in acts:
        assert 1 <= m[f"rank_{a}_lo"] <= m[f"rank_{a}"] <= m[f"rank_{a}_hi"] <= len(acts)
    assert 0 < m["n_choices"] <= m["n_tasks"] * m["n_functions"] and 0 <= m["n_edge"] <= m["n_choices"]
    assert 1 <= m["n_top"] <= len(acts)
    # the deep task kills the sigmoid in the quick profile as in the full one
    assert m["fail_max_sigmoid"] >= 0.5 and "failed" in m["profile_sigmoid"]
    verdicts = {"holds", "holds with a qualification", "does not hold", "undecided", "discussed, not measured"}
    folk = {k: v for k, v in m.items() if k.startswith("folk_")}
    assert len(folk) == 5 and set(folk.values()) <= verdicts


EXPECTED_VERDICTS = {  # claims decided by a rule; the quick profile's verdicts ("true by construction": a
    # fact of definition or arithmetic whose check passed)
    "linear_collapse": "true by construction", "xor": "undecided",  # 19 of 20 seeds: Wilson interval reaches under 0.9
    "universal": "holds with a qualification",
    "any_nonlinear": "holds with a qualification", "relu_kink": "true by construction",
    "relu_left_saturated": "true by construction",
    "monotone_convex": "does not hold", "mish_nonmonotone": "holds with a qualification", "prelu_param": "true by construction",
    "maxout_k": "true by construction", "sigmoid_range": "true by construction",
    "sigmoid_vanish": "true by construction", "sigmoid_not_centred": "true by construction", "five_layers": "holds with a qualification",
    "init_repairs": "holds", "remedies": "holds with a qualification", "zigzag": "holds", "natural_gradient": "undecided",  # centring's cosine gain straddles 0
    "tanh_faster": "holds", "tanh_centred": "true by construction", "tanh_saturates": "holds",
    # relu_speed combines two settings: on digits faster than sigmoid (a lower bound: sigmoid never reaches
    # the target) but slower than tanh, so it fails there; the MNIST-1D CNN's quick budget is too small to
    # decide (its bounds straddle 2), so the claim is undecided. In the full book the CNN setting holds and
    # the verdict is "holds with a qualification" (test_verdicts checks that combination).
    # relu_die's quick-profile verdict depends on the CPU: "holds with a qualification" where the
    # baseline was first pinned, "holds" on this one (the previous build code gives the same here);
    # its quick sweep is four seeds, too few to be stable (issue 23 asks for more)
    "relu_speed": "undecided", "relu_die": "holds", "relu_irreversible": "does not hold",
    "relu_40": "undecided", "relu_offset": "holds with a qualification",
    "elu_saturation_death": "undecided",
    # issue 26's lessons: SELU's fixed point checks the code (exact); the update-ratio rule misses the
    # rate 30x too low; the pieces ratio at 3 quick seeds straddles its bound
    "selu_fixed_point": "true by construction", "update_ratio": "does not hold", "pieces_depth": "undecided",
    "relu6_low_precision": "holds", "hardswish_low_precision": "does not hold",
}


# Claims decided by timings on a shared machine: their intervals may straddle the threshold in the
# quick profile's two builds of few rounds, so "undecided" is allowed too. exp_costly's ratios sit
# near their threshold (about 1.1 here), so either side is allowed; the full profile's timing is the
# stored cell, timed alone.
EXPECTED_TIMED = {"exp_costly": {"holds with a qualification", "undecided", "does not hold"},
                  "sigmoid_cost": {"holds", "does not hold", "undecided"}}


def test_claims_verdicts(quick_metrics):
    """A change that flips a verdict must be made on purpose: update this table with it."""
    m = metrics_of(quick_metrics, "claims")
    got = {k[len("verdict_"):]: v for k, v in m.items() if k.startswith("verdict_")}
    assert {k: got[k] for k in EXPECTED_VERDICTS} == EXPECTED_VERDICTS
    for k, allowed in EXPECTED_TIMED.items():
        assert got[k] in allowed, (k, got[k])
    assert m["n_missing"] == 0


def test_reproducing(quick_metrics):
    m = metrics_of(quick_metrics, "reproducing")
    assert m["torch_threads"] == 1 and m["deterministic"] is True
    assert len(m["lock_sha256"]) == 64 and m["torch"].startswith("2.13.0")


def test_the_verdict_pins_cover_exactly_the_claims_a_rule_decides():
    from actlab import claims

    ruled = {c.id.replace("-", "_") for c in claims.CLAIMS if c.rules}
    assert set(EXPECTED_VERDICTS) | set(EXPECTED_TIMED) == ruled


def test_no_chapter_cell_prints_text(quick_metrics):
    """With the code on the page, a cell's stray output (a bare expression's value, a print,
    a warning) would show as raw text under it: only figures, Markdown, the interactive
    figures' HTML and glued values (which render where the prose cites them) may come out."""
    import nbformat

    from actlab import contents, paths

    bad = []
    for name in contents.chapters():
        nb = nbformat.read(paths.out_dir("quick") / "executed" / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code" or {"parameters", "injected-parameters"} & set(cell.metadata.get("tags", [])):
                continue
            for out in cell.get("outputs", []):
                if out.get("metadata", {}).get("scrapbook"):
                    continue  # a glued value: shown where the prose cites it, not under the cell
                if out["output_type"] == "stream":
                    if "remove-stdout" not in cell.metadata.get("tags", []) or out.get("name") != "stdout":
                        bad.append(f"{name}: `{cell.source.splitlines()[0][:60]}` prints {out['text'][:60]!r}")
                elif set(out.get("data", {})) <= {"text/plain"}:
                    bad.append(f"{name}: `{cell.source.splitlines()[0][:60]}` shows {out['data'].get('text/plain', '')[:60]!r}")
    assert not bad, "\n".join(bad)


def test_gated(quick_metrics):
    """Gated units: their cost, one verdict per pair and setting, gates that learn to switch, and
    LeCun's constants measured."""
    from actlab import verdicts

    m = metrics_of(quick_metrics, "gated")
    assert m["match_gated"] == 2048 and m["match_ratio"] == pytest.approx(2 / 3)  # Shazeer's narrowing
    assert m["digits_gated_width"] < 0.6 * m["digits_width"]  # few outputs: about half as wide
    assert m["n_parts"] == 6 and m["n_holds"] + m["n_fails"] + m["n_undecided"] == m["n_parts"]
    for pair in ("swiglu_silu", "geglu_gelu", "reglu_relu"):
        assert m[f"verdict_{pair}"] in verdicts.OUTCOMES
    for k in ("swiglu_minus_silu_digits", "reglu_minus_relu_mnist1d"):
        assert m[k + "_lo"] <= m[k] <= m[k + "_hi"] and m[k + "_n"] == m["n_seeds"]
    assert m["gate_nets_match"] == "yes"  # the gate histogram shows the comparison's own GLU networks
    assert m["switch_trained"] > m["switch_init"] and m["switch_direction"] == "rose"
    assert m["lecun_f1"] == pytest.approx(1, abs=1e-5) and 0.98 < m["curvature_peak"] < 0.99
    assert m["var_tanh"] < m["var_lecun"] < 1 < m["scale_unit_var"]
    assert m["q_tanh"] < 0.1 < m["q_star"] and m["measured_lecun"] == pytest.approx(m["q_lecun"], rel=0.2)
