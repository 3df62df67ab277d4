"""Benchmark: actlab.workload's estimates of an ensemble's training against measurements.

Time: the CPU time of one training step (this process's one torch thread) of 22 ensembles, 1 to
2000 networks, 1 to 30 layers, ten activations, SGD, momentum and Adam, float32 and float64,
against ``workload.fit`` (its estimate less the one-off cost of drawing the weights).
Memory: the peak RSS a training run, an evaluation and ``Ensemble.hidden`` add to a fresh
process with the Makefile's allocator settings, against ``workload.fit``'s bytes. Each estimate
should come out above its measurement and within a factor of about two (the constants in
``src/actlab/workload.py`` were set from these numbers). A measurement, not a test: run it with
`make bench` (a few minutes), or `--only time` / `--only memory`.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

from actlab import data, workload
from actlab.ensemble import Ensemble, Member, fit
from actlab.seeding import deterministic

TIME = [  # activations (sharing one block), networks per activation, hidden widths, minibatch, optimizer,
    # bytes per value, steps timed
    (("relu",), 1, (64,), 64, "sgd", 4, 300), (("relu",), 1, (32,) * 30, 64, "sgd", 4, 60),
    (("relu",), 10, (32,) * 30, 64, "adam", 4, 40), (("relu",), 100, (64,) * 3, 64, "sgd", 4, 60),
    (("relu",), 1000, (64,), 64, "sgd", 4, 20), (("tanh",), 300, (256,), 64, "adam", 4, 15),
    (("sigmoid",), 200, (512, 512), 128, "sgd", 4, 4), (("gelu",), 200, (128,) * 4, 64, "adam", 4, 10),
    (("mish",), 200, (128,) * 4, 64, "adam", 4, 10), (("maxout",), 200, (128,) * 4, 64, "adam", 4, 10),
    (("swiglu",), 200, (128,) * 4, 64, "adam", 4, 10),
    (("relu", "leaky_relu", "elu"), 10, (128,) * 8, 64, "momentum", 4, 40),
    (("relu", "leaky_relu", "elu"), 10, (384,) * 8, 64, "momentum", 4, 10),
    (("sigmoid", "tanh", "relu"), 48, (64,) * 4, 64, "momentum", 4, 40), (("relu",), 112, (64,) * 3, 64, "sgd", 4, 60),
    (("relu",), 20, (64,) * 30, 256, "sgd", 8, 10), (("relu",), 50, (256,) * 4, 64, "momentum", 4, 20),
    (("relu",), 500, (32,) * 2, 32, "momentum", 4, 30), (("tanh",), 5, (1024,) * 2, 64, "adam", 4, 10),
    (("gelu", "silu", "mish", "relu"), 30, (64,) * 2, 64, "adam", 4, 40), (("sigmoid",), 20, (100,) * 4, 10, "sgd", 4, 100),
    (("relu",), 2000, (8,), 64, "adam", 8, 20),
]
MEMORY = [  # activation, members, hidden widths, rows, optimizer, what
    ("relu", 2000, (64,) * 3, 64, "sgd", "train"), ("tanh", 300, (256,), 1150, "adam", "train"),
    ("gelu", 100, (512, 512), 64, "adam", "train"), ("maxout", 200, (128,) * 4, 256, "adam", "train"),
    ("relu", 300, (256, 256), 1150, "sgd", "eval"), ("relu", 300, (256, 256), 1150, "sgd", "hidden"),
]
PIECES = {"maxout": 2, "swiglu": 2}


def net(act: str, widths) -> workload.Net:
    return workload.mlp(64, widths, 10, PIECES.get(act, 1))


def ensemble(acts, members: int, widths, dtype=torch.float32) -> Ensemble:
    return Ensemble([Member(a, widths, seed=s, lr=0.01, init="kaiming") for a in acts for s in range(members)], 64, 10,
                    dtype=dtype)


def times() -> None:
    deterministic(0)
    X, y = data.digits("train", dtype=torch.float32)
    print("time of one step (CPU ms): measured, estimated, ratio")
    for acts, members, widths, rows, opt, itemsize, steps in TIME:
        dtype = torch.float32 if itemsize == 4 else torch.float64
        ens = ensemble(acts, members, widths, dtype)
        kw = dict(optimizer="sgd" if opt == "momentum" else opt, momentum=0.9 if opt == "momentum" else 0.0,
                  batch_size=rows)
        fit(ens, X.to(dtype), y, loss="xent", steps=2, **kw)  # warm-up
        t = time.process_time()
        fit(ens, X.to(dtype), y, loss="xent", steps=steps, **kw)
        measured = (time.process_time() - t) / steps
        est2, est1 = (workload.fit(net(acts[0], widths), len(acts) * members, rows, k, optimizer=opt,
                                   itemsize=itemsize)[0] for k in (2, 1))
        est = est2 - est1  # a step, without the one-off draw of the weights
        print(f"  {'+'.join(acts):22} {members:5} x {len(widths):2} x {widths[0]:4}, batch {rows:3}, {opt:8}, "
              f"{8 * itemsize} bit: {measured * 1e3:8.2f} {est * 1e3:8.2f}  {est / measured:4.2f}", flush=True)


def one_memory(case: int) -> None:
    """In a fresh process: the peak RSS (MB) the case adds to the loaded process."""
    act, members, widths, rows, opt, what = MEMORY[case]
    deterministic(0)
    X, y = data.digits("train", dtype=torch.float32)
    X = X[:rows]
    base = peak_rss_kb()
    ens = ensemble((act,), members, widths)
    if what == "train":
        fit(ens, X, y[:rows], loss="xent", steps=3, optimizer=opt)
    with torch.no_grad():
        if what == "eval":
            ens(X)
        elif what == "hidden":
            ens.hidden(X)
    print(json.dumps((peak_rss_kb() - base) / 1024))


def peak_rss_kb() -> int:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux carries that
    over a fork and exec, so a child of a large parent (after the timings) starts at its size."""
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0])


def memories() -> None:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
    print("peak memory added (MB): measured, estimated, ratio")
    for case, (act, members, widths, rows, opt, what) in enumerate(MEMORY):
        out = subprocess.run([sys.executable, __file__, "--case", str(case)], env=env, capture_output=True,
                             text=True, check=True).stdout
        measured = json.loads(out.splitlines()[-1])
        steps = 1 if what == "train" else 0
        _, est = workload.fit(net(act, widths), members, rows if steps else 0, steps, optimizer=opt,
                              eval_rows=rows if what == "eval" else 0, keep_rows=rows if what == "hidden" else 0)
        print(f"  {what:6} {act:7} {members:5} x {widths}, {rows} rows, {opt:4}: {measured:7.0f} {est / 1e6:7.0f}  "
              f"{est / 1e6 / measured:4.2f}", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("time", "memory"))
    ap.add_argument("--case", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case is not None:
        one_memory(a.case)
    else:
        if a.only != "memory":
            times()
        if a.only != "time":
            memories()
