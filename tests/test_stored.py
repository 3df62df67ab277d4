"""The ReLU, variants and vanishing-gradients chapters' evidence cells at tiny sizes: their data
reads back as the objects the chapters used to compute live, bit for bit, and each spot block
(a part of the cell computed alone) equals the part cut from the whole."""
import numpy as np

from actlab import evidence as ev
from actlab import speedsweeps as ss


def as_stored(data):
    return ev.loads(ev.dumps(data))  # what a reader of the file gets


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def test_relu_speed_reads_back_and_a_block_is_its_part():
    import actlab
    from actlab import convergence, data

    p = dict(speed_lrs=[0.1, 0.3], speed_seeds=2, speed_depth=2, speed_target=0.5, speed_epochs=1)
    stored = as_stored(ss.relu_speed_data(**p))
    back = ss.tuned_speed_from(stored)
    actlab.deterministic(0)
    X, y = data.digits("train")
    ref = convergence.tuned_speed(list(ss.RELU_RACE), p["speed_lrs"], 2, X, y, data.digits("test"), depth=2,
                                  epochs=1, target=0.5, init=ss.RELU_RACE_INIT, evals_per_epoch=23, eval_examples=400)
    for a in ref.activations:
        t, u = ref.tuned[a], back.tuned[a]
        assert (t.lrs, t.best, t.interior, t.rounds) == (u.lrs, u.best, u.interior, u.rounds) and same(t.scores, u.scores)
        assert same(ref.train[a], back.train[a]) and same(ref.test[a], back.test[a])
        for lr, r in ref.runs[a].items():
            for f in ("to_target", "to_target_test", "diverged", "loss"):
                assert same(getattr(r, f), getattr(back.runs[a][lr], f)), (a, lr, f)
    assert ref.ratio("tanh", "relu", True) == back.ratio("tanh", "relu", True)
    block = as_stored(ss.relu_speed_data(**p, activations=["tanh"]))
    assert ev.compare(as_stored(ss.relu_speed_part(stored, ["tanh"])), block, 0, 0) is None


def test_relu_dead_units_read_back_and_a_block_is_its_part():
    import actlab
    from actlab import data
    from actlab import deadunits as du

    p = dict(dead_lrs=[0.01, 1.0, 3.0], dead_seeds=2, dead_epochs=1, widths=[16, 16])
    stored = as_stored(du.relu_dead_data(**p))
    back = du.DeadSweep.from_data(stored)
    actlab.deterministic(0)
    X, y = data.digits("train")
    ref = du.sweep(["relu"], p["dead_lrs"], 2, X.float(), y, widths=(16, 16), epochs=1)
    for f in ("dead", "diverged", "ever_dead", "revived", "final_loss", "inactive", "check_steps", "dead_curve",
              "loss_curve"):
        assert same(getattr(ref, f), getattr(back, f)), f
    assert (back.activations, back.lrs, back.seeds, back.widths) == (ref.activations, ref.lrs, ref.seeds, ref.widths)
    assert np.array_equal(back.dead_curve[..., -1], back.fraction(), equal_nan=True)  # the last check is the end
    block = as_stored(du.relu_dead_data(**{**p, "dead_lrs": [1.0]}))
    assert ev.compare(as_stored(du.dead_part(stored, dead_lrs=[1.0])), block, 0, 0) is None
    two = as_stored(du.variants_dead_data(dead_activations=["relu", "elu"], dead_lrs=[0.1], dead_seeds=1, dead_epochs=1))
    one = as_stored(du.variants_dead_data(dead_activations=["elu"], dead_lrs=[0.1], dead_seeds=1, dead_epochs=1))
    assert ev.compare(as_stored(du.dead_part(two, dead_activations=["elu"])), one, 0, 0) is None


def test_relu_born_dead_reads_back():
    from actlab import deadunits as du

    p = dict(born_widths=[2, 4], born_depths=[2, 8], born_samples=50)
    back = du.BornDead.from_data(as_stored(du.relu_born_data(**p)))
    ref = du.born_dead_study(*p.values())
    assert all(same(getattr(ref, f), getattr(back, f)) for f in ("domain", "point", "bound"))
    assert back.metrics == ref.metrics


def test_relu_bias_shift_reads_back_and_a_block_is_its_part():
    import actlab
    from actlab import biasshift, data

    p = dict(shift_activations=["relu", "elu"], shift_depth=2, shift_width=16, shift_epochs=1, shift_seeds=2)
    stored = as_stored(biasshift.relu_shift_data(**p))
    back = biasshift.shifts_from(stored)
    assert list(back) == list(biasshift.SETTINGS)
    actlab.deterministic(0)
    X, y = data.digits("train")
    for name, (init, lr) in biasshift.SETTINGS.items():
        ref = biasshift.measure(["relu", "elu"], [16, 16], 2, X.float(), y, data.digits("test"), lr=lr, epochs=1,
                                init=init)
        for f in ("loss", "test_error", "curve_steps", "loss_curve"):
            assert same(getattr(ref, f), getattr(back[name], f)), (name, f)
        for f in ("offset", "inflation"):
            assert all(same(getattr(ref, f)[w], getattr(back[name], f)[w]) for w in ("init", "trained")), (name, f)
    block = as_stored(biasshift.relu_shift_data(**p, settings=["Kaiming init"]))
    assert ev.compare(biasshift.shift_part(stored, ["Kaiming init"]), block, 0, 0) is None



def test_variants_speed_reads_back_and_a_block_is_its_part():
    import actlab
    from actlab import convergence, data

    p = dict(speed_activations=["relu", "prelu", "maxout"], speed_lrs=[0.03, 0.1], speed_seeds=2, speed_epochs=1)
    stored = as_stored(ss.variants_speed_data(**p))
    back = ss.speed_sweep_from(stored)
    actlab.deterministic(0)
    X, y = data.digits("train")
    ref = convergence.run(p["speed_activations"], [3], p["speed_lrs"], 2, X, y, epochs=1, target=0.05,
                          held_out=data.digits("test"))
    for f in ("error", "loss", "error_test", "eval_epochs", "trained"):
        assert same(getattr(ref, f), getattr(back, f)), f
    assert same(ref.tuned()[0], back.tuned()[0]) and same(ref.best_lr(), back.best_lr())
    block = as_stored(ss.variants_speed_data(**{**p, "speed_activations": ["maxout"]}))
    assert ev.compare(ss.variants_speed_part(stored, ["maxout"]), block, 0, 0) is None


def test_variants_prelu_reads_back_and_a_block_is_its_part():
    import torch

    import actlab
    from actlab import data
    from actlab import variants as vr
    from actlab.ensemble import Ensemble, Member, fit
    from actlab.stored import array_from

    p = dict(prelu_depth=2, prelu_seeds=2, prelu_steps=40)
    stored = as_stored(vr.prelu_data(**p))
    actlab.deterministic(0)
    X, y = data.digits("train")
    X_test, y_test = data.digits("test")
    ens = Ensemble([Member("prelu", (64,) * 2, seed=s, lr=vr.PRELU_LR) for s in range(2)], X.shape[1], 10)
    fit(ens, X, y, loss="xent", steps=40, optimizer="sgd", momentum=0.9, batch_size=64)
    with torch.no_grad():
        test_error = (ens(X_test).argmax(-1) != y_test).double().mean(1).numpy()
    assert same(array_from(stored["slopes"]), ens.prelu_slopes()) and same(array_from(stored["test_error"]), test_error)
    block = as_stored(vr.prelu_data(**{**p, "prelu_seeds": 1}))
    assert ev.compare(as_stored(vr.prelu_part(stored, 1)), block, 0, 0) is None


def test_vanishing_norms_read_back_and_a_block_is_their_part():
    import actlab
    from actlab import data
    from actlab import gradientdata as gd
    from actlab import gradients as gr

    p = dict(activations=["sigmoid", "relu"], inits=["default", "kaiming"], depths=[2, 4], seeds=2, n_samples=32,
             width=16)
    stored = as_stored(gd.norms_data(**p))
    back = gd.norm_sweeps_from(stored)
    actlab.deterministic(0)
    X, y = data.dataset("digits", 32)
    Xg, yg = data.dataset("gaussian", 32)
    ref = {"digits": gr.norm_sweep(p["activations"], p["inits"], [2, 4], 2, X, y, width=16),
           "gaussian": gr.norm_sweep(p["activations"], p["inits"], [4], 2, Xg, yg, width=16),
           "batch_norm": gr.norm_sweep(p["activations"], p["inits"], [2, 4], 2, X, y, width=16, batch_norm=True)}
    for part, r in ref.items():
        b = back[part]
        assert list(b.norms) == list(r.norms) and (b.activations, b.inits, b.depths, b.seeds) == (
            r.activations, r.inits, r.depths, r.seeds)
        assert all(same(r.norms[k], b.norms[k]) and same(r.deltas[k], b.deltas[k]) for k in r.norms), part
    block = as_stored(gd.norms_data(**p, parts=["gaussian"]))
    assert ev.compare(gd.norms_part(stored, ["gaussian"]), block, 0, 0) is None


def _same_tuned_runs(ref, back):
    (t1, r1), (t2, r2) = ref, back
    assert (t1.lrs, t1.best, t1.interior, t1.rounds) == (t2.lrs, t2.best, t2.interior, t2.rounds)
    assert same(t1.scores, t2.scores) and list(r1) == list(r2)
    assert all(same(getattr(r1[lr], f), getattr(r2[lr], f)) for lr in r1 for f in ("steps", "train", "test", "val"))


def test_vanishing_he_reads_back_and_a_block_is_its_part():
    import math

    import torch

    import actlab
    from actlab import data
    from actlab import gradientdata as gd
    from actlab import gradients as gr

    p = dict(he_lrs=[0.01, 0.1], he_depth=4, width=16, he_seeds=2, he_steps=20, he_max_rounds=1)
    stored = as_stored(gd.he_data(**p))
    actlab.deterministic(0)
    X, y = data.digits("train", dtype=torch.float32)
    Xt, yt = data.digits("test", dtype=torch.float32)
    ref = gr.tuned_inits("relu", list(gd.HE_INITS), p["he_lrs"], 4, 16, 2, X, y, Xt, yt, chance=math.log(10),
                         steps=20, batch_size=64, every=1, max_rounds=1)
    back = gd.he_from(stored)
    assert list(back) == list(ref) == list(gd.HE_INITS)  # Kaiming's first: Xavier's curve may fall back on its rate
    for i in gd.HE_INITS:
        _same_tuned_runs(ref[i], back[i])
    block = as_stored(gd.he_data(**p, inits=["xavier"]))
    assert ev.compare(gd.he_part(stored, ["xavier"]), block, 0, 0) is None


def test_vanishing_pretrain_reads_back_and_a_block_is_its_part():
    import math

    import torch

    import actlab
    from actlab import data
    from actlab import gradientdata as gd
    from actlab import gradients as gr

    p = dict(pretrain_depth=2, width=16, seeds=2, pretrain_lrs=[0.1, 1.0], pretrain_steps=10, finetune_steps=20)
    stored = as_stored(gd.pretrain_data(**p))
    actlab.deterministic(0)
    X, y = data.digits("train", dtype=torch.float32)
    Xt, yt = data.digits("test", dtype=torch.float32)
    ref = gr.pretrain_compare(2, 16, 2, p["pretrain_lrs"], X, y, Xt, yt, pretrain_steps=10, finetune_steps=20,
                              every=2, chance=math.log(10))
    back, grads = gd.pretrain_from(stored), gd.pretrain_start_gradients(stored)
    assert list(back) == list(ref) == list(grads) == list(gd.STARTS)  # the legend's order, not the store's sorted keys
    for s in gd.STARTS:
        _same_tuned_runs(ref[s][:2], back[s])
        assert np.array_equal(ref[s][2]["weight_norms"], grads[s]["weight_norms"])
        assert grads[s]["weight_norms"].shape == (2, 3) and grads[s]["deltas"].shape == (2, 3)  # seeds x layers
    # tanh's weights times four, not Xavier's gain 1: another start, other gradients
    assert not np.allclose(grads["Xavier init"]["weight_norms"], grads["tanh-matched init"]["weight_norms"])
    # the random starts differ only in their scale: same seeds, other weights, other gradients
    assert not np.allclose(grads["default init"]["weight_norms"], grads["Xavier init"]["weight_norms"])
    block = as_stored(gd.pretrain_data(**p, starts=["pre-trained"]))
    assert ev.compare(gd.pretrain_part(stored, ["pre-trained"]), block, 0, 0) is None
