"""The timing loop the book's timings share: one value per round, operations taking turns.

Kept apart from :mod:`actlab.cost` so that an experiment which only times its own steps (the
guide's leaderboard, the MNIST-1D chapter) does not depend on how the cost chapter analyses its
timings: an evidence cell's key covers the modules it imports.
"""
from __future__ import annotations

import platform
import time
from collections.abc import Callable

import numpy as np
import torch


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_ops(ops: dict[str, Callable[[], object]], repeats: int, block_s: float = 0.004,
             inner: int = 2, *, calls: int | None = None, clock: Callable[[], float] = time.perf_counter,
             threads: int = 1) -> dict[str, np.ndarray]:
    """Seconds per call of each op, one value per repeat (round), taken round-robin on ``threads``
    torch threads.

    In each round an op runs ``inner`` short blocks of calls (``calls`` each, or as many as fill
    about ``block_s`` in all, counted once per op after a warm-up call) and the fastest block
    counts: another process taking the core can only add time, so the minimum is the op's own
    cost, and a preempted block does not become a round's value. The rounds give the spread.
    ``clock``: the wall clock by default; ``time.thread_time`` counts only this thread's CPU time.
    (A plain loop: ``torch.utils.benchmark``'s ``timeit`` runs two untimed calls before every
    block, which for an op slower than a block tripled the time spent.)"""
    def block(f, number):
        t = clock()
        for _ in range(number):
            f()
        return (clock() - t) / number

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        once = {k: block(f, 1) for k, f in ops.items()}  # the warm-up call, timed
        number = {k: calls or max(1, round(block_s / inner / once[k])) for k in ops}
        out = {k: np.empty(repeats) for k in ops}
        for r in range(repeats):
            for k, f in ops.items():
                out[k][r] = min(block(f, number[k]) for _ in range(inner))
    finally:
        torch.set_num_threads(before)
    return out
