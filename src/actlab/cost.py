"""What an activation costs: wall time per element, against ReLU and a plain memory copy."""
from __future__ import annotations

import os
import platform
import time

import numpy as np
import torch

from actlab import functions


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up: allocations, lazy initialisation
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def time_elementwise(names: list[str], n: int, repeats: int, seed: int = 0) -> dict:
    """Median seconds for forward and forward+backward of each function on n float32 values,
    plus 'copy' (x.clone(), and clone with its backward): the memory-traffic floor."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g) * 3
    grad = torch.ones(n)
    xr = x.clone().requires_grad_(True)

    def fwd(f):
        return lambda: f(x)

    def fwdbwd(f):
        def run():
            xr.grad = None
            f(xr).backward(grad)
        return run

    copy = lambda: (_median_time(lambda: x.clone(), repeats), _median_time(fwdbwd(lambda t: t.clone()), repeats))
    first = copy()
    out = {}
    for name in names:
        f = functions.get(name)
        fb = fwdbwd(f) if name != "step" else fwd(f)  # the step function has no backward
        out[name] = (_median_time(fwd(f), repeats), _median_time(fb, repeats))
    last = copy()  # the floor is measured before and after, and the lower kept: clock ramps and
    out["copy"] = (min(first[0], last[0]), min(first[1], last[1]))  # noise only ever add time
    return out


def machine() -> str:
    return f"{cpu_name()}, {torch.get_num_threads()} torch thread(s) of {os.cpu_count()} cores"
