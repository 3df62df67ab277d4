"""The source material's claims, each with the rule that decides it from recorded metrics.

A rule reads ``_build/metrics.json`` (keys ``chapter.metric``) and returns a verdict and the
numbers behind it. A claim whose metrics are missing is reported as not yet measured; it
never shows a number that was not recorded.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HOLDS = "holds"
QUALIFIED = "holds with a qualification"
FAILS = "does not hold"
UNTESTABLE = "not testable as stated"
MISSING = "not yet measured"
VERDICTS = (HOLDS, QUALIFIED, FAILS, UNTESTABLE, MISSING)


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    text: str            # the claim in our words
    chapter: str | None  # the chapter that tests it
    keys: tuple[str, ...]
    decide: Callable[[dict], tuple[str, str]]  # metrics (short keys) -> (verdict, detail)


def _pct(v):
    return f"{100 * v:.0f}%"


def _phrase(verdict_text: str) -> str:
    t = verdict_text.lower()
    if t.startswith("holds:") or t.startswith("holds at every"):
        return HOLDS
    if t.startswith("holds"):
        return QUALIFIED
    if t.startswith("does not hold"):
        return FAILS
    return QUALIFIED


CLAIMS: list[Claim] = [
    Claim("linear-collapse", "Introduction", "Without an activation function, a network of any depth is one linear layer.",
          "linear-collapse", ("collapse_gap_max", "depth_max"),
          lambda m: (HOLDS if m["collapse_gap_max"] < 1e-12 else FAILS,
                     f"deep vs collapsed output differ by {m['collapse_gap_max']:.1e} (relative) up to depth {m['depth_max']}")),
    Claim("xor", "Introduction", "A nonlinearity lets a network solve problems that are not linearly separable, such as XOR.",
          "linear-collapse", ("linear_threshold_best", "xor_rate_tanh_wide", "xor_rate_relu_narrow"),
          lambda m: (QUALIFIED if m["linear_threshold_best"] <= 0.75 and m["xor_rate_tanh_wide"] >= 0.9 else FAILS,
                     f"best line {m['linear_threshold_best']:.2f} accuracy; tanh solves {_pct(m['xor_rate_tanh_wide'])} of seeds "
                     f"at the widest layer, but narrow ReLU only {_pct(m['xor_rate_relu_narrow'])}")),
    Claim("universal", "Introduction", "One hidden layer with enough units approximates any continuous function to any precision (Hornik).",
          "universal-approximation", ("mse_sin_tanh_fall", "mse_sin_identity_fall"),
          lambda m: (QUALIFIED if m["mse_sin_tanh_fall"] > 10 and m["mse_sin_identity_fall"] < 1.05 else FAILS,
                     f"tanh error on sin falls {m['mse_sin_tanh_fall']:.0f}-fold over the widths, identity's "
                     f"{m['mse_sin_identity_fall']:.2f}-fold; needs a non-polynomial activation, says nothing of width or training")),
    Claim("any-nonlinear", "Introduction", "Hence a network can approximate any nonlinear function.",
          "universal-approximation", ("sup_step_relu_wide",),
          lambda m: (QUALIFIED if m["sup_step_relu_wide"] > 0.4 else HOLDS,
                     f"only continuous ones uniformly: the sup error on a step stays {m['sup_step_relu_wide']:.2f}")),
    Claim("nonlinearity", "Properties", "A good activation is nonlinear: its derivative is not constant.",
          "properties", ("nonlinear_identity", "nonlinear_relu"),
          lambda m: (HOLDS if not m["nonlinear_identity"] and m["nonlinear_relu"] else FAILS,
                     "every registered function but the identity is measured nonlinear")),
    Claim("relu-kink", "Properties", "ReLU is not differentiable at finitely many points, where a substitute gradient is used.",
          "properties", ("n_kinks_relu", "relu_torch_at_0"),
          lambda m: (HOLDS if m["n_kinks_relu"] == 1 else FAILS,
                     f"{m['n_kinks_relu']} kink found; PyTorch uses {m['relu_torch_at_0']:g} there")),
    Claim("exp-costly", "Properties", "Exponentials make sigmoid-like functions slower, so ReLU is preferred.",
          "properties", ("fwd_rel_sigmoid", "fwd_rel_tanh", "relu_over_copy"),
          lambda m: (QUALIFIED if m["fwd_rel_sigmoid"] > 1 else FAILS,
                     f"sigmoid forward {m['fwd_rel_sigmoid']:.2f}× ReLU, tanh {m['fwd_rel_tanh']:.2f}×; "
                     f"ReLU is {m['relu_over_copy']:.2f}× a memory copy, so the gap is small")),
    Claim("relu-left-saturated", "Properties", "For x < 0 ReLU's gradient is always 0: it saturates there.",
          "saturation", ("left_relu", "right_relu"),
          lambda m: (HOLDS if m["left_relu"] == "hard" else FAILS,
                     f"left: {m['left_relu']}, right: {m['right_relu']}")),
    Claim("leaky-fix", "Properties", "Leaky ReLU and PReLU were proposed to fix ReLU's zero gradient.",
          "relu-variants", ("dead_max_leaky_relu", "dead_max_prelu", "dead_max_relu"),
          lambda m: (HOLDS if m["dead_max_leaky_relu"] == 0 and m["dead_max_prelu"] == 0 else QUALIFIED,
                     f"worst dead share: ReLU {_pct(m['dead_max_relu'])}, leaky {_pct(m['dead_max_leaky_relu'])}, "
                     f"PReLU {_pct(m['dead_max_prelu'])}")),
    Claim("monotone-convex", "Properties", "A monotonic activation makes a single-layer network's loss convex.",
          "properties", ("hessian_min_squared", "hessian_min_xent"),
          lambda m: (FAILS if m["hessian_min_squared"] < 0 else HOLDS,
                     f"sigmoid neuron, squared error: Hessian eigenvalue {m['hessian_min_squared']:.3f}; "
                     f"cross-entropy: {m['hessian_min_xent']:.1e} (convex)")),
    Claim("mish-nonmonotone", "Properties", "Mish is not monotonic, so monotonicity is not required.",
          "properties", ("decrease_mish",),
          lambda m: (HOLDS if m["decrease_mish"] > 0.1 else FAILS, f"Mish dips {m['decrease_mish']:.3f} below its running maximum")),
    Claim("prelu-param", "Properties", "PReLU adds a parameter and slightly enlarges the network.",
          "properties", ("extra_prelu",),
          lambda m: (HOLDS if m["extra_prelu"] >= 1 else FAILS, f"{m['extra_prelu']} extra parameter(s) per layer")),
    Claim("maxout-k", "Properties", "k-way maxout needs k times the inputs (weights) of other functions.",
          "relu-variants", ("maxout_weights", "dense_weights", "maxout_k"),
          lambda m: (HOLDS if m["maxout_weights"] == m["maxout_k"] * m["dense_weights"] else FAILS,
                     f"{m['maxout_weights']} vs {m['dense_weights']} weights for a 64-to-64 layer, k = {m['maxout_k']}")),
    Claim("sigmoid-derivative", "Sigmoid", "The sigmoid's gradient is smooth and easy to compute: σ' = σ(1 − σ).",
          "sigmoid", ("autograd_gap", "dmax"),
          lambda m: (HOLDS if m["autograd_gap"] < 1e-10 else FAILS,
                     f"σ(1−σ) matches autograd to {m['autograd_gap']:.1e}; peak {m['dmax']:.3f}")),
    Claim("sigmoid-range", "Sigmoid", "The sigmoid's output lies between 0 and 1.",
          "sigmoid", ("range_lo", "range_hi_gap"),
          lambda m: (HOLDS if m["range_lo"] > 0 else FAILS,
                     f"open interval (0, 1): smallest {m['range_lo']:.1e}, largest 1 − {m['range_hi_gap']:.1e}")),
    Claim("sigmoid-cost", "Sigmoid", "Sigmoid needs exponentials and division in both the forward and backward pass.",
          "sigmoid", ("autograd_gap",),
          lambda m: (QUALIFIED, "forward, yes; backward reuses the forward output, σ(1−σ): no second exponential")),
    Claim("sigmoid-vanish", "Sigmoid", "For large positive or negative inputs the sigmoid's derivative is close to 0.",
          "sigmoid", ("saturation_x",),
          lambda m: (HOLDS, f"below 1% of its peak beyond |x| ≈ {m['saturation_x']:.2f}")),
    Claim("sigmoid-not-centred", "Sigmoid", "The sigmoid's output is not centred on zero.",
          "sigmoid", ("mean_out",),
          lambda m: (HOLDS if m["mean_out"] > 0.4 else FAILS, f"mean output {m['mean_out']:.3f} for zero-mean input")),
    Claim("sigmoid-derivative-shape", "Sigmoid", "The derivative starts from 0 and soon approaches 0.",
          "sigmoid", ("dmax", "dmax_at"),
          lambda m: (QUALIFIED, f"garbled in the source: the derivative peaks at {m['dmax']:.2f} at x = 0 and falls to 0 on both sides")),
    Claim("five-layers", "Vanishing gradients", "Sigmoid networks show vanishing gradients within five layers.",
          "vanishing-gradients", ("five_layer_verdict", "ratio_sigmoid_default_5"),
          lambda m: (QUALIFIED if m["five_layer_verdict"].startswith("holds") else FAILS,
                     f"under the default initialisation: first/last gradient ratio {m['ratio_sigmoid_default_5']:.1e} at 5 layers; "
                     "depends on the initialisation")),
    Claim("remedies", "Vanishing gradients", "Pre-training, batch normalisation and Xavier/MSRA initialisation alleviate it.",
          "vanishing-gradients", ("bn_gain", "pretrain_ratio_pretrained", "pretrain_ratio_random", "ratio_relu_kaiming_deepest",
                                  "ratio_sigmoid_xavier_deepest"),
          lambda m: (QUALIFIED if m["bn_gain"] > 100 and m["pretrain_ratio_pretrained"] > 10 * m["pretrain_ratio_random"] else FAILS,
                     f"batch norm ×{m['bn_gain']:.0e}; pre-training {m['pretrain_ratio_random']:.1e} → {m['pretrain_ratio_pretrained']:.2f}; "
                     f"Kaiming ReLU {m['ratio_relu_kaiming_deepest']:.2f}, but Xavier sigmoid still {m['ratio_sigmoid_xavier_deepest']:.0e}")),
    Claim("zigzag", "Sigmoid", "Outputs that are not zero-centred disturb gradient descent in the next layer.",
          "zero-centred", ("same_sign_sigmoid_single", "path_speedup"),
          lambda m: (HOLDS if m["same_sign_sigmoid_single"] == 1.0 else FAILS,
                     f"{_pct(m['same_sign_sigmoid_single'])} of per-example updates sign-locked; "
                     f"two weights take {m['path_speedup']:.1f}× as many steps")),
    Claim("natural-gradient", "Sigmoid", "Zero-centred inputs bring SGD closer to the natural gradient and need fewer iterations.",
          "zero-centred", ("kappa_ratio", "iters_ratio"),
          lambda m: (QUALIFIED if m["iters_ratio"] > 1 else FAILS,
                     f"condition number ×{m['kappa_ratio']:.0f}, iterations ×{m['iters_ratio']:.0f} for uncentred inputs; "
                     "closer in curvature, not in every sense")),
    Claim("tanh-range", "Tanh", "Tanh's range is [−1, 1].",
          "tanh", ("reaches_one_64",),
          lambda m: (QUALIFIED, f"open interval (−1, 1); rounds to ±1 beyond |x| ≈ {m['reaches_one_64']:.1f} in float64")),
    Claim("tanh-faster", "Tanh", "Tanh converges faster than the sigmoid.",
          "tanh", ("tanh_verdict",),
          lambda m: (_phrase(m["tanh_verdict"]), m["tanh_verdict"])),
    Claim("tanh-centred", "Tanh", "Tanh's output is centred on zero.",
          "tanh", ("mean_out",),
          lambda m: (HOLDS if abs(m["mean_out"]) < 0.05 else FAILS, f"mean output {m['mean_out']:.4f}")),
    Claim("tanh-saturates", "Tanh", "Tanh keeps the sigmoid's problem: saturation makes gradients vanish.",
          "tanh", ("saturation_x",),
          lambda m: (HOLDS, f"derivative below 1% of its peak beyond |x| ≈ {m['saturation_x']:.2f}")),
    Claim("tanh-features", "Tanh", "Tanh works well when features differ markedly and keeps amplifying them over cycles.",
          None, (), lambda m: (UNTESTABLE, "garbled in translation; names no measurable quantity")),
    Claim("relu-speed", "ReLU", "SGD converges much faster with ReLU than with sigmoid or tanh.",
          "relu", ("speed_verdict", "speed_ratio_matched"),
          lambda m: (_phrase(m["speed_verdict"]),
                     f"tanh ÷ ReLU epochs to 25% error: {m['speed_ratio_matched']:.2f} (paper: 6 on CIFAR-10)")),
    Claim("relu-die", "ReLU", "ReLU units can die during training.",
          "relu", ("dead_peak", "dead_peak_lr"),
          lambda m: (HOLDS if m["dead_peak"] > 0.1 else FAILS,
                     f"up to {_pct(m['dead_peak'])} dead at learning rate {m['dead_peak_lr']:.3g}")),
    Claim("relu-irreversible", "ReLU", "A dead ReLU unit dies irreversibly.",
          "relu", ("revived_share", "ever_dead_layer1"),
          lambda m: (QUALIFIED if m["revived_share"] > 0 else HOLDS,
                     f"{_pct(m['revived_share'])} of units that died came back; final only in the first layer")),
    Claim("relu-40", "ReLU", "With a large learning rate, 40% of the network may be dead.",
          "relu", ("forty_verdict",),
          lambda m: (_phrase(m["forty_verdict"]), m["forty_verdict"])),
    Claim("relu-offset", "ReLU", "ReLU's output mean is always above zero (an offset).",
          "relu", ("shift_relu_mean_end", "shift_elu_mean_end"),
          lambda m: (HOLDS if m["shift_relu_mean_end"] > 0 else FAILS,
                     f"mean unit output {m['shift_relu_mean_end']:.3f} (ELU {m['shift_elu_mean_end']:.3f})")),
    Claim("relu-offset-harms", "ReLU", "The offset and dead units together hurt convergence.",
          None, (), lambda m: (UNTESTABLE, "no size or setting given; each part is measured in its chapter")),
    Claim("saturation-defs", "Saturation", "Soft saturation: the derivative is zero only in the limit; hard: zero beyond a constant.",
          "saturation", ("left_sigmoid", "left_hardtanh", "right_relu"),
          lambda m: (HOLDS if (m["left_sigmoid"], m["left_hardtanh"]) == ("soft", "hard") else FAILS,
                     f"classified for every function: sigmoid {m['left_sigmoid']}, hard tanh {m['left_hardtanh']}, "
                     f"ReLU right {m['right_relu']}")),
]


def load(path: str | Path) -> dict:
    p = Path(path)
    return json.loads(p.read_text()) if p.exists() else {}


def decide(claim: Claim, metrics: dict) -> tuple[str, str]:
    """(verdict, detail) from the full metrics dict (keys chapter.metric)."""
    if claim.chapter is None:
        return claim.decide({})
    short = {k.split(".", 1)[1]: v for k, v in metrics.items() if k.startswith(claim.chapter + ".")}
    if any(k not in short for k in claim.keys):
        return MISSING, f"the chapter '{claim.chapter}' has not recorded {', '.join(k for k in claim.keys if k not in short)}"
    return claim.decide(short)


def ledger(metrics: dict) -> list[dict]:
    return [dict(id=c.id, section=c.section, text=c.text, chapter=c.chapter,
                 verdict=(v := decide(c, metrics))[0], detail=v[1]) for c in CLAIMS]
