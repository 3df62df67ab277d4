"""The source material's claims, each with the rule that decides it from recorded measures.

A claim's rules are stated here, before any number is seen: which metric, which comparison,
which threshold, in which setting. ``decide`` applies them to the measures a chapter
recorded (``actlab.verdicts.record_measure``; a bare number counts as exact) and returns a
:class:`~actlab.verdicts.Verdict`. Chapters never record verdict phrases: the ledger and the
chapters generate prose from the verdict record.

A rule's metric is the short name within the claim's chapter, or ``chapter.metric`` for a
metric of another chapter (the way one claim combines settings).
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from actlab.evidence import PROPERTIES_COST
from actlab.verdicts import (  # noqa: F401
    CONSTRUCTION,
    DISCUSSED,
    FAILS,
    HOLDS,
    MISSING,
    OUTCOMES,
    QUALIFIED,
    UNDECIDED,
    UNTESTABLE,
    Measure,
    Rule,
    Verdict,
    exact,
    judge,
    measure_from,
    normal,
)

DIGITS_MLP = "digits, MLP, SGD"
# A timing's setting: its interval spans every fresh process's interval over its rounds, so it is
# as wide as repeated builds of the book disagree
TIMED_ON = ("PyTorch kernels, float32, {}; median over the rounds of {} fresh processes, interval spanning "
            "each process's 95% interval")
ONE_THREAD = TIMED_ON.format("one torch thread", PROPERTIES_COST["cost_builds"])
MOST_THREADS = TIMED_ON.format(f"{max(PROPERTIES_COST['cost_threads'])} torch threads", PROPERTIES_COST["cost_builds"])


def _timed(metric: str, op: str, threshold: float, says: str) -> tuple:
    """One rule per thread count: a timing verdict must hold on one thread and on the most timed."""
    return (Rule(metric + "_t1", op, threshold, says, ONE_THREAD),
            Rule(metric + "_tmax", op, threshold, says, MOST_THREADS))


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    text: str                       # the claim, paraphrased
    chapter: str | None             # the chapter that measures it
    rules: tuple[Rule, ...] = ()
    qualification: str = ""         # stated with the rules; turns "holds" into "holds with a qualification"
    status: str = ""                # UNTESTABLE, DISCUSSED or CONSTRUCTION for a claim no rule decides
    note: str = ""
    mode: str = "all"               # "all" parts must hold, or one part per "settings"
    derive: Callable[[dict], dict[str, Measure]] | None = field(default=None, compare=False)
    # a qualification that depends on the measurement (from the chapter's metrics, short keys)
    qualify: Callable[[dict], str] | None = field(default=None, compare=False)
    # why the claim is true by definition or arithmetic: its rules then check the code, and a claim
    # whose checks pass is "true by construction", not a measured hold
    construction: str = ""

    @property
    def ours(self) -> bool:
        """A claim of this book's, not of the source (its text says so first)."""
        return self.text.startswith("(Ours")

    def __post_init__(self):
        if self.status and self.rules:
            raise ValueError(f"claim {self.id}: a claim has rules or a status, not both")
        statuses = (UNTESTABLE, DISCUSSED, CONSTRUCTION)
        if not self.status and not self.rules:
            raise ValueError(f"claim {self.id}: give it a rule, or one of the statuses {statuses}")
        if self.status and self.status not in statuses:
            raise ValueError(f"claim {self.id}: status must be one of {statuses}")
        if self.status == CONSTRUCTION and not self.construction:
            raise ValueError(f"claim {self.id}: a claim true by construction says why (construction=...)")


def _ratio(name, num, den, says=""):
    """A derived exact measure num / den (both recorded)."""
    def derive(m):
        if num in m and den in m and m[den]:
            return {name: exact(m[num] / m[den])}
        return {}
    return derive


def _mean_se(name, mean_key, se_key):
    def derive(m):
        if mean_key in m and se_key in m:
            return {name: normal(m[mean_key], m[se_key])}
        return {}
    return derive


def _exp_costly_qualification(m: dict) -> str:
    """What the timings show beside the rules: the exponential against the whole sigmoid kernel,
    tanh's kernel (reported, not ruled on), and the layer an activation follows."""
    from actlab.numbers import fmt

    said = ("the rules time a bare exponential and the sigmoid's kernel against ReLU's, on one tensor size; "
            "tanh's kernel is reported, not ruled on: the claim concerns the exponential, which the rules time "
            "on its own; the claim's 'so ReLU is preferred' is not tested")
    need = ("exp_over_sigmoid", "fwd_rel_tanh_t1", "fwd_rel_tanh_tmax", "threads_max", "linear_over_relu",
            "n_kernels_cheap", "n_kernels")
    if not all(k in m for k in need):
        return said
    return (f"{said}. Measured on this machine: a bare exponential costs {fmt(m['exp_over_sigmoid'])} × the whole "
            f"sigmoid kernel on one thread; tanh's kernel costs {fmt(m['fwd_rel_tanh_t1'])} × ReLU on one thread "
            f"and {fmt(m['fwd_rel_tanh_tmax'])} × on {m['threads_max']}; a linear layer of the same width costs "
            f"{fmt(m['linear_over_relu'])} × ReLU, and {m['n_kernels_cheap']} of {m['n_kernels']} activation "
            f"kernels take under a tenth of its time")


R = Rule
CLAIMS: list[Claim] = [
    # --- Introduction ------------------------------------------------------------------------
    Claim("linear-collapse", "Introduction", "Without an activation function, a network of any depth is one linear layer.",
          "linear-collapse",
          (R("collapse_gap_max", "<", 1e-12, "largest relative gap between a deep linear network and its one-layer product",
             "random linear networks, depth to 50, float64"),),
          construction="a product of matrices is one matrix, and affine maps compose to an affine map; the check "
                       "confirms the code to rounding error"),
    Claim("xor", "Introduction", "A nonlinearity lets a network solve problems that are not linearly separable, such as XOR.",
          "linear-collapse",
          (R("linear_threshold_best", "<=", 0.75, "best accuracy of any straight line on XOR's four points", "XOR"),
           R("xor_rate_tanh_wide", ">=", 0.9, "share of seeds on which the widest tanh network solves XOR "
             "(Wilson 95% interval)", "XOR, Adam"))),
    Claim("universal", "Introduction", "One hidden layer with enough units approximates any continuous function to any precision (Hornik).",
          "universal-approximation",
          (R("mse_sin_tanh_fall", ">", 10, "factor by which tanh's held-out error on sin(πx) falls from the "
             "narrowest to the widest layer (per seed)", "1-D regression, Adam, learning rate picked per width"),
           R("mse_sin_identity_fall", "<", 1.05, "the same factor for the identity (a straight line at every width)",
             "1-D regression, Adam")),
          qualification="needs a non-polynomial activation; says nothing about the width needed or whether training finds it"),
    Claim("any-nonlinear", "Introduction", "Hence a network can approximate any nonlinear function.",
          "universal-approximation",
          # not the fall over widths, which ReLU's failed width-1 fit would inflate: the widest layer
          # against the best any straight line can do, an order of magnitude past linear
          (R("mse_step_relu_vs_line", "<", 0.1, "ReLU's held-out squared error on a step at the widest layer ÷ the "
             "best straight line's (per seed)", "mean square"),
           R("sup_step_relu_wide", "<", 0.1, "largest error of ReLU on a step over the fine grid, widest layer",
             "the uniform (sup) norm")),
          mode="settings"),
    # --- Properties --------------------------------------------------------------------------
    Claim("nonlinearity", "Properties", "A good activation is nonlinear: its derivative is not constant.",
          "linear-collapse",
          status=CONSTRUCTION,
          construction="a definition more than a fact: for a differentiable function, \"nonlinear\" and \"its derivative "
               "is not constant\" say the same thing, so there is nothing to measure. Why it matters is measured "
               "under the first claim, in the linear-collapse chapter: a network of linear units of any depth "
               "equals one linear layer to rounding error"),
    Claim("relu-kink", "Properties", "ReLU is not differentiable at finitely many points, where a substitute gradient is used.",
          "properties", (R("n_kinks_relu", "==", 1, "kinks found on a fine grid", "float64 grid"),),
          construction="ReLU is max(0, x), with one kink, at 0, by definition; the grid search checks the code"),
    Claim("exp-costly", "Properties", "Exponentials make sigmoid-like functions slower, so ReLU is preferred.",
          "properties",
          # tanh is reported, not ruled on: the claim concerns the exponential, timed on its own
          _timed("exp_over_relu", ">", 1.1, "a bare exponential's time ÷ ReLU's, at least 10% slower to matter")
          + _timed("fwd_rel_sigmoid", ">", 1.1, "sigmoid's forward time ÷ ReLU's, at least 10% slower to matter"),
          qualify=lambda m: _exp_costly_qualification(m)),
    Claim("relu-left-saturated", "Properties", "For x < 0 ReLU's gradient is always 0: it saturates there.",
          "saturation", (R("left_relu", "==", "hard", "saturation class on the left"),),
          construction="ReLU is zero for every x < 0 by definition, so its gradient is zero there"),
    Claim("leaky-fix", "Properties", "Leaky ReLU and PReLU were proposed to fix ReLU's zero gradient.",
          "relu-variants", status=DISCUSSED,
          note="a historical claim (Maas et al. 2013; He et al. 2015), true by citation; their negative slope "
               "keeps the gradient non-zero by construction. Whether fewer units end up inactive than with ReLU "
               "is measured in the ReLU-variants chapter, where ReLU itself lost almost no units at the learning "
               "rates all of them survived, so that comparison is undecided there"),
    Claim("monotone-convex", "Properties", "A monotonic activation makes a single-layer network's loss convex.",
          "properties",
          (R("hessian_min_squared", ">", -1e-9, "smallest Hessian eigenvalue of one sigmoid neuron's squared-error loss",
             "one sigmoid neuron, squared error"),)),
    Claim("mish-nonmonotone", "Properties", "Mish is not monotonic, so monotonicity is not required.",
          "properties", (R("decrease_mish", ">", 1e-6, "largest drop of Mish below its running maximum", "float64 grid"),),
          qualification="the rule checks that Mish is not monotonic; that a non-monotonic function trains as well "
                        "as the others is the guide's leaderboard's question"),
    Claim("prelu-param", "Properties", "PReLU adds a parameter and slightly enlarges the network.",
          "properties",
          (R("extra_prelu", ">=", 1, "extra learnable parameters per 64-unit layer"),
           R("prelu_extra_share", "<", 0.01, "those extra parameters as a share of a 64-to-64 layer's",
             "64-to-64 layer")),
          derive=_ratio("prelu_extra_share", "extra_prelu", "layer_params_64"),
          construction="arithmetic: PReLU's learned slopes (one per layer here; one per channel in He et al.'s "
                       "default) are few beside a layer's weights"),
    Claim("maxout-k", "Properties", "k-way maxout needs k times the inputs (weights) of other functions.",
          "relu-variants",
          (R("maxout_weight_factor", "==", 2.0, "maxout's weights ÷ a dense layer's, for k = 2", "64-to-64 layer"),),
          derive=_ratio("maxout_weight_factor", "maxout_weights", "dense_weights"),
          construction="arithmetic: a k-way maxout unit is the largest of k linear pieces, each with its own "
                       "weights"),
    Claim("elu-saturation-death", "Properties",
          "(Ours, not the source's.) ELU units can still die, by saturation: driven so far negative that "
          "their gradient is below 10⁻⁸ on every example.",
          "relu-variants",
          (R("elu_saturation_runs", ">", 0, "share of finite ELU runs with at least one unit dead by saturation (Wilson)",
             "digits, MLP, plain SGD, learning-rate grid"),),
          qualify=lambda m: ("only at learning rates where some seeds diverge"
                             if m.get("elu_sat_runs_k_stable") == 0 and m.get("elu_sat_runs_k", 0) > 0 else "")),
    Claim("selu-fixed-point", "Properties",
          "(Ours, after Klambauer et al. 2017.) With LeCun-normal weights (gain 1), zero mean and unit variance "
          "are a fixed point of SELU's forward map, and it attracts.",
          "initial-scale",
          (R("selu_gain_gap", "<", 0.01, "|SELU's forward gain − 1|, the gain 1/√E[selu(x)²], x standard normal",
             "float64 integral"),
           R("selu_mean_abs", "<", 0.01, "|E[selu(x)]| at unit scale", "float64 integral"),
           R("selu_q_gap_from_2", "<", 0.01, "|q − 1| where the second-moment map at gain 1 settles from twice the "
             "unit scale", "60 layers of an infinitely wide network"),
           R("selu_q_gap_from_half", "<", 0.01, "|q − 1| where the second-moment map at gain 1 settles from half the "
             "unit scale", "60 layers of an infinitely wide network")),
          construction="λ and α were chosen to make zero mean and unit variance a fixed point, and the paper "
                       "proves that it attracts; the checks confirm the code, and the attraction for the second "
                       "moment only"),
    Claim("update-ratio", "Vanishing gradients",
          "(Ours, after CS231n's notes on babysitting training.) Each update is about 10⁻³ of its weights in a "
          "healthy network; a ratio much lower means the learning rate is too low, much higher too high.",
          "health",
          # "about 1e-3" read as within a decade of it, "much lower/higher" as more than a decade away. Each
          # network's ratio is its median over layers and over its steps after the tenth (the whole run,
          # as it converges); the interval is over seeds.
          (R("decades_healthy_tanh", "<", 1, "healthy tanh network: decades between its update ratio and 10⁻³",
             "digits, MLP, tuned rate; median over layers and steps after the tenth"),
           R("decades_healthy_relu", "<", 1, "healthy ReLU network: decades between its update ratio and 10⁻³",
             "digits, MLP, tuned rate"),
           R("decades_rate_high", ">", 1, "ReLU network at a rate far too high: log₁₀(update ratio ÷ 10⁻³)",
             "digits, MLP, the tuned rate times the chapter's factor"),
           R("decades_rate_low", "<", -1, "ReLU network at a rate far too low: log₁₀(update ratio ÷ 10⁻³)",
             "digits, MLP, the tuned rate divided by the chapter's factor"))),
    Claim("pieces-depth", "ReLU",
          "(Ours, after Hanin & Rolnick 2019.) At equal size, a typical ReLU network crosses about as many "
          "activation regions along a line whatever its depth, at the start and after training, far below the "
          "linear pieces depth can reach.",
          "sparsity-pieces",
          # "about as many": the medians of the deepest and the widest network's regions per line within a
          # factor of 1.5 of each other (the networks are independent: a ratio of medians, each resampled)
          (R("pieces_deep_over_wide_init", "<", 1.5, "median regions per line, 6 layers of 8 ÷ 1 layer of 48, at the start",
             "48 ReLU units, He's weights, random biases, 2-D input"),
           R("pieces_wide_over_deep_init", "<", 1.5, "median regions per line, 1 layer of 48 ÷ 6 layers of 8, at the start",
             "48 ReLU units, He's weights, random biases, 2-D input"),
           R("pieces_deep_over_wide_trained", "<", 1.5, "the first ratio after training", "regressing a 2-D function, Adam"),
           R("pieces_wide_over_deep_trained", "<", 1.5, "the second ratio after training",
             "regressing a 2-D function, Adam"),
           # "far below": under a hundredth of Montufar et al.'s construction with the same six layers
           R("pieces_share_of_construction", "<", 0.01, "median regions per line of the trained 6 × 8 networks ÷ "
             "the pieces Montúfar et al.'s construction reaches with their layers", "after training"))),
    Claim("relu6-low-precision", "ReLU",
          "(Ours, after Sandler et al. 2018.) ReLU6 suits low precision better than "
          "ReLU: with its outputs quantised to a few bits, a network loses less accuracy.",
          "low-precision",
          # "less accuracy lost": ReLU's test-error increase minus ReLU6's, seed by seed (the same seed draws
          # the same weights up to the gain), above 0 at 4 bits and at 3; 8 bits is reported, not a rule
          (R("lp_relu_minus_relu6_4", ">", 0, "test error lost at 4 bits, ReLU − ReLU6 (seed by seed)",
             "digits, MLP 3 × 64, Adam; each layer's range its min and max on the training set"),
           R("lp_relu_minus_relu6_3", ">", 0, "test error lost at 3 bits, ReLU − ReLU6 (seed by seed)",
             "digits, MLP 3 × 64, Adam; min-max ranges"))),
    Claim("hardswish-low-precision", "ReLU",
          "(Ours: Howard et al. 2019 chose hard-swish for other reasons.) Hard-swish, built from ReLU6, suits low "
          "precision as ReLU6 does: with its outputs quantised to a few bits, a network loses no more accuracy "
          "than with ReLU6.",
          "low-precision",
          # "no more": hard-swish's test-error increase exceeds ReLU6's by under one percentage point, seed by
          # seed, at 4 bits and at 3
          (R("lp_hardswish_minus_relu6_4", "<", 0.01, "test error lost at 4 bits, hard-swish − ReLU6 (seed by seed)",
             "digits, MLP 3 × 64, Adam; min-max ranges"),
           R("lp_hardswish_minus_relu6_3", "<", 0.01, "test error lost at 3 bits, hard-swish − ReLU6 (seed by seed)",
             "digits, MLP 3 × 64, Adam; min-max ranges"))),
    # --- Sigmoid -----------------------------------------------------------------------------
    Claim("sigmoid-derivative", "Sigmoid", "The sigmoid's gradient is smooth and easy to compute: σ' = σ(1 − σ).",
          "sigmoid", status=CONSTRUCTION,
          construction="σ′ = σ(1 − σ) is an identity, derived in the sigmoid chapter; the chapter's check against "
               "autograd confirms the code, not the mathematics (PyTorch's sigmoid backward uses the same identity). "
               "'Easy' means the backward pass reuses the forward output, which the sigmoid-cost timing examines"),
    Claim("sigmoid-range", "Sigmoid", "The sigmoid's output lies between 0 and 1.",
          "sigmoid",
          (R("range_lo", ">", 0, "smallest output, |x| ≤ 50", "float64"),),
          qualification="the open interval (0, 1); in float64 the output itself rounds to 1 for large x",
          construction="1/(1 + e⁻ˣ) lies strictly between 0 and 1 for every x, by its formula"),
    Claim("sigmoid-cost", "Sigmoid", "Sigmoid needs exponentials and division in both the forward and backward pass.",
          "properties",
          _timed("fwd_rel_sigmoid", ">", 1.1, "forward: sigmoid's time ÷ ReLU's, at least 10% slower")
          + _timed("bwd_share_sigmoid", ">", 0.5, "backward: share of the forward's extra time over ReLU that the "
                   "backward pays again (about 1 if it recomputed the exponential)")),
    Claim("sigmoid-vanish", "Sigmoid", "For large positive or negative inputs the sigmoid's derivative is close to 0.",
          "sigmoid", (R("saturation_x", "<", 10, "|x| beyond which σ′ stays under 1% of its peak", "float64"),),
          construction="by its formula: σ′ = σ(1 − σ) falls off like e⁻|ˣ| on both sides"),
    Claim("sigmoid-not-centred", "Sigmoid", "The sigmoid's output is not centred on zero.",
          "sigmoid", (R("mean_out_ci", ">", 0.1, "mean output for standard-normal input", "Monte Carlo"),),
          derive=_mean_se("mean_out_ci", "mean_out", "mean_out_se"),
          construction="σ(x) > 0 for every x, so its mean over any input is positive"),
    Claim("sigmoid-derivative-shape", "Sigmoid", "The derivative starts from 0 and soon approaches 0.",
          "sigmoid", status=UNTESTABLE,
          note="garbled in the source: the derivative peaks at x = 0 and falls towards 0 on both sides"),
    # --- Vanishing gradients -----------------------------------------------------------------
    Claim("five-layers", "Vanishing gradients", "Sigmoid networks show vanishing gradients within five layers.",
          "vanishing-gradients",
          (R("ratio_sigmoid_default_5", "<", 1e-2, "first ÷ last hidden layer's gradient norm at five layers "
             "(median over seeds)", "digits, MLP, PyTorch's default init"),),
          qualification="depends on the initialisation, which the source does not name"),
    # "Repairs" is judged on both sides of what a gradient can hide: the first/last ratio (no
    # layer gets a far smaller weight gradient than another) and the reach, the error per unit at the
    # first layer over the output's (no common shrink of every layer). 1e-2 is the chapter's VANISH_RATIO.
    Claim("init-repairs", "Vanishing gradients",
          "Xavier initialisation repairs the vanishing gradient of tanh networks, MSRA (Kaiming) that of ReLU networks.",
          "vanishing-gradients",
          (R("ratio_tanh_xavier_deepest", ">", 0.1, "tanh, Xavier: first ÷ last hidden layer's gradient norm",
             "digits, deepest MLP"),
           R("reach_tanh_xavier_deepest", ">", 1e-2, "tanh, Xavier: reach (error per unit at layer 1 ÷ at the output)",
             "digits, deepest MLP"),
           R("ratio_relu_kaiming_deepest", ">", 0.1, "ReLU, Kaiming: first ÷ last hidden layer's gradient norm",
             "digits, deepest MLP"),
           R("reach_relu_kaiming_deepest", ">", 1e-2, "ReLU, Kaiming: reach (error per unit at layer 1 ÷ at the output)",
             "digits, deepest MLP"))),
    # Each remedy on what the claim is about: the error that reaches the first layer (per unit, as a
    # fraction of the output's) or, for pre-training, learning itself on held-out data.
    Claim("remedies", "Vanishing gradients", "Pre-training, batch normalisation and Xavier/MSRA initialisation alleviate it.",
          "vanishing-gradients",
          (R("bn_reach_sigmoid", ">", 1e-2, "reach (error per unit at layer 1 ÷ at the output) of a default-initialised "
             "sigmoid network", "batch normalisation, digits, deepest sigmoid MLP"),
           # pre-training against a well-scaled, tuned random start (tanh's weights times four, the
           # sigmoid's rewrite as tanh), on the gradient and on the test loss: both must favour it
           R("pretrain_reach_gain", ">", 1, "reach where supervised training starts: after pre-training ÷ from "
             "the tanh-matched start, per seed", "layer-wise pre-training against a well-scaled start, digits, sigmoid MLP"),
           R("pretrain_heldout_gain", ">", 0, "test loss from the tanh-matched start (each seed's best learning "
             "rate) minus after pre-training (tuned learning rate), same total steps, per seed; rates chosen on a "
             "separate validation half", "layer-wise pre-training against a well-scaled start, digits, sigmoid MLP"),
           R("reach_tanh_xavier_deepest", ">", 1e-2, "reach (error per unit at layer 1 ÷ at the output)",
             "Xavier initialisation, tanh, deepest MLP"),
           R("reach_relu_kaiming_deepest", ">", 1e-2, "reach (error per unit at layer 1 ÷ at the output)",
             "MSRA initialisation, ReLU, deepest MLP")),
          mode="settings",
          qualify=lambda m: ("pre-training's gain is over a random start that did not learn in the same budget"
                             if m.get("pretrain_learned_matched") == 0 else
                             "pre-training is judged against a well-scaled random start (a tanh network rewritten as "
                             "a sigmoid network), at one budget; the chapter also compares it with PyTorch's default "
                             "start")),
    # --- Zero-centred ------------------------------------------------------------------------
    Claim("zigzag", "Sigmoid", "Outputs that are not zero-centred disturb gradient descent in the next layer.",
          "zero-centred",
          # The sign lock itself (100% of per-example updates behind a sigmoid) is arithmetic:
          # positive inputs times one scalar error. It is shown, not used as evidence. The rule
          # is on the cost: the same sigmoid inputs with and without their mean, each at its
          # tuned learning rate, paired by seed.
          (R("path_speedup", ">", 1, "updates to the target behind sigmoid outputs ÷ behind the same outputs "
             "centred, each at its tuned learning rate (median of per-seed ratios)", "two weights, per-example SGD"),)),
    Claim("natural-gradient", "Sigmoid", "Zero-centred inputs bring SGD closer to the natural gradient and need fewer iterations.",
          "zero-centred",
          # Two parts, both on centring alone (the same sigmoid features with and without their
          # mean): the direction (the direct test) and the iterations. Sigmoid -> tanh changes the
          # function's shape as well as its centring, so it is shown beside them, never a rule.
          (R("cos_gain", ">", 0, "closer to the natural gradient: change in cosine(gradient, natural gradient) "
             "when the sigmoid features are centred", "logistic regression on random-layer features, at w = 0"),
           R("iters_ratio", ">", 1, "fewer iterations: gradient-descent iterations for sigmoid features ÷ "
             "the same features centred", "logistic regression, step 1/L"))),
    # --- Tanh --------------------------------------------------------------------------------
    Claim("tanh-range", "Tanh", "Tanh's range is [−1, 1].", "tanh", status=DISCUSSED,
          note="mathematically the open interval (−1, 1); floating point rounds it to ±1 far out"),
    Claim("tanh-faster", "Tanh", "Tanh converges faster than the sigmoid.",
          "tanh",  # setting: digits, MLP, SGD with momentum
          # Each setting is one rule: sigmoid's epochs to the target ÷ tanh's, per seed, each
          # activation at its own tuned learning rate; above 1 means tanh got there sooner.
          # A setting names the network and the error in words without commas (the verdict lists
          # settings separated by commas).
          (R("speed_ratio_shallow", ">", 1, "sigmoid ÷ tanh epochs to 5% training error, shallowest network",
             "the shallowest network's training error"),
           R("speed_ratio_deep", ">", 1, "sigmoid ÷ tanh epochs to 5% training error, deepest network",
             "the deepest network's training error"),
           R("speed_ratio_test_shallow", ">", 1, "sigmoid ÷ tanh epochs to 10% held-out error, shallowest network",
             "the shallowest network's held-out error"),
           R("speed_ratio_test_deep", ">", 1, "sigmoid ÷ tanh epochs to 10% held-out error, deepest network",
             "the deepest network's held-out error")),
          mode="settings",
          # each function from its recommended start (PyTorch's gains: 5/3 for tanh, 1 for the sigmoid);
          # the race again with the sigmoid at four times tanh's weights asks whether scale alone explains it
          qualify=lambda m: (f"started at matched scales (the sigmoid's weights four times tanh's), the sigmoid is "
                             f"not decisively slower at the deepest network (ratio {m['matched_speed_ratio_deep_text']}): "
                             "the gap comes from the initial scale, not from the function"
                             if m.get("matched_speed_ratio_deep_lo", math.inf) <= 1 else "")),
    Claim("tanh-centred", "Tanh", "Tanh's output is centred on zero.",
          "tanh", (R("abs_mean_out", "<", 0.05, "|mean output| for standard-normal input", "Monte Carlo, 10⁵ samples"),),
          construction="tanh is odd, so its mean over inputs symmetric about zero is zero"),
    Claim("tanh-saturates", "Tanh", "Tanh keeps the sigmoid's problem: saturation makes gradients vanish.",
          "tanh", (R("saturation_x", "<", 10, "|x| beyond which tanh′ stays under 1% of its peak", "float64"),)),
    Claim("tanh-features", "Tanh", "Tanh works well when features differ markedly and keeps amplifying them over cycles.",
          "tanh", status=UNTESTABLE, note="garbled in translation; names no measurable quantity"),
    # --- ReLU --------------------------------------------------------------------------------
    Claim("relu-speed", "ReLU", "SGD converges much faster with ReLU than with sigmoid or tanh.",
          "relu",
          # "much faster" read as at least twice as few epochs; one part per comparison, each judged on
          # the smaller of its training and held-out ratios (a comparison holds only if ReLU is twice
          # as fast on both). Settings, each measured in its own chapter: digits with a 4-layer MLP
          # (the relu chapter) and MNIST-1D with the MNIST-1D paper's CNN (the mnist1d chapter, read
          # through "mnist1d.<metric>"), there also from He's initialisation for every function.
          # Mode "settings", with the two comparisons of a setting naming the same setting: within a
          # setting "than sigmoid or tanh" means faster than both, so both parts must hold there (as in
          # mode "all"); across settings the claim names none, and Krizhevsky et al. say the size of the
          # gain depends on the architecture, so holding in one setting and failing in the other is
          # "holds with a qualification" that names where, not "does not hold" (which mode "all" would
          # give, hiding the setting where it holds); it does not hold only if it fails in every setting.
          (R("speed_ratio_vs_tanh", ">", 2,
             "tanh ÷ ReLU epochs to 25% error, the smaller of the training and held-out ratios, a 4-layer "
             "MLP trained by SGD with momentum at tuned learning rates", "the digits MLP's first steps"),
           R("speed_ratio_vs_sigmoid", ">", 2,
             "sigmoid ÷ ReLU epochs to 25% error, the smaller of the training and held-out ratios, a 4-layer "
             "MLP trained by SGD with momentum at tuned learning rates", "the digits MLP's first steps"),
           R("mnist1d.speed_ratio_vs_tanh", ">", 2,
             "tanh ÷ ReLU epochs to the chapter's target error (25% in the book), the smaller of the training "
             "and held-out ratios, the MNIST-1D paper's 3-layer CNN trained by SGD with momentum at tuned learning rates",
             "the MNIST-1D CNN"),
           R("mnist1d.speed_ratio_vs_sigmoid", ">", 2,
             "sigmoid ÷ ReLU epochs to the chapter's target error (25% in the book), the smaller of the training "
             "and held-out ratios, the MNIST-1D paper's 3-layer CNN trained by SGD with momentum at tuned learning rates",
             "the MNIST-1D CNN"),
           # the same comparisons with every function from He's initialisation (tanh and the sigmoid
           # start from Xavier's above): a setting that holds there and fails here is an initialisation effect
           R("mnist1d.he_ratio_vs_tanh", ">", 2,
             "tanh ÷ ReLU epochs as above, tanh from He's initialisation as ReLU", "the MNIST-1D CNN from He's start"),
           R("mnist1d.he_ratio_vs_sigmoid", ">", 2,
             "sigmoid ÷ ReLU epochs as above, the sigmoid from He's initialisation as ReLU",
             "the MNIST-1D CNN from He's start")),
          mode="settings"),
    Claim("relu-die", "ReLU", "ReLU units can die during training.",
          "relu", (R("dying_runs", ">", 0,
                     "share of finite runs (all learning rates) ending with at least 10% of units dead (Wilson)",
                     DIGITS_MLP),),
          qualify=lambda m: ("runs ending with at least 10% of their units dead occurred only at learning rates "
                             "where some seeds diverged"
                             if m.get("dying_runs_k_stable") == 0 and m.get("dying_runs_k", 0) > 0 else "")),
    Claim("relu-irreversible", "ReLU", "A dead ReLU unit dies irreversibly.",
          "relu", (R("revived_share_stable", "<=", 0, "share of a run's units that died during training and came "
                     "back later, mean over the runs at learning rates where no seed diverged (bootstrap over runs)",
                     DIGITS_MLP),),
          note="in the first layer, whose inputs are fixed, death is final by argument; the chapter gives its count"),
    Claim("relu-40", "ReLU", "With a large learning rate, 40% of the network may be dead.",
          # "may": a real risk, more than one run in twenty, judged where every seed's run counts (at
          # learning rates where no seed diverged: survivors of divergence are a selected sample)
          "relu", (R("dead40_runs_stable", ">", 0.05,
                     "share of runs ending with at least 40% of units dead, at the learning rates where no seed "
                     "diverged (Wilson)", "digits, MLP, plain SGD, learning-rate grid into divergence"),),
          note="the chapter also counts the survivors at learning rates where some seeds diverged"),
    Claim("relu-offset", "ReLU", "ReLU's output mean is always above zero (an offset).",
          "relu", (R("offset_relu_trained", ">", 0.1,
                     "mean ÷ std of a ReLU layer's outputs after training, averaged over layers",
                     "digits, 8 × 128 MLP, Kaiming init, SGD with momentum"),),
          qualification="positive by construction; what it costs is a factor in the next layer's curvature, "
                        "measured in the chapter"),
    Claim("relu-offset-harms", "ReLU", "The offset and dead units together hurt convergence.",
          None, status=UNTESTABLE, note="no size or setting given; each part is measured in its chapter"),
    # --- Saturation --------------------------------------------------------------------------
    Claim("saturation-defs", "Saturation", "Soft saturation: the derivative is zero only in the limit; hard: zero beyond a constant.",
          "saturation", status=DISCUSSED,
          note="definitions (Gulcehre et al. 2016), not facts to test; the saturation chapter applies them to every "
               "registered function from measured derivatives"),
]

BY_ID = {c.id: c for c in CLAIMS}


def get(claim_id: str) -> Claim:
    try:
        return BY_ID[claim_id]
    except KeyError:
        raise KeyError(f"no claim {claim_id!r}; known: {', '.join(BY_ID)}") from None


def load(path: str | Path) -> dict:
    """The book's metrics file; a missing file is an empty ledger, a broken one an error."""
    p = Path(path)
    if not p.exists():
        return {}
    from actlab.record import load_metrics

    try:
        return load_metrics(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{p} is not valid JSON ({e.msg} at line {e.lineno}); rebuild it with `make book`") from None


def measures_for(claim: Claim, metrics: dict) -> dict[str, Measure]:
    """The measures a claim's rules name, from the full metrics (keys ``chapter.metric``)."""
    short = {k.split(".", 1)[1]: v for k, v in metrics.items() if claim.chapter and k.startswith(claim.chapter + ".")}
    if claim.derive:
        short.update(claim.derive(short))
    out = {}
    for r in claim.rules:
        src, key = (metrics, r.metric) if "." in r.metric else (short, r.metric)
        m = src[key] if isinstance(src.get(key), Measure) else measure_from(src, key)
        if m is not None:
            out[r.metric] = m
    return out


def decide(claim: Claim | str, metrics: dict) -> Verdict:
    """The verdict on a claim from the full metrics dict (keys ``chapter.metric``)."""
    claim = get(claim) if isinstance(claim, str) else claim
    if claim.status:
        return Verdict(claim.id, claim.status, note=claim.construction or claim.note)
    qualification = claim.qualification
    if claim.qualify:
        short = {k.split(".", 1)[1]: v for k, v in metrics.items() if claim.chapter and k.startswith(claim.chapter + ".")}
        qualification = "; ".join(q for q in (qualification, claim.qualify(short)) if q)
    return by_construction(claim, judge(claim.id, list(claim.rules), measures_for(claim, metrics), qualification,
                                        claim.note, claim.mode))


def by_construction(claim: Claim, v: Verdict) -> Verdict:
    """A check of a fact true by definition or arithmetic that passes is "true by construction",
    with the reason; one that fails stays a failure (the code, not the mathematics, is wrong)."""
    from dataclasses import replace

    if not claim.construction or v.outcome not in (HOLDS, QUALIFIED):
        return v
    extra = dict(v.extra)
    if "halves" in extra:  # each half's check reads the same way
        extra["halves"] = tuple(CONSTRUCTION if o in (HOLDS, QUALIFIED) else o for o in extra["halves"])
    return replace(v, outcome=CONSTRUCTION, note="; ".join(t for t in (claim.construction, v.note) if t), extra=extra)


def rule_chapter(claim: Claim, rule: Rule) -> str | None:
    """The chapter whose metric a rule reads: ``chapter.metric``, or the claim's own chapter."""
    return rule.metric.split(".", 1)[0] if "." in rule.metric else claim.chapter


def decide_local(claim_id: str, metrics: dict, chapter: str | None = None) -> Verdict:
    """The verdict from one chapter's own metrics (short keys), for that chapter's claim box.

    ``chapter``: whose metrics these are (default: the claim's own). Only the rules that read that
    chapter's metrics are judged, so a claim that combines settings measured in several chapters
    is not "not yet measured" in each of them; the verdict's note names the settings the ledger
    adds and where they are measured (None for the claim's own chapter's name if it has none)."""
    from dataclasses import replace

    c = get(claim_id)
    here = chapter or c.chapter
    if c.status:
        return decide(c, {})
    own = [r for r in c.rules if rule_chapter(c, r) == here]
    if not own:
        raise ValueError(f"claim {claim_id}: no rule reads the {here} chapter's metrics")
    elsewhere = [r for r in c.rules if rule_chapter(c, r) != here]
    note = c.note
    if elsewhere:
        by = {}
        for r in elsewhere:
            by.setdefault(rule_chapter(c, r), []).append(r.setting or r.metric)
        adds = "; ".join(f"{', '.join(dict.fromkeys(settings))} in the {{doc}}`{CHAPTER_NAMES.get(ch, ch)} "
                         f"chapter <{ch}>`" for ch, settings in by.items())
        said = f"judged here on this chapter's setting alone; the ledger adds {adds}"
        note = f"{note}; {said}" if note else said[:1].upper() + said[1:]
    claim = replace(c, rules=tuple(own), note=note)
    # metrics of this chapter under the claim's own prefix for bare names, under their own for "x.m" names
    prefixed = {f"{here}.{k}": v for k, v in metrics.items()}
    if here != c.chapter:  # the rules name "here.metric"; derive/qualify read the claim's chapter
        claim = replace(claim, derive=None, qualify=None)
    return decide(claim, prefixed)


def ledger(metrics: dict) -> list[dict]:
    rows = []
    for c in CLAIMS:
        v = decide(c, metrics)
        rows.append(dict(id=c.id, section=c.section, text=c.text, chapter=c.chapter, verdict=v.outcome,
                         detail=v.phrase(), record=v))
    return rows


# How the notes and qualifications name a chapter; inside that chapter's own box it is "this chapter".
CHAPTER_NAMES = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "relu-variants": "ReLU-variants",
                 "saturation": "saturation", "properties": "properties", "linear-collapse": "linear-collapse",
                 "universal-approximation": "universal-approximation",
                 "vanishing-gradients": "vanishing-gradients", "zero-centred": "zero-centred",
                 "mnist1d": "MNIST-1D"}

LONG_ITEM = 320  # characters: a longer box item puts each part of its verdict on a line of its own


def _here(text: str, chapter: str | None) -> str:
    """A note written for the ledger, read inside ``chapter``'s own box."""
    name = CHAPTER_NAMES.get(chapter or "")
    if not name:
        return text
    for a, b in ((f"in the {name} chapter", "in this chapter"), (f"the {name} chapter", "this chapter")):
        text = text.replace(a, b)
    return text


def box(*claim_ids: str, metrics: dict | None = None, chapter: str | None = None) -> str:
    """MyST markdown for a chapter's claim box: each claim paraphrased, its verdict beside it,
    generated from the verdict record. ``metrics``: the chapter's own (default: what this
    kernel recorded); ``chapter``: the chapter that shows the box (default: each claim's own),
    which its notes call "this chapter"."""
    from actlab.record import recorded

    own = recorded() if metrics is None else metrics
    lines = []
    for cid in claim_ids:
        c = get(cid)
        here = chapter or c.chapter
        v = decide_local(cid, own, here) if c.chapter else decide(c, {})
        head = f"- *{c.text}* — **{v.label}**."
        if v.parts and (len(v.parts) > 1 or len(_sentence(v)) > LONG_ITEM):
            items = [p + "." for p in v.part_texts()]
            items += [f"*{v.qualification}*." for _ in [0] if v.qualification]
            items += [v.note.rstrip(".") + "." for _ in [0] if v.note]
            lines.append(head + "\n" + "\n".join(f"  - {_here(i, here)}" for i in items))
        else:
            lines.append(f"{head} {_here(_sentence(v), here)}")
    return ":::{admonition} What the source claims, and our verdict\n:class: claim\n\n" + "\n".join(lines) + "\n:::"


def _sentence(v: Verdict) -> str:
    return v.details().rstrip(".") + "."


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def summary_markdown(rows: list[dict]) -> str:
    """The ledger's opening paragraph and the list of claims that do not hold, from the records."""
    source = [r for r in rows if not get(r["id"]).ours]
    ours = len(rows) - len(source)
    n = lambda outcome: sum(r["verdict"] == outcome for r in source)
    parts = [_count(n(HOLDS), "holds", "hold"),
             _count(n(QUALIFIED), "holds with a qualification", "hold with a qualification"),
             _count(n(CONSTRUCTION), "is true by construction (checked, not counted as a measured hold)",
                    "are true by construction (checked, not counted as measured holds)"),
             _count(n(FAILS), "does not hold", "do not hold"),
             _count(n(UNDECIDED), "is undecided at the number of seeds we ran",
                    "are undecided at the number of seeds we ran"),
             _count(n(UNTESTABLE), "cannot be tested as stated", "cannot be tested as stated"),
             _count(n(DISCUSSED), "is discussed but not measured", "are discussed but not measured")]
    if n(MISSING):
        parts.append(_count(n(MISSING), "is not yet measured", "are not yet measured"))
    text = (f"Of the source's {len(source)} claims, " + ", ".join(parts[:-1]) + f", and {parts[-1]}."
            + (f" The ledger adds {_count(ours, 'claim', 'claims')} of our own, marked as such." if ours else ""))
    failing = [r for r in source if r["verdict"] == FAILS]
    if failing:
        text += "\n\nThe claims that do not hold in our measurements:\n\n" + "\n".join(
            f"- {r['text']}" for r in failing)
    return text
