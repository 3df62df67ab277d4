"""The second setting: MNIST-1D and the MNIST-1D paper's small CNN (Greydanus 2020).

The digits chapters' questions asked again on a convolutional network: epochs to a target error
at tuned learning rates (``convergence``, ``tuning``), dead units (``deadunits``, where a conv
layer's unit is a channel), and what reaches the first layer of a deep network (``gradients``),
here under SGD with momentum and under Adam. This module only adapts them to the CNN and draws
the chapter's figures; the machinery is theirs. The speed sweeps, stored as the evidence cell
``mnist1d-speed``, are in ``actlab.mnist1dsweeps``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from actlab import convergence, ensemble
from actlab.ensemble import Ensemble, Member

# the speed sweeps, the evidence cell mnist1d-speed, live apart (their key covers no more than their code)
from actlab.mnist1dsweeps import ACTIVATIONS, HE_RERUN, INIT, SPEED_PARAMS, he_speed, speeds  # noqa: F401 (the chapter reads them here)
from actlab.timing import time_ops


def speed_cost(activations, n_lrs: int, seeds: int, n: int, n_test: int, *, epochs: int, tune_rounds: int = 1,
               eval_every: int = 32, eval_examples: int = 500, batch_size: int = 64, channels: int = 25,
               optimizer: str = "sgd") -> tuple[float, float]:
    """(seconds, bytes) of :func:`speed` on ``n`` training and ``n_test`` held-out signals, the dead
    channels of every network counted on all ``n`` at the end (:func:`dead_channels`)."""
    from actlab import deadunits as du
    from actlab import workload
    from actlab.mnist1dsweeps import CNN_LAYERS

    net = workload.cnn(data_length(), (channels,) * CNN_LAYERS, ensemble.MNIST1D_KERNELS, 10)
    s, b = convergence.run_cost(activations, [CNN_LAYERS], n_lrs, seeds, n, n_in=net.n_in, epochs=epochs,
                                batch_size=batch_size, eval_every=eval_every, eval_examples=eval_examples,
                                n_test=n_test, tune_rounds=tune_rounds, optimizer=optimizer,
                                network=lambda a, d: net)
    members = len(activations) * (n_lrs + tune_rounds) * seeds
    dead = du.CHECK_VALUE_S * members * n * net.units  # every unit on every signal, 250 at a time
    _, held = workload.fit(net, len(activations) * n_lrs * seeds, 0, 0, keep_rows=250)
    # the check runs once training is over, its rows in place of the training's buffers: the larger of
    # the two, not their sum (at 10 seeds the sweep's process peaked at 881 MB, the interpreter included)
    return s + dead, max(b, held)


def data_length() -> int:
    from actlab import data

    return data.MNIST1D_LENGTH


def shown_rate(speed: convergence.TunedSpeed, act: str) -> tuple[float, bool]:
    """The rate whose runs stand for ``act``: its tuned rate, or, where no rate reached the target,
    the one with the lowest median final training error (then False: not a tuned rate)."""
    t = speed.tuned[act]
    if t.best is not None:
        return t.lr, True
    runs = speed.runs[act]
    return min(runs, key=lambda lr: (np.median(runs[lr].error[:, -1]), lr)), False


def deep_updates(activations, depth: int, width: int, seeds: int, X, y, *, steps: int, rates: dict,
                 momentum: float = 0.9, batch_size: int = 64) -> dict:
    """{optimizer: gradients.LayerUpdates} for MLPs of ``depth`` hidden layers of ``width`` units
    (members: activations x seeds, each at its recommended initialisation), trained ``steps``
    minibatch steps by each optimizer of ``rates`` ({"sgd": lr, "adam": lr}; SGD with ``momentum``)."""
    from actlab.gradients import layer_updates

    out = {}
    for opt, lr in rates.items():
        members = [Member(a, (width,) * depth, seed=s, lr=lr, init=INIT[a]) for a in activations for s in range(seeds)]
        ens = Ensemble(members, X.shape[1], int(y.max()) + 1, dtype=X.dtype)
        out[opt] = layer_updates(ens, X, y, steps=steps, optimizer=opt, momentum=momentum if opt == "sgd" else 0.0,
                                 batch_size=batch_size)
    return out


@dataclass
class DeepProfile:
    updates: dict     # {optimizer: gradients.LayerUpdates}, members activations x seeds
    metrics: dict     # what the chapter records (actlab.record.record_all)


DEEP_PARAMS = ("n_train", "deep_depth", "deep_width", "deep_seeds", "deep_steps", "deep_sgd_lr", "deep_adam_lr")


def deep_profile(*, n_train: int, deep_depth: int, deep_width: int, deep_seeds: int, deep_steps: int,
                 deep_sgd_lr: float, deep_adam_lr: float) -> DeepProfile:
    """The chapter's deep MLPs on the first ``n_train`` MNIST-1D training signals (:func:`deep_updates`
    for every activation, from the same initial weights under SGD with momentum and under Adam), and
    the numbers the chapter quotes: per activation the first over the last hidden layer's gradient at
    initialisation and update per step (their medians over seeds with intervals), the update ratio
    at the first step and the final training loss."""
    from actlab import data
    from actlab.numbers import fmt
    from actlab.verdicts import bootstrap, interval_words, measure_metrics

    x, y, _, _ = data.mnist1d(n_train, 0, dtype=torch.float32)
    acts, D, S = list(ACTIVATIONS), deep_depth, deep_seeds
    deep = deep_updates(acts, D, deep_width, S, x, y, steps=deep_steps, rates={"sgd": deep_sgd_lr, "adam": deep_adam_lr})
    m, measures = {}, {}
    for k, act in enumerate(acts):
        sl = slice(k * S, (k + 1) * S)
        measures[f"deep_grad_ratio_{act}"] = bootstrap(deep["sgd"].first_over_last("grad_init", D)[sl])
        for opt in ("sgd", "adam"):
            measures[f"deep_update_ratio_{opt}_{act}"] = bootstrap(deep[opt].first_over_last("update", D)[sl])
            m[f"deep_update_first_step_{opt}_{act}"] = float(
                np.median(deep[opt].first_over_last("update", D, slice(0, 1))[sl]))
            m[f"deep_loss_{opt}_{act}"] = final_loss(deep[opt], sl)
    for name, v in measures.items():
        m |= measure_metrics(name, v)
    m |= {"deep_depth": D, "deep_width": deep_width, "deep_steps": deep_steps, "deep_sgd_lr": deep_sgd_lr,
          "deep_adam_lr": deep_adam_lr, "ln10_text": fmt(np.log(10)),
          "deep_adam_predicted": float(np.sqrt(x.shape[1] / deep_width))}  # sqrt(n_1 / n_L): 40 x w weights against w x w
    n_first = x.shape[1] * deep_width  # weights of the first layer, for their rms gradient
    sig = slice(acts.index("sigmoid") * S, (acts.index("sigmoid") + 1) * S)
    m["deep_grad_rms_first_sigmoid_text"] = fmt(float(np.median(deep["sgd"].grad_init[sig, 0])) / np.sqrt(n_first))
    for key in ("deep_grad_ratio_sigmoid", "deep_update_ratio_sgd_sigmoid", "deep_update_ratio_adam_sigmoid"):
        v = measures[key]
        m[key + "_text"] = f"{fmt(v.value)} ({interval_words(v)} {fmt(v.lo)} to {fmt(v.hi)})"
    return DeepProfile(deep, m)


def step_times(activations, X, y, *, batch_size: int = 64, repeats: int = 7, lr: float = 1e-3,
               momentum: float = 0.9, channels: int = 25, calls: int = 8, inner: int = 2) -> dict[str, np.ndarray]:
    """CPU seconds per training step (forward, backward, SGD-with-momentum update on one minibatch)
    of one plain PyTorch CNN per activation (``ensemble.torch_network``: Conv1d, the activation,
    Linear), float32, one value per round.

    The thread's CPU time, not the wall clock: on a shared machine another process adds wall time
    at random but not CPU time to this thread. The activations take turns within each round, and a
    round keeps the fastest of ``inner`` blocks of ``calls`` steps (:func:`actlab.timing.time_ops`)."""
    import time

    import torch.nn.functional as F

    xb, yb = X[:batch_size].float(), y[:batch_size]
    ops = {}
    for act in activations:
        ens = Ensemble([ensemble.mnist1d_cnn(act, init=INIT[act], channels=channels)], X.shape[1], 10, dtype=torch.float32)
        net = ensemble.torch_network(ens, 0)
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)

        def step(net=net, opt=opt):
            opt.zero_grad()
            F.cross_entropy(net(xb), yb).backward()
            opt.step()
        ops[act] = step
    return time_ops(ops, repeats, inner=inner, calls=calls, clock=time.thread_time)


def test_accuracy(run: convergence.Run, at: int = -1) -> np.ndarray:
    """(seeds,) held-out accuracy of a run at its evaluation ``at`` (default: the last)."""
    return 1 - run.error_test[:, at]


def dead_share(run: convergence.Run) -> np.ndarray:
    """(seeds,) share of all conv channels dead at the end of a run (the layers have equal channel
    counts, so the mean over layers); nan for a run that diverged (neither dead nor alive)."""
    share = run.inspected.mean(-1).astype(float)
    share[run.diverged] = np.nan
    return share


def speed_rows(speed: convergence.TunedSpeed, step_s: dict, steps_per_epoch: int) -> list[list[str]]:
    """One row per activation: the rates tried, the tuned rate, median epochs to the target on
    training and held-out data, seeds that never reached it or diverged, and the CPU time to the
    training target of one network on one thread (median epochs x steps an epoch x median step time)."""
    from actlab.numbers import fmt
    from actlab.plotting import label

    rows = []
    for act in speed.activations:
        t = speed.tuned[act]
        n = len(speed.train[act])
        added = {0: "none added", 1: "1 added"}.get(t.rounds, f"{t.rounds} added")
        ep = float(np.median(speed.train[act]))
        step = float(np.median(step_s[act]))
        cpu = f"{fmt(ep * steps_per_epoch * step)}" if np.isfinite(ep) else f"more than {fmt(speed.epochs * steps_per_epoch * step)}"
        rows.append([label(act), f"{fmt(t.lrs[0])} to {fmt(t.lrs[-1])}: {len(t.lrs)} rates, {added}",
                     convergence.tuned_text(t), fmt(ep), fmt(float(np.median(speed.test[act]))),
                     f"{int(np.isinf(speed.train[act]).sum())} of {n}",
                     "—" if speed.diverged[act] is None else f"{int(speed.diverged[act].sum())} of {n}", cpu])
    return rows


def dead_rows(by_optimizer: dict, act: str = "relu") -> list[list[str]]:
    """Dead channels of ``act`` at every rate each optimiser was run at ({name: TunedSpeed}): the
    median share over the seeds that did not diverge (range), how many runs lost at least one
    channel, how many diverged, and the median final training error."""
    from actlab.numbers import fmt, pct

    rows = []
    for name, sp in by_optimizer.items():
        shown, tuned = shown_rate(sp, act)
        for lr in sorted(sp.runs[act]):
            r = sp.runs[act][lr]
            d = dead_share(r)
            ok = np.isfinite(d)
            share = (f"{pct(np.median(d[ok]))} ({pct(d[ok].min())}–{pct(d[ok].max())})" if ok.any()
                     else "every run diverged")
            mark = " (tuned)" if lr == shown and tuned else ""
            rows.append([name, fmt(lr) + mark, share, f"{int((d[ok] > 0).sum())} of {int(ok.sum())}",
                         f"{int((~ok).sum())} of {len(d)}", pct(float(np.median(r.error[:, -1])))])
    return rows


def final_loss(u, members: slice) -> float:
    """Median over ``members`` of the mean minibatch loss over the last tenth of the steps."""
    tail = max(1, len(u.loss) // 10)
    return float(np.median(u.loss[-tail:, members].mean(0)))


def deep_rows(updates: dict, activations, seeds: int, hidden: int) -> list[list[str]]:
    """Per activation, medians over seeds of the absolute norms behind the update figure: the
    gradient of the first and the last hidden weight layer at initialisation, and each optimiser's
    mean update per step of the same two layers, then each optimiser's training loss at the end
    (mean over the last tenth of the steps)."""
    from actlab.numbers import fmt
    from actlab.plotting import label

    rows = []
    for k, act in enumerate(activations):
        sl = slice(k * seeds, (k + 1) * seeds)
        g = next(iter(updates.values())).grad_init[sl]
        row = [label(act), f"{fmt(np.median(g[:, 0]))} / {fmt(np.median(g[:, hidden - 1]))}"]
        for opt in ("sgd", "adam"):
            u = updates[opt].update[:, sl].mean(0)
            row.append(f"{fmt(np.median(u[:, 0]))} / {fmt(np.median(u[:, hidden - 1]))}")
        for opt in ("sgd", "adam"):
            row.append(fmt(final_loss(updates[opt], sl)))
        rows.append(row)
    return rows


# ---------------------------------------------------------------- figures

def signals_figure(x: torch.Tensor, y: torch.Tensor, per_class: int = 3):
    """A few training signals of every class, one band per class (its first ``per_class`` examples,
    drawn over each other in three greys and line styles: no activation's colour, since none is
    involved), offset vertically; the position along the signal on x."""
    from actlab.plotting import NEUTRAL, figure, finish

    x, y = np.asarray(x, float), np.asarray(y)
    fig, axes = figure(1, 1, width=6.4, height=5.0)
    ax = axes[0, 0]
    shades = [NEUTRAL, "#6e6e6e", "#8a8a8a"]  # all at least 3:1 on white
    step = 5.0  # the standardised signals reach about ±3: bands overlap a little, never a whole class
    for c in range(10):
        rows = np.flatnonzero(y == c)[:per_class]
        for k, i in enumerate(rows):
            ax.plot(np.arange(x.shape[1]), x[i] - step * c, color=shades[k % len(shades)], linewidth=1.2,
                    linestyle=("-", "--", ":")[k % 3])
    ax.set_yticks([-step * c for c in range(10)], [str(c) for c in range(10)])
    ax.set_ylabel("class (digit), signals offset")
    ax.set_xlabel("position along the signal (of 40)")
    ax.grid(axis="y", visible=False)
    ax.set_xlim(0, x.shape[1] - 1)
    return finish(fig)


def error_curves(speed: convergence.TunedSpeed, target: float):
    """Training (left) and held-out (right) error against epochs for each activation at the rate that
    stands for it (:func:`shown_rate`): median over seeds, band from the best to the worst seed; a
    dashed line where that rate is not a tuned one (no rate reached the target); dotted, the target."""
    from actlab.numbers import fmt
    from actlab.plotting import NEUTRAL, color, figure, finish, label

    fig, axes = figure(1, 2, width=6.8, height=3.0, sharey=True)
    ep = speed.eval_epochs
    for ax, held, title in ((axes[0, 0], False, "training error"), (axes[0, 1], True, "held-out error")):
        for act in speed.activations:
            lr, tuned = shown_rate(speed, act)
            r = speed.runs[act][lr]
            e = r.error_test if held else r.error
            c = color(act)
            ax.plot(ep, np.median(e, 0), color=c, linestyle="-" if tuned else "--",
                    label=f"{label(act)}, η = {fmt(lr)}" + ("" if tuned else " (none reached it)"))
            ax.fill_between(ep, e.min(0), e.max(0), color=c, alpha=0.18, linewidth=0)
        ax.axhline(target, color=NEUTRAL, linestyle=":", linewidth=1)
        ax.set_title(title)
        ax.set_xlabel("epochs")
        ax.set_ylim(0, 1)
    axes[0, 0].set_ylabel("error (share misclassified)")
    axes[0, 0].annotate("target", (0, target), xycoords=("axes fraction", "data"), xytext=(3, 3),
                        textcoords="offset points", fontsize=9, color=NEUTRAL)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
    return finish(fig)


UPDATE_LINES = (("grad_init", "gradient ‖∂ℒ/∂W‖ at initialisation", "-", "o"),
                ("sgd", "update ‖ΔW‖, SGD with momentum", "--", "s"),
                ("adam", "update ‖ΔW‖, Adam", ":", "D"))


def layer_profile(updates: dict, opt_or_grad: str, members: slice, hidden: int) -> np.ndarray:
    """(seeds, layers) of one quantity, each seed divided by its value at the last hidden layer:
    the gradient at initialisation, or an optimiser's update averaged over the steps."""
    if opt_or_grad == "grad_init":
        v = next(iter(updates.values())).grad_init[members]
    else:
        v = updates[opt_or_grad].update[:, members].mean(0)
    return v / v[:, hidden - 1:hidden]


def update_figure(updates: dict, activations, seeds: int, hidden: int):
    """Per activation (one panel each): the gradient at initialisation and each optimiser's mean
    update per step, per weight layer (1 = input side, the last is the output layer), each divided
    by its value at the last hidden layer; median over seeds, dots per layer; log scale."""
    from matplotlib.ticker import MaxNLocator

    from actlab.plotting import color, figure, finish, label

    fig, axes = figure(1, len(activations), width=7.0, height=2.9, sharey=True)
    layers = np.arange(1, hidden + 2)
    for k, act in enumerate(activations):
        ax = axes[0, k]
        sl = slice(k * seeds, (k + 1) * seeds)
        for key, text, ls, marker in UPDATE_LINES:
            if key != "grad_init" and key not in updates:
                continue
            prof = layer_profile(updates, key, sl, hidden)
            ax.plot(layers, np.median(prof, 0), color=color(act), linestyle=ls, marker=marker, markersize=3.5,
                    label=text)
        ax.set_yscale("log")
        ax.set_title(label(act))
        ax.set_xlabel("weight layer")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("÷ its value at the\nlast hidden layer")
    from matplotlib.lines import Line2D

    from actlab.plotting import NEUTRAL
    handles = [Line2D([], [], color=NEUTRAL, linestyle=ls, marker=m, markersize=3.5, label=t)
               for key, t, ls, m in UPDATE_LINES if key == "grad_init" or key in updates]
    fig.legend(handles=handles, loc="outside lower center", ncol=2)
    return finish(fig)
