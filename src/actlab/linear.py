"""Depth without nonlinearity: a stack of linear (affine) layers is one linear (affine) map."""
from __future__ import annotations

import torch

from actlab.ensemble import init_layer


def collapse_gap(depth: int, width: int, seed: int, bias: bool, n_inputs: int = 256) -> float:
    """Largest |deep net(x) - collapsed layer(x)| relative to the output's largest |value|.

    The deep net applies ``depth`` identity-activation layers one after another; the
    collapsed layer is W = W_1 W_2 ... W_L and b = sum_l b_l W_{l+1} ... W_L. LeCun-normal
    weights keep the output's scale near 1 at any depth, so the gap is comparable across depths.
    """
    g = torch.Generator().manual_seed(seed)
    layers = []
    for _ in range(depth):
        w, _ = init_layer(g, "lecun", width, width, torch.float64)
        b = torch.randn(width, generator=g, dtype=torch.float64) * 0.1 if bias else torch.zeros(width, dtype=torch.float64)
        layers.append((w, b))
    x = torch.randn(n_inputs, width, generator=g, dtype=torch.float64)
    h = x
    for w, b in layers:
        h = h @ w + b
    W, B = torch.eye(width, dtype=torch.float64), torch.zeros(width, dtype=torch.float64)
    for w, b in layers:
        W, B = W @ w, B @ w + b
    one = x @ W + B
    return float((h - one).abs().max() / h.abs().max())


def collapse_gap_cost(depth: int, width: int, n_inputs: int = 256) -> tuple[float, float]:
    """(seconds, bytes) of :func:`collapse_gap`: ``depth`` float64 weight matrices held at once, and
    per layer a (width x width) product for the collapse and an (n_inputs x width) one for the net."""
    from actlab import workload

    seconds = depth * (2 * workload.MAC_S * (width + n_inputs) * width * width + 2e-8 * width * width)
    return seconds, workload.SLACK * 8 * (depth + 3) * width * (width + 1) + 8 * 3 * n_inputs * width

