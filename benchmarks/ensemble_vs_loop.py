"""Benchmark: the universal-approximation sweep as one batched ensemble vs an idiomatic PyTorch loop.

The loop is what one would write without this package: for each network, a
``torch.nn.Sequential`` of ``nn.Linear`` layers and ``torch.optim.Adam``, started from the same
initial weights. Both run the same full-batch Adam steps on the same points; the benchmark
prints the wall times, the speed-up and the largest difference between the two sets of
predictions. It is a measurement, not a test: run it with `make bench`.
"""
import argparse
import platform
import time

import torch

from actlab import functions
from actlab.approximation import TARGETS
from actlab.ensemble import Ensemble, Member, fit
from actlab.seeding import deterministic


class Act(torch.nn.Module):
    def __init__(self, name):
        super().__init__()
        self.f = functions.get(name)

    def forward(self, x):
        return self.f(x)


def torch_net(m: Member) -> torch.nn.Sequential:
    """The member as plain torch.nn, with the ensemble's initial weights for its seed."""
    one = Ensemble([m], 1, 1, dtype=torch.get_default_dtype())
    blk = one.blocks[0]
    (w0, w1), (b0, b1) = blk.weights, blk.biases
    net = torch.nn.Sequential(torch.nn.Linear(1, m.widths[0]), Act(m.activation), torch.nn.Linear(m.widths[0], 1))
    with torch.no_grad():
        net[0].weight.copy_(w0[0].T)
        net[0].bias.copy_(b0[0].reshape(-1))
        net[2].weight.copy_(w1[0].T)
        net[2].bias.copy_(b1[0].reshape(-1))
    return net


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--widths", type=int, nargs="+", default=[1, 4, 16, 64])
    p.add_argument("--activations", nargs="+", default=["identity", "sigmoid", "tanh", "relu"])
    p.add_argument("--targets", nargs="+", default=["sin", "abs", "step"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--n-points", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 shows that the two agree to rounding (float32 drifts over 1000 Adam steps)")
    a = p.parse_args()
    deterministic(0, threads=1)
    dtype = getattr(torch, a.dtype)
    torch.set_default_dtype(dtype)
    ms = [Member(act, (w,), seed=s, lr=a.lr, tag={"target": t})
          for t in a.targets for act in a.activations for w in a.widths for s in range(a.seeds)]
    x = torch.linspace(-1, 1, a.n_points)[:, None]
    y = torch.stack([TARGETS[m.tag["target"]](x) for m in ms])
    xt = torch.linspace(-1, 1, 1001)[:, None]

    t0 = time.perf_counter()
    ens = Ensemble(ms, 1, 1, dtype=dtype)
    fit(ens, x, y, loss="mse", steps=a.steps, y_per_member=True)
    with torch.no_grad():
        batched = ens(xt)[..., 0]
    t_batched = time.perf_counter() - t0

    t0 = time.perf_counter()
    looped = []
    for i, m in enumerate(ms):
        net = torch_net(m)
        opt = torch.optim.Adam(net.parameters(), lr=m.lr)
        for _ in range(a.steps):
            opt.zero_grad()
            loss = ((net(x) - y[i]) ** 2).mean()
            loss.backward()
            opt.step()
        with torch.no_grad():
            looped.append(net(xt)[:, 0])
    t_loop = time.perf_counter() - t0

    per_net = (batched - torch.stack(looped)).abs().amax(1)
    gap = float(per_net.max())
    worst = ms[int(per_net.argmax())]
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"sweep: {len(ms)} networks ({len(a.widths)} widths x {len(a.activations)} activations x "
          f"{len(a.targets)} targets x {a.seeds} seeds), {a.steps} full-batch Adam steps on {a.n_points} points")
    print(f"batched ensemble:              {t_batched:8.2f} s")
    print(f"torch.nn + torch.optim loop:   {t_loop:8.2f} s")
    print(f"speed-up:                      {t_loop / t_batched:8.2f} x")
    print(f"largest prediction difference: {gap:.2e} ({a.dtype}; torch.optim.Adam arranges the same update "
          "differently, and rounding differences grow over the steps)")
    print(f"median per network: {float(per_net.median()):.2e}; within 1e-6: {int((per_net <= 1e-6).sum())} of "
          f"{len(ms)}; worst: {worst.activation}, width {worst.widths[0]}, target {worst.tag['target']}, seed {worst.seed}")


if __name__ == "__main__":
    main()
