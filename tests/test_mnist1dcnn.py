"""The MNIST-1D chapter's experiment helpers, and the generalisations of the digits machinery
they rest on (network and optimiser in the speed sweep, conv channels as dead units, per-layer
updates): small, seconds in all."""
import numpy as np
import pytest
import torch

from actlab import convergence, gradients, mnist1dcnn, mnist1dsweeps, speedsweeps
from actlab import deadunits as du
from actlab.ensemble import Ensemble, Member, mnist1d_cnn


def _signals(n=96, length=40, seed=0):
    """Random signals whose class is where their bump sits: something a CNN can learn quickly."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = 0.1 * torch.randn(n, length, generator=g)
    x[torch.arange(n), (2 + 3 * y) % length] += 3.0
    return x, y


def test_speed_sweep_takes_a_cnn_and_adam_and_keeps_what_inspect_returns():
    x, y = _signals()
    seen = []
    sw = convergence.run(["relu", "tanh"], [3], [0.01, 0.03], 2, x, y, epochs=2, batch_size=32, target=0.8,
                         eval_every=1, network=mnist1dsweeps.cnn(channels=4), optimizer="adam",
                         inspect=lambda ens: seen.append(ens) or np.arange(len(ens))[:, None] * np.ones((1, 3)))
    assert all(m.conv == (4, 4, 4) for m in seen[0].members)  # the factory's CNN, not an MLP
    assert sw.inspected[("relu", 3, 0.03)].shape == (2, 3)  # (seeds, what inspect returned per member)
    # one ensemble per seed, its members in the order activation, depth, rate: relu's second rate is
    # member 1 of each seed's ensemble
    assert sw.inspected[("relu", 3, 0.03)][:, 0].tolist() == [1.0, 1.0]


def test_tuned_from_sweep_follows_the_tuning_rule_on_a_batched_sweep():
    x, y = _signals()
    sw = convergence.run(["relu", "sigmoid"], [3], [0.01, 0.03], 2, x, y, epochs=2, batch_size=32, target=0.5,
                         eval_every=1, network=mnist1dsweeps.cnn(channels=4), tune_rounds=1, held_out=(x[:48], y[:48]))
    t = convergence.tuned_from_sweep(sw, [0.01, 0.03])
    for a, act in enumerate(sw.activations):
        tuned = t.tuned[act]
        assert tuned.lrs == tuple(lr for j, lr in enumerate(sw.lrs) if sw.trained[a, 0, j])  # only the rates it ran at
        assert tuned.rounds == len(tuned.lrs) - 2 and set(t.runs[act]) == set(tuned.lrs)
        if tuned.best is not None:  # the fewest median epochs to the training target, among its own rates
            med = np.median(np.where(np.isnan(tuned.scores), np.inf, tuned.scores), 0)
            assert med[tuned.best] == med.min() and (t.train[act] == t.runs[act][tuned.lr].to_target).all()
        else:
            assert np.isinf(t.train[act]).all() and t.at_tuned(act) is None
    assert t.eval_epochs[-1] == t.epochs == 2


def test_a_conv_channel_is_dead_only_when_off_at_every_position_and_chunks_agree():
    ens = Ensemble([mnist1d_cnn("relu", seed=s, channels=6) for s in range(2)], 40, 10, dtype=torch.float64)
    blk = ens.single_block()
    with torch.no_grad():
        blk.weights[0][0, :, 2] = 0.0    # member 0, first layer, channel 2: constant pre-activation ...
        blk.biases[0][0, 0, 2] = -1.0    # ... below zero everywhere: dead
        blk.weights[0][1, :, 3] = 0.0    # member 1, channel 3: the same but positive: alive
        blk.biases[0][1, 0, 3] = 1.0
    x, _ = _signals(64)
    masks = du.dead_mask(ens, x.double())
    assert [m.shape for m in masks] == [(2, 6)] * 3  # one entry per channel, not per position
    assert masks[0][0, 2] and not masks[0][1, 3]
    chunked = du.dead_mask(ens, x.double(), chunk=10)
    assert all((a == b).all() for a, b in zip(masks, chunked, strict=True))


def test_layer_updates_sgd_moves_by_the_gradient_and_adam_by_the_rate():
    """First step, full batch: SGD's update of each layer is lr x its gradient (momentum starts at
    zero); Adam's moves every weight by lr, so a layer's update is lr x sqrt(its weights)."""
    x, y = _signals(64, length=12)
    widths = (8, 8, 8)
    for opt, lr in (("sgd", 0.1), ("adam", 0.01)):
        ens = Ensemble([Member("tanh", widths, seed=s, lr=lr) for s in range(2)], 12, 10, dtype=torch.float64)
        u = gradients.layer_updates(ens, x.double(), y, steps=3, optimizer=opt, momentum=0.9, batch_size=None)
        assert u.update.shape == (3, 2, 4) and u.grad_init.shape == u.grad_end.shape == u.weight.shape == (2, 4)
        if opt == "sgd":
            assert u.update[0] == pytest.approx(lr * u.grad_init, rel=1e-9)
        else:
            n = np.array([12 * 8, 8 * 8, 8 * 8, 8 * 10])
            assert u.update[0] == pytest.approx(lr * np.sqrt(n)[None, :].repeat(2, 0), rel=1e-4)
            assert u.first_over_last("update", steps=slice(0, 1)) == pytest.approx(np.sqrt(96 / 64), rel=1e-4)
        assert u.first_over_last("grad_init") == pytest.approx(u.grad_init[:, 0] / u.grad_init[:, 2])


def test_shown_rate_dead_share_and_tables():
    x, y = _signals()
    sp = mnist1dsweeps.speed(["relu", "sigmoid"], [0.01, 0.03], 2, x, y, (x[:48], y[:48]), epochs=2, target=0.05,
                          tune_rounds=0, eval_every=1, eval_examples=96, batch_size=32, channels=4)
    lr, tuned = mnist1dcnn.shown_rate(sp, "sigmoid")
    if not tuned:  # no rate reached the target: the lowest median final training error stands for it
        errs = {r: np.median(sp.runs["sigmoid"][r].error[:, -1]) for r in sp.runs["sigmoid"]}
        assert errs[lr] == min(errs.values())
    d = mnist1dcnn.dead_share(sp.runs["relu"][0.03])
    assert d.shape == (2,) and ((0 <= d) & (d <= 1)).all()
    rows = mnist1dcnn.dead_rows({"SGD": sp})
    assert len(rows) == 2 and all(len(r) == 6 for r in rows)
    step = {a: np.array([1e-3, 1.1e-3]) for a in ("relu", "sigmoid")}
    speed_rows = mnist1dcnn.speed_rows(sp, step, steps_per_epoch=3)
    assert [r[0] for r in speed_rows] == ["ReLU", "sigmoid"] and all(len(r) == 8 for r in speed_rows)


def test_step_times_are_positive_per_round():
    x, y = _signals(64)
    t = mnist1dcnn.step_times(["relu", "tanh"], x, y, repeats=2, calls=2, inner=1, channels=4)
    assert set(t) == {"relu", "tanh"} and all(v.shape == (2,) and (v > 0).all() for v in t.values())


def _png_ok(img):
    import re
    import struct

    from actlab import plotting

    width_px = struct.unpack(">I", img.data[16:20])[0]
    assert width_px <= 2 * plotting.DISPLAY_DPI * (plotting.MAX_WIDTH_IN + 2 * plotting.PAD_IN) + 2
    assert float(re.search(rb"min-font-pt=([0-9.]+)", img.data).group(1)) >= plotting.FONT_FLOOR_PT


def test_figures_draw_at_the_books_sizes():
    x, y = _signals()
    _png_ok(mnist1dcnn.signals_figure(x, y, 3))
    sp = mnist1dsweeps.speed(["relu", "tanh"], [0.01, 0.03], 2, x, y, (x[:48], y[:48]), epochs=1, target=0.5,
                          tune_rounds=0, eval_every=1, eval_examples=96, batch_size=32, channels=4)
    _png_ok(mnist1dcnn.error_curves(sp, 0.5))
    up = mnist1dcnn.deep_updates(["sigmoid", "relu"], 3, 8, 2, x, y, steps=3, rates={"sgd": 0.01, "adam": 1e-3})
    _png_ok(mnist1dcnn.update_figure(up, ["sigmoid", "relu"], 2, 3))
    assert len(mnist1dcnn.deep_rows(up, ["sigmoid", "relu"], 2, 3)) == 2


def test_a_speed_sweep_round_trips_through_stored_data_bit_for_bit():
    """The evidence cell mnist1d-speed stores sweeps as plain lists; reading one back gives the same
    arrays (dtypes too), the same runs never trained, and the same tuned speeds."""
    from actlab import evidence as ev

    x, y = _signals()
    sw = convergence.run(["relu", "sigmoid"], [3], [0.01, 0.03], 2, x, y, epochs=2, batch_size=32, target=0.5,
                         eval_every=1, network=mnist1dsweeps.cnn(channels=4), tune_rounds=1, held_out=(x[:48], y[:48]),
                         inspect=mnist1dsweeps.dead_channels(x), dtype=torch.float32)
    if sw.trained.all():  # make one run a blank, as tuning leaves a rate another activation needed
        sw.trained[1, 0, -1], sw.error[1, 0, -1], sw.error_test[1, 0, -1], sw.loss[1, 0, -1] = False, 1.0, 1.0, np.nan
        del sw.inspected[("sigmoid", 3, sw.lrs[-1])]
    back = speedsweeps.speed_sweep_from(ev.loads(ev.dumps(speedsweeps.speed_sweep_data(sw))))
    for f in ("error", "error_test", "loss", "trained", "eval_epochs"):
        a, b = getattr(sw, f), getattr(back, f)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    assert (back.activations, back.depths, back.lrs, back.seeds, back.target) == \
           (sw.activations, sw.depths, sw.lrs, sw.seeds, sw.target)
    assert sw.inspected.keys() == back.inspected.keys()
    assert all(np.array_equal(sw.inspected[k], back.inspected[k]) for k in sw.inspected)
    t, t2 = convergence.tuned_from_sweep(sw, [0.01, 0.03]), convergence.tuned_from_sweep(back, [0.01, 0.03])
    for act in sw.activations:
        assert t.tuned[act].lrs == t2.tuned[act].lrs and t.tuned[act].best == t2.tuned[act].best
        assert np.array_equal(t.train[act], t2.train[act]) and np.array_equal(t.test[act], t2.test[act])


def test_a_spot_block_is_the_part_of_the_stored_data_it_recomputes():
    data = {"sgd": {"runs": [1]}, "adam": {"runs": [2]}, "mlp": {"runs": [3]}, "he": {"runs": [4]}}
    assert mnist1dsweeps.speed_parts(data, ["adam"]) == {"adam": {"runs": [2]}}
    assert set(mnist1dsweeps.PARTS) == set(data)
