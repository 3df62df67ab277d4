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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from actlab.verdicts import (DISCUSSED, FAILS, HOLDS, MISSING, OUTCOMES, QUALIFIED, UNDECIDED,  # noqa: F401
                             UNTESTABLE, Measure, Rule, Verdict, exact, judge, measure_from)

DIGITS_MLP = "digits, MLP, SGD"


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    text: str                       # the claim, paraphrased
    chapter: str | None             # the chapter that measures it
    rules: tuple[Rule, ...] = ()
    qualification: str = ""         # stated with the rules; turns "holds" into "holds with a qualification"
    status: str = ""                # UNTESTABLE or DISCUSSED for a claim no rule decides
    note: str = ""
    mode: str = "all"               # "all" parts must hold, or one part per "settings"
    derive: Callable[[dict], dict[str, Measure]] | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.status and self.rules:
            raise ValueError(f"claim {self.id}: a claim has rules or a status, not both")
        if not self.status and not self.rules:
            raise ValueError(f"claim {self.id}: give it a rule, or the status {UNTESTABLE!r} or {DISCUSSED!r}")
        if self.status and self.status not in (UNTESTABLE, DISCUSSED):
            raise ValueError(f"claim {self.id}: status must be {UNTESTABLE!r} or {DISCUSSED!r}")


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
            v, se = m[mean_key], m[se_key]
            return {name: Measure(v, v - 1.96 * se, v + 1.96 * se, 1, "normal 95% (standard error)")}
        return {}
    return derive


R = Rule
CLAIMS: list[Claim] = [
    # --- Introduction ------------------------------------------------------------------------
    Claim("linear-collapse", "Introduction", "Without an activation function, a network of any depth is one linear layer.",
          "linear-collapse",
          (R("collapse_gap_max", "<", 1e-12, "largest relative gap between a deep linear network and its one-layer product",
             "random linear networks, depth to 50, float64"),)),
    Claim("xor", "Introduction", "A nonlinearity lets a network solve problems that are not linearly separable, such as XOR.",
          "linear-collapse",
          (R("linear_threshold_best", "<=", 0.75, "best accuracy of any straight line on XOR's four points", "XOR"),
           R("xor_rate_tanh_wide", ">=", 0.9, "share of seeds on which the widest tanh network solves XOR", "XOR, Adam")),
          qualification="a nonlinearity makes XOR solvable; training does not always find the solution"),
    Claim("universal", "Introduction", "One hidden layer with enough units approximates any continuous function to any precision (Hornik).",
          "universal-approximation",
          (R("mse_sin_tanh_fall", ">", 10, "factor by which tanh's error on sin(πx) falls over the widths", "1-D regression, Adam"),
           R("mse_sin_identity_fall", "<", 1.05, "the same factor for the identity (a straight line at every width)",
             "1-D regression, Adam")),
          qualification="needs a non-polynomial activation; says nothing about the width needed or whether training finds it"),
    Claim("any-nonlinear", "Introduction", "Hence a network can approximate any nonlinear function.",
          "universal-approximation",
          (R("mse_step_relu_fall", ">", 2, "factor by which the mean squared error on a step falls over the widths",
             "in mean square"),
           R("sup_step_relu_wide", "<", 0.1, "largest error on a step at the widest layer", "uniformly")),
          mode="settings"),
    # --- Properties --------------------------------------------------------------------------
    Claim("nonlinearity", "Properties", "A good activation is nonlinear: its derivative is not constant.",
          "properties",
          (R("linear-collapse.collapse_gap_max", "<", 1e-12,
             "a deep network of linear units equals one linear layer to within", "random linear networks"),)),
    Claim("relu-kink", "Properties", "ReLU is not differentiable at finitely many points, where a substitute gradient is used.",
          "properties", (R("n_kinks_relu", "==", 1, "kinks found on a fine grid", "float64 grid"),)),
    Claim("exp-costly", "Properties", "Exponentials make sigmoid-like functions slower, so ReLU is preferred.",
          "properties", (R("fwd_rel_sigmoid", ">", 1, "sigmoid's forward time ÷ ReLU's", "one CPU thread, float32"),),
          qualification="ReLU itself is memory-bound, so the gap is small beside a linear layer"),
    Claim("relu-left-saturated", "Properties", "For x < 0 ReLU's gradient is always 0: it saturates there.",
          "saturation", (R("left_relu", "==", "hard", "saturation class on the left"),)),
    Claim("leaky-fix", "Properties", "Leaky ReLU and PReLU were proposed to fix ReLU's zero gradient.",
          "relu-variants",
          (R("dead_max_leaky_relu", "<=", 0, "worst dead share of leaky ReLU", DIGITS_MLP),
           R("dead_max_prelu", "<=", 0, "worst dead share of PReLU", DIGITS_MLP)),
          qualification="true by construction under a derivative-based rule"),
    Claim("monotone-convex", "Properties", "A monotonic activation makes a single-layer network's loss convex.",
          "properties",
          (R("hessian_min_squared", ">", -1e-9, "smallest Hessian eigenvalue of one sigmoid neuron's squared-error loss",
             "one sigmoid neuron, squared error"),)),
    Claim("mish-nonmonotone", "Properties", "Mish is not monotonic, so monotonicity is not required.",
          "properties", (R("decrease_mish", ">", 1e-6, "largest drop of Mish below its running maximum", "float64 grid"),)),
    Claim("prelu-param", "Properties", "PReLU adds a parameter and slightly enlarges the network.",
          "properties", (R("extra_prelu", ">=", 1, "extra learnable parameters per 64-unit layer"),)),
    Claim("maxout-k", "Properties", "k-way maxout needs k times the inputs (weights) of other functions.",
          "relu-variants",
          (R("maxout_weight_factor", "==", 2.0, "maxout's weights ÷ a dense layer's, for k = 2", "64-to-64 layer"),),
          derive=_ratio("maxout_weight_factor", "maxout_weights", "dense_weights")),
    # --- Sigmoid -----------------------------------------------------------------------------
    Claim("sigmoid-derivative", "Sigmoid", "The sigmoid's gradient is smooth and easy to compute: σ' = σ(1 − σ).",
          "sigmoid", (R("autograd_gap", "<", 1e-10, "largest gap between σ(1 − σ) and autograd", "float64 grid"),)),
    Claim("sigmoid-range", "Sigmoid", "The sigmoid's output lies between 0 and 1.",
          "sigmoid", (R("range_lo", ">", 0, "smallest output on the grid", "float64 grid"),)),
    Claim("sigmoid-cost", "Sigmoid", "Sigmoid needs exponentials and division in both the forward and backward pass.",
          "sigmoid", status=DISCUSSED,
          note="the forward pass needs one exponential; the backward pass can reuse the forward output"),
    Claim("sigmoid-vanish", "Sigmoid", "For large positive or negative inputs the sigmoid's derivative is close to 0.",
          "sigmoid", (R("saturation_x", "<", 10, "|x| beyond which σ′ stays under 1% of its peak", "float64"),)),
    Claim("sigmoid-not-centred", "Sigmoid", "The sigmoid's output is not centred on zero.",
          "sigmoid", (R("mean_out_ci", ">", 0.1, "mean output for standard-normal input", "Monte Carlo"),),
          derive=_mean_se("mean_out_ci", "mean_out", "mean_out_se")),
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
    # layer learns far more slowly than another) and the share of the output error that reaches
    # the first layer (no common shrink of every layer). 1e-2 is the chapter's VANISH_RATIO.
    Claim("init-repairs", "Vanishing gradients",
          "Xavier initialisation repairs the vanishing gradient of tanh networks, MSRA (Kaiming) that of ReLU networks.",
          "vanishing-gradients",
          (R("ratio_tanh_xavier_deepest", ">", 0.1, "tanh, Xavier: first ÷ last hidden layer's gradient norm",
             "digits, deepest MLP"),
           R("reach_tanh_xavier_deepest", ">", 1e-2, "tanh, Xavier: share of the output error reaching layer 1",
             "digits, deepest MLP"),
           R("ratio_relu_kaiming_deepest", ">", 0.1, "ReLU, Kaiming: first ÷ last hidden layer's gradient norm",
             "digits, deepest MLP"),
           R("reach_relu_kaiming_deepest", ">", 1e-2, "ReLU, Kaiming: share of the output error reaching layer 1",
             "digits, deepest MLP"))),
    # Each remedy on what the claim is about: the error that reaches the first layer (an absolute
    # share of the output error) or, for pre-training, learning itself on held-out data.
    Claim("remedies", "Vanishing gradients", "Pre-training, batch normalisation and Xavier/MSRA initialisation alleviate it.",
          "vanishing-gradients",
          (R("bn_reach_sigmoid", ">", 1e-2, "share of the output error reaching layer 1 of a default-initialised "
             "sigmoid network with batch norm", "batch normalisation, digits, 10-layer sigmoid MLP"),
           R("pretrain_heldout_gain", ">", 0, "held-out loss from a random start (each seed's best learning rate) "
             "minus after pre-training (tuned learning rate), same total steps, per seed", "layer-wise pre-training, digits, sigmoid MLP"),
           R("reach_tanh_xavier_deepest", ">", 1e-2, "share of the output error reaching layer 1",
             "Xavier initialisation, tanh, deepest MLP"),
           R("reach_relu_kaiming_deepest", ">", 1e-2, "share of the output error reaching layer 1",
             "MSRA initialisation, ReLU, deepest MLP")),
          mode="settings"),
    # --- Zero-centred ------------------------------------------------------------------------
    Claim("zigzag", "Sigmoid", "Outputs that are not zero-centred disturb gradient descent in the next layer.",
          "zero-centred",
          (R("same_sign_sigmoid_single", ">=", 0.99, "share of per-example updates whose signs are all alike",
             "a unit fed by sigmoid outputs"),
           R("path_speedup", ">", 1, "steps for two weights behind sigmoid ÷ behind tanh", "two weights, SGD"))),
    Claim("natural-gradient", "Sigmoid", "Zero-centred inputs bring SGD closer to the natural gradient and need fewer iterations.",
          "zero-centred",
          (R("iters_ratio", ">", 1, "gradient-descent iterations for uncentred ÷ centred features", "logistic regression"),),
          qualification="closer in curvature, not in every sense"),
    # --- Tanh --------------------------------------------------------------------------------
    Claim("tanh-range", "Tanh", "Tanh's range is [−1, 1].", "tanh", status=DISCUSSED,
          note="mathematically the open interval (−1, 1); floating point rounds it to ±1 far out"),
    Claim("tanh-faster", "Tanh", "Tanh converges faster than the sigmoid.",
          "tanh", (R("tanh_faster_share", "==", 1.0, "share of depths at which tanh reaches the target sooner",
                     DIGITS_MLP),),
          derive=_ratio("tanh_faster_share", "tanh_faster_depths", "n_depths")),
    Claim("tanh-centred", "Tanh", "Tanh's output is centred on zero.",
          "tanh", (R("abs_mean_out", "<", 0.05, "|mean output| for standard-normal input"),),
          derive=lambda m: {"abs_mean_out": exact(abs(m["mean_out"]))} if "mean_out" in m else {}),
    Claim("tanh-saturates", "Tanh", "Tanh keeps the sigmoid's problem: saturation makes gradients vanish.",
          "tanh", (R("saturation_x", "<", 10, "|x| beyond which tanh′ stays under 1% of its peak", "float64"),)),
    Claim("tanh-features", "Tanh", "Tanh works well when features differ markedly and keeps amplifying them over cycles.",
          None, status=UNTESTABLE, note="garbled in translation; names no measurable quantity"),
    # --- ReLU --------------------------------------------------------------------------------
    Claim("relu-speed", "ReLU", "SGD converges much faster with ReLU than with sigmoid or tanh.",
          "relu", (R("speed_ratio_matched", ">", 2, "tanh ÷ ReLU epochs to 25% training error", DIGITS_MLP),),
          mode="settings"),
    Claim("relu-die", "ReLU", "ReLU units can die during training.",
          "relu", (R("dead_peak", ">", 0.1, "largest median share of dead units over the learning rates", DIGITS_MLP),)),
    Claim("relu-irreversible", "ReLU", "A dead ReLU unit dies irreversibly.",
          "relu", (R("revived_share", "<=", 0, "share of units that died and later came back", DIGITS_MLP),)),
    Claim("relu-40", "ReLU", "With a large learning rate, 40% of the network may be dead.",
          "relu", (R("dead_peak", ">=", 0.4, "largest median dead share, loss still finite", DIGITS_MLP),),
          qualification="only at learning rates where some runs already diverge"),
    Claim("relu-offset", "ReLU", "ReLU's output mean is always above zero (an offset).",
          "relu", (R("shift_relu_mean_end", ">", 0, "mean unit output after training", DIGITS_MLP),)),
    Claim("relu-offset-harms", "ReLU", "The offset and dead units together hurt convergence.",
          None, status=UNTESTABLE, note="no size or setting given; each part is measured in its chapter"),
    # --- Saturation --------------------------------------------------------------------------
    Claim("saturation-defs", "Saturation", "Soft saturation: the derivative is zero only in the limit; hard: zero beyond a constant.",
          "saturation",
          (R("left_sigmoid", "==", "soft", "sigmoid's left saturation class"),
           R("left_hardtanh", "==", "hard", "hard tanh's left saturation class"))),
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
    try:
        return json.loads(p.read_text())
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
        return Verdict(claim.id, claim.status, note=claim.note)
    return judge(claim.id, list(claim.rules), measures_for(claim, metrics), claim.qualification, claim.note, claim.mode)


def decide_local(claim_id: str, metrics: dict) -> Verdict:
    """The verdict from one chapter's own metrics (short keys), for the chapter's claim box."""
    c = get(claim_id)
    return decide(c, {f"{c.chapter}.{k}": v for k, v in metrics.items()})


def ledger(metrics: dict) -> list[dict]:
    rows = []
    for c in CLAIMS:
        v = decide(c, metrics)
        rows.append(dict(id=c.id, section=c.section, text=c.text, chapter=c.chapter, verdict=v.outcome,
                         detail=v.phrase(), record=v))
    return rows


def box(*claim_ids: str, metrics: dict | None = None) -> str:
    """MyST markdown for a chapter's claim box: each claim paraphrased, its verdict beside it,
    generated from the verdict record. ``metrics``: the chapter's own (default: what this
    kernel recorded)."""
    from actlab.record import recorded
    from actlab.tables import verdict_label

    own = recorded() if metrics is None else metrics
    lines = []
    for cid in claim_ids:
        c = get(cid)
        v = decide_local(cid, own) if c.chapter else decide(c, {})
        lines.append(f"- *{c.text}* — **{verdict_label(v)}**. {_sentence(v)}")
    return ":::{admonition} What the source claims, and our verdict\n:class: claim\n\n" + "\n".join(lines) + "\n:::"


def _sentence(v: Verdict) -> str:
    from actlab.tables import rule_text

    return rule_text(v).rstrip(".") + "."
