"""Benchmark: sweeps as one batched ensemble vs an idiomatic PyTorch loop over the same networks.

The loop is what one would write without this package: for each network, a
``torch.nn.Sequential`` of ``nn.Linear`` (and ``nn.Conv1d``) layers and ``torch.optim.Adam``,
started from the same initial weights. Two sweeps:

- mlp: the universal-approximation sweep, full-batch Adam on points of a 1-D target;
- conv: the MNIST-1D paper's small CNN (actlab.ensemble.mnist1d_cnn), activations x seeds x
  learning rates, minibatch Adam on MNIST-1D in the same batch order for both.

The two take turns in one process: the ensemble trains ``--rounds`` chunks of its steps, and
after each chunk the loop trains every network through the same steps (fit's callback), so
both see the same load on a shared machine. Both print the total times, the speed-up of the
totals, the median and range of the rounds' speed-ups, and the largest difference between the
two sets of predictions; the conv sweep also prints the rate of matmul FLOPs the ensemble
reaches beside this machine's matmul peak in the same dtype, measured in the same process with
the same thread count.
It is a measurement, not a test: run it with `make bench` (run directly, it starts itself again with
glibc's malloc thresholds as make sets them, for both).
"""
import argparse
import math
import os
import platform
import sys
import time

import numpy as np
import torch

from actlab import functions
from actlab.approximation import TARGETS
from actlab.data import mnist1d
from actlab.ensemble import Ensemble, Member, fit, mnist1d_cnn, torch_network
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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sweep", choices=["mlp", "conv", "both"], default="both")
    p.add_argument("--widths", type=int, nargs="+", default=[1, 4, 16, 64])
    p.add_argument("--activations", nargs="+", default=["identity", "sigmoid", "tanh", "relu"])
    p.add_argument("--targets", nargs="+", default=["sin", "abs", "step"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--n-points", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="float64 shows that the two agree to rounding (float32 drifts over 1000 Adam steps)")
    p.add_argument("--conv-activations", nargs="+", default=["relu", "tanh", "gelu"])
    p.add_argument("--conv-lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    p.add_argument("--conv-steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--rounds", type=int, default=10, help="turns of ensemble and loop, each a chunk of the steps")
    a = p.parse_args()
    malloc = malloc_like_make()
    deterministic(0, threads=1)
    dtype = getattr(torch, a.dtype)
    torch.set_default_dtype(dtype)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), {a.dtype}; {malloc}; load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3]) if os.path.exists('/proc/loadavg') else '?'}")
    if a.sweep in ("mlp", "both"):
        mlp_sweep(a, dtype)
    if a.sweep in ("conv", "both"):
        conv_sweep(a, dtype)


def malloc_like_make() -> str:
    """glibc's malloc thresholds as the Makefile exports them: freed tensors are reused instead of
    faulted in afresh, for the ensemble and the loop alike. Run outside make, the script starts
    itself again with them in its environment (malloc reads them once, at start)."""
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    return (f"MALLOC_MMAP_THRESHOLD_={os.environ['MALLOC_MMAP_THRESHOLD_']}, "
            f"MALLOC_TRIM_THRESHOLD_={os.environ.get('MALLOC_TRIM_THRESHOLD_', 'default')}")


class Rounds:
    """Cpu and wall time of the ensemble's chunks of steps and of the loop's, taken in turns."""

    def __init__(self):
        self.ens, self.loop = [], []
        self.start()

    def start(self) -> float:
        """The first chunk's start; returns its wall time."""
        self.mark = (time.perf_counter(), time.process_time())
        return self.mark[0]

    def clock(self, side: list):
        now = (time.perf_counter(), time.process_time())
        side.append((now[0] - self.mark[0], now[1] - self.mark[1]))
        self.mark = now

    def speedups(self) -> str:
        e, lp = np.array(self.ens), np.array(self.loop)
        s = lp / e
        q = lambda k: f"median {np.median(s[:, k]):.2f} x (range {s[:, k].min():.2f}-{s[:, k].max():.2f})"
        return f"speed-up per round ({len(s)} rounds): cpu {q(1)}, wall {q(0)}"


def loop_turns(rounds: Rounds, nets, ms, batches_of, step_one):
    """fit's callback: after the ensemble's chunk of steps ending at ``step``, every network of the
    loop takes the same steps (its own torch.optim.Adam), and both chunks are timed."""
    opts = [torch.optim.Adam(net.parameters(), lr=m.lr) for net, m in zip(nets, ms, strict=True)]
    done = [0]

    def callback(step, _ens):
        rounds.clock(rounds.ens)
        for i, (net, opt) in enumerate(zip(nets, opts, strict=True)):
            for k in range(done[0], step):
                opt.zero_grad()
                step_one(i, net, batches_of(i, k)).backward()
                opt.step()
        done[0] = step
        rounds.clock(rounds.loop)
    return callback


def mlp_sweep(a, dtype):
    ms = [Member(act, (w,), seed=s, lr=a.lr, tag={"target": t})
          for t in a.targets for act in a.activations for w in a.widths for s in range(a.seeds)]
    x = torch.linspace(-1, 1, a.n_points)[:, None]
    y = torch.stack([TARGETS[m.tag["target"]](x) for m in ms])
    xt = torch.linspace(-1, 1, 1001)[:, None]

    t0 = time.perf_counter()
    nets = [torch_net(m) for m in ms]
    rounds = Rounds()
    chunk = -(-a.steps // a.rounds)
    step_one = lambda i, net, _k: ((net(x) - y[i]) ** 2).mean()
    callback = loop_turns(rounds, nets, ms, lambda _i, _k: None, step_one)
    t_loop = time.perf_counter() - t0  # the networks and their optimisers

    t0 = rounds.start()
    ens = Ensemble(ms, 1, 1, dtype=dtype)
    fit(ens, x, y, loss="mse", steps=a.steps, y_per_member=True, log_every=chunk, callback=callback)
    with torch.no_grad():
        batched = ens(xt)[..., 0]
    t_batched = time.perf_counter() - t0 - sum(t for t, _ in rounds.loop)

    t0 = time.perf_counter()
    with torch.no_grad():
        looped = [net(xt)[:, 0] for net in nets]
    t_loop += time.perf_counter() - t0 + sum(t for t, _ in rounds.loop)

    per_net = (batched - torch.stack(looped)).abs().amax(1)
    gap = float(per_net.max())
    worst = ms[int(per_net.argmax())]
    print(f"== mlp sweep: {len(ms)} networks ({len(a.widths)} widths x {len(a.activations)} activations x "
          f"{len(a.targets)} targets x {a.seeds} seeds), {a.steps} full-batch Adam steps on {a.n_points} points")
    print(f"batched ensemble:              {t_batched:8.2f} s")
    print(f"torch.nn + torch.optim loop:   {t_loop:8.2f} s")
    print(f"speed-up:                      {t_loop / t_batched:8.2f} x; {rounds.speedups()}")
    print(f"largest prediction difference: {gap:.2e} ({a.dtype}; torch.optim.Adam arranges the same update "
          "differently, and rounding differences grow over the steps)")
    print(f"median per network: {float(per_net.median()):.2e}; within 1e-6: {int((per_net <= 1e-6).sum())} of "
          f"{len(ms)}; worst: {worst.activation}, width {worst.widths[0]}, target {worst.tag['target']}, seed {worst.seed}")


def batch_order(n: int, batch_size: int, steps: int, member_seed: int, seed: int = 0) -> list[torch.Tensor]:
    """The minibatches ``fit(..., batch_size, seed)`` draws for a member of ``member_seed``, in its
    order (an epoch's permutation, then the next), so the loop sees exactly the batches the
    ensemble's member saw."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + member_seed)
    out, perm, pos = [], None, n
    for _ in range(steps):
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=g), 0
        out.append(perm[pos:pos + batch_size])
        pos += batch_size
    return out


def matmul_flops(ens: Ensemble) -> tuple[int, int]:
    """Matmul FLOPs per example summed over the members: (a forward pass, a training step). A
    training step is the forward pass, every weight gradient and every input gradient but the
    first layer's (its input needs none); activations, loss and Adam are not counted."""
    fwd = step = 0
    for blk in ens.blocks:
        lengths = blk.lengths[1:] + [1] * (len(blk.weights) - len(blk.conv))  # output positions per layer
        macs = [n * w.shape[1] * w.shape[2] for n, w in zip(lengths, blk.weights, strict=True)]
        fwd += 2 * len(blk.members) * sum(macs)
        step += 2 * len(blk.members) * (3 * sum(macs) - macs[0])
    return fwd, step


def matmul_peak(dtype, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of the best of ``reps`` (n x n) @ (n x n) products in ``dtype``, cpu time (this process's
    work), with the thread count the sweeps ran with."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    best = math.inf
    for _ in range(reps):
        c0 = time.process_time()
        a @ b
        best = min(best, time.process_time() - c0)
    return 2 * n**3 / best


def conv_sweep(a, dtype):
    x, y, xt, yt = mnist1d(dtype=dtype)
    ms = [mnist1d_cnn(act, seed=s, lr=lr) for act in a.conv_activations for s in range(a.seeds) for lr in a.conv_lrs]
    nets = [torch_network(Ensemble(ms, x.shape[1], 10, dtype=dtype), i) for i in range(len(ms))]  # initial weights

    orders = {s: batch_order(len(y), a.batch_size, a.conv_steps, s) for s in range(a.seeds)}
    chunk = -(-a.conv_steps // a.rounds)
    rounds = Rounds()
    step_one = lambda _i, net, sel: torch.nn.functional.cross_entropy(net(x[sel]), y[sel])
    callback = loop_turns(rounds, nets, ms, lambda i, k: orders[ms[i].seed][k], step_one)
    t0, c0 = rounds.start(), rounds.mark[1]
    ens = Ensemble(ms, x.shape[1], 10, dtype=dtype)
    fit(ens, x, y, loss="xent", steps=a.conv_steps, batch_size=a.batch_size, log_every=chunk, callback=callback)
    with torch.no_grad():
        batched = ens(xt)
    t_loop, c_loop = (sum(r[k] for r in rounds.loop) for k in (0, 1))
    t_batched, c_batched = time.perf_counter() - t0 - t_loop, time.process_time() - c0 - c_loop

    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        looped = [net(xt) for net in nets]
    t_loop, c_loop = t_loop + time.perf_counter() - t0, c_loop + time.process_time() - c0

    looped = torch.stack(looped)
    gap = (batched - looped).abs().amax((1, 2))
    acc = (batched.argmax(-1) == yt).double().mean(1)
    agree = (batched.argmax(-1) == looped.argmax(-1)).double().mean()
    print(f"== conv sweep: {len(ms)} MNIST-1D CNNs (25 channels x 3 conv layers; {len(a.conv_activations)} activations x "
          f"{a.seeds} seeds x {len(a.conv_lrs)} learning rates), {a.conv_steps} Adam steps of batch {a.batch_size}")
    per = lambda t: f"{t:8.2f} s  ({1e3 * t / a.conv_steps:.1f} ms per step)"
    print(f"batched ensemble:              wall {per(t_batched)}, cpu {per(c_batched)}")
    print(f"torch.nn + torch.optim loop:   wall {per(t_loop)}, cpu {per(c_loop)}")
    print(f"speed-up:                      wall {t_loop / t_batched:8.2f} x, cpu {c_loop / c_batched:.2f} x "
          "(one thread: cpu time is this process's work, wall time includes other load on the machine)")
    print(f"                               {rounds.speedups()}")
    print(f"largest logit difference: {float(gap.max()):.2e} (median per network {float(gap.median()):.2e}); "
          f"test predictions agree on {float(agree):.2%}"
          + (" (float32: Adam magnifies rounding differences over the steps; float64 agrees to about 1e-11)"
             if dtype == torch.float32 else ""))
    print(f"test accuracy after {a.conv_steps} steps: median {float(acc.median()):.1%}, "
          f"range {float(acc.min()):.1%} to {float(acc.max()):.1%}")
    fwd, step = matmul_flops(ens)
    flops = a.conv_steps * a.batch_size * step + len(xt) * fwd
    rate, peak = flops / c_batched, matmul_peak(dtype)
    print(f"matmul FLOPs: {flops / 1e9:.1f} G ({step * a.batch_size / 1e6:.0f} M per step); ensemble "
          f"{rate / 1e9:.1f} GFLOP/s of cpu time, {rate / peak:.0%} of this machine's {a.dtype} matmul peak, "
          f"{peak / 1e9:.1f} GFLOP/s (2048 x 2048 products, best of 5, {torch.get_num_threads()} thread(s))")


if __name__ == "__main__":
    main()
