"""Learning-rate tuning whose best value is inside the grid, or says it is not.

A score is "lower is better" per (seed, learning rate): epochs to a target, final held-out
loss... ``inf`` means the run never reached the target and ``nan`` that it diverged; neither
can win. The best learning rate is the one with the lowest median score over seeds.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tuned:
    lrs: tuple[float, ...]      # the grid finally used, increasing
    scores: np.ndarray          # (seeds, len(lrs)) for that grid
    best: int | None            # index of the best learning rate; None when no run reached the target
    interior: bool              # the best is neither the smallest nor the largest of the grid
    rounds: int                 # how many times the grid was extended

    @property
    def lr(self) -> float:
        return math.nan if self.best is None else self.lrs[self.best]

    @property
    def best_scores(self) -> np.ndarray:
        return np.full(self.scores.shape[0], np.inf) if self.best is None else self.scores[:, self.best]

    def edge_note(self) -> str:
        """One sentence for the chapter when the grid could not be made interior."""
        if self.best is None:
            top = "diverged" if np.isnan(self.scores[:, -1]).all() else "did not reach it either"
            return (f"no learning rate from {self.lrs[0]:g} to {self.lrs[-1]:g} reached the target "
                    f"(the grid was {'extended ' + times(self.rounds) if self.rounds else 'not extended'}; "
                    f"the largest {top})")
        if self.interior:
            return ""
        side = "smallest" if self.best == 0 else "largest"
        n = self.rounds
        return f"the best learning rate is the {side} of the grid even after {n} extension{'' if n == 1 else 's'}"


def times(n: int) -> str:
    """"once", "twice", "3 times": how often a grid was extended, in words."""
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def best_index(scores: np.ndarray) -> int | None:
    """The learning rate with the lowest median over seeds; diverged (nan) counts as never (inf)."""
    s = np.where(np.isnan(scores), np.inf, scores)
    med = np.median(s, axis=0)
    if not np.isfinite(med).any():
        return None
    return int(np.argmin(med))


def tune(run: Callable[[list[float]], np.ndarray], lrs: list[float], factor: float = 3.0,
         max_rounds: int = 3) -> Tuned:
    """Score ``lrs`` with ``run`` (one batched sweep per call, returning (seeds, len(lrs))); while
    the best sits on an edge, add one learning rate ``factor`` beyond it and score that alone.
    When no rate reaches the target, larger rates are tried the same way (a rate too small to
    learn in the budget is the usual reason), until one does, or the largest diverges."""
    lrs = sorted(float(x) for x in lrs)
    scores = np.asarray(run(lrs), dtype=float)
    rounds = 0
    while True:
        b = best_index(scores)
        if rounds >= max_rounds or b is not None and 0 < b < len(lrs) - 1:
            break
        if b is None:  # nothing reached the target: try a larger rate, unless the largest diverged
            if np.isnan(scores[:, -1]).all():
                break
            new = lrs[-1] * factor
        else:
            new = lrs[0] / factor if b == 0 else lrs[-1] * factor
        extra = np.asarray(run([new]), dtype=float)
        if b == 0:
            lrs, scores = [new] + lrs, np.concatenate([extra, scores], axis=1)
        else:
            lrs, scores = lrs + [new], np.concatenate([scores, extra], axis=1)
        rounds += 1
    b = best_index(scores)
    return Tuned(tuple(lrs), scores, b, b is not None and 0 < b < len(lrs) - 1, rounds)
