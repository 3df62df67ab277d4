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


def stored(cell: str, P: dict) -> bool:
    """Whether ``P`` holds the evidence cell's registered parameters: the chapter then reads the
    committed store and computes nothing (a cell too long for a chapter's budget lives there)."""
    from actlab import evidence

    return evidence.registered(cell, {k: P[k] for k in evidence.CELLS[cell].params if k in P})


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


# rows of data.digits("train") and ("test"): the 80/20 split of scikit-learn's 1,797 digits
DIGITS_TRAIN, DIGITS_TEST = 1438, 359


def _speed(activations, lrs, seeds: int, *, depth: int, epochs: int, evals_per_epoch: int, eval_examples: int,
           max_rounds: int = 3, **kw) -> tuple[float, float]:
    """:func:`actlab.convergence.tuned_speed` on digits: the grid at once, then up to ``max_rounds``
    one-rate sweeps per activation."""
    from actlab import convergence

    common = dict(n_in=64, epochs=epochs, eval_every=max(1, 23 // evals_per_epoch), eval_examples=eval_examples,
                  n_test=DIGITS_TEST, **kw)
    s, b = convergence.run_cost(activations, [depth], len(lrs), seeds, DIGITS_TRAIN, **common)
    more = sum(convergence.run_cost([a], [depth], 1, seeds, DIGITS_TRAIN, **common)[0] for a in activations)
    return s + max_rounds * more, b


@chapter
def relu(P: dict) -> list[Cost]:
    from actlab import biasshift, deadunits

    speed = _speed(["sigmoid", "tanh", "relu"], P["speed_lrs"], P["speed_seeds"], depth=P["speed_depth"],
                   epochs=P["speed_epochs"], evals_per_epoch=23, eval_examples=400)
    dead = deadunits.sweep_cost(1, len(P["dead_lrs"]), P["dead_seeds"], DIGITS_TRAIN, widths=P["widths"],
                                epochs=P["dead_epochs"])
    born = deadunits.born_dead_cost(P["born_widths"], P["born_depths"], P["born_samples"])
    shift = biasshift.measure_cost(len(P["shift_activations"]), [P["shift_width"]] * P["shift_depth"],
                                   P["shift_seeds"], DIGITS_TRAIN, DIGITS_TEST, epochs=P["shift_epochs"])
    return [Cost("the speed sweep", *speed, ("speed_seeds", "speed_lrs", "speed_depth"), ("speed_epochs",)),
            Cost("the dead-unit sweep", *dead, ("dead_seeds", "dead_lrs", "widths"), ("dead_epochs",)),
            Cost("the born-dead count", *born, ("born_samples", "born_widths", "born_depths")),
            Cost("the bias-shift measurement", 2 * shift[0], shift[1],
                 ("shift_seeds", "shift_activations", "shift_width", "shift_depth"), ("shift_epochs",))]


@chapter
def relu_variants(P: dict) -> list[Cost]:
    from actlab import convergence, deadunits, variants, workload

    selu = variants.selu_moments_cost(P["selu_depth"], P["selu_width"], 1024)
    prelu = workload.fit(workload.mlp(64, (64,) * P["prelu_depth"], 10), P["prelu_seeds"], 64, P["prelu_steps"],
                         optimizer="momentum", itemsize=8)
    dead = deadunits.sweep_cost(len(P["dead_activations"]), len(P["dead_lrs"]), P["dead_seeds"], DIGITS_TRAIN,
                                epochs=P["dead_epochs"])
    speed = convergence.run_cost(P["speed_activations"], [3], len(P["speed_lrs"]), P["speed_seeds"], DIGITS_TRAIN,
                                 n_in=64, epochs=P["speed_epochs"], eval_every=23, n_test=DIGITS_TEST)
    return [Cost("the SELU moments", 2 * selu[0], selu[1], ("selu_depth", "selu_width")),
            Cost("the PReLU training", *prelu, ("prelu_seeds", "prelu_depth"), ("prelu_steps",)),
            Cost("the dead-unit sweep", *dead, ("dead_seeds", "dead_lrs", "dead_activations"), ("dead_epochs",)),
            Cost("the speed sweep", *speed, ("speed_seeds", "speed_lrs", "speed_activations"), ("speed_epochs",))]


def task_sizes(task) -> tuple[int, int, int, int, int]:
    """(training, validation, test examples, n_in, n_out) of a leaderboard task's data
    (``leaderboard.task_data``), without loading it."""
    from actlab import data

    if task.data == "mnist1d":
        n = task.n_train or data.MNIST1D_TRAIN
        return n - n // 5, n // 5, data.MNIST1D_TEST, data.MNIST1D_LENGTH, 10
    if task.data == "curve":
        return 64, 126, 126, 1, 1
    return DIGITS_TRAIN - DIGITS_TRAIN // 5, DIGITS_TRAIN // 5, DIGITS_TEST, 64, 10


def task_cost(task, activations, seeds: int, *, time_steps: int = 0) -> tuple[float, float]:
    """(seconds, bytes) of ``leaderboard.run_task`` (one ensemble per seed: a block per network shape) and,
    with ``time_steps``, of ``leaderboard.step_times`` (a warm-up and three rounds of that many
    steps per function). Here rather than in the leaderboard, whose code keys its stored evidence."""
    from actlab import functions, workload
    from actlab import leaderboard as lb

    n, _, _, n_in, n_out = task_sizes(task)
    nets = []
    for a in activations:
        pieces = functions.get(a).pieces
        if task.conv:
            c = lb.matched_channels(a, task.widths[0], n_in, n_out)
            nets.append(workload.cnn(n_in, (c,) * len(task.widths), lb.MNIST1D_KERNELS[:len(task.widths)], n_out,
                                     stride=lb.CONV_STRIDE, padding=lb.CONV_PADDING, pieces=pieces))
        else:
            nets.append(workload.mlp(n_in, lb.widths_for(task, a, n_in, n_out), n_out, pieces))
    rows = min(task.batch_size or n, n)
    blocks = [(net, len(task.lrs) * nets.count(net), nets.count(net)) for net in set(nets)]  # shared by shape
    seconds, peak = workload.ensemble(blocks, rows, workload.steps(n, task.epochs, task.batch_size),
                                      optimizer="adam", evals=6, eval_rows=n)
    seconds *= seeds  # the seeds one after another, each its own ensemble
    timing = sum(workload.fit(net, 1, rows, 4 * time_steps, optimizer="adam")[0] for net in nets)
    return seconds + timing, peak


@chapter
def gated(P: dict) -> list[Cost]:
    from actlab import gating, workload
    from actlab import leaderboard as lb

    tasks = gating.settings(depth=P["depth"], digits_width=P["digits_width"], digits_epochs=P["digits_epochs"],
                            digits_lrs=P["digits_lrs"], mnist1d_width=P["mnist1d_width"],
                            mnist1d_epochs=P["mnist1d_epochs"], mnist1d_lrs=P["mnist1d_lrs"])
    out = []
    for name in P["settings"]:
        t = tasks[name]
        s, b = task_cost(t, P["activations"], P["seeds"])
        if name == "digits":  # gating.gate_values: the GLU networks again, their gates read on the test split
            n, _, n_test, n_in, n_out = task_sizes(t)
            g = workload.fit(workload.mlp(n_in, lb.widths_for(t, "glu", n_in, n_out), n_out, 2), P["seeds"],
                             min(t.batch_size or n, n), workload.steps(n, t.epochs, t.batch_size), optimizer="adam",
                             evals=3, eval_rows=n_test, keep_rows=n_test)
            s, b = s + g[0], max(b, g[1])
        out.append(Cost(f"the {name} comparison", s, b,
                        ("seeds", "activations", f"{name}_lrs", f"{name}_width", "depth"), (f"{name}_epochs",)))
    var = gating.measured_variances_cost(2, P["lecun_depth"], P["lecun_width"], 3)
    return out + [Cost("the variance check", *var, ("lecun_depth", "lecun_width"))]


@chapter
def guide(P: dict) -> list[Cost]:
    from actlab import leaderboard as lb

    if stored("guide-leaderboard", P):
        return []
    tasks = lb.tasks(**{k: P[k] for k in lb.TASK_PARAMS})
    sizes = {"digits": ("digits_lrs",), "cnn": ("cnn_lrs", "cnn_channels", "cnn_train"),
             "deep": ("deep_lrs", "deep_depth"), "modern": ("modern_lrs", "deep_depth"),
             "regression": ("regression_lrs",)}
    lengths = {"digits": ("epochs",), "cnn": ("cnn_epochs",), "deep": ("deep_epochs",), "modern": ("modern_epochs",),
               "regression": ("regression_steps",)}
    return [Cost(f"the {t} task", *task_cost(tasks[t], P["activations"], P["seeds"], time_steps=P["time_steps"]),
                 ("seeds", "activations") + sizes[t], lengths[t] + ("time_steps",)) for t in P["tasks"]]


@chapter
def mnist1d(P: dict) -> list[Cost]:
    from actlab import convergence, gradients, workload
    from actlab import mnist1dcnn as mc

    n, n_test = P["n_train"], P["n_test"]
    kw = dict(epochs=P["speed_epochs"], tune_rounds=P["tune_rounds"], eval_every=P["eval_every"],
              eval_examples=P["eval_examples"])
    sgd = mc.speed_cost(mc.ACTIVATIONS, len(P["speed_lrs"]), P["speed_seeds"], n, n_test, **kw)
    adam = mc.speed_cost(["relu"], len(P["adam_lrs"]), P["speed_seeds"], n, n_test, optimizer="adam", **kw)
    he = mc.speed_cost(mc.HE_RERUN, len(P["speed_lrs"]), P["speed_seeds"], n, n_test, **kw)  # from He's start
    mlp = convergence.run_cost(["relu"], [2], 1, P["speed_seeds"], n, n_in=40, width=P["mlp_width"], optimizer="adam",
                               epochs=P["speed_epochs"], eval_every=P["eval_every"], eval_examples=P["eval_examples"],
                               n_test=n_test)
    net = workload.mlp(40, (P["deep_width"],) * P["deep_depth"], 10)
    deep = [gradients.layer_updates_cost(net, len(mc.ACTIVATIONS) * P["deep_seeds"], n, steps=P["deep_steps"],
                                         optimizer=opt) for opt in ("momentum", "adam")]
    timing = workload.fit(workload.cnn(40, (25,) * 3, (5, 3, 3), 10), 1, 64, 20 * P["time_repeats"])[0] * 3
    return [Cost("the CNN speed sweep", sgd[0] + adam[0] + he[0], max(sgd[1], adam[1], he[1]),
                 ("speed_seeds", "speed_lrs", "n_train", "eval_examples", "n_test"),
                 ("speed_epochs", "tune_rounds", "eval_every")),
            Cost("the MLP run", *mlp, ("speed_seeds", "mlp_width", "n_train"), ("speed_epochs",)),
            Cost("the deep updates", *workload.total(deep), ("deep_seeds", "deep_width", "deep_depth", "n_train"),
                 ("deep_steps",)),
            Cost("the step timing", timing, 0, ("time_repeats",))]


@chapter
def properties(P: dict) -> list[Cost]:
    from actlab import cost

    if stored("properties-cost", P):  # the exercise's timing, under a second, is not priced
        return []
    s, b = cost.run_cost(cost.TIMED, P["cost_elements"], P["cost_repeats"], P["cost_block_ms"])
    return [Cost("the timing of the functions' cost", s * P["cost_builds"] * len(P["cost_threads"]), b,
                       ("cost_elements",), ("cost_repeats", "cost_builds", "cost_threads", "cost_block_ms"))]


@chapter
def tanh(P: dict) -> list[Cost]:
    from actlab import convergence

    if stored("tanh-race", P):
        return []
    sweep = convergence.run_cost(P["activations"], P["depths"], len(P["lrs"]), P["seeds"], DIGITS_TRAIN, n_in=64,
                                 width=P["width"], epochs=P["epochs"], eval_every=P["eval_every"],
                                 eval_examples=P["eval_examples"], n_test=DIGITS_TEST, tune_rounds=P["tune_rounds"])
    sweep = (sweep[0] * len(P["starts"]), sweep[1])  # one sweep per start, one after another
    return [Cost("the speed sweep", *sweep, ("seeds", "lrs", "depths", "width", "activations", "eval_examples",
                                             "starts"), ("epochs", "tune_rounds", "eval_every"))]


@chapter
def linear_collapse(P: dict) -> list[Cost]:
    from actlab import linear, xor

    gaps = [linear.collapse_gap_cost(d, P["width"]) for d in P["depths"]]
    collapse = (2 * P["collapse_seeds"] * sum(s for s, _ in gaps), max(b for _, b in gaps))
    sweep = xor.train_sweep_cost(len(P["xor_activations"]), P["xor_widths"], P["xor_seeds"], P["xor_steps"])
    leaky = xor.train_sweep_cost(1, P["xor_widths"][:1], P["xor_seeds"], P["xor_steps"])
    return [Cost("the collapse check", *collapse, ("depths", "width"), ("collapse_seeds",)),
            Cost("the XOR sweep", sweep[0] + leaky[0], sweep[1],
                 ("xor_seeds", "xor_widths", "xor_activations"), ("xor_steps",))]


@chapter
def zero_centred(P: dict) -> list[Cost]:
    from actlab import zerocentre as zc

    same = [zc.same_sign_cost(P["seeds"], P["width"], b, P["steps"]) for b in (1, P["minibatch"])]
    same = (2 * sum(s for s, _ in same), max(b for _, b in same))  # sigmoid and tanh
    path = zc.two_weight_path_cost(P["path_points"], P["path_epochs"])
    race = zc.path_steps_cost(len(P["path_lrs"]), P["path_seeds"], P["path_points"], P["path_epochs"])
    one = zc.path_steps_cost(1, P["path_seeds"], P["path_points"], P["path_epochs"])[0]
    study = zc.curvature_study_cost(P["feature_seeds"], P["feature_width"], P["ridge"], DIGITS_TRAIN)
    return [Cost("the sign count", *same, ("seeds", "width", "minibatch"), ("steps",)),
            Cost("the two-weight paths", 2 * path[0], path[1], ("path_points", "path_epochs")),
            # three feeds: the grid, up to three one-rate extensions each, the shared rate
            Cost("the two-weight race", 3 * (race[0] + 4 * one), race[1],
                 ("path_seeds", "path_points", "path_epochs", "path_lrs")),
            Cost("the curvature study", *study, ("feature_seeds", "feature_width"))]


@chapter
def vanishing_gradients(P: dict) -> list[Cost]:
    from actlab import gradients as gr
    from actlab import initialisation as ini
    from actlab import workload

    n, width, deepest = min(P["n_samples"], DIGITS_TRAIN), P["width"], P["depths"][-1]
    acts, inits = len(P["activations"]), len(P["inits"])
    sweeps = [gr.norm_sweep_cost(acts, inits, P["depths"], P["seeds"], n, width),
              gr.norm_sweep_cost(acts, inits, [deepest], P["seeds"], n, width),
              gr.norm_sweep_cost(acts, inits, P["depths"], P["seeds"], n, width, batch_norm=True)]
    rescue = workload.gradients(workload.mlp(64, (width,) * deepest, 10), P["seeds"], n)
    jac = gr.jacobian_cost(P["jacobian_width"], 5, 20)
    sat = workload.fit(workload.mlp(64, (100,) * 4, 10), P["sat_seeds"], 10, P["sat_steps"], evals=31, keep_rows=300)
    scale = workload.fit(workload.mlp(64, (width,) * P["he_depth"], 10), P["seeds"], 0, 0, evals=2, keep_rows=n)
    curves = dict(steps=P["he_steps"], batch_size=64, every=max(1, P["he_steps"] // 20))
    he = gr.train_curves_cost(2, len(P["he_lrs"]), P["he_depth"], width, P["he_seeds"], DIGITS_TRAIN, DIGITS_TEST,
                              **curves)
    he_more = gr.train_curves_cost(1, 1, P["he_depth"], width, P["he_seeds"], DIGITS_TRAIN, DIGITS_TEST, **curves)
    pre = gr.pretrain_compare_cost(P["pretrain_depth"], width, P["seeds"], len(P["pretrain_lrs"]), DIGITS_TRAIN,
                                   DIGITS_TEST, pretrain_steps=P["pretrain_steps"], finetune_steps=P["finetune_steps"],
                                   every=max(1, P["pretrain_steps"] // 5))
    return [Cost("the variance profile", *ini.measure_cost(len(ini.CONFIGS), P["init_width"], P["init_depth"],
                                                            P["init_inputs"], P["init_seeds"]),
                 ("init_seeds", "init_width", "init_depth", "init_inputs")),
            Cost("the gradient-norm sweeps", *workload.total(sweeps),
                 ("seeds", "depths", "n_samples", "width", "activations", "inits")),
            Cost("the sigmoid rescue", 5 * rescue[0], rescue[1], ("seeds", "depths", "n_samples", "width")),
            Cost("the Jacobian spectra", 2 * jac[0] + jac[0] / 5, jac[1], ("jacobian_width",)),
            Cost("the saturation run", *sat, ("sat_seeds",), ("sat_steps",)),
            Cost("the He comparison", scale[0] + he[0] + 2 * P["he_max_rounds"] * he_more[0], max(scale[1], he[1]),
                 ("he_seeds", "he_lrs", "he_depth", "width"), ("he_steps", "he_max_rounds")),
            Cost("the pre-training comparison", *pre, ("seeds", "pretrain_lrs", "pretrain_depth", "width"),
                 ("pretrain_steps", "finetune_steps"))]


@chapter
def health(P: dict) -> list[Cost]:
    from actlab import health

    return [Cost("the six networks", *health.run_cost(width=P["width"], depth=P["depth"], seeds=P["seeds"],
                                                      steps=P["steps"], n_lrs=len(P["lrs"])),
                 ("seeds", "width", "depth", "lrs"), ("steps",))]


@chapter
def low_precision(P: dict) -> list[Cost]:
    from actlab import lowprecision

    return [Cost("the quantised networks", *lowprecision.run_cost(
        len(P["lp_activations"]), len(P["lp_bits"]), width=P["lp_width"], depth=P["lp_depth"], seeds=P["lp_seeds"],
        steps=P["lp_steps"]), ("lp_seeds", "lp_activations", "lp_width", "lp_depth", "lp_bits"), ("lp_steps",))]


@chapter
def sparsity_pieces(P: dict) -> list[Cost]:
    from actlab import regions

    out = [Cost("the sparsity runs", *regions.sparsity_cost(len(P["sparse_activations"]), width=P["sparse_width"],
                                                            depth=P["sparse_depth"], seeds=P["sparse_seeds"],
                                                            steps=P["sparse_steps"]),
                ("sparse_seeds", "sparse_activations", "sparse_width", "sparse_depth"), ("sparse_steps",))]
    if stored("regions-pieces", P):
        return out
    return out + [Cost("the count of linear pieces", *regions.pieces_cost(
        len(P["architectures"]), seeds=P["seeds"], steps=P["steps"], n_lines=P["n_lines"], n_points=P["n_points"]),
        ("seeds", "architectures", "n_lines", "n_points"), ("steps",))]


@chapter
def initial_scale(P: dict) -> list[Cost]:
    from actlab import functions, gains, symmetry

    return [Cost("the gain check", *gains.deep_cost(len(functions.names(elementwise_only=True)), P["gain_width"],
                                                    P["gain_depth"], P["gain_inputs"], P["gain_seeds"]),
                 ("gain_seeds", "gain_width", "gain_depth", "gain_inputs")),
            Cost("the symmetry runs", *symmetry.run_cost(3, width=P["sym_width"], depth=P["sym_depth"],
                                                         seeds=P["sym_seeds"], steps=P["sym_steps"]),
                 ("sym_seeds", "sym_width", "sym_depth"), ("sym_steps",))]
