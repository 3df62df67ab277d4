"""The vanishing-gradients experiment module: measures that cannot hide a common shrink, and
the sigmoid rewrites the chapter relies on."""
import numpy as np
import pytest
import torch

from actlab import data, gradients as gr
from actlab.ensemble import Ensemble, Member


@pytest.fixture(scope="module")
def batch():
    return data.dataset("digits", 64)


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
    per_example = lambda z: z.grad[0].norm(dim=1).pow(2).mean().sqrt().item()
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
