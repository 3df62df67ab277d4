"""What an activation costs: CPU time per element, with its spread over rounds and over builds.

Each function is timed twice where the two differ: PyTorch's own kernel
(``torch.nn.functional``, what a network runs) and the registry's numerically safe form
(what the book's figures evaluate). The backward pass is timed on its own: autograd's
backward of the kernel, and for the step, which has no autograd kernel, the registry's
analytic derivative applied to an incoming gradient.

All timings (:func:`actlab.timing.time_ops`) run on a fixed number of threads and are taken round-robin,
one repeat of every operation after another, so a slow moment of a shared machine hits all of
them alike. A ratio between two operations is formed per repeat (paired). The book's timing
(:func:`timing_data`, the evidence cell "properties-cost") repeats the whole timing in several
fresh processes ("builds") at more than one thread count; a ratio's interval spans every build's
bootstrap interval over its rounds (:func:`spread`), so a ratio that moves between builds comes
out wide, and a thin margin undecided.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from actlab import functions
from actlab.timing import cpu_name, time_ops
from actlab.verdicts import Measure, bootstrap, halved

# The functions the cost chapter times: an explicit list, so that a function added to the registry
# does not lengthen the timing (the identity does nothing, and LeCun's tanh is tanh's kernel and two
# multiplications).
TIMED = ["step", "sigmoid", "hardsigmoid", "tanh", "hardtanh", "softsign", "relu", "relu6", "leaky_relu",
         "prelu", "elu", "selu", "celu", "gelu", "gelu_tanh", "silu", "mish", "softplus"]
# Each build times with the allocator settings of the book's kernels (the Makefile's), whatever its
# caller's: under the evidence cells' 4 MiB mmap threshold every 8 MB output is a fresh mapping whose
# page faults outweigh most kernels (a linear layer measured 3.5 × ReLU so, 10 × without).
TIMING_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
WIDTH = 256  # the linear layer's width: a call's elements are whole rows of it
SECONDS_PER_ELEMENT = 7e-9  # one timed call on one element, the slowest kinds on this machine's core, rounded up


def timing_seconds(names: list[str], n: int, repeats: int, block_s: float) -> float:
    """About how long :func:`time_activations` takes: per op a warm-up call, then per repeat
    ``inner`` = 2 blocks of about ``block_s / 2`` each, or of one call where one call is longer."""
    n_ops = 3 + sum(len(kinds(name)) for name in names)
    once = n * SECONDS_PER_ELEMENT
    return n_ops * (once + repeats * max(block_s, 2 * once))


def timing_bytes(names: list[str], n: int) -> float:
    """About the most memory :func:`time_activations` holds above the loaded interpreter: per
    element, the input and the incoming gradient, an input copy and an output kept for each
    backward it times, and the temporaries of the registry's safe forms. Measured for
    :data:`TIMED`: 61 to 72 float32 values per element (1 and 4 million elements); counted as 80."""
    return 4.0 * n * 80 * len(names) / len(TIMED)


def run_cost(names: list[str], cost_elements: int, cost_repeats: int, cost_block_ms: float) -> tuple[float, float]:
    """(seconds, bytes) of one build's timing at one thread count, in the chapter's parameters."""
    return (timing_seconds(names, cost_elements, cost_repeats, cost_block_ms / 1000),
            timing_bytes(names, cost_elements))


def machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores present"


def spread(x) -> Measure:
    """The median of ``x`` (builds × rounds) over every round, with an interval that spans each
    build's bootstrap interval of its median over rounds: as wide as the builds disagree, never
    narrower than one build's rounds allow. Halves are the first and the second half of the builds
    (with one build, of its rounds)."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    if len(x) == 1:
        return bootstrap(x[0])
    each = [bootstrap(row, halves=False) for row in x]
    value = float(np.median(x))
    m = Measure(value, min(value, *(e.lo for e in each)), max(value, *(e.hi for e in each)), x.size,
                "spanning each process's bootstrap interval over its rounds")
    return halved(m, spread, x)


@dataclass
class Timings:
    """Seconds per call of every timed operation on ``n`` float32 elements at ``threads`` torch
    threads, one row per build (a fresh process) and one value per round."""
    n: int
    repeats: int
    width: int
    t: dict[str, np.ndarray]
    threads: int = 1
    machine: str = ""  # where it was timed, if not here

    @property
    def builds(self) -> int:
        return len(next(iter(self.t.values())))

    def has(self, key: str) -> bool:
        return key in self.t

    def ns(self, key: str) -> Measure:
        """Nanoseconds per element: median with its interval over rounds and builds (:func:`spread`)."""
        return spread(1e9 * self.t[key] / self.n)

    def ratio(self, a: str, b: str) -> Measure:
        """Time of ``a`` ÷ time of ``b``, paired per round: median and interval (:func:`spread`)."""
        return spread(self.t[a] / self.t[b])


def kinds(name: str) -> list[str]:
    """Which operations are timed for ``name``: fwd/bwd of the torch kernel, fwd/bwd of the registry."""
    act = functions.get(name)
    out = []
    if act.torch_ref is not None:
        out.append("fwd_torch")
        if _has_graph(act.torch_ref):
            out.append("bwd_torch")
    if act.torch_ref is None or act.forward is not act.torch_ref:
        out.append("fwd_registry")
    if "bwd_torch" not in out:  # the step: no autograd kernel; its backward is the registry's f' = 0
        out.append("bwd_registry")
    return out


def _has_graph(f) -> bool:
    """Whether autograd can run the kernel's backward (torch.heaviside has none)."""
    x = torch.zeros(2, requires_grad=True)
    try:
        y = f(x)
        return y.requires_grad and torch.autograd.grad(y.sum(), x)[0] is not None
    except RuntimeError:
        return False


def time_activations(names: list[str], n: int, repeats: int, width: int = WIDTH, seed: int = 0,
                     block_s: float = 0.004, threads: int = 1) -> Timings:
    """Time every function's forward and backward (see :func:`kinds`), a plain copy (for
    reference) and a linear layer of ``width`` units whose output has ``n`` elements, in this
    process (one build)."""
    g = torch.Generator().manual_seed(seed)
    rows = max(1, n // width)
    n = rows * width
    x = torch.randn(rows, width, generator=g) * 3
    grad = torch.randn(rows, width, generator=g)
    w = torch.randn(width, width, generator=g) / width**0.5
    b = torch.zeros(width)
    # references: a plain copy (memory traffic alone), a bare exponential (the operation the
    # claim blames), and the linear layer an activation follows
    ops: dict[str, Callable] = {"copy": lambda: x.clone(), "exp": lambda: torch.exp(x),
                                "linear": lambda: F.linear(x, w, b)}
    for name in names:
        act = functions.get(name)
        ks = kinds(name)
        if "fwd_torch" in ks:
            ops[f"{name}:fwd_torch"] = (lambda f: lambda: f(x))(act.torch_ref)
        if "bwd_torch" in ks:
            xr = x.clone().requires_grad_(True)
            y = act.torch_ref(xr)
            ops[f"{name}:bwd_torch"] = (lambda y, xr: lambda: torch.autograd.grad(y, xr, grad, retain_graph=True))(y, xr)  # noqa: B023 (bound by the outer lambda)
        if "fwd_registry" in ks:
            ops[f"{name}:fwd_registry"] = (lambda f: lambda: f(x))(act.forward)
        if "bwd_registry" in ks:
            ops[f"{name}:bwd_registry"] = (lambda d: lambda: grad * d(x))(act.derivative)
    t = time_ops(ops, repeats, block_s, threads=threads)
    return Timings(n, repeats, width, {k: v[None, :] for k, v in t.items()}, threads)


def fwd_key(name: str) -> str:
    """The forward a network runs: torch's kernel where there is one."""
    return f"{name}:fwd_torch" if "fwd_torch" in kinds(name) else f"{name}:fwd_registry"


def bwd_key(name: str) -> str:
    """The backward a network runs: autograd of torch's kernel, else the analytic derivative."""
    return f"{name}:bwd_torch" if "bwd_torch" in kinds(name) else f"{name}:bwd_registry"


def excess_share(t: Timings, name: str, base: str = "relu") -> Measure:
    """How much of the forward pass's extra time over ``base`` the backward pass pays too:
    (bwd ratio − 1) ÷ (fwd ratio − 1), per repeat. About 1 if the backward recomputed what
    makes the forward dear (an exponential), near 0 if it only reuses the saved output."""
    fwd = t.t[fwd_key(name)] / t.t[fwd_key(base)]
    bwd = t.t[bwd_key(name)] / t.t[bwd_key(base)]
    return spread((bwd - 1) / (fwd - 1))


def run(cost_elements: int, cost_repeats: int, cost_block_ms: float, names: list[str] = TIMED) -> dict[int, Timings]:
    """A quick timing in this process, on one thread, in the chapter's parameters: ``cost_elements``
    float32 values per call (whole rows of the layer's width, so it rounds down), ``cost_repeats``
    rounds, blocks of about ``cost_block_ms`` milliseconds."""
    return {1: time_activations(names, cost_elements, cost_repeats, block_s=cost_block_ms / 1000)}


def _one_build(n: int, repeats: int, block_s: float, threads: list[int], names: list[str]) -> dict:
    """One build's timings at each thread count, in the order given: {threads: {op: [rounds]}}, and
    the allocator settings it ran under."""
    return {"allocator": {k: os.environ.get(k) for k in TIMING_MALLOC},
            "timings": {str(k): {op: v[0].tolist() for op, v in time_activations(
                names, n, repeats, block_s=block_s, threads=k).t.items()} for k in threads}}


def timing_data(cost_elements: int, cost_repeats: int, cost_block_ms: float, cost_builds: int,
                cost_threads: list[int], names: list[str] = TIMED) -> dict:
    """The evidence cell "properties-cost": :func:`time_activations` at every thread count in
    ``cost_threads``, repeated in ``cost_builds`` fresh processes one after another (a fresh
    interpreter, allocator and thread pool each, as a new build of the book would have; the
    thread counts take turns going first). Stored as seconds per call, per build and round."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    runs, before = [], {k: os.environ.get(k) for k in TIMING_MALLOC}
    os.environ.update(TIMING_MALLOC)  # read by each fresh process's allocator as it starts
    try:
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), max_tasks_per_child=1) as pool:
            for b in range(cost_builds):
                order = cost_threads[b % len(cost_threads):] + cost_threads[:b % len(cost_threads)]
                runs.append(pool.submit(_one_build, cost_elements, cost_repeats, cost_block_ms / 1000, order,
                                        names).result())
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"n": max(1, cost_elements // WIDTH) * WIDTH, "width": WIDTH, "repeats": cost_repeats,
            "machine": machine(), "allocator": runs[0]["allocator"],
            "timings": {str(k): {op: [r["timings"][str(k)][op] for r in runs] for op in runs[0]["timings"][str(k)]}
                        for k in cost_threads}}


def from_data(data: dict) -> dict[int, Timings]:
    """The stored cell as one :class:`Timings` per thread count."""
    return {int(k): Timings(data["n"], data["repeats"], data["width"], {op: np.asarray(v) for op, v in t.items()},
                            int(k), data["machine"]) for k, t in data["timings"].items()}


# The ratios the claims read, at every thread count timed: key -> (operation, against)
CLAIM_RATIOS = {"exp_over_relu": ("exp", "relu"), "fwd_rel_sigmoid": ("sigmoid", "relu"),
                "fwd_rel_tanh": ("tanh", "relu"), "linear_over_relu": ("linear", "relu")}


def metrics(timings: dict[int, Timings], names: list[str] = TIMED) -> dict:
    """Every ratio the chapter and its claims read, each with its interval, as metrics: the full set
    on one thread, and the claims' ratios at every thread count ``k`` timed, as ``NAME_tK`` and
    (the most threads) ``NAME_tmax``."""
    from actlab.numbers import pct
    from actlab.verdicts import measure_metrics

    t = timings[1]
    key = lambda op: op if op in ("exp", "linear", "copy") else fwd_key(op)  # noqa: E731
    out = {}
    for n in names:
        out |= measure_metrics(f"fwd_rel_{n}", t.ratio(fwd_key(n), fwd_key("relu")))
        out |= measure_metrics(f"bwd_rel_{n}", t.ratio(bwd_key(n), bwd_key("relu")))
    out |= measure_metrics("fwd_ns_relu", t.ns(fwd_key("relu")))
    out |= measure_metrics("relu_over_copy", t.ratio(fwd_key("relu"), "copy"))
    out |= measure_metrics("linear_over_relu", t.ratio("linear", fwd_key("relu")))
    out |= measure_metrics("exp_over_relu", t.ratio("exp", fwd_key("relu")))
    out |= measure_metrics("exp_over_sigmoid", t.ratio("exp", fwd_key("sigmoid")))
    out |= measure_metrics("linear_over_sigmoid", t.ratio("linear", fwd_key("sigmoid")))
    if "gelu" in names:
        out |= measure_metrics("gelu_registry_over_torch", t.ratio("gelu:fwd_registry", "gelu:fwd_torch"))
    out |= measure_metrics("bwd_share_sigmoid", excess_share(t, "sigmoid"))
    most = max(timings)
    for k, tk in sorted(timings.items()):
        for suffix in (f"_t{k}",) + (("_tmax",) if k == most else ()):
            for name, (a, b) in CLAIM_RATIOS.items():
                out |= measure_metrics(name + suffix, tk.ratio(key(a), key(b)))
            out |= measure_metrics("bwd_share_sigmoid" + suffix, excess_share(tk, "sigmoid"))
    out["threads_timed"] = ", ".join(map(str, sorted(timings)))
    out["threads_max"] = most
    slowest = max(names, key=lambda n: np.median(t.t[fwd_key(n)]))
    out["slowest"] = functions.get(slowest).label
    out |= measure_metrics("slowest_rel", t.ratio(fwd_key(slowest), fwd_key("relu")))
    out |= measure_metrics("slowest_over_linear", t.ratio(fwd_key(slowest), "linear"))
    out["slowest_over_linear_pct"] = pct(np.median(t.t[fwd_key(slowest)] / t.t["linear"]))
    # how many forward kernels stay under a tenth of the layer's time (median of paired ratios)
    cheap = [n for n in names if np.median(t.t[fwd_key(n)] / t.t["linear"]) < 0.1]
    out["n_kernels_cheap"] = len(cheap)
    out["n_kernels"] = len(names)
    out["kernels_not_cheap"] = ", ".join(functions.get(n).label for n in names if n not in cheap) or "none"
    out["machine"] = t.machine or machine()
    out["cost_elements"] = t.n
    out["cost_repeats"] = t.repeats
    out["cost_builds"] = t.builds
    out["cost_width"] = t.width
    return out


def cost_bars(t: Timings, names: list[str]):
    """Forward and backward time per element relative to ReLU's, at ``t.threads`` threads: a bar for
    PyTorch's kernel (solid) and a thin hatched bar for the registry's safe form where the two
    differ, each with its 95% interval (black whisker, :func:`spread`). Dotted: a plain copy; the
    grey bar at the bottom of the forward panel is a linear layer of the same width."""
    import matplotlib as mpl

    from actlab import plotting

    fig, axes = plotting.figure(1, 2, width=7.0, height=0.27 * len(names) + 1.6, sharey=True)
    ys = np.arange(len(names))
    for ax, (title, kernel, registry, base) in zip(axes[0], (
            ("forward", "fwd_torch", "fwd_registry", fwd_key("relu")),
            ("backward", "bwd_torch", "bwd_registry", bwd_key("relu"))), strict=True):
        for y, n in zip(ys, names, strict=True):
            for key, off, h, style in ((f"{n}:{kernel}", -0.17, 0.42, {}),
                                       (f"{n}:{registry}", 0.22, 0.3, {"hatch": "////", "alpha": 0.55})):
                if not t.has(key):
                    continue
                m = t.ratio(key, base)
                ax.barh(y + off, m.value, height=h, color=plotting.color(n), **style)
                ax.plot([m.lo, m.hi], [y + off] * 2, color="black", linewidth=0.9)
        ax.axvline(np.median(t.t["copy"] / t.t[base]), color=plotting.NEUTRAL, linestyle=":",
                   label="plain copy, x.clone()")
        ax.axvline(1.0, color=plotting.color("relu"), linewidth=0.8)
        ax.set_xscale("log")
        ax.set_title(title)
        ax.set_xlabel(f"time ÷ ReLU's {title} time")
        ax.grid(axis="y", visible=False)
    lin = t.ratio("linear", fwd_key("relu"))
    axes[0, 0].barh(len(names) + 0.2, lin.value, height=0.5, color=plotting.NEUTRAL, alpha=0.6)
    axes[0, 0].plot([lin.lo, lin.hi], [len(names) + 0.2] * 2, color="black", linewidth=0.9)
    axes[0, 0].set_yticks(list(ys) + [len(names) + 0.2],
                          [plotting.label(n) for n in names] + [f"linear layer {t.width}→{t.width}"])
    axes[0, 0].invert_yaxis()
    handles = axes[0, 0].get_legend_handles_labels()[0] + [
        mpl.patches.Patch(color=plotting.NEUTRAL, label="PyTorch kernel"),
        mpl.patches.Patch(facecolor="white", edgecolor=plotting.NEUTRAL, hatch="////", label="registry's safe form")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3)
    return plotting.finish(fig)
