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


def saturation_reading(name: str, saturation_fraction: float = 0.01) -> dict:
    """A function's saturation distance at ``saturation_fraction`` of its derivative's peak (on
    the fixed grid of :func:`saturation_distance`), as metrics."""
    return {"saturation_x": saturation_distance(name, fraction=saturation_fraction),
            "saturation_fraction_pct": 100 * saturation_fraction}


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


def form_gap(name: str, form, x_max: float = 10.0, n_points: int = 20001) -> float:
    """Largest |form(x) - autograd f'(x)| on a grid: checks a derivative formula other than
    the registry's (the textbook sigma(1 - sigma), say) against autograd."""
    x = grid(x_max, n_points).requires_grad_(True)
    g = torch.autograd.grad(functions.get(name)(x).sum(), x)[0]
    return float((form(x.detach()) - g).abs().max())


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


# ---------------------------------------------------------------- the properties table

SAT_TOL = 1e-3  # a side saturates softly when |f'| at |x| = 50 is below this fraction of the peak
HARD_FROM = 10.0  # ... and hard when f' is exactly zero on the whole of [10, 50] (or [-50, -10])


def is_nonlinear(name: str, x_max: float = 10.0, n: int = 20001) -> bool:
    """The derivative (from finite differences of f) is not constant."""
    x = grid(x_max, n)
    y = functions.get(name)(x)
    slope = torch.diff(y) / torch.diff(x)
    return bool((slope.max() - slope.min()) > 1e-6)


def kinks(name: str, x_max: float = 10.0, step: float = 0.01, h: float = 1e-6, tol: float = 1e-3) -> list[float]:
    """Points of a grid where the left and right difference quotients of f disagree: where f
    is not differentiable (found from f alone)."""
    x = torch.arange(-round(x_max / step), round(x_max / step) + 1, dtype=torch.float64) * step
    f = functions.get(name)
    right = (f(x + h) - f(x)) / h
    left = (f(x) - f(x - h)) / h
    bad = (right - left).abs() > tol
    return [round(float(v), 6) for v in x[bad]]


def autograd_at(name: str, points: list[float]) -> list[float]:
    """The derivative torch's autograd uses at each point."""
    if not points:
        return []
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    y = functions.get(name)(x)
    if not y.requires_grad:
        return [0.0] * len(points)
    return torch.autograd.grad(y.sum(), x)[0].tolist()


def largest_decrease(name: str, x_max: float = 20.0, n: int = 400001) -> float:
    """How far f falls below its running maximum, scanning left to right: 0 for a
    non-decreasing function, the depth of the dip otherwise (Mish: about 0.31)."""
    y = functions.get(name)(grid(x_max, n))
    return float((torch.cummax(y, 0).values - y).max())


def bounds(name: str) -> tuple[bool, bool]:
    """(bounded below, bounded above): |f| stays under 1e3 as x goes to -1e8 / +1e8."""
    f = functions.get(name)
    lo, hi = f(torch.tensor([-1e8], dtype=torch.float64)), f(torch.tensor([1e8], dtype=torch.float64))
    return bool(lo.abs() < 1e3), bool(hi.abs() < 1e3)


def saturation(name: str) -> tuple[str, str]:
    """(left, right) saturation class: 'hard', 'soft' or 'none' (Gulcehre et al. 2016), from
    the derivative on a grid out to |x| = 50 with the tolerances above."""
    f = functions.get(name)
    x = grid(50.0, 100001)
    d = f.derivative(x).abs()
    peak = float(d.max()) or 1.0
    out = []
    for side in (x <= -HARD_FROM, x >= HARD_FROM):
        tail = d[side]
        end = float(tail[0] if side[0] else tail[-1])  # |f'| at x = -50 or +50
        if bool((tail == 0).all()):
            out.append("hard")
        elif end <= SAT_TOL * peak:
            out.append("soft")
        else:
            out.append("none")
    return out[0], out[1]


def extra_parameters(name: str, width: int = 64) -> int:
    """Trainable parameters a hidden layer of ``width`` units has beyond a plain affine layer,
    counted on an actual network: PReLU's slope, maxout's k - 1 extra pieces, a gated unit's gate map."""
    from actlab.ensemble import Ensemble, Member

    count = lambda a: sum(p[0].numel() for p in Ensemble([Member(a, (width,))], width, width).parameters())
    return count(name) - count("identity")


def gated_row(name: str, x_max: float = 5.0, n: int = 201) -> dict:
    """A gated unit h(a, b) = a g(b) measured as a function of its two inputs, the value a and the
    gate's input b: where it is not differentiable (its gate's kinks, in b), whether it is
    non-decreasing in a for every b and in b for every a on a grid, h(0, 0), and whether it is
    bounded (|h| under 1e3 at a = -1e8 and +1e8, b = 1)."""
    act = functions.get(name)
    ab = grid(x_max, n)
    a, b = torch.meshgrid(ab, ab, indexing="ij")
    h = act(torch.stack([a, b], -1))[..., 0]  # one unit per grid point: h[i, j] = h(a_i, b_j)
    at = lambda va, vb: float(act(torch.tensor([va, vb], dtype=torch.float64))[0])
    ks = kinks(act.gate)
    return {"gate": act.gate, "gate_kinks": ks, "gate_torch_at_kinks": autograd_at(act.gate, ks),
            "monotone_ab": (bool((torch.diff(h, dim=0) >= 0).all()), bool((torch.diff(h, dim=1) >= 0).all())),
            "f0": at(0.0, 0.0), "bounded": (abs(at(-1e8, 1.0)) < 1e3, abs(at(1e8, 1.0)) < 1e3)}


def table_rows(names: list[str]) -> list[dict]:
    rows = []
    for n in names:
        act = functions.get(n)
        row = {"name": n}
        if act.elementwise:
            ks = kinks(n)
            row.update(nonlinear=is_nonlinear(n), kinks=ks, torch_at_kinks=autograd_at(n, ks),
                       decrease=largest_decrease(n), f0=float(act(torch.zeros(1, dtype=torch.float64))),
                       mean=mean_output(n)[0], bounded=bounds(n), saturation=saturation(n))
        elif act.gate is not None:
            row.update(gated_row(n))
        row["extra"] = extra_parameters(n)
        rows.append(row)
    return rows


def first_zero(deriv, x_max: float = 50.0, n_points: int = 500001, dtype=torch.float64) -> float:
    """Smallest x >= 0 on a grid from which ``deriv`` (a callable on tensors) is exactly 0 all the
    way to x_max (inf if it never is): where a careless form claims a hard zero."""
    x = torch.linspace(0, x_max, n_points, dtype=dtype)
    nonzero = (deriv(x) != 0).nonzero()
    last = int(nonzero.max()) if len(nonzero) else -1
    return float(x[last + 1]) if last + 1 < len(x) else float("inf")


TEXTBOOK = {  # the derivative forms the registry does not use, for showing what they get wrong
    "tanh": lambda x: 1 - torch.tanh(x) ** 2,
    "sigmoid": lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x)),
}
