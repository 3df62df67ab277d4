"""The registry of activation functions: the one place to add one.

Each entry holds the torch forward, an analytic derivative (written out, not autograd,
so the tests can check one against the other), the LaTeX formula, parameters with
defaults, the learnable-parameter count, its colour in every figure, and a citation
key into ``chapters/references.bib``.

Derivatives at kinks use the value torch's backward uses there; ``kinks`` lists the
points and :func:`kink_note` states the value.

Two kinds of entry are layers, not elementwise functions (``elementwise=False``): maxout and
the gated linear units (GLU, ReGLU, GEGLU, SwiGLU). Each unit of such a layer combines
``pieces`` linear maps of the layer's input, so the layer before it has ``pieces`` times the
outputs (:func:`weight_count`); their forward maps ``(..., pieces*n) -> (..., n)`` and their
derivative gives, for every one of the ``pieces*n`` inputs, the partial derivative of the one
output it feeds.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, partial

import numpy as np
import torch
import torch.nn.functional as F

from actlab.gaussian import expectation

Tensor = torch.Tensor

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
# LeCun et al. 1998 (Efficient BackProp, §4.4): f(x) = 1.7159 tanh(2x/3), scaled so that f(+-1) = +-1
LECUN_TANH_SCALE = 1.7159
LECUN_TANH_SLOPE = 2.0 / 3.0
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT_HALF = math.sqrt(0.5)


@dataclass(frozen=True)
class Activation:
    name: str
    label: str
    forward: Callable[[Tensor], Tensor]
    derivative_fn: Callable[[Tensor], Tensor]
    latex: str
    color: str
    linestyle: str | tuple = "-"  # families share a hue and differ by style (see the palette below)
    cite: str | None = None  # references.bib key(s), comma-separated
    params: dict = field(default_factory=dict)
    learnable: int = 0  # learnable parameters per unit (PReLU: its slope); maxout: see extra_per_unit
    torch_ref: Callable[[Tensor], Tensor] | None = None  # torch.nn.functional form, if any
    kinks: tuple[float, ...] = ()
    elementwise: bool = True
    note: str = ""
    pieces: int = 1  # linear maps per unit: 1 elementwise, k for maxout, 2 (value, gate) for a gated unit
    gate: str | None = None  # a gated unit's gate: the registry name of g in a * g(b)
    # Its recommended initialisation (an ``actlab.ensemble.INITS`` scheme) and the gain on the
    # hidden layers' weights: He's for the ReLU family and the smooth ReLUs, Glorot & Bengio's
    # normalised init for the sigmoids (torch.nn.init.calculate_gain: tanh 5/3, the sigmoid 1),
    # LeCun-normal where a function is built to keep unit variance from it (SELU, LeCun's tanh).
    init: str = "kaiming"
    gain: float = 1.0

    @cached_property
    def gains(self) -> tuple[float, float]:
        """(forward, backward) gain of LeCun-normal weights: 1/√E[f(x)²] keeps the signal's second
        moment at 1, 1/√E[f'(x)²] the error's, x standard normal (inf where the moment is 0: the
        step's derivative). Computed on first use; :mod:`actlab.gains` checks them in deep networks."""
        m_f, m_b = expectation(lambda x: self.forward(x) ** 2), expectation(lambda x: self.derivative(x) ** 2)
        return (1 / math.sqrt(m_f) if m_f > 0 else math.inf), (1 / math.sqrt(m_b) if m_b > 0 else math.inf)

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def derivative(self, x: Tensor) -> Tensor:
        """Analytic derivative; at a kink, the value torch's backward uses."""
        return self.derivative_fn(x)

    def numpy(self, x) -> np.ndarray:
        """The function on a numpy array (float64 unless given float32)."""
        arr = np.asarray(x)
        dtype = torch.float32 if arr.dtype == np.float32 else torch.float64
        return self.forward(torch.as_tensor(arr, dtype=dtype)).numpy()

    def numpy_derivative(self, x) -> np.ndarray:
        arr = np.asarray(x)
        dtype = torch.float32 if arr.dtype == np.float32 else torch.float64
        return self.derivative(torch.as_tensor(arr, dtype=dtype)).numpy()


_REGISTRY: dict[str, Activation] = {}


def register(act: Activation) -> Activation:
    if act.name in _REGISTRY:
        raise ValueError(f"activation {act.name!r} is already registered")
    if act.elementwise != (act.pieces == 1) or act.params.get("k", act.pieces) != act.pieces:
        raise ValueError(f"{act.name}: an elementwise function has 1 piece per unit, a layer more "
                         f"(and maxout's k is its pieces); got pieces={act.pieces}, params={act.params}")
    if act.gate is not None and not _REGISTRY.get(act.gate, act).elementwise:
        raise ValueError(f"{act.name}: the gate {act.gate!r} must be a registered elementwise function")
    _REGISTRY[act.name] = act
    return act


def names(*, elementwise_only: bool = False) -> list[str]:
    """Registered names, in registry (= book) order."""
    return [n for n, a in _REGISTRY.items() if a.elementwise or not elementwise_only]


def get(name: str | Activation) -> Activation:
    """The registered activation ``name`` (an :class:`Activation` is returned as it is, so the
    measurements in ``actlab.properties`` also take a :func:`parametrised` form)."""
    if isinstance(name, Activation):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown activation {name!r}; registered: {', '.join(_REGISTRY)}"
        ) from None


def kink_note(name: str) -> str:
    """One sentence stating the derivative used at each kink of ``name``."""
    act = get(name)
    if not act.kinks:
        return f"{act.label} is differentiable everywhere."
    from actlab.numbers import fmt

    vals = act.derivative(torch.tensor(act.kinks, dtype=torch.float64)).tolist()
    parts = [f"at x = {fmt(k)} it uses {fmt(v, 4)}" for k, v in zip(act.kinks, vals, strict=True)]
    where = "one point" if len(vals) == 1 else f"{len(vals)} points"
    return f"{act.label} is not differentiable at {where}; " + "; ".join(parts) + "."


def _where(cond: Tensor, a, b, like: Tensor) -> Tensor:
    return torch.where(cond, torch.as_tensor(a, dtype=like.dtype), torch.as_tensor(b, dtype=like.dtype))


def _limits(fn: Callable[[Tensor], Tensor], at_minus_inf: float, at_plus_inf: float) -> Callable[[Tensor], Tensor]:
    """``fn`` with its limits at -inf and +inf: x * sigmoid(x) and friends give inf * 0 = NaN there."""
    def f(x: Tensor) -> Tensor:
        y = fn(x)
        if not x.isinf().any():
            return y
        lim = torch.where(x > 0, torch.as_tensor(at_plus_inf, dtype=y.dtype), torch.as_tensor(at_minus_inf, dtype=y.dtype))
        return torch.where(x.isinf(), lim, y)
    f.__doc__ = fn.__doc__
    return f


def _sigmoid_d(x: Tensor) -> Tensor:
    # sigma(x) sigma(-x), not s (1 - s): 1 - s is exactly 0 beyond x = 37 in float64, so s (1 - s)
    # claims a hard zero on the right that the function does not have (and is exact on the left).
    return torch.sigmoid(x) * torch.sigmoid(-x)


def _tanh_d(x: Tensor) -> Tensor:
    # sech^2 x, not 1 - tanh^2 x: the latter is exactly 0 beyond |x| = 19 in float64 and off by
    # a factor 2 at |x| = 9 in float32. cosh overflowing to inf gives sech^2 = 0, the right limit.
    return torch.cosh(x).reciprocal().square()


def _gelu_tanh_u(x: Tensor) -> Tensor:
    return _SQRT_2_OVER_PI * (x + 0.044715 * x**3)


def _gelu_tanh(x: Tensor) -> Tensor:
    # 0.5 x (1 + tanh u) written as x sigmoid(2u): the same function without the cancellation
    # that makes 1 + tanh(u) exactly 0 (and the derivative falsely "hard") for x below about -6.
    return x * torch.sigmoid(2 * _gelu_tanh_u(x))


def _gelu_tanh_d(x: Tensor) -> Tensor:
    # d/dx [x sigma(2u)] = sigma(2u) + 2 x sigma(2u) sigma(-2u) u'. Beyond |x| = 30, 2|u| > 1900 and
    # the second term is exactly 0 even in float64; clamping there keeps x**3 finite in float32.
    xc = x.clamp(-30.0, 30.0)
    u2 = 2 * _gelu_tanh_u(xc)
    du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * xc**2)
    return torch.sigmoid(2 * _gelu_tanh_u(x)) + 2 * xc * torch.sigmoid(u2) * torch.sigmoid(-u2) * du


def _ndtr(x: Tensor) -> Tensor:
    """The standard normal CDF from erfc: torch.special.ndtr returns exactly 0 already at
    x = -8.5 in float64 (true value 9.5e-18); erfc keeps its relative accuracy in the tail."""
    return 0.5 * torch.special.erfc(-x * _SQRT_HALF)


def _gelu(x: Tensor) -> Tensor:
    # torch's F.gelu overflows to inf for float32 x near 3e38 (it forms x * (1 + erf) first).
    return x * _ndtr(x)


def _gelu_d(x: Tensor) -> Tensor:
    # Phi(x) + x phi(x), with Phi from erfc (accurate in the left tail, where 1 + erf cancels);
    # phi underflows to 0 long before |x| = 40, and the clamp keeps x * phi finite at +-inf.
    xc = x.clamp(-40.0, 40.0)
    pdf = torch.exp(-0.5 * xc * xc) / math.sqrt(2 * math.pi)
    return _ndtr(x) + xc * pdf


def _silu_d(x: Tensor) -> Tensor:
    # sigma(x) (1 + x sigma(-x)): with 1 - sigma(x) in place of sigma(-x) it cancels for large x.
    return torch.sigmoid(x) * (1 + x * torch.sigmoid(-x))


def _hardswish(x: Tensor) -> Tensor:
    # piece by piece: torch's F.hardswish forms x (x + 3) everywhere and overflows near 3e38 in float32;
    # autograd through the where gives torch's values at the kinks (0 at -3, 1 at 3)
    return torch.where(x <= -3, torch.zeros_like(x), torch.where(x < 3, x * (x + 3) / 6, x))


def _hardswish_d(x: Tensor) -> Tensor:
    # (2x + 3)/6 on the open interval (-3, 3); at the kinks torch's backward takes the outer side (0 and 1)
    return torch.where(x <= -3, torch.zeros_like(x), torch.where(x < 3, x / 3 + 0.5, torch.ones_like(x)))


def _mish_d(x: Tensor) -> Tensor:
    # tanh(sp) + x sigma(x) sech^2(sp), sp = softplus(x); sech^2 in place of 1 - tanh^2 (cancels).
    sp = F.softplus(x)
    return torch.tanh(sp) + x * torch.sigmoid(x) * torch.cosh(sp).reciprocal().square()


def _leaky(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.01)


def _prelu(x: Tensor, a: float = 0.25) -> Tensor:
    return torch.where(x > 0, x, a * x)


def _maxout(z: Tensor, k: int = 2) -> Tensor:
    """Max over consecutive groups of ``k`` pieces along the last axis: (..., k*n) -> (..., n)."""
    if z.shape[-1] % k:
        raise ValueError(f"maxout needs a last axis divisible by k={k}, got {z.shape[-1]}")
    return z.unflatten(-1, (-1, k)).amax(-1)


def _maxout_d(z: Tensor, k: int = 2) -> Tensor:
    """d out_i / d z: 1 on the winning piece of each group (torch's amax splits ties evenly)."""
    g = z.unflatten(-1, (-1, k))
    win = (g == g.amax(-1, keepdim=True)).to(z.dtype)
    return (win / win.sum(-1, keepdim=True)).flatten(-2)


def _halves(z: Tensor) -> tuple[Tensor, Tensor]:
    """A gated layer's pre-activations (..., 2n) as (value a, gate input b), each (..., n): the
    first half and the second, as torch.nn.functional.glu splits them."""
    if z.shape[-1] % 2:
        raise ValueError(f"a gated unit needs a last axis of even length (values, then gate inputs), got {z.shape[-1]}")
    return z.chunk(2, -1)


def _gated(gate: str) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """Forward a * g(b) and derivative of a gated unit whose gate g is the registry's ``gate``
    (its numerically safe form, as an elementwise member trains with). The derivative of
    out_i is g(b_i) with respect to a_i and a_i g'(b_i) with respect to b_i, laid out as z."""
    def forward(z: Tensor) -> Tensor:
        a, b = _halves(z)
        return a * _REGISTRY[gate].forward(b)

    def derivative(z: Tensor) -> Tensor:
        a, b = _halves(z)
        g = _REGISTRY[gate]
        return torch.cat([g.forward(b), a * g.derivative(b)], -1)

    forward.__doc__ = f"a * {gate}(b) over the halves (a, b) of the last axis: (..., 2n) -> (..., n)."
    return forward, derivative


def _gated_ref(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """The same unit through torch.nn.functional's gate (an independent form for the tests)."""
    def ref(z: Tensor) -> Tensor:
        a, b = z.chunk(2, -1)
        return a * fn(b)
    return ref


def _lecun_tanh_d(x: Tensor) -> Tensor:
    # a b sech^2(b x), sech^2 for the reason tanh's derivative uses it
    return LECUN_TANH_SCALE * LECUN_TANH_SLOPE * torch.cosh(LECUN_TANH_SLOPE * x).reciprocal().square()


# The book's palette: a colour per family (sigmoids blue, tanh-like brick, ReLU-like red, the
# exponential-linear units olive, the smooth gated ones violet/teal), members told apart by line
# style. The colours were searched near the first palette's for the largest difference (CAM02-UCS)
# between families under normal vision and simulated deuteranopia, protanopia and tritanopia,
# keeping 3:1 contrast on the figures' white; tests/test_functions.py checks both.
for _act in [
    Activation("identity", "identity", lambda x: x, lambda x: torch.ones_like(x),
               r"f(x) = x", "#666666", note="No nonlinearity: the control in every experiment.",
               init="lecun"),
    Activation("step", "step", lambda x: (x >= 0).to(x.dtype), lambda x: torch.zeros_like(x),
               r"f(x) = \mathbb{1}[x \ge 0]", "#858f5c", cite="cybenko1989", kinks=(0.0,),
               torch_ref=lambda x: torch.heaviside(x, torch.ones((), dtype=x.dtype)),
               note="Jump at 0; we use derivative 0 there, as everywhere (no gradient flows)."),
    Activation("sigmoid", "sigmoid", torch.sigmoid, _sigmoid_d,
               r"\sigma(x) = \frac{1}{1 + e^{-x}}", "#0a85ff", cite="cybenko1989",
               torch_ref=torch.sigmoid,
               init="xavier"),
    Activation("hardsigmoid", "hard sigmoid", F.hardsigmoid,
               lambda x: _where((x > -3) & (x < 3), 1 / 6, 0.0, x),
               r"f(x) = \max(0, \min(1, x/6 + 1/2))", "#0a85ff", (0, (5, 2)), cite="howard2019",
               torch_ref=F.hardsigmoid, kinks=(-3.0, 3.0),
               note="PyTorch's F.hardsigmoid, ReLU6(x + 3)/6 as in MobileNetV3 (Howard et al. 2019); "
                    "Gulcehre et al. (2016) define max(min(0.25x + 0.5, 1), 0), slope 1/4.",
               init="xavier"),
    Activation("tanh", "tanh", torch.tanh, _tanh_d,
               r"\tanh(x) = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}", "#a3473d", cite="lecun1998",
               torch_ref=torch.tanh,
               init="xavier", gain=5 / 3),
    Activation("lecun_tanh", "LeCun tanh", lambda x: LECUN_TANH_SCALE * torch.tanh(LECUN_TANH_SLOPE * x),
               _lecun_tanh_d, r"f(x) = 1.7159\tanh\!\left(\tfrac{2}{3}x\right)", "#a3473d", (0, (4, 1.5, 1, 1.5)),
               cite="lecun1998", params={"scale": LECUN_TANH_SCALE, "slope": LECUN_TANH_SLOPE},
               note="Scaled so that f(+-1) = +-1 and its second derivative peaks there (LeCun et al. 1998, §4.4).",
               init="lecun"),
    Activation("hardtanh", "hard tanh", F.hardtanh,
               lambda x: _where((x > -1) & (x < 1), 1.0, 0.0, x),
               r"f(x) = \max(-1, \min(1, x))", "#a3473d", (0, (5, 2)), cite="gulcehre2016",
               torch_ref=F.hardtanh, kinks=(-1.0, 1.0),
               init="xavier"),
    Activation("softsign", "softsign", _limits(F.softsign, -1.0, 1.0), lambda x: 1 / (1 + x.abs()) ** 2,
               r"f(x) = \frac{x}{1 + |x|}", "#a3473d", (0, (1, 1.5)), torch_ref=F.softsign, cite="glorot2010",
               init="xavier"),
    Activation("relu", "ReLU", F.relu, lambda x: _where(x > 0, 1.0, 0.0, x),
               r"f(x) = \max(0, x)", "#ff4729", cite="fukushima1969,hahnloser2000,jarrett2009,nair2010,glorot2011,krizhevsky2012",
               torch_ref=F.relu,
               kinks=(0.0,)),
    Activation("relu6", "ReLU6", F.relu6, lambda x: _where((x > 0) & (x < 6), 1.0, 0.0, x),
               r"f(x) = \min(\max(0, x), 6)", "#ff4729", (0, (1, 1.5)), torch_ref=F.relu6, kinks=(0.0, 6.0)),
    Activation("leaky_relu", "leaky ReLU", _leaky,
               lambda x: _where(x > 0, 1.0, 0.01, x),
               r"f(x) = \max(0.01x, x)", "#660000", (0, (5, 2)), cite="maas2013", params={"slope": 0.01},
               torch_ref=_leaky, kinks=(0.0,)),
    Activation("prelu", "PReLU", _prelu, lambda x: _where(x > 0, 1.0, 0.25, x),
               r"f(x) = \max(ax, x),\ a \text{ learned (init } 0.25)", "#660000", (0, (4, 1.5, 1, 1.5)), cite="he2015",
               params={"a": 0.25}, learnable=1, kinks=(0.0,),
               torch_ref=lambda x: F.prelu(x, torch.full((1,), 0.25, dtype=x.dtype))),
    Activation("elu", "ELU", F.elu, lambda x: torch.where(x > 0, torch.ones_like(x), torch.exp(x.clamp(max=0))),
               r"f(x) = x \text{ if } x > 0 \text{ else } \alpha(e^{x} - 1)", "#3d5c00",
               cite="clevert2015", params={"alpha": 1.0}, torch_ref=F.elu),
    Activation("selu", "SELU", torch.selu,
               lambda x: torch.where(x > 0, torch.full_like(x, SELU_SCALE),
                                     SELU_SCALE * SELU_ALPHA * torch.exp(x.clamp(max=0))),
               r"f(x) = \lambda\,(x \text{ if } x > 0 \text{ else } \alpha(e^{x} - 1))", "#3d5c00", (0, (5, 2)),
               cite="klambauer2017", params={"alpha": SELU_ALPHA, "lambda": SELU_SCALE},
               torch_ref=torch.selu, kinks=(0.0,),
               init="lecun"),
    Activation("celu", "CELU", F.celu, lambda x: torch.where(x > 0, torch.ones_like(x), torch.exp(x.clamp(max=0))),
               r"f(x) = \max(0, x) + \min(0, \alpha(e^{x/\alpha} - 1))", "#3d5c00", (0, (1, 1.5)),
               params={"alpha": 1.0}, torch_ref=F.celu),
    Activation("gelu", "GELU", _limits(_gelu, 0.0, math.inf), _gelu_d, r"f(x) = x\,\Phi(x)", "#7014d6",
               cite="hendrycks2016", torch_ref=F.gelu),
    Activation("gelu_tanh", "GELU (tanh approx.)", _limits(_gelu_tanh, 0.0, math.inf),
               _limits(_gelu_tanh_d, 0.0, 1.0),
               r"f(x) = \tfrac{x}{2}\left(1 + \tanh\!\big(\sqrt{2/\pi}\,(x + 0.044715x^{3})\big)\right)",
               "#7014d6", (0, (5, 2)), cite="hendrycks2016", torch_ref=lambda x: F.gelu(x, approximate="tanh")),
    Activation("silu", "SiLU / swish", _limits(F.silu, 0.0, math.inf), _limits(_silu_d, 0.0, 1.0), r"f(x) = x\,\sigma(x)", "#29667a",
               cite="hendrycks2016,elfwing2018,ramachandran2017", torch_ref=F.silu),
    Activation("hardswish", "hard-swish", _hardswish, _hardswish_d, r"f(x) = x\,\frac{\mathrm{ReLU6}(x + 3)}{6}",
               "#29667a", (0, (5, 2)), cite="howard2019", torch_ref=F.hardswish, kinks=(-3.0, 3.0),
               note="SiLU with its sigmoid replaced by the hard sigmoid, so that it needs no exponential "
                    "(MobileNetV3, Howard et al. 2019)."),
    Activation("mish", "Mish", _limits(F.mish, 0.0, math.inf), _limits(_mish_d, 0.0, 1.0), r"f(x) = x \tanh(\ln(1 + e^{x}))", "#393b79",
               cite="misra2019", torch_ref=F.mish),
    Activation("softplus", "softplus", F.softplus, lambda x: torch.sigmoid(x),
               r"f(x) = \ln(1 + e^{x})", "#70333d", torch_ref=F.softplus),
    Activation("maxout", "maxout (k = 2)", partial(_maxout, k=2), partial(_maxout_d, k=2),
               r"h_i(x) = \max_{j \le k} \left(w_{ij}^{\top} x + b_{ij}\right)", "#000000",
               cite="goodfellow2013", params={"k": 2}, elementwise=False, pieces=2,
               note="A layer: max over k linear pieces, so k times the weights of a plain layer.",
               # the paper tuned a uniform range per task; LeCun-normal keeps the second moment:
               # for two independent N(0, s^2) pieces, E[max^2] = s^2
               init="lecun"),
]:
    register(_act)

# The gated linear units: layers whose unit multiplies one linear map of the input, a = w.x + b,
# by a gate g of another, b' = v.x + c (Dauphin et al. 2017; Shazeer 2020's variants swap the
# sigmoid for ReLU, GELU or SiLU = swish with beta 1). Two maps per unit, so twice a plain layer's
# weights. Their own hue (magenta), members told apart by line style.
_GATED = [("glu", "GLU", "sigmoid", r"\sigma", "-", "dauphin2017", lambda z: F.glu(z, -1)),
          ("reglu", "ReGLU", "relu", r"\max\left(0,\ ", (0, (5, 2)), "shazeer2020", _gated_ref(F.relu)),
          ("geglu", "GEGLU", "gelu", r"\mathrm{GELU}", (0, (1, 1.5)), "shazeer2020", _gated_ref(F.gelu)),
          ("swiglu", "SwiGLU", "silu", r"\mathrm{SiLU}", (0, (4, 1.5, 1, 1.5)), "shazeer2020", _gated_ref(F.silu))]
for _name, _label, _gate, _g, _style, _cite, _ref in _GATED:
    _fwd, _der = _gated(_gate)
    _arg = r"v_i^{\top} x + c_i"
    _gate_tex = rf"{_g}{_arg}\right)" if _gate == "relu" else rf"{_g}\left({_arg}\right)"
    register(Activation(
        _name, _label, _fwd, _der, rf"h_i(x) = \left(w_i^{{\top}} x + b_i\right) {_gate_tex}", "#c25cad", _style,
        cite=_cite, elementwise=False, pieces=2, gate=_gate, torch_ref=_ref,  # He's init, as Dauphin et al.
        note=f"A layer: value a = w.x + b times the gate {_gate}(v.x + c), two linear maps per unit."))


# Parametrised forms, for exploring a parameter away from its default (the interactive functions
# explorer of the gallery): (parameter, symbol, forward(x, p), derivative(x, p), torch.nn.functional form).
# The derivative at a kink is the value torch's backward uses there, as in the registry.
_PARAMETRISED = {
    "leaky_relu": ("slope", "slope", lambda x, s: torch.where(x > 0, x, s * x),
                   lambda x, s: _where(x > 0, 1.0, s, x), lambda x, s: F.leaky_relu(x, s)),
    "prelu": ("a", "a", _prelu, lambda x, a: _where(x > 0, 1.0, a, x),
              lambda x, a: F.prelu(x, torch.full((1,), a, dtype=x.dtype))),
    "elu": ("alpha", "α", lambda x, a: F.elu(x, a),
            lambda x, a: torch.where(x > 0, torch.ones_like(x), a * torch.exp(x.clamp(max=0))),
            lambda x, a: F.elu(x, a)),
    "celu": ("alpha", "α", lambda x, a: F.celu(x, a),
             lambda x, a: torch.where(x > 0, torch.ones_like(x), torch.exp(x.clamp(max=0) / a)),
             lambda x, a: F.celu(x, a)),
    "softplus": ("beta", "β", lambda x, b: F.softplus(x, b), lambda x, b: torch.sigmoid(b * x),
                 lambda x, b: F.softplus(x, b)),
}
# the values the explorer offers (each includes the registry's default)
PARAMETER_CHOICES = {"leaky_relu": (0.01, 0.1, 0.3), "prelu": (0.05, 0.25, 0.5), "elu": (0.5, 1.0, 2.0),
                     "celu": (0.5, 1.0, 2.0), "softplus": (0.5, 1.0, 2.0, 5.0)}


def parameter_of(name: str) -> tuple[str, str] | None:
    """(parameter name, its symbol) of an activation that :func:`parametrised` can vary, else None."""
    entry = _PARAMETRISED.get(name)
    return (entry[0], entry[1]) if entry else None


def parametrised(name: str, **params) -> Activation:
    """The registered activation ``name`` with its parameter set (``parametrised("elu", alpha=2.0)``),
    as an :class:`Activation` with the registry's colour and style; no parameter: the registry's own.
    Kinks are those of the new form (ELU with alpha != 1 has one at 0, CELU never)."""
    base = get(name)
    if not params:
        return base
    if name not in _PARAMETRISED or set(params) != {_PARAMETRISED[name][0]}:
        allowed = f"'{_PARAMETRISED[name][0]}'" if name in _PARAMETRISED else "none"
        raise ValueError(f"{name}: parametrised takes one parameter, {allowed}; got {sorted(params)}")
    key, symbol, fwd, der, ref = _PARAMETRISED[name]
    p = float(params[key])
    if not math.isfinite(p) or (key != "slope" and key != "a" and p <= 0):
        raise ValueError(f"{name}: {key} must be finite{'' if key in ('slope', 'a') else ' and positive'}; got {p}")
    kinks = (0.0,) if name in ("leaky_relu", "prelu") and p != 1.0 else ((0.0,) if name == "elu" and p != 1.0 else ())
    return replace(base, label=f"{base.label} ({symbol} = {p:g})", forward=lambda x: fwd(x, p),
                   derivative_fn=lambda x: der(x, p), torch_ref=lambda x: ref(x, p),
                   params={**base.params, key: p}, kinks=kinks)


def maxout_weight_count(n_in: int, n_out: int, k: int = 2) -> int:
    """Weights and biases of a maxout layer: k pieces per output unit."""
    return k * (n_in * n_out + n_out)


def glu_weight_count(n_in: int, n_out: int) -> int:
    """Weights and biases of a gated layer (GLU, ReGLU, GEGLU, SwiGLU): two linear maps per
    output unit, the value and the gate's input."""
    return 2 * dense_weight_count(n_in, n_out)


def dense_weight_count(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def weight_count(name: str, n_in: int, widths, n_out: int) -> int:
    """Weights and biases of an MLP n_in -> widths -> n_out whose hidden layers use ``name``: each
    hidden layer has the activation's ``pieces`` linear maps per unit, the output layer one.
    (Learned activation parameters, PReLU's slope, are not weights: see extra_per_unit.)"""
    p = get(name).pieces
    dims = [n_in, *widths]
    return sum(p * dense_weight_count(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)) + \
        dense_weight_count(dims[-1], n_out)


def matched_width(name: str, n_in: int, width: int, n_out: int, depth: int = 1) -> int:
    """The hidden width for ``name`` whose MLP (``depth`` hidden layers of that width) has the
    weight count nearest to a plain MLP's with hidden width ``width`` (ties: the narrower).

    An elementwise function keeps ``width``; a gated unit, with two maps per unit, needs about
    2/3 of it for one hidden layer with n_in = n_out and no biases (Shazeer 2020's 3072 -> 2048),
    and a little less here, where biases count."""
    if min(n_in, width, n_out, depth) < 1:
        raise ValueError(f"n_in, width, n_out and depth must be positive; got {n_in}, {width}, {n_out}, {depth}")
    target = weight_count("identity", n_in, (width,) * depth, n_out)
    count = lambda m: weight_count(name, n_in, (m,) * depth, n_out)
    lo, hi = 1, width  # the count grows with m, and pieces >= 1 puts the match at or below width
    while lo < hi:  # the smallest m whose count reaches the target
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < target else (lo, mid)
    return min((m for m in (lo - 1, lo) if m >= 1), key=lambda m: (abs(count(m) - target), m))


def extra_per_unit(name: str, n_in: int = 64) -> int:
    """Learnable parameters a unit has beyond a plain affine unit with ``n_in`` inputs: the
    activation's own (PReLU: 1) or, for a layer, its extra pieces of n_in weights and a bias
    each (maxout: k - 1; a gated unit: 1, its gate's map)."""
    act = get(name)
    if act.elementwise:
        return act.learnable
    return (act.pieces - 1) * dense_weight_count(n_in, 1)
