"""Benchmark: the universal-approximation sweep as one batched ensemble vs a Python loop.

Runs the same sweep (the chapter's full profile by default) both ways, checks that every
network's predictions agree to 1e-5, and prints the wall times and the speed-up. It is a
measurement, not a test: run it with `make bench`.
"""
import argparse
import platform
import time

import torch

from actlab import approximation as ap
from actlab.ensemble import Ensemble, fit
from actlab.seeding import deterministic


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--widths", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128, 256])
    p.add_argument("--activations", nargs="+", default=["identity", "sigmoid", "tanh", "relu"])
    p.add_argument("--targets", nargs="+", default=["sin", "abs", "step"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--n-points", type=int, default=128)
    a = p.parse_args()
    deterministic(0, threads=1)
    ms = ap.members(a.widths, a.activations, a.targets, a.seeds, lr=0.01)
    x, y = ap.data(a.targets, len(ms) // len(a.targets), a.n_points)
    xt = torch.linspace(-1, 1, 1001)[:, None]

    t0 = time.perf_counter()
    ens = Ensemble(ms, 1, 1, dtype=torch.float32)
    fit(ens, x, y, loss="mse", steps=a.steps, y_per_member=True)
    with torch.no_grad():
        batched = ens(xt)[..., 0]
    t_batched = time.perf_counter() - t0

    t0 = time.perf_counter()
    looped = []
    for i, m in enumerate(ms):
        one = Ensemble([m], 1, 1, dtype=torch.float32)
        fit(one, x, y[i:i + 1], loss="mse", steps=a.steps, y_per_member=True)
        with torch.no_grad():
            looped.append(one(xt)[0, :, 0])
    t_loop = time.perf_counter() - t0

    gap = float((batched - torch.stack(looped)).abs().max())
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"sweep: {len(ms)} networks ({len(a.widths)} widths x {len(a.activations)} activations x "
          f"{len(a.targets)} targets x {a.seeds} seeds), {a.steps} Adam steps on {a.n_points} points")
    print(f"batched ensemble: {t_batched:8.2f} s")
    print(f"python loop:      {t_loop:8.2f} s")
    print(f"speed-up:         {t_loop / t_batched:8.2f} x")
    print(f"largest prediction difference: {gap:.2e} (required <= 1e-5)")
    if gap > 1e-5:
        raise SystemExit("FAILED: the batched and looped sweeps disagree")


if __name__ == "__main__":
    main()
