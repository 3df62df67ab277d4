"""Properties measured numerically from a registered function, never declared by hand."""
from __future__ import annotations

import torch

from actlab import functions


def grid(x_max: float, n_points: int) -> torch.Tensor:
    """Symmetric float64 grid; with odd ``n_points`` it holds 0 (and every kink at k*step) exactly."""
    half = n_points // 2
    step = x_max / half
    return torch.arange(-half, n_points - half, dtype=torch.float64) * step


def derivative_peak(name: str, x_max: float = 10.0, n_points: int = 20001) -> tuple[float, float]:
    """(max f'(x), the x where it is reached) on a symmetric grid."""
    x = grid(x_max, n_points)
    d = functions.get(name).derivative(x)
    i = int(torch.argmax(d))
    return float(d[i]), float(x[i])


def output_range(name: str, x_max: float = 50.0, n_points: int = 20001) -> tuple[float, float]:
    """Smallest and largest output on [-x_max, x_max]."""
    y = functions.get(name)(grid(x_max, n_points))
    return float(y.min()), float(y.max())


def saturation_distance(name: str, fraction: float = 0.01, x_max: float = 50.0,
                        n_points: int = 200001) -> float:
    """Smallest |x| beyond which |f'| stays below ``fraction`` of its peak (inf if never)."""
    x = grid(x_max, n_points)
    d = functions.get(name).derivative(x).abs()
    below = d < fraction * d.max()
    above = ~below
    if bool(above[0]) or bool(above[-1]):
        return float("inf")
    return float(x[above].abs().max())


def mean_output(name: str, n_samples: int = 100_000, seed: int = 0) -> tuple[float, float]:
    """Mean output for standard-normal input, and its standard error."""
    g = torch.Generator().manual_seed(seed)
    y = functions.get(name)(torch.randn(n_samples, generator=g, dtype=torch.float64))
    return float(y.mean()), float(y.std() / n_samples**0.5)


def autograd_gap(name: str, x_max: float = 10.0, n_points: int = 20001) -> float:
    """Largest |analytic f' - autograd f'| on a grid (float64)."""
    act = functions.get(name)
    x = grid(x_max, n_points).requires_grad_(True)
    y = act(x)
    # A piecewise-constant function (step) has no autograd graph: its derivative is 0.
    g = torch.autograd.grad(y.sum(), x)[0] if y.requires_grad else torch.zeros_like(x)
    return float((act.derivative(x.detach()) - g).abs().max())


def last_below_one(name: str, dtype=torch.float64) -> float:
    """Largest x at which f(x) still rounds to less than 1 in ``dtype`` (a bisection on floats)."""
    f = functions.get(name)
    lo, hi = 0.0, 1000.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if float(f(torch.tensor(mid, dtype=dtype))) < 1.0:
            lo = mid
        else:
            hi = mid
    return lo


def identity_gap(lhs: str, fn, x_max: float = 20.0, n_points: int = 40001, dtype=torch.float64) -> float:
    """Largest |f(x) - fn(x)| on a grid, for checking identities between registered functions."""
    x = grid(x_max, n_points).to(dtype)
    return float((functions.get(lhs)(x) - fn(x)).abs().max())
