"""The batched ensemble trains each member exactly as it would train alone."""
import math

import numpy as np
import pytest
import torch

from actlab import approximation, linear, xor
from actlab.ensemble import Ensemble, Member, fit, init_layer


def test_batched_equals_one_network_at_a_time():
    ms = [Member(a, (w,), seed=s, lr=lr) for a in ("tanh", "relu", "sigmoid")
          for w in (1, 3, 8) for s in (0, 1) for lr in (0.01, 0.05)]
    x = torch.linspace(-1, 1, 16, dtype=torch.float64)[:, None]
    y = torch.sin(3 * x)
    ens = Ensemble(ms, 1, 1)
    fit(ens, x, y, steps=50)
    together = ens(x)
    for i, m in enumerate(ms):
        one = Ensemble([m], 1, 1)
        fit(one, x, y, steps=50)
        torch.testing.assert_close(together[i], one(x)[0], rtol=0, atol=1e-12)


def test_minibatch_sgd_and_hidden_layers_match_alone():
    ms = [Member("elu", (5, 4), seed=s, lr=0.1, init=i) for s in (0, 1) for i in ("xavier", "kaiming")]
    x = torch.randn(32, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 2, (32,), generator=torch.Generator().manual_seed(1))
    ens = Ensemble(ms, 3, 2)
    fit(ens, x, y, loss="xent", steps=20, batch_size=8, optimizer="sgd", momentum=0.9)
    for i, m in enumerate(ms):
        one = Ensemble([m], 3, 2)
        fit(one, x, y, loss="xent", steps=20, batch_size=8, optimizer="sgd", momentum=0.9)
        torch.testing.assert_close(ens(x)[i], one(x)[0], rtol=0, atol=1e-12)
    out, pre, post = ens.hidden(x)
    assert [p.shape for p in post] == [(4, 32, 5), (4, 32, 4)]


def test_a_diverging_member_does_not_touch_the_others():
    ms = [Member("relu", (8,), seed=0, lr=1e6), Member("relu", (8,), seed=0, lr=1e-2)]
    x = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = x.sum(1, keepdim=True)
    ens = Ensemble(ms, 2, 1)
    hist = fit(ens, x, y, optimizer="sgd", steps=30, log_every=10)
    alone = Ensemble(ms[1:], 2, 1)
    fit(alone, x, y, optimizer="sgd", steps=30)
    assert not math.isfinite(hist[-1, 0]) and math.isfinite(hist[-1, 1])
    torch.testing.assert_close(ens(x)[1], alone(x)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("scheme,expected_var", [
    ("default", 1 / (3 * 400)), ("standard", 1 / (3 * 400)), ("xavier", 2 / (400 + 300)),
    ("kaiming", 2 / 400), ("lecun", 1 / 400)])
def test_init_variances(scheme, expected_var):
    w, b = init_layer(torch.Generator().manual_seed(0), scheme, 400, 300, torch.float64)
    assert w.var().item() == pytest.approx(expected_var, rel=0.02)
    assert (b == 0).all() == (scheme != "default")


def test_bad_member_is_refused():
    with pytest.raises(ValueError, match="init must be one of"):
        Member("relu", (4,), init="glorot")
    with pytest.raises(KeyError, match="unknown activation"):
        Member("rectifier", (4,))
    with pytest.raises(ValueError, match="hidden widths must be positive"):
        Member("relu", (0,))


def test_collapse_is_exact_with_bias_at_depth_30():
    assert linear.collapse_gap(30, 8, 0, bias=True) < 1e-13


def test_xor_linear_models():
    acc, pred = xor.least_squares_fit()
    assert acc == 0.5 and abs(pred - 0.5).max() < 1e-12
    assert xor.best_linear_threshold() == 0.75
    assert xor.dichotomies_separable() == 14


def test_approximation_predictions_come_back_in_config_and_seed_order():
    configs = [("sin", "tanh", 2), ("step", "relu", 3), ("abs", "sigmoid", 1)]
    train, fine = approximation.train(configs, 2, 0.01, 16, 5, dtype=torch.float64)
    for k, config in enumerate(configs):  # each config trained on its own gives the same numbers
        alone_train, alone_fine = approximation.train([config], 2, 0.01, 16, 5, dtype=torch.float64)
        np.testing.assert_allclose(train[k], alone_train[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(fine[k], alone_fine[0], rtol=0, atol=1e-12)
    assert not np.allclose(train[0, 0], train[0, 1])  # seeds differ


def test_prelu_slopes_are_learned_per_layer_and_member():
    ms = [Member("prelu", (6, 5), seed=s, lr=0.05) for s in range(2)] + [Member("relu", (6, 5), seed=0, lr=0.05)]
    x = torch.randn(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = x[:, :1] ** 2
    ens = Ensemble(ms, 3, 1)
    fixed = Ensemble([Member("prelu", (6, 5), seed=0)], 3, 1)
    _, pre, post = fixed.hidden(x)
    torch.testing.assert_close(post[0], torch.nn.functional.prelu(pre[0], torch.tensor([0.25], dtype=torch.float64)))
    fit(ens, x, y, steps=30)
    slopes = ens.prelu_slopes()
    assert slopes.shape == (3, 2) and np.isnan(slopes[2]).all()
    assert (np.abs(slopes[:2] - 0.25) > 1e-4).all()  # every slope moved
    alone = Ensemble(ms[1:2], 3, 1)
    fit(alone, x, y, steps=30)
    np.testing.assert_allclose(alone.prelu_slopes()[0], slopes[1], rtol=0, atol=1e-12)


def test_maxout_member_is_a_max_over_k_pieces_and_trains_alone_as_in_the_batch():
    """Maxout is a layer: k = 2 pieces per unit, so twice a dense layer's weights; batched with
    elementwise members it must still train exactly as alone."""
    from actlab import functions

    ms = [Member("maxout", (6, 5), seed=s, lr=0.05) for s in (0, 1)] + [Member("relu", (6, 5), seed=0, lr=0.05)]
    x = torch.randn(24, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 2, (24,), generator=torch.Generator().manual_seed(1))
    ens = Ensemble(ms, 3, 2)
    counts = ens.parameter_counts()
    dense = functions.dense_weight_count
    assert counts[2] == dense(3, 6) + dense(6, 5) + dense(5, 2)
    assert counts[0] == 2 * dense(3, 6) + 2 * dense(6, 5) + dense(5, 2)
    blk = next(b for b in ens.blocks if b.pieces == 2)
    w, b = blk.weights[0][0].detach(), blk.biases[0][0].detach()
    h = (x @ w + b).unflatten(-1, (6, 2)).amax(-1)  # the first hidden layer by hand
    torch.testing.assert_close(blk.forward(x, keep=True)[2][0][0], h)
    fit(ens, x, y, loss="xent", steps=15, batch_size=8, optimizer="sgd", momentum=0.9)
    for i, m in enumerate(ms):
        one = Ensemble([m], 3, 2)
        fit(one, x, y, loss="xent", steps=15, batch_size=8, optimizer="sgd", momentum=0.9)
        torch.testing.assert_close(ens(x)[i], one(x)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name, gate", [("glu", torch.sigmoid), ("reglu", torch.relu),
                                        ("geglu", torch.nn.functional.gelu), ("swiglu", torch.nn.functional.silu)])
def test_gated_member_equals_a_hand_built_network(name, gate):
    """A gated hidden layer of width n: one (fan_in, 2n) weight, the first n columns the values a,
    the last n the gate inputs b, and the unit a * g(b). The same network written with
    torch.nn.Linear and torch's own gate gives the same output before and after training."""
    from actlab import functions

    m = Member(name, (6, 5), seed=3, lr=0.05)
    ens = Ensemble([m], 3, 2)
    blk = ens.single_block()
    assert [tuple(w.shape[1:]) for w in blk.weights] == [(3, 12), (6, 10), (5, 2)]
    assert ens.parameter_counts()[0] == functions.weight_count(name, 3, (6, 5), 2) == \
        functions.glu_weight_count(3, 6) + functions.glu_weight_count(6, 5) + functions.dense_weight_count(5, 2)
    lin = [torch.nn.Linear(a, b).double() for a, b in ((3, 12), (6, 10), (5, 2))]

    def copy_weights():
        with torch.no_grad():
            for layer, w, b in zip(lin, blk.weights, blk.biases, strict=True):
                layer.weight.copy_(w[0].T)
                layer.bias.copy_(b[0].reshape(-1))

    def net(x):
        h = x
        for layer in lin[:-1]:
            a, b = layer(h).chunk(2, -1)
            h = a * gate(b)
        return lin[-1](h)

    x = torch.randn(24, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 2, (24,), generator=torch.Generator().manual_seed(1))
    copy_weights()
    with torch.no_grad():
        torch.testing.assert_close(ens(x)[0], net(x), rtol=0, atol=1e-12)
    opt = torch.optim.SGD([p for layer in lin for p in layer.parameters()], lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    fit(ens, x, y, loss="xent", steps=20, optimizer="sgd")
    with torch.no_grad():
        torch.testing.assert_close(ens(x)[0], net(x), rtol=0, atol=1e-10)


def test_gated_members_train_alone_as_in_a_batch_with_maxout_and_relu():
    """Members of two pieces per unit (maxout and the gated units) share a block, grouped by
    activation; each still trains exactly as alone, and its parameters are counted by its pieces."""
    from actlab import functions

    ms = [Member(a, (6, 5), seed=s, lr=0.05) for a in ("swiglu", "maxout", "glu") for s in (0, 1)]
    ms += [Member("relu", (6, 5), seed=0, lr=0.05), Member("geglu", (4,), seed=2, lr=0.05)]
    x = torch.randn(24, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 2, (24,), generator=torch.Generator().manual_seed(1))
    ens = Ensemble(ms, 3, 2)
    assert sorted((blk.pieces, len(blk.members)) for blk in ens.blocks) == [(1, 1), (2, 1), (2, 6)]
    assert list(ens.parameter_counts()) == [functions.weight_count(m.activation, 3, m.widths, 2) for m in ms]
    fit(ens, x, y, loss="xent", steps=15, batch_size=8, optimizer="sgd", momentum=0.9)
    for i, m in enumerate(ms):
        one = Ensemble([m], 3, 2)
        fit(one, x, y, loss="xent", steps=15, batch_size=8, optimizer="sgd", momentum=0.9)
        torch.testing.assert_close(ens(x)[i], one(x)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("optimizer, momentum", [("sgd", 0.9), ("adam", 0.0)])
def test_one_member_matches_idiomatic_torch_nn_and_optim(optimizer, momentum):
    """Independent of the ensemble's own code: the same network written with torch.nn.Linear and
    trained with torch.optim (SGD with momentum, Adam) ends at the same weights and loss."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, dtype=torch.float64, generator=g)
    y = torch.randint(0, 2, (40,), generator=g)
    members = [Member("tanh", (5, 4), seed=3, lr=0.05), Member("tanh", (5, 4), seed=4, lr=0.2)]
    ens = Ensemble(members, 3, 2, dtype=torch.float64)
    blk = ens.blocks[0]
    k = list(blk.idx).index(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4), torch.nn.Tanh(),
                              torch.nn.Linear(4, 2)).double()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, w, b in zip(linears, blk.weights, blk.biases, strict=True):
            lin.weight.copy_(w[k].T)
            lin.bias.copy_(b[k].reshape(-1))
    opt = (torch.optim.SGD(net.parameters(), lr=0.05, momentum=momentum) if optimizer == "sgd"
           else torch.optim.Adam(net.parameters(), lr=0.05))
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    hist = fit(ens, x, y, loss="xent", steps=60, optimizer=optimizer, momentum=momentum, log_every=60)
    with torch.no_grad():
        final = torch.nn.functional.cross_entropy(net(x), y).item()
        for lin, w, b in zip(linears, blk.weights, blk.biases, strict=True):
            torch.testing.assert_close(lin.weight, w[k].T, rtol=0, atol=1e-10)
            torch.testing.assert_close(lin.bias, b[k].reshape(-1), rtol=0, atol=1e-10)
    assert hist.shape == (1, 2) and abs(hist[0, 0] - loss.item()) < 1e-10 and final < loss.item()


# ---------------------------------------------------------------- 1-D convolutions

def _signals(n=24, length=20, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, length, dtype=torch.float64, generator=g), torch.randint(0, classes, (n,), generator=g)


@pytest.mark.parametrize("kernel, stride, padding, length", [(5, 2, 1, 12), (3, 2, 1, 9), (3, 1, 0, 7),
                                                              (4, 3, 2, 11), (1, 1, 0, 5), (2, 2, 0, 8)])
def test_batched_conv1d_is_torch_conv1d_and_its_hand_written_backward_is_right(kernel, stride, padding, length):
    from actlab.ensemble import BatchedConv1d

    g = torch.Generator().manual_seed(0)
    h = torch.randn(2, 3, length, 2, dtype=torch.float64, generator=g, requires_grad=True)  # (E, C, L, B)
    w = torch.randn(2, kernel * 3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(2, 1, 4, dtype=torch.float64, generator=g, requires_grad=True)
    conv = lambda h, w, b: BatchedConv1d.apply(h, w, b, kernel, stride, padding)
    for e in range(2):
        ref = torch.nn.functional.conv1d(h[e].permute(2, 0, 1), w[e].view(kernel, 3, 4).permute(2, 1, 0), b[e, 0],
                                         stride=stride, padding=padding)
        torch.testing.assert_close(conv(h, w, b)[e], ref.permute(1, 2, 0), rtol=0, atol=1e-13)
    assert torch.autograd.gradcheck(conv, (h, w, b))
    # a signal x (B, L) that every member shares: one matmul for all of them, x's gradient summed over them
    x = torch.randn(2, length, dtype=torch.float64, generator=g, requires_grad=True)
    w1 = torch.randn(2, kernel, 4, dtype=torch.float64, generator=g, requires_grad=True)
    torch.testing.assert_close(conv(x, w1, b), conv(x.T[None, None].expand(2, 1, length, 2), w1, b), rtol=0, atol=1e-13)
    assert torch.autograd.gradcheck(conv, (x, w1, b))


@pytest.mark.parametrize("kernel, stride, padding, length", [(5, 2, 1, 12), (3, 2, 1, 9), (3, 2, 1, 10), (4, 3, 2, 11),
                                                              (2, 2, 0, 8), (3, 3, 0, 10)])
def test_phase_ordered_conv1d_layers_equal_in_order_ones_and_their_backward_is_right(kernel, stride, padding, length):
    """A layer writing its positions phase by phase, then PhaseConv1d reading them: the same two
    layers as BatchedConv1d in order, and both hand-written backwards pass gradcheck."""
    from actlab.ensemble import BatchedConv1d, PhaseConv1d

    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, length, 3, dtype=torch.float64, generator=g, requires_grad=True)  # (E, C, L, B)
    w1, w2 = (torch.randn(2, kernel * c, 4, dtype=torch.float64, generator=g, requires_grad=True) for c in (2, 4))
    b1, b2 = (torch.randn(2, 1, 4, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(2))
    geometry = (kernel, stride, padding)
    in_order = lambda *a: BatchedConv1d.apply(BatchedConv1d.apply(a[0], a[1], a[2], *geometry).tanh(), a[3], a[4], *geometry)
    L1 = (length + 2 * padding - kernel) // stride + 1  # the first layer's output, stored by class with zeros after it
    phased = lambda *a: PhaseConv1d.apply(BatchedConv1d.apply(a[0], a[1], a[2], *geometry, stride).tanh(), a[3], a[4],
                                          *geometry, L1)
    args = (x, w1, b1, w2, b2)
    torch.testing.assert_close(phased(*args), in_order(*args), rtol=0, atol=1e-13)
    assert torch.autograd.gradcheck(phased, args)


CONV_MEMBERS = [
    Member("relu", (), seed=0, lr=0.02, conv=(4, 3, 3)),                       # kernels 5, 3, 3 by default
    Member("tanh", (), seed=1, lr=0.05, init="xavier", conv=(4, 3, 3)),
    Member("elu", (6,), seed=2, lr=0.02, init="kaiming", conv=(3, 2), kernels=(3, 3), stride=1, padding=0),
    Member("prelu", (), seed=3, lr=0.03, conv=(4, 3, 3)),
    Member("maxout", (5,), seed=4, lr=0.02, conv=(3,), kernels=(4,), stride=3, padding=2),
    Member("gelu", (), seed=6, lr=0.03, conv=(4, 3, 3)),                       # the hand-written GELU
    Member("sigmoid", (7,), seed=5, lr=0.05),                                  # an MLP in the same ensemble
]


@pytest.mark.parametrize("optimizer, momentum", [("sgd", 0.9), ("adam", 0.0)])
def test_conv_members_match_torch_conv1d_networks_trained_alone(optimizer, momentum):
    """Each member, batched with CNNs of other shapes and activations (and an MLP), trains exactly as
    the same network written with torch.nn.Conv1d / nn.Linear from the same weights, trained alone
    with torch.optim."""
    from actlab.ensemble import torch_network

    x, y = _signals()
    ens = Ensemble(CONV_MEMBERS, 20, 3)
    nets = [torch_network(ens, i) for i in range(len(CONV_MEMBERS))]
    assert any(isinstance(m, torch.nn.Conv1d) for m in nets[0]) and not any(isinstance(m, torch.nn.Conv1d) for m in nets[-1])
    with torch.no_grad():
        torch.testing.assert_close(torch.stack([n(x) for n in nets]), ens(x), rtol=0, atol=1e-13)
    fit(ens, x, y, loss="xent", steps=25, optimizer=optimizer, momentum=momentum)
    for i, (m, net) in enumerate(zip(CONV_MEMBERS, nets, strict=True)):
        opt = (torch.optim.SGD(net.parameters(), lr=m.lr, momentum=momentum) if optimizer == "sgd"
               else torch.optim.Adam(net.parameters(), lr=m.lr))
        for _ in range(25):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        with torch.no_grad():
            torch.testing.assert_close(ens(x)[i], net(x), rtol=0, atol=1e-10, msg=f"member {i}: {m}")


def test_conv_members_batched_equal_alone_with_minibatches_and_batch_norm():
    x, y = _signals(n=30)
    ens = Ensemble(CONV_MEMBERS, 20, 3, batch_norm=True)
    fit(ens, x, y, loss="xent", steps=12, batch_size=8)
    for i, m in enumerate(CONV_MEMBERS):
        one = Ensemble([m], 20, 3, batch_norm=True)
        fit(one, x, y, loss="xent", steps=12, batch_size=8)
        torch.testing.assert_close(ens(x)[i], one(x)[0], rtol=0, atol=1e-12)
    from actlab.ensemble import torch_network  # batch norm over batch and length, as BatchNorm1d
    with torch.no_grad():
        torch.testing.assert_close(torch_network(ens, 0)(x), ens(x)[0], rtol=0, atol=1e-12)


def test_mnist1d_cnn_has_the_papers_shape_counts_and_hidden_layers():
    from actlab.ensemble import mnist1d_cnn, torch_network

    ms = [mnist1d_cnn(a, seed=s) for a in ("relu", "prelu") for s in (0, 1)]
    ens = Ensemble(ms, 40, 10)
    assert len(ens.blocks) == 1 and ens.blocks[0].lengths == [40, 19, 10, 5]
    torch_count = sum(p.numel() for p in torch_network(ens, 0).parameters())
    assert torch_count == 5210  # Greydanus's ConvBase on length 40: 25 * 5 + 25 + 2 * (25 * 25 * 3 + 25) + 125 * 10 + 10
    assert ens.parameter_counts().tolist() == [5210, 5210, 5213, 5213]  # PReLU: one slope per hidden layer
    assert ens.prelu_slopes().shape == (4, 3)
    x = _signals(n=6, length=40)[0]
    out, pre, post = ens.hidden(x)
    assert out.shape == (4, 6, 10) and [p.shape for p in post] == [(4, 6, 25, 19), (4, 6, 25, 10), (4, 6, 25, 5)]
    torch.testing.assert_close(post[0][0], torch.relu(pre[0][0]))
    torch.testing.assert_close(ens(x.expand(4, 6, 40)), ens(x), rtol=0, atol=1e-13)  # per-member input


@pytest.mark.parametrize("scheme, var", [("kaiming", lambda fi, fo: 2 / fi), ("lecun", lambda fi, fo: 1 / fi),
                                         ("xavier", lambda fi, fo: 2 / (fi + fo)),
                                         ("default", lambda fi, fo: 1 / (3 * fi))])
def test_conv_initialisation_uses_channels_times_kernel_as_fan_in(scheme, var):
    ens = Ensemble([Member("relu", (), init=scheme, conv=(150, 200), kernels=(3, 3), stride=1)], 16, 1)
    w = ens.blocks[0].weights[1]  # (1, 150 * 3, 200): fan_in 450, fan_out 200 * 3 (torch.nn.init's)
    assert w.var().item() == pytest.approx(var(450, 600), rel=0.02)


def test_bad_conv_members_are_refused():
    with pytest.raises(ValueError, match="one kernel per conv layer"):
        Member("relu", (), conv=(4, 4), kernels=(3,))
    with pytest.raises(ValueError, match="without conv layers"):
        Member("relu", (4,), kernels=(3,))
    with pytest.raises(ValueError, match="hidden widths must be positive"):
        Member("relu", ())
    with pytest.raises(ValueError, match="stride must be"):
        Member("relu", (), conv=(4,), stride=0)
    with pytest.raises(ValueError, match="leave no signal"):
        Ensemble([Member("relu", (), conv=(4,), kernels=(50,))], 40, 10)
    assert Member("relu", (), conv=(4, 4, 4)).kernels == (5, 3, 3)


def test_gated_conv_and_dense_members_equal_their_plain_torch_networks():
    from actlab.ensemble import torch_network

    ms = [Member("swiglu", (6,), seed=1, conv=(4, 4), kernels=(5, 3)), Member("glu", (6,), seed=2),
          Member("geglu", (), seed=3, conv=(3,), kernels=(3,))]
    ens = Ensemble(ms, 40, 10)
    x = torch.randn(7, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = ens(x)
    for i in range(len(ms)):
        assert torch.allclose(out[i], torch_network(ens, i)(x), atol=1e-12), ms[i]


def test_fused_conv_gelu_is_the_registered_gelu_with_its_derivative():
    """Conv layers' fused GELU: the registered function's values exactly (its limits at +-inf too),
    and the derivative autograd takes through it, to rounding."""
    from actlab import functions
    from actlab.ensemble import gelu_backward, gelu_forward

    x = torch.cat([torch.linspace(-40, 40, 4001, dtype=torch.float64), torch.tensor([-math.inf, math.inf])])
    y, ref = x.clone(), x.clone().requires_grad_()
    saved = gelu_forward(y)
    y_ref = functions.get("gelu")(ref)
    assert torch.equal(y, y_ref)
    y_ref[:-2].sum().backward()
    grad = torch.empty_like(x)
    gelu_backward(saved, torch.ones_like(x), grad)
    # in the left tail Phi(x) + x phi(x) cancels to about 1/x^2 of its terms, so rounding grows by x^2
    torch.testing.assert_close(grad[:-2], ref.grad[:-2], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("names", [("relu", "tanh", "gelu"), ("sigmoid", "elu"), ("prelu", "softplus", "relu"),
                                   ("maxout",), ("swiglu", "reglu")])
def test_conv_layers_with_the_activation_inside_equal_the_activation_after_them(names):
    """BatchedConv1d (shared x, positions by class) then two PhaseConv1d, each applying runs of
    activations inside (ConvActs: by hand, or autograd on the run's slice; PReLU's slopes as
    inputs): the values and gradients of in-order layers followed by the registered functions,
    and gradcheck."""
    from actlab import functions
    from actlab.ensemble import BatchedConv1d, ConvActs, PhaseConv1d

    fs = [functions.get(n) for n in names]
    pieces, C, E = fs[0].pieces, 3, 2 * len(names)
    g = torch.Generator().manual_seed(2)
    r = lambda *shape: torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)
    x = r(4, 17)  # lengths 17 -> 9 -> 5 -> 3: classes of uneven length after the first two layers
    w1, b1, w2, b2, w3, b3 = (r(E, 3 * c, pieces * C) if i == 0 else r(E, 1, pieces * C) for c in (1, C, C) for i in (0, 1))
    slopes = [torch.full((2, 1, 1), 0.25, dtype=torch.float64, requires_grad=True) for f in fs if f.learnable for _ in (0, 1, 2)]
    runs = tuple((f, 2 * i, 2 * i + 2, f.learnable) for i, f in enumerate(fs))
    acts = ConvActs(runs, pieces)

    def fused(x, w1, b1, w2, b2, w3, b3, *sl):  # positions by class of the next layer's stride
        h = BatchedConv1d.apply(x, w1, b1, 3, 2, 1, 2, acts, *sl[0::3])
        h = PhaseConv1d.apply(h, w2, b2, 3, 2, 1, 9, 2, acts, *sl[1::3])
        return PhaseConv1d.apply(h, w3, b3, 3, 2, 1, 5, 1, acts, *sl[2::3])

    def after(z, sl):
        out, sl = [], iter(sl)
        for f, a, b, learnable in runs:
            part = z[a:b]
            if learnable:
                out.append(torch.where(part > 0, part, next(sl)[..., None] * part))
            else:
                out.append(f(part) if f.elementwise else f(part.movedim(1, -1)).movedim(-1, 1))
        return torch.cat(out)

    def plain(x, w1, b1, w2, b2, w3, b3, *sl):  # positions in order, activations through autograd
        h = after(BatchedConv1d.apply(x, w1, b1, 3, 2, 1), sl[0::3])
        h = after(BatchedConv1d.apply(h, w2, b2, 3, 2, 1), sl[1::3])
        return after(BatchedConv1d.apply(h, w3, b3, 3, 2, 1), sl[2::3])

    args = (x, w1, b1, w2, b2, w3, b3, *slopes)
    y, y_ref = fused(*args), plain(*args)
    torch.testing.assert_close(y, y_ref, rtol=1e-13, atol=1e-13)
    weight = torch.randn(y.shape, dtype=torch.float64, generator=g)
    for got, want in zip(torch.autograd.grad((y * weight).sum(), args), torch.autograd.grad((y_ref * weight).sum(), args),
                         strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(fused, args)


def test_a_seed_fixes_the_batch_order_too_so_a_member_trains_alone_as_in_a_sweep():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (96,), generator=g)
    members = [Member("relu", (8,), seed=s, lr=0.05) for s in (0, 1, 2)]
    together = fit(Ensemble(members, 5, 3), x, y, loss="xent", steps=12, batch_size=16, log_every=12)
    alone = [fit(Ensemble([m], 5, 3), x, y, loss="xent", steps=12, batch_size=16, log_every=12)[-1, 0]
             for m in members]
    assert np.allclose(together[-1], alone, rtol=1e-5)
    # two seeds of one network see different minibatches: their losses differ after a step
    assert len(set(np.round(together[-1], 6))) == 3


def test_gain_scales_the_hidden_weights_and_not_the_read_out():
    plain = Ensemble([Member("tanh", (16, 16), seed=3, init="xavier")], 4, 2)
    scaled = Ensemble([Member("tanh", (16, 16), seed=3, init="xavier", gain=5 / 3)], 4, 2)
    w0, w1 = plain.blocks[0].weights, scaled.blocks[0].weights
    assert torch.allclose(w1[0], 5 / 3 * w0[0]) and torch.allclose(w1[1], 5 / 3 * w0[1])
    assert torch.equal(w1[-1], w0[-1])
    with pytest.raises(ValueError, match="gain must be finite and positive"):
        Member("tanh", (4,), gain=0.0)


def test_residual_layer_norm_members_equal_their_plain_torch_networks_after_training():
    from actlab.ensemble import torch_network
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (40,), generator=g)
    ms = [Member(a, (8, 8, 8), seed=2, lr=0.01) for a in ("relu", "prelu", "maxout", "swiglu", "gelu")]
    ens = Ensemble(ms, 6, 3, layer_norm=True, residual=True)
    fit(ens, x, y, loss="xent", steps=5, batch_size=8)
    out = ens(x)
    for i, m in enumerate(ms):
        net = torch_network(ens, i)
        assert sum(type(mod).__name__ == "_Residual" for mod in net) == 2, m  # 6 -> 8 has no skip; 8 -> 8 twice
        torch.testing.assert_close(net(x), out[i], rtol=0, atol=1e-12)
    # the skip changes the function: without it the same weights give other outputs
    plain = Ensemble(ms, 6, 3, layer_norm=True)
    assert not torch.allclose(plain(x), Ensemble(ms, 6, 3, layer_norm=True, residual=True)(x))
    with pytest.raises(ValueError, match="dense layers"):
        Ensemble([Member("relu", (), conv=(4,))], 20, 3, residual=True)
