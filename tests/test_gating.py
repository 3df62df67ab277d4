"""Gated units in practice: the cost of a gate, the paired verdicts, the gate as a switch, LeCun's tanh."""
import math

import numpy as np
import pytest

from actlab import gating as gt
from actlab import leaderboard as lb
from actlab.verdicts import FAILS, HOLDS, QUALIFIED, UNDECIDED


def test_a_gated_layer_is_two_thirds_as_wide_in_a_transformer_block_and_about_half_here():
    assert gt.width_ratio(768, 768) == pytest.approx(2 / 3)
    shazeer = gt.cost_row(768, 3072, 768)
    assert shazeer["gated_width"] == 2048 and shazeer["ratio"] == pytest.approx(2 / 3)
    # same weights up to the biases (the paper's blocks have none): 2048 gated units carry 1024 more biases
    assert shazeer["gated_count"] - shazeer["plain_count"] == 1024
    digits = gt.cost_row(64, 64, 10)
    assert digits["gated_width"] == 34 and abs(digits["ratio"] - digits["ratio_formula"]) < 0.01
    assert abs(digits["gated_count"] - digits["plain_count"]) < 140 / 2 + 1  # within half a gated unit
    table = gt.cost_table([("a", shazeer), ("b", digits)])
    assert table.count("\n") == 3 and "2048" in table


def test_paired_differences_count_a_failure_as_worst():
    a = np.array([0.1, np.inf, 0.2, np.inf])
    b = np.array([0.2, 0.1, np.inf, np.inf])
    assert gt.paired_difference(a, b).tolist() == [pytest.approx(-0.1), np.inf, -np.inf, 0.0]


def result(task: lb.Task, errs: dict, seeds: int) -> lb.TaskResult:
    """A TaskResult with one learning rate whose test (and validation) errors are ``errs``."""
    acts = list(errs)
    test = np.array([np.broadcast_to(np.asarray(errs[a], float), (seeds,)) for a in acts])[:, :, None]
    return lb.TaskResult(task, acts, [0.01], test.copy(), test, np.zeros_like(test, bool))


TASKS = gt.settings(digits_lrs=[0.01], mnist1d_lrs=[0.01])


def test_verdicts_follow_the_paired_differences():
    noise = 0.2 + np.array([-0.02, 0.02, -0.01, 0.01, -0.03, 0.03])  # paired differences with median 0
    better = {"swiglu": 0.10, "silu": 0.20, "geglu": 0.30, "gelu": 0.20, "reglu": noise, "relu": 0.2}
    other = {"swiglu": 0.10, "silu": 0.20, "geglu": 0.10, "gelu": 0.20, "reglu": noise[::-1], "relu": 0.2}
    results = [result(TASKS["digits"], better, 6), result(TASKS["mnist1d"], other, 6)]
    pairs = gt.pairs_in(list(better))
    items = dict((v.claim, v) for _, v in gt.verdicts(results, pairs))
    assert items["swiglu-vs-silu"].outcome == HOLDS            # better in both settings
    assert items["geglu-vs-gelu"].outcome == QUALIFIED         # worse on digits, better on MNIST-1D
    assert "Holds in MNIST-1D" in items["geglu-vs-gelu"].qualification
    assert items["reglu-vs-relu"].outcome == UNDECIDED         # noise only
    t = gt.tally(gt.verdicts(results, pairs))
    assert t == {"holds": 3, "fails": 1, "undecided": 2, "parts": 6}
    assert gt.agreement(gt.verdicts(results, pairs), 6).startswith("Our small setting agrees only in part")
    m = gt.differences(results, pairs)
    assert m["swiglu_minus_silu_digits"].value == pytest.approx(-0.1) and m["swiglu_minus_silu_digits"].n == 6
    box = lb.folklore_box(gt.verdicts(results, pairs), "Gated against plain")
    assert box.startswith(":::{admonition} Gated against plain\n:class: claim") and box.count("\n- *") == 3


def test_agreement_says_each_case_plainly():
    worse = {"swiglu": 0.3, "silu": 0.2}
    items = gt.verdicts([result(TASKS["digits"], worse, 4)], [("swiglu", "silu")])
    assert items[0][1].outcome == FAILS and gt.agreement(items, 4).startswith("Our small setting does not agree")
    same = {"swiglu": 0.2, "silu": 0.2 + np.array([-0.01, 0.01, -0.02, 0.02])}
    items = gt.verdicts([result(TASKS["digits"], same, 4)], [("swiglu", "silu")])
    assert gt.agreement(items, 4).startswith("Our small setting can neither confirm nor contradict")
    assert gt.agreement([], 4).startswith("No comparison")


def test_shazeers_table_is_cited_beside_ours():
    from actlab import literature

    assert literature.get("shazeer_logppl_swiglu_524k").value == 1.636
    assert literature.get("shazeer_logppl_swish_65k").key == "shazeer2020"
    assert gt.shazeer_better(gt.PAIRS)  # in his Table 1 every gated variant beats its plain counterpart
    errs = {"swiglu": 0.1, "silu": 0.2, "geglu": 0.1, "gelu": 0.2, "reglu": 0.1, "relu": 0.2}
    results = [result(TASKS["digits"], errs, 3)]
    items = gt.verdicts(results, gt.PAIRS)
    table = gt.shazeer_table(items, gt.differences(results, gt.PAIRS), results)
    assert "*1.683* → *1.636*" in table and "*1.994* (*0.003*)" in table and "ours, digits, MLP 64" in table


def test_settings_name_their_data_and_depth():
    s = gt.settings(depth=2)
    assert s["mnist1d"].data == "mnist1d" and s["digits"].data == "digits"
    assert s["mnist1d"].widths == (128, 128) and s["mnist1d"].title == "MNIST-1D, MLP 128-128"


def test_gates_are_those_of_the_comparisons_glu_networks_and_learn_to_switch():
    task = lb.Task("digits", "digits, MLP 64", (64,), (0.03,), epochs=3)
    before, after, err = gt.gate_values(task, 2, 0.03)
    assert before.shape == after.shape == (2, 359 * 34)  # test digits x matched GLU width
    assert ((0 <= before) & (before <= 1)).all()
    r = lb.run_task(task, ["glu", "relu"], 2)
    assert np.allclose(err, r.test[0, :, 0])  # the same networks as the comparison's GLU row
    share0, share1 = gt.switch_share(before), gt.switch_share(after)
    assert (share0 < 0.1).all() and (share1 > share0).all()
    assert gt.switch_share(np.array([[0.01, 0.5, 0.97, 0.95]])).tolist() == [0.5]


def test_lecun_constants_measured():
    assert gt.gaussian_mean(lambda z: z ** 2) == pytest.approx(1) and gt.gaussian_mean(lambda z: z ** 4) == pytest.approx(3)
    assert gt.output_variance("identity", 2.0) == pytest.approx(4.0)
    assert gt.unit_at_one_scale() == pytest.approx(1.7159, abs=1e-4)  # f(1) = 1 fixes the scale
    v_tanh, v_lecun = gt.output_variance("tanh"), gt.output_variance("lecun_tanh")
    assert 0.39 < v_tanh < 0.40 and 0.74 < v_lecun < 0.76  # more than tanh's, less than 1
    assert gt.unit_variance_scale() ** 2 * v_lecun / 1.7159 ** 2 == pytest.approx(1.0)
    assert gt.curvature_peak() == pytest.approx(math.atanh(1 / math.sqrt(3)) * 1.5, abs=1e-4)  # near, not at, 1
    assert gt.mean_slope("identity") == pytest.approx(1.0) and gt.mean_slope("tanh") < gt.mean_slope("lecun_tanh") < 1


def test_the_variance_map_and_its_fixed_point():
    q_tanh, q_lecun = gt.variance_map("tanh", 30), gt.variance_map("lecun_tanh", 30)
    assert q_tanh[0] == q_lecun[0] == 1.0 and (np.diff(q_tanh) < 0).all() and q_tanh[-1] < 0.03
    q_star = gt.fixed_point("lecun_tanh")
    assert 0.3 < q_star < 0.5 and q_lecun[-1] == pytest.approx(q_star, rel=0.02)
    assert math.isnan(gt.fixed_point("tanh"))  # slope 1 at 0: only q = 0
    measured = gt.measured_variances(["tanh", "lecun_tanh"], 6, 128, 2)
    assert measured.shape == (2, 2, 6)
    assert np.allclose(measured[:, :, -1], [[q_tanh[5]], [q_lecun[5]]], rtol=0.15)


def test_figures_render():
    errs = {"relu": 0.2, "reglu": 0.1, "glu": [0.1, np.inf, 0.2]}
    img = gt.comparison_figure([result(TASKS["digits"], errs, 3), result(TASKS["mnist1d"], errs, 3)])
    assert img.data[:8] == b"\x89PNG\r\n\x1a\n"
    rng = np.random.default_rng(0)
    q = {a: gt.variance_map(a, 5) for a in ("tanh", "lecun_tanh")}
    img = gt.gate_and_variance_figure(rng.random((2, 50)), rng.random((2, 50)), q,
                                      np.ones((2, 2, 5)), ["tanh", "lecun_tanh"])
    assert img.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_gate_experiment_takes_the_rate_the_comparison_chose():
    t = TASKS["digits"]
    r = lb.TaskResult(t, ["glu"], [0.01, 0.1], np.array([[[0.3, 0.1]]]), np.array([[[0.31, 0.12]]]),
                      np.zeros((1, 1, 2), bool))
    lr, err = gt.glu_rate([r], t)
    assert lr == 0.1 and err.tolist() == [0.12]
    assert gt.glu_rate([], t) == (0.01, None)


def test_shazeer_sentence_and_direction_are_computed():
    from actlab.verdicts import Measure

    assert gt.shazeer_text(gt.PAIRS).endswith("by more than either one's run-to-run spread.")
    assert gt.shazeer_text([]).startswith("No pair")
    assert gt.direction(Measure(0.1, 0.05, 0.2)) == "rose" and gt.direction(Measure(-0.1, -0.2, -0.05)) == "fell"
    assert gt.direction(Measure(0.1, -0.05, 0.2)) == "did not change decisively"
