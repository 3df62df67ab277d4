"""Training health: the update ratio and the six healthy and broken networks it tells apart."""

import numpy as np
import torch

from actlab import health
from actlab.ensemble import Ensemble, Member


def test_the_update_ratio_is_the_step_over_the_weights_it_changed():
    # plain SGD without momentum: the first update of every layer is the rate times its gradient
    X = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
    y = torch.arange(64) % 3
    ens = Ensemble([Member("tanh", (4, 4), seed=0, lr=0.1, init="xavier")], 5, 3, dtype=X.dtype)
    w0 = [w.detach().clone() for w in ens.single_block().weights[:-1]]
    ratio, grad = health.instrumented_fit(ens, X, y, steps=1)
    w1 = [w.detach() for w in ens.single_block().weights[:-1]]
    expect = [float((b - a).norm() / a.norm()) for a, b in zip(w0, w1, strict=True)]
    assert ratio.shape == (1, 1, 2) and np.allclose(ratio[0, 0], expect, rtol=1e-5)
    assert grad.shape == (1, 2) and (grad > 0).all()


def test_the_six_networks_tell_their_faults_apart():
    h = health.run(width=32, depth=3, seeds=2, steps=40, lrs=[0.01, 0.03, 0.1, 0.3])
    m = health.metrics(h)
    assert m["share_init_large"] > 5 * m["share_init_healthy_tanh"]        # saturation at the start
    assert m["grad_first_small"] < 0.5 * m["grad_first_healthy_tanh"]      # a weak gradient at depth
    assert abs(m["init_loss_small"] - m["chance_loss"]) < 0.01             # outputs near zero: chance
    assert m["update_ratio_rate_high"] > m["update_ratio_healthy_relu"] > m["update_ratio_rate_low"]
    assert m["update_ratio_rate_low"] < m["update_ratio_healthy_relu"]
    assert "diverged" in health.table(h) or np.isfinite(m["final_loss_rate_high"])
