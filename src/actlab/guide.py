"""The practical guide's reading of its leaderboard: the board of the evidence cell
``guide-leaderboard`` (``actlab.leaderboard``; stored at the chapter's defaults, computed once
under ``_build/evidence`` at other parameters), ranked, with the advice and every number the
chapter quotes, as one result, so the chapter and its exercise record the same names.

Kept apart from ``actlab.leaderboard`` on purpose: the cell's key covers that module and what it
imports, and how the chapter reads the data does not change the data."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actlab import data, evidence
from actlab import leaderboard as lb
from actlab.numbers import pct
from actlab.verdicts import measure_metrics

CELL = "guide-leaderboard"


INIT_NAMES = {"kaiming": "He normal", "xavier": "Glorot & Bengio (Xavier) uniform", "lecun": "LeCun normal",
              "default": "PyTorch's default", "standard": "Glorot & Bengio's standard"}


@dataclass
class Guide:
    board: lb.Board
    ranking: lb.Ranking
    advice: lb.Advice
    folklore: list    # (claim text, Verdict) of the CS231n advice (lb.folklore)
    metrics: dict     # what the chapter records (actlab.record.record_all)


def inits_table(activations: list[str]) -> str:
    """Each function's initialisation on the leaderboard (its registry entry), as a Markdown table."""
    from actlab import functions
    from actlab.numbers import fmt
    from actlab.tables import markdown_table

    rows = [[lb.names_text([a]), INIT_NAMES[functions.get(a).init],
             fmt(functions.get(a).gain) if functions.get(a).gain != 1 else "1"] for a in activations]
    return markdown_table(["function", "initial weights", "gain"], rows)


def _linear(c: float) -> float:
    """An sRGB channel in linear light (WCAG's relative luminance)."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def board_table(board: lb.Board, ranking: lb.Ranking) -> str:
    """The leaderboard as a table a reader can search, sort and hear: a row per function (best
    mean rank first), its mean rank with the interval, its mean-rank difference from the best
    function with the joint interval the advice decides on, then per task the median test error
    with the rank of that median in its task, printed and shaded (``cividis``, light is best). Each cell's ``data-sort`` is the number a column sorts by (static/actlab.js)."""
    import matplotlib
    from matplotlib.colors import Normalize, to_hex

    from actlab.tables import markdown_table

    med, within = board.medians()
    fails, n_runs = board.fail_counts()
    cmap, norm = matplotlib.colormaps["cividis_r"], Normalize(1, len(board.activations))
    order = ranking.order()
    rows = []
    for a in order:
        j, m = board.activations.index(a), ranking.measure(a)
        if a == order[0]:
            versus = '<span data-sort="0">best</span>'
        else:  # the comparison the advice makes: joint over every function against the best
            d = ranking.difference(a, order[0], family=len(order) - 1)
            versus = f'<span data-sort="{d.value:.6g}">{d.value:.2f}<br>[{d.lo:.2f}, {d.hi:.2f}]</span>'
        cells = [lb.names_text([a]), f'<span data-sort="{m.value:.6g}">{m.value:.2f}<br>[{m.lo:.2f}, {m.hi:.2f}]</span>',
                 versus]
        for t, r in enumerate(board.results):
            rgba = cmap(norm(within[t, j]))
            lum = 0.2126 * _linear(rgba[0]) + 0.7152 * _linear(rgba[1]) + 0.0722 * _linear(rgba[2])
            dark = (1.05 / (lum + 0.05)) > ((lum + 0.05) / 0.05)  # white text has the higher WCAG contrast
            text = lb.error_text(r.task, med[t, j]) if np.isfinite(med[t, j]) else "failed"
            failed = f"<br>{fails[t, j]}/{n_runs[t]} failed" if fails[t, j] else ""
            key = med[t, j] if np.isfinite(med[t, j]) else 1e9
            cells.append(f'<span class="actlab-rank" data-sort="{key:.6g}" style="background:{to_hex(rgba)};'
                         f'color:{"#fff" if dark else "#000"}">{text}<br>rank of median: {within[t, j]:g}{failed}</span>')
        rows.append(cells)
    return markdown_table(["function", "mean rank [95% interval]", "minus the best's [joint interval]"]
                          + board.titles, rows)


def step_time_table(board: lb.Board, ranking: lb.Ranking) -> str:
    """Time per training step relative to ReLU's, per task (rows in ranking order, ReLU's own
    left out): the median of the rounds' ratios (each round times every function in turn) with
    their range, every number to two decimals; "≈ 1" where the range includes 1."""
    from actlab.tables import markdown_table

    if board.step_time is None or "relu" not in board.activations:
        return ""
    t = board.step_time
    ratio = t / t[:, [board.activations.index("relu")]]  # (tasks, activations, rounds), paired by round

    def text(r):  # the range in one piece: a narrow column must not break it at the dash
        lo, mid, hi = r.min(), np.median(r), r.max()
        spread = f'<span class="actlab-nowrap">({lo:.2f}–{hi:.2f})</span>'
        return f"≈ 1 {spread}" if lo <= 1 <= hi else f"{mid:.2f} {spread}"

    rows = [[lb.names_text([a])] + [text(ratio[k, board.activations.index(a)]) for k in range(len(board.results))]
            for a in ranking.order() if a != "relu"]
    return markdown_table(["function"] + board.titles, rows)


def half_changes(full: list, half: list) -> list[str]:
    """The folklore verdicts that differ between the same runs at half and at the full budget."""
    return [f"“{text.split(' (')[0].rstrip('.')}”: {h.outcome} at half the budget, {v.outcome} at the full one"
            for (text, v), (_, h) in zip(full, half, strict=True) if v.outcome != h.outcome]


def run(**params) -> Guide:
    """The leaderboard at ``params``, every parameter of the cell (a missing one would silently
    take the stored cell's value, and the chapter's number would then answer another question)."""
    evidence.require_all(CELL, params, "the guide's leaderboard")
    board = lb.Board.from_data(evidence.load(CELL, **params))
    ranking = board.ranking()
    advice = lb.advice(ranking, board.fail_share(), board.titles)
    acts, tasks = params["activations"], params["tasks"]
    setting = f"{len(tasks)} tasks, {params['seeds']} seeds"
    folk = lb.folklore(board, ranking, setting)
    m = {"fail_fraction_text": pct(lb.FAIL_FRACTION), "still_falling_text": pct(lb.STILL_FALLING),
         "delta_points": 100 * lb.DELTA}
    # the same runs read at half their budget: what doubling the budget changed
    half = board.at_half()
    h_rank = half.ranking()
    h_adv = lb.advice(h_rank, half.fail_share(), half.titles)
    changed = half_changes(folk, lb.folklore(half, h_rank, setting))
    m |= {"half_best": lb.names_text([h_adv.best]), "half_top_group": lb.names_text(h_adv.top),
          "half_n_top": len(h_adv.top), "half_avoid": lb.names_text(h_adv.avoid),
          "avoid": lb.names_text(advice.avoid), "n_half_changed": len(changed),
          "half_changed_text": "; ".join(changed) or "none",
          "half_same_top": ("the same group as at the full budget" if h_adv.top == advice.top
                            else "not the group the full budget gives"),
          "half_top_caveat": ("the top group did not move." if h_adv.top == advice.top else
                              "the top group, and so the advice to start with one of its functions, is this "
                              "budget's, and a longer one may change it again.")}
    counts = board.failure_counts()
    m |= {f"n_{kind.replace(' ', '_')}": int(counts[..., k].sum()) for k, kind in enumerate(lb.FAILURE_KINDS)}
    for a in acts:
        m |= measure_metrics(f"rank_{a}", ranking.measure(a))
    m |= {"best": lb.names_text([advice.best]), "top_group": lb.names_text(advice.top), "n_top": len(advice.top)}
    edges = board.edge_sides()
    m |= {"n_edge": len(edges), "n_choices": board.n_choices(),
          "edge_text": "; ".join(f"{lb.names_text([a])} on {t} ({side})" for t, a, side in edges) or "none",
          "n_informative": len(board.informative()), "uninformative_text": lb.uninformative_text(board)}
    if "cnn" in tasks:
        cnn = board.results[tasks.index("cnn")]
        best = board.best_accuracy(tasks.index("cnn"))
        m |= {"cnn_train_used": len(lb.task_data(cnn.task)["train"][1]), "cnn_epochs": params["cnn_epochs"],
              "cnn_train_full": data.MNIST1D_TRAIN,
              "cnn_best": best, "cnn_best_text": pct(best)}
    med, _ = board.medians()
    for t in ("deep", "modern"):  # the same depth without and with the modern defaults
        if t in tasks:
            row = med[tasks.index(t)]
            ok = row[np.isfinite(row)]
            m |= {f"{t}_best_error": float(ok.min()), f"{t}_best_error_text": pct(ok.min()),
                  f"{t}_worst_error": float(ok.max()), f"{t}_worst_error_text": pct(ok.max()),
                  f"{t}_n_failed": int((~np.isfinite(row)).sum()),
                  f"{t}_n_near_best": int((row <= ok.min() + lb.DELTA).sum()),
                  f"{t}_best_name": lb.names_text([acts[int(np.argmin(row))]])}
    fails = board.fail_share()
    for a in ("relu", "sigmoid"):
        if a in acts:
            m[f"fail_max_{a}"] = float(fails[:, acts.index(a)].max())
            m[f"fail_max_{a}_text"] = pct(fails[:, acts.index(a)].max())
            m[f"profile_{a}"] = lb.profile_text(board, a)
    return Guide(board, ranking, advice, folk, m)
