"""What an experiment will cost before it runs: seconds and peak bytes from its sizes alone.

A chapter turns its parameters into a list of :class:`Cost` (one per experiment, from the small
``*_cost`` functions beside each experiment) and :mod:`actlab.budgets` refuses a set whose memory or
time exceeds the book's budget (:data:`actlab.params.MEMORY_BYTES`, :data:`actlab.params.SECONDS`).
Most experiments train a batched :class:`~actlab.ensemble.Ensemble`, and :func:`fit` prices that
from the shape of one network (:class:`Net`), the members, the rows per step and the steps.

The constants were measured once on this book's machine (CPU time of the one torch thread; peak
RSS above the loaded kernel, with the Makefile's MALLOC_* settings) and set to the safe side:
``benchmarks/budget_calibration.py`` measures them again. An estimate is meant to be within about a
factor of two of a measurement, and above it: the budget is to stop a run that would exhaust the
machine, not to predict the last second. Time is CPU time; a busy machine stretches the wall clock.
Experiments that stop early (a target reached, a learning-rate grid that needs no extension) are
priced at their worst case, so those estimates run higher. Not modelled: with the Makefile's
MALLOC_MMAP_THRESHOLD_ of 32 MB, an ensemble of several activations evaluated many times can grow
the heap well past what it allocates (see ``convergence.run_cost``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """One experiment's estimate: ``what`` it is ("the dead-unit sweep"), its ``seconds``, the
    ``bytes`` it holds at its peak; ``sizes``: the parameters that shrink both, ``lengths``: those
    that shorten it only (steps, epochs)."""
    what: str
    seconds: float
    bytes: float
    sizes: tuple[str, ...]
    lengths: tuple[str, ...] = ()

    def advice(self, memory: bool) -> str:
        """The parameters to lower, as a sentence lists them: "seeds, widths or steps"."""
        names = list(self.sizes) + ([] if memory else [n for n in self.lengths if n not in self.sizes])
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# ---------------------------------------------------------------- one network's shape

@dataclass(frozen=True)
class Net:
    """One member's sizes per example: ``macs`` multiply-adds of a forward pass, ``units`` values
    the backward pass keeps (pre- and post-activation of every hidden layer), ``widest`` the largest
    layer output; ``params`` and the ``largest`` layer's parameters; ``layers`` weight layers;
    ``pieces`` > 1 for maxout and the gated units (slower per value)."""
    n_in: int
    n_out: int
    macs: int
    units: int
    widest: int
    params: int
    largest: int
    layers: int
    pieces: int = 1
    flat: int = 0     # a CNN's features after its conv layers (0: an MLP)


def mlp(n_in: int, widths, n_out: int, pieces: int = 1) -> Net:
    """An MLP's :class:`Net`: hidden layers of ``pieces`` x width outputs reduced to width."""
    widths = list(widths)
    fan_in = [n_in, *widths]
    fan_out = [pieces * w for w in widths] + [n_out]
    sizes = [a * b + b for a, b in zip(fan_in, fan_out, strict=True)]
    return Net(n_in, n_out, sum(a * b for a, b in zip(fan_in, fan_out, strict=True)),
               sum((pieces + 1) * w for w in widths), max(fan_out), sum(sizes), max(sizes), len(sizes), pieces)


def cnn(n_in: int, channels, kernels, n_out: int, *, stride: int = 2, padding: int = 1, pieces: int = 1) -> Net:
    """A 1-D CNN's :class:`Net` (conv layers, then a linear read-out), from torch's length formula."""
    length, c_in = n_in, 1
    macs = units = widest = params = largest = 0
    for c, k in zip(channels, kernels, strict=True):
        length = (length + 2 * padding - k) // stride + 1
        out = pieces * c * length
        macs += out * c_in * k
        units += out + c * length
        widest = max(widest, out)
        size = c_in * k * pieces * c + pieces * c
        params, largest, c_in = params + size, max(largest, size), c
    readout = c_in * length * n_out + n_out
    return Net(n_in, n_out, macs + c_in * length * n_out, units, widest, params + readout, max(largest, readout),
               len(channels) + 1, pieces, flat=c_in * length)


# ---------------------------------------------------------------- training a batched ensemble

# Time: CPU seconds of the one torch thread, which a busy machine stretches into more wall time.
# Measured (benchmarks/budget_calibration.py) on 22 ensembles: 1 to 2000 members, 1 to 30 layers of 8
# to 1024 units, ReLU, leaky ReLU, ELU, tanh, sigmoid, GELU, SiLU, Mish, maxout and SwiGLU, one
# activation or several in a block, SGD, momentum and Adam, float32 and float64, minibatches of 10 to
# 256: 0.18 ms to 0.6 s a step. A least-squares fit of this model came out 0.46 to 1.3 times the
# measurements; these constants, about twice the fit's, gave 0.82 to 2.3 times.
LAYER_S = 5e-5      # per weight layer per step: the fixed cost of its dozen tensor operations
UPDATE = {"sgd": 1, "momentum": 2, "adam": 3}  # an update's operations, per layer and per parameter, against SGD's
MAC_S = 2.5e-11     # per multiply-add (the backward pass counted as two more), float32
UNIT_S = 2.5e-9     # per kept value per step: the activation, its derivative, the copies around them
PIECES_FACTOR = 3   # maxout's and the gated units' reductions, per value, against an elementwise unit
PARAM_S = 3e-9      # per parameter per step: the update and zeroing the gradient
INIT_S = 2e-8       # per parameter, once: its seeded random draw (a generator per network) and the stacking

# Memory, measured on six ensembles (peak RSS above the kernel, 0.7 to 1.6 GB; these constants give
# 1.06 to 1.9 times) and checked on every chapter's experiments at two sizes each:
GRAPH_FACTOR = 1.75 # the backward pass holds the kept values again, about, as their gradients
# An evaluation without gradients holds the input's copy per network and its widest layer about twice
# (one hidden layer: its pre-activations and outputs) or three times (the next layer's too), once more
# when several activations share a block (split, then concatenated): measured 1.5 to 1.7 times (input
# + widest) for one hidden layer of 85 to 256 units, 3.6 times the widest for two.
EVAL_FACTOR = {1: 2, 2: 3}
# A CNN's conv layers hold one activation's networks at a time (they go through them on their own),
# then every network's flattened features: this many widest layers of one activation's networks
# gave 0.88 and 1.05 times the guide's CNN task (444 and 720 MB).
CONV_EVAL_FACTOR = 6
STEP_TEMPS = {"adam": 7, "momentum": 2, "sgd": 2}  # temporaries of the largest layer in an update
SLOTS = {"adam": 2, "momentum": 1, "sgd": 0}        # optimiser state per parameter, beside weight and gradient
SLACK = 1.25        # the allocator's fragmentation and what the estimate leaves out (losses, indices, masks)
FIXED_BYTES = 32e6  # any experiment's small allocations: measured 11 to 27 MB for the smallest


def fit(net: Net, members: int, rows: int, steps: int, **kw) -> tuple[float, float]:
    """(seconds, peak bytes) of training ``members`` networks of shape ``net``: :func:`ensemble`
    with one block."""
    return ensemble([(net, members)], rows, steps, **kw)


def ensemble(blocks, rows: int, steps: int, *, optimizer: str = "sgd", itemsize: int = 4, evals: int = 0,
             eval_rows: int = 0, keep_rows: int = 0) -> tuple[float, float]:
    """(seconds, peak bytes) of training one ensemble of ``blocks`` = [(net, members[, activations])]
    for ``steps`` steps of ``rows`` examples, with ``evals`` gradient-free evaluations on ``eval_rows``
    examples and on ``keep_rows`` examples with every layer's values kept (``Ensemble.hidden``).
    ``optimizer``: "sgd", "momentum" or "adam"; ``itemsize``: 4 for float32, 8 for float64.
    Training holds every block's values at once, an evaluation one block's at a time."""
    scale, update = itemsize / 4, UPDATE[optimizer]
    seconds = state = graph = held = 0.0
    for net, members, *acts in blocks:
        per_value = UNIT_S * (PIECES_FACTOR if net.pieces > 1 else 1)
        step = net.layers * LAYER_S * update + scale * members * (
            3 * rows * net.macs * MAC_S + rows * net.units * per_value + net.params * PARAM_S * update)
        look = net.layers * LAYER_S + scale * members * (eval_rows + keep_rows) * (
            net.macs * MAC_S + net.units * per_value / 2)
        seconds += steps * step + evals * look + INIT_S * members * net.params
        state += members * net.params * (2 + SLOTS[optimizer])
        graph += members * rows * (net.n_in + GRAPH_FACTOR * net.units + 4 * net.n_out) if steps else 0
        held = max(held, members * max(STEP_TEMPS[optimizer] * net.largest if steps else 0,
                                       eval_rows * (net.n_in + _eval_width(net, *acts)),
                                       keep_rows * (net.n_in + net.units + 2 * net.widest)))
    return seconds, SLACK * itemsize * (state + max(graph, held))


def _eval_width(net: Net, activations: int = 1) -> float:
    """Values an evaluation holds per network and example, beside its input (see EVAL_FACTOR);
    ``activations``: how many share the block."""
    if net.flat:
        return net.flat + CONV_EVAL_FACTOR * net.widest / activations
    return (EVAL_FACTOR[min(net.layers - 1, 2)] + (activations > 1)) * net.widest


def gradients(net: Net, members: int, rows: int, *, itemsize: int = 8) -> tuple[float, float]:
    """(seconds, bytes) of one forward and backward pass with every layer's error kept
    (``gradients.layer_gradients``): a step without the update, the errors beside the graph."""
    seconds, _ = fit(net, members, rows, 1, itemsize=itemsize)
    graph = rows * (net.n_in + (GRAPH_FACTOR + 0.5) * net.units + 4 * net.n_out)  # + each layer's error
    return seconds, SLACK * itemsize * members * (2 * net.params + graph)


def steps(n: int, epochs: int, batch_size: int | None) -> int:
    """Minibatch steps of ``epochs`` passes over ``n`` examples (full batch: one step an epoch)."""
    return epochs * (1 if batch_size is None else math.ceil(n / batch_size))


def total(costs) -> tuple[float, float]:
    """(seconds, bytes) of experiments run one after another: the times add, the peak is the largest."""
    costs = list(costs)
    return sum(s for s, _ in costs), max((b for _, b in costs), default=0.0)
