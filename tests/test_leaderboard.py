"""The practical guide's leaderboard: ranking, intervals, failures and the advice drawn from them."""
import math

import numpy as np
import pytest
import torch

from actlab import leaderboard as lb
from actlab.verdicts import DISCUSSED, FAILS, HOLDS, UNDECIDED

ACTS = ["relu", "leaky_relu", "tanh", "sigmoid", "maxout", "elu"]


def errors(order: list[str], tasks: int = 3, seeds: int = 6, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(tasks, activations of ACTS, seeds) errors where ``order`` is best-first on every task."""
    rng = np.random.default_rng(seed)
    base = np.array([order.index(a) for a in ACTS], float)
    return 0.1 + 0.01 * base[None, :, None] + noise * rng.standard_normal((tasks, len(ACTS), seeds))


def test_ranks_put_failures_last_and_share_ties():
    err = np.array([[[0.1], [np.inf], [0.1], [np.nan]]])
    assert lb.ranks(err)[0, :, 0].tolist() == [1.5, 3.5, 1.5, 3.5]


def test_a_consistent_order_is_decided_and_the_advice_follows_the_data():
    order = ["sigmoid", "tanh", "elu", "maxout", "leaky_relu", "relu"]
    r = lb.rank(errors(order), ACTS)
    assert r.order() == order
    m = r.measure("sigmoid")
    assert m.value == m.lo == m.hi == 1.0  # first on every task and seed: no spread to resample
    assert r.decisively("sigmoid", "relu") == "better" and r.decisively("relu", "sigmoid") == "worse"
    adv = lb.advice(r, np.zeros((3, len(ACTS))), ["a", "b", "c"])
    assert adv.best == "sigmoid" and adv.top == ["sigmoid"]
    assert set(adv.avoid) == {"maxout", "leaky_relu", "relu"}  # decisively worse and in the worse half
    # the same rules on other data give other advice
    adv2 = lb.advice(lb.rank(errors(order[::-1]), ACTS), np.zeros((3, len(ACTS))), ["a", "b", "c"])
    assert adv2.best == "relu"
    assert "Start with ReLU" in lb.advice_markdown(adv2, lb.rank(errors(order[::-1]), ACTS))


def test_noise_leaves_close_functions_tied():
    r = lb.rank(errors(ACTS, noise=1.0, seeds=4), ACTS)
    assert any(r.decisively(a, "relu") == "tied" for a in ACTS if a != "relu")
    for a in ACTS:
        m = r.measure(a)
        assert 1 <= m.lo <= m.value <= m.hi <= len(ACTS)
    adv = lb.advice(r, np.zeros((1, len(ACTS))), ["a"])
    if len(adv.top) > 1:  # a tie is recommended as a group, not as its best-ranked member
        assert "Start with one of " in lb.advice_markdown(adv, r)


def test_fragile_names_the_task():
    r = lb.rank(errors(ACTS), ACTS)
    share = np.zeros((2, len(ACTS)))
    share[1, ACTS.index("sigmoid")] = 0.5
    assert lb.advice(r, share, ["shallow", "deep"]).fragile == {"sigmoid": ["deep"]}


def board_of(err: np.ndarray) -> lb.Board:
    """A board whose tasks have one learning rate and test (= validation) errors ``err`` (T, A, S)."""
    out = []
    for t, e in enumerate(err):
        task = lb.Task(f"t{t}", f"task {t}", (8,), (0.01,))
        out.append(lb.TaskResult(task, ACTS, [0.01], e[..., None], e[..., None], ~np.isfinite(e[..., None])))
    return lb.Board(out)


def folk(err: np.ndarray) -> dict:
    return {v.claim: v for _, v in lb.folklore(board_of(err), lb.rank(err, ACTS), "test")}


def test_folklore_verdicts_follow_the_ranking():
    order = ["relu", "maxout", "leaky_relu", "elu", "tanh", "sigmoid"]
    items = folk(errors(order))
    assert items["relu-default"].outcome == HOLDS
    assert items["never-sigmoid"].outcome == HOLDS
    assert items["tanh-worse"].outcome == HOLDS
    assert items["variants"].outcome == FAILS  # every variant ranks decisively worse than ReLU
    assert items["careful"].outcome == DISCUSSED
    noisy = folk(errors(ACTS, noise=1.0, seeds=3))
    assert UNDECIDED in {v.outcome for v in noisy.values()}
    box = lb.folklore_box(lb.folklore(board_of(errors(order)), lb.rank(errors(order), ACTS), "test"))
    assert box.startswith(":::{admonition}") and box.count("\n- *") == 5


@pytest.mark.parametrize("gap, outcome", [(0.003, HOLDS), (0.02, FAILS)])
def test_use_relu_means_within_delta_of_the_best_not_the_best(gap, outcome):
    """ReLU last on every task and seed, by ``gap`` behind the best: a default need only be close."""
    err = np.full((2, len(ACTS), 8), 0.1)
    err[:, ACTS.index("relu")] += gap
    err += 1e-4 * np.random.default_rng(0).standard_normal(err.shape)
    v = folk(err)["relu-default"]
    assert v.outcome == outcome and len(v.parts) == 2  # one rule per task
    assert lb.DELTA == 0.005  # half a point, fixed before the numbers


def test_a_failed_relu_run_counts_as_error_one():
    err = np.full((1, len(ACTS), 6), 0.09)
    err[0, ACTS.index("relu")] = [np.inf] + [0.1] * 5
    m = lb.excess_over_best(board_of(err), "relu")["t0"]
    assert m.value == pytest.approx((0.91 + 5 * 0.01) / 6)


@pytest.fixture(scope="module")
def small_board():
    tasks = lb.tasks(digits_lrs=[0.01, 30.0], deep_lrs=[0.001, 0.003], regression_lrs=[0.01, 0.03], cnn_lrs=[0.001, 0.003],
                     deep_depth=3, epochs=1, deep_epochs=1, regression_steps=50, cnn_channels=4, cnn_epochs=1,
                     cnn_train=300)
    return lb.run_board([tasks["digits"], tasks["regression"], tasks["cnn"]], ["relu", "tanh", "maxout"], 2, time_steps=1)


def test_a_diverging_rate_fails_and_is_never_chosen(small_board):
    digits = small_board.results[0]
    assert digits.failed[:, :, 1].all()   # lr 30 with Adam: diverged or dead on every seed
    assert not digits.failed[:, :, 0].any()
    idx, interior = digits.chosen()
    assert (idx == 0).all() and not interior.any()
    assert np.isfinite(digits.tuned_test()).all()
    assert small_board.fail_share()[0].tolist() == [0.5, 0.5, 0.5]
    assert ("digits, MLP 64", "relu") in [(t, a) for t, a, _side in small_board.edge_sides()]
    assert ("digits, MLP 64", "relu", "smallest") in small_board.edge_sides()


def test_errors_are_the_measured_error_rate(small_board):
    for r in small_board.results:
        assert r.test.shape == (3, 2, 2)
        assert (0 <= r.test[np.isfinite(r.test)]).all()
    assert (small_board.results[0].test[:, :, 0] < 0.9).all()  # better than chance after an epoch


def test_step_times_and_their_table(small_board):
    import re

    assert small_board.step_time.shape == (3, 3, 5) and (small_board.step_time > 0).all()  # tasks, functions, rounds
    from actlab import guide

    table = guide.step_time_table(small_board, small_board.ranking())
    names = [line.strip("| ").split(" | ")[0] for line in table.splitlines()[2:]]
    assert names == [lb.names_text([a]) for a in small_board.ranking().order() if a != "relu"]  # ReLU's row: 1
    for line in table.splitlines()[2:]:
        for cell in line.strip("| ").split(" | ")[1:]:
            cell = re.sub(r"<[^>]+>", "", cell)
            lo, hi = (float(v) for v in cell.split("(")[1].rstrip(")").split("–"))
            assert lo <= hi and (lo <= 1 <= hi if cell.startswith("≈ 1") else lo >= 1 or hi <= 1)
            if not cell.startswith("≈ 1"):  # the median lies in the range it is printed beside
                assert lo <= float(cell.split(" (")[0]) <= hi
    text = lb.profile_text(small_board, "relu")
    assert "of 3 on digits, MLP 64 (50% of the runs of its learning-rate grid failed)" in text and "on 1-D regression" in text
    assert np.isfinite(small_board.ranking().mean).all()


def test_layers_with_two_maps_per_unit_get_the_same_parameter_count(small_board):
    from actlab.ensemble import Ensemble

    cnn = small_board.results[2].task
    counts = {a: Ensemble([lb.member(cnn, a, 40, 10)], 40, 10).parameter_counts()[0] for a in ("relu", "maxout", "swiglu")}
    assert lb.matched_channels("maxout", 25, 40, 10) < 25
    assert abs(counts["maxout"] - counts["relu"]) < 0.1 * counts["relu"]
    assert abs(counts["swiglu"] - counts["relu"]) < 0.1 * counts["relu"]
    d = lb.task_data(cnn)
    assert len(d["train"][1]) + len(d["val"][1]) == 300 and len(d["test"][1]) == 1000


def test_constant_loss_is_the_chance_level():
    import torch

    y = torch.arange(10).repeat(5)
    assert lb.constant_loss(lb.Task("t", "t", (4,), (0.1,)), y) == pytest.approx(math.log(10))
    yr = torch.tensor([[0.0], [2.0]])
    assert lb.constant_loss(lb.Task("t", "t", (4,), (0.1,), loss="mse"), yr) == pytest.approx(1.0)


def test_error_table_gives_each_median_with_its_interval(small_board):
    table = lb.error_table(small_board, small_board.ranking())
    rows = table.splitlines()
    assert len(rows) == 2 + 3 and rows[0].count("|") == 5  # header, rule, three functions; four columns
    tuned = small_board.tuned_test()
    for row in rows[2:]:
        name, digits, curve, cnn = [c.strip() for c in row.strip("|").split("|")]
        a = [lb.names_text([x]) for x in small_board.activations].index(name)
        spread = [np.ptp(tuned[t, a]) > 0 for t in (0, 1)]  # two seeds that agree have no interval to show
        assert ("[" in digits) == spread[0] and digits.endswith("%]" if spread[0] else "%")
        assert ("[" in curve) == spread[1]
        assert cnn == "failed"  # 4 channels, one epoch of 240 signals: no run gets below chance


def test_a_task_names_its_data_and_mnist1d_splits_like_digits():
    import torch

    with pytest.raises(ValueError, match="data must be one of digits, mnist1d"):
        lb.Task("t", "t", (4,), (0.1,), data="cifar")
    assert lb.Task("t", "t", (4,), (0.1,)).data == "digits"  # the default: the guide's tasks are unchanged
    d = lb.task_data(lb.Task("m", "MNIST-1D", (8,), (0.01,), data="mnist1d"))
    (xt, yt), (_, yv), (_, ys) = d["train"], d["val"], d["test"]
    assert d["n_in"] == 40 and d["n_out"] == 10 and xt.dtype == torch.float32
    assert (len(yt), len(yv), len(ys)) == (3200, 800, 1000)  # a fixed fifth of the 4000 held out
    assert set(yt.tolist()) == set(range(10))
    r = lb.run_task(lb.Task("m", "MNIST-1D", (8,), (0.01,), epochs=1, batch_size=256, data="mnist1d"), ["relu"], 1)
    assert r.test.shape == (1, 1, 1) and r.test[0, 0, 0] < 0.9  # learned something in one epoch


def test_the_claim_box_takes_a_title():
    order = ["relu", "maxout", "leaky_relu", "elu", "tanh", "sigmoid"]
    items = lb.folklore(board_of(errors(order)), lb.rank(errors(order), ACTS), "test")
    assert lb.folklore_box(items).startswith(":::{admonition} What the folklore says, and our verdict\n")
    assert lb.folklore_box(items, "Other claims").startswith(":::{admonition} Other claims\n:class: claim\n\n- *")


def test_a_task_where_every_run_failed_is_left_out_of_the_ranking(small_board):
    cnn = 2  # 4 channels, one epoch of 240 signals: no run learns
    assert small_board.results[cnn].failed.all() and small_board.informative() == [0, 1]
    assert small_board.ranking().n_tasks == 2
    assert "MNIST-1D, CNN 4" in lb.uninformative_text(small_board)
    assert small_board.n_choices() == 2 * 3  # the CNN's pairs learned nothing: not choices at all
    assert 0 < small_board.best_accuracy(cnn) < 1  # failed runs still have a finite error rate
    assert small_board.best_accuracy(0) == pytest.approx(1 - np.min(np.median(small_board.results[0].test[:, :, 0], 1)))


def test_failure_counts_are_per_task_grid():
    from types import SimpleNamespace

    # tasks with grids of different sizes: 2 rates x 3 seeds, and 3 rates x 3 seeds
    a = np.zeros((2, 3, 2), bool)
    a[0, :, 1] = True
    b = np.zeros((2, 3, 3), bool)
    b[1, :2, :] = True
    fake = SimpleNamespace(results=[SimpleNamespace(failed=a), SimpleNamespace(failed=b)])
    counts, runs = lb.Board.fail_counts(fake)
    assert counts.tolist() == [[3, 0], [0, 6]] and runs.tolist() == [6, 9]


def test_comparisons_with_the_best_are_joint():
    """Each function is compared with the best-ranked one: those A - 1 intervals are Bonferroni's, wider
    than one comparison's, so a marginal difference that one interval would call decisive is a tie."""
    r = lb.rank(errors(ACTS, noise=0.02, seeds=8), ACTS)
    one, joint = r.difference("tanh", "relu"), r.difference("tanh", "relu", family=len(ACTS) - 1)
    assert joint.lo <= one.lo and joint.hi >= one.hi and (joint.lo, joint.hi) != (one.lo, one.hi)
    assert f"joint over {len(ACTS) - 1} comparisons" in joint.method and "joint" not in one.method
    worse = lambda m: m.lo > 0  # noqa: E731
    assert r.decisively("tanh", "relu") == ("worse" if worse(joint) else "tied" if joint.hi >= 0 else "better")


def test_failed_runs_are_told_apart_by_their_learning_curves(small_board):
    """Diverged (a non-finite loss), still learning (the loss fell over the last quarter of the run)
    and never learned (flat) are separate kinds; the runs that learned have none."""
    task = small_board.results[0]
    curve = np.ones((1, 1, 4, 8))
    curve[0, 0, 0, -1] = np.inf                   # diverged
    curve[0, 0, 1] = np.linspace(1.0, 0.9, 8)     # still falling at the end
    curve[0, 0, 3] = np.linspace(1.0, 0.5, 8)     # falling, but it learned: not a failure
    failed = np.array([True, True, True, False]).reshape(1, 1, 4)
    r = lb.TaskResult(task.task, ["relu"], [0.1, 0.2, 0.3, 0.4], np.zeros((1, 1, 4)), np.zeros((1, 1, 4)), failed, curve)
    assert r.failure_kinds()[0, 0].tolist() == [lb.DIVERGED, lb.STILL_LEARNING, lb.NEVER_LEARNED, ""]
    assert lb.failures_text(np.array([1, 1, 1]), 4) == "3 of 4 runs: 1 diverged, 1 never learned, 1 still learning"
    # the small board's digits grid at lr 30 failed on every seed, each run of one kind
    counts = small_board.failure_counts()
    assert (counts.sum(-1) == small_board.fail_counts()[0]).all()
    assert "of 4 runs" in lb.failure_table(small_board, small_board.ranking())
    ranking = small_board.ranking()
    adv = lb.advice(ranking, small_board.fail_share(), small_board.titles)
    assert adv.fragile and "of 4 runs: " in lb.advice_markdown(adv, ranking, board=small_board)


def test_the_modern_task_is_the_deep_one_with_layer_norm_and_skips():
    t = lb.tasks(digits_lrs=[0.01], deep_lrs=[0.01], modern_lrs=[0.01], regression_lrs=[0.01], cnn_lrs=[0.01],
                 deep_depth=4, deep_epochs=1, modern_epochs=1)
    deep, modern = t["deep"], t["modern"]
    assert modern.widths == deep.widths and modern.batch_size == deep.batch_size and modern.modern and not deep.modern
    m = lb.member(modern, "relu", 64, 10, seed=0, lr=0.01)
    blk = modern.ensemble([m], 64, 10, torch.float32).blocks[0]
    assert blk.layer_norm and blk.residual and not deep.ensemble([m], 64, 10, torch.float32).blocks[0].residual
    r = lb.run_task(modern, ["relu", "swiglu"], 1)
    assert r.test.shape == (2, 1, 1) and np.isfinite(r.test).all()
    with pytest.raises(ValueError, match="for MLPs"):
        lb.Task("x", "x", (4,), (0.01,), data="mnist1d", conv=True, modern=True)


def test_the_board_table_lists_every_function_in_rank_order_with_its_numbers(small_board):
    import re

    from actlab import guide

    ranking = small_board.ranking()
    table = guide.board_table(small_board, ranking)
    lines = table.splitlines()
    assert lines[0].rstrip(" |").split(" | ")[3:] == small_board.titles
    names = [line.split(" | ")[0].lstrip("| ") for line in lines[2:]]
    assert names == [lb.names_text([a]) for a in ranking.order()]
    med, within = small_board.medians()
    j = small_board.activations.index(ranking.order()[0])
    first = re.findall(r'data-sort="([^"]+)"', lines[2])
    assert float(first[0]) == pytest.approx(ranking.measure(ranking.order()[0]).value, rel=1e-5)
    assert float(first[1]) == 0  # the best function's difference from itself
    second = re.findall(r'data-sort="([^"]+)"', lines[3])
    d = ranking.difference(ranking.order()[1], ranking.order()[0], family=len(ranking.order()) - 1)
    assert float(second[1]) == pytest.approx(d.value, rel=1e-5)
    for t in range(len(small_board.results)):  # each task's median error, its rank printed beside it
        want = med[t, j] if np.isfinite(med[t, j]) else 1e9
        assert float(first[t + 2]) == pytest.approx(want, rel=1e-5)
        assert f"rank of median: {within[t, j]:g}" in lines[2].split(" | ")[t + 3]


def test_each_classifier_keeps_which_test_examples_it_got_wrong(small_board):
    digits, regression = small_board.results[0], small_board.results[1]
    assert regression.test_wrong is None  # a fixed grid of points, not a sample: nothing to resample
    assert np.array_equal(digits.test_wrong.mean(-1), digits.test)  # the error is the share it got wrong
    assert np.array_equal(digits.half["test_wrong"].mean(-1), digits.half["test"])
    back = lb.TaskResult.from_data(digits.to_data())
    assert np.array_equal(back.test_wrong, digits.test_wrong) and back.test_wrong.dtype == bool


def test_a_resampled_test_set_changes_every_function_alike_and_the_identity_draw_changes_nothing(small_board):
    digits = small_board.results[0]
    n = digits.test_wrong.shape[-1]
    same, only_first = np.ones((1, n)), np.zeros((1, n))
    only_first[0, 0] = n  # every draw the first example: each run's error is 0 or 1
    assert np.allclose(digits.test_draws(same)[0], digits.tuned_test())
    err = digits.test_draws(only_first)[0]
    ok = np.isfinite(digits.tuned_test())
    assert set(np.unique(err[ok])) <= {0.0, 1.0}
    draws = small_board.test_draws(n=50)
    assert draws.shape == (50, 3, 3, 2)
    assert np.array_equal(draws[:, 1], np.broadcast_to(small_board.results[1].tuned_test(), (50, 3, 2)))


def test_intervals_widen_to_the_test_sets_uncertainty_and_never_narrow():
    rng = np.random.default_rng(0)
    wrong = rng.random((3, 4, 1, 200)) < np.array([0.1, 0.12, 0.3])[:, None, None, None]
    task = lb.Task("t", "t", (4,), (0.01,))
    r = lb.TaskResult(task, ["relu", "tanh", "sigmoid"], [0.01], np.zeros((3, 4, 1)), wrong.mean(-1),
                      np.zeros((3, 4, 1), bool), test_wrong=wrong)
    board = lb.Board([r])
    with_test = board.ranking()
    seeds_only = lb.rank(board.tuned_test(), board.activations)
    for a in board.activations:
        w, s = with_test.measure(a), seeds_only.measure(a)
        assert w.lo <= s.lo and w.hi >= s.hi and w.value == s.value
    d = with_test.difference("tanh", "relu")
    assert d.hi - d.lo > seeds_only.difference("tanh", "relu").hi - seeds_only.difference("tanh", "relu").lo
    assert "resampling the test examples" in d.method


def test_tasks_scored_on_the_same_test_set_share_each_draw():
    rng = np.random.default_rng(1)
    wrong = rng.random((2, 3, 1, 50)) < 0.3
    results = [lb.TaskResult(lb.Task(name, name, (4,), (0.01,)), ["relu", "tanh"], [0.01], np.zeros((2, 3, 1)),
                             wrong.mean(-1), np.zeros((2, 3, 1), bool), test_wrong=wrong) for name in ("a", "b")]
    draws = lb.Board(results).test_draws(n=20)
    assert np.array_equal(draws[:, 0], draws[:, 1])  # the same images, the same draw
    other = lb.TaskResult(lb.Task("c", "c", (4,), (0.01,), data="mnist1d"), ["relu", "tanh"], [0.01],
                          np.zeros((2, 3, 1)), wrong.mean(-1), np.zeros((2, 3, 1), bool), test_wrong=wrong)
    draws = lb.Board([results[0], other]).test_draws(n=20)
    assert not np.array_equal(draws[:, 0], draws[:, 1])  # another data set, its own draw
