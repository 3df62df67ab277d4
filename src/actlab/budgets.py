"""Each chapter's experiments priced from its checked parameters, and refused over the book's budget.

A chapter calls, right after :func:`actlab.params.check`::

    budgets.check("relu", P)

which estimates every experiment the chapter runs (a :class:`~actlab.workload.Cost` from the small
``*_cost`` functions beside the experiments, or :func:`actlab.workload.fit` for a plain ensemble)
and stops the chapter with one sentence when an experiment would hold more than
:data:`actlab.params.MEMORY_BYTES` or the chapter would run longer than :data:`actlab.params.SECONDS`.
The per-value rules of ``check`` bound each parameter; these bound their product.
"""
from __future__ import annotations

from collections.abc import Callable

from actlab import params
from actlab.workload import FIXED_BYTES, Cost

CHAPTERS: dict[str, Callable[[dict], list[Cost]]] = {}


def chapter(fn: Callable[[dict], list[Cost]]) -> Callable[[dict], list[Cost]]:
    """Register a chapter's estimate under its name (``vanishing_gradients`` -> ``vanishing-gradients``)."""
    CHAPTERS[fn.__name__.replace("_", "-")] = fn
    return fn


def within(costs: list[Cost]) -> list[Cost]:
    """Refuse the first experiment over the memory budget, then a chapter whose experiments add up
    to more than the time budget (naming the slowest one's parameters); return ``costs``."""
    for c in costs:
        params.memory(c.what, c.bytes + FIXED_BYTES, c.advice(memory=True))
    total = sum(c.seconds for c in costs)
    if total > params.SECONDS:
        slowest = max(costs, key=lambda c: c.seconds)
        name = slowest.what if len(costs) == 1 else \
            f"this chapter's experiments ({slowest.seconds:.0f} s of it for {slowest.what})"
        params.seconds(name, total, slowest.advice(memory=False))
    return costs


def check(name: str, P: dict) -> list[Cost]:
    """The chapter ``name``'s experiments at the checked parameters ``P``, refused over budget."""
    return within(CHAPTERS[name](P))


# ---------------------------------------------------------------- the chapters

@chapter
def output_activations(P: dict) -> list[Cost]:
    from actlab import outputs

    race = dict(seeds=P["seeds"], n=P["n_examples"], max_steps=P["max_steps"])
    s, b = outputs.race_cost(len(P["start_logits"]), **race)
    s1, _ = outputs.race_cost(1, **race)  # the top start again at two larger squared-error steps
    return [Cost("the escape race", s + 2 * s1, b, ("seeds", "n_examples", "start_logits"), ("max_steps",))]


@chapter
def gallery(P: dict) -> list[Cost]:
    from actlab import functions, gallery

    lines = 2 * len(functions.names(elementwise_only=True))  # each function and its derivative
    return [Cost("the function panels", *gallery.panels_cost(lines, P["n_points"]), ("n_points",))]
