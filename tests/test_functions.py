"""The registry against torch.nn.functional and autograd."""
import math
import os
import warnings

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import given, settings

from actlab import functions, properties

ELEMENTWISE = functions.names(elementwise_only=True)
# where the registry's forward *is* PyTorch's function, comparing the two would test nothing
WITH_REF = [n for n in ELEMENTWISE if functions.get(n).torch_ref is not None
            and functions.get(n).forward is not functions.get(n).torch_ref]
REQUIRED = ["identity", "step", "sigmoid", "hardsigmoid", "tanh", "hardtanh", "softsign", "relu",
            "relu6", "leaky_relu", "prelu", "elu", "selu", "celu", "gelu", "gelu_tanh", "silu",
            "hardswish", "mish", "softplus", "maxout", "lecun_tanh", "glu", "reglu", "geglu", "swiglu"]
GATED = {"glu": "sigmoid", "reglu": "relu", "geglu": "gelu", "swiglu": "silu"}


def test_registry_has_every_required_function():
    assert set(REQUIRED) <= set(functions.names())


def test_unknown_name_says_what_exists():
    with pytest.raises(KeyError, match="unknown activation 'relu7'.*relu6"):
        functions.get("relu7")


def test_register_refuses_a_duplicate():
    with pytest.raises(ValueError, match="already registered"):
        functions.register(functions.get("relu"))


def test_every_entry_is_complete():
    for n in functions.names():
        a = functions.get(n)
        assert a.latex and a.label and a.color.startswith("#")
        assert isinstance(a.params, dict) and a.learnable >= 0


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_torch_form_matches_the_independent_numpy_form(name):
    x = torch.linspace(-30, 30, 6001, dtype=torch.float64)
    a = functions.get(name)
    np.testing.assert_allclose(a(x).numpy(), a.numpy(x.numpy()), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", WITH_REF)
def test_values_match_torch_functional(name):
    x = torch.linspace(-30, 30, 6001, dtype=torch.float64)
    a = functions.get(name)
    torch.testing.assert_close(a(x), a.torch_ref(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_autograd_everywhere_incl_kinks(name):
    # The grid contains every kink exactly, where the registry must use torch's value.
    # 1e-8, not rounding level: torch's hardsigmoid backward uses a float32 1/6 (gap 5e-9).
    assert properties.autograd_gap(name, x_max=10.0, n_points=4001) < 1e-8


@settings(max_examples=200, deadline=None)
@given(x=st.floats(-60, 60, allow_nan=False), name=st.sampled_from(ELEMENTWISE))
def test_derivative_matches_autograd_property(x, name):
    a = functions.get(name)
    t = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    y = a(t)
    g = torch.autograd.grad(y.sum(), t)[0] if y.requires_grad else torch.zeros_like(t)
    assert abs(float(a.derivative(t.detach())[0]) - float(g[0])) <= 1e-8 * max(1.0, abs(float(g[0])))


def test_kinks_use_torchs_values():
    at0 = {n: float(functions.get(n).derivative(torch.zeros(1, dtype=torch.float64))[0])
           for n in ("relu", "leaky_relu", "prelu", "selu")}
    assert at0 == {"relu": 0.0, "leaky_relu": 0.01, "prelu": 0.25,
                   "selu": pytest.approx(functions.SELU_SCALE * functions.SELU_ALPHA)}
    assert "at x = 0 it uses 0" in functions.kink_note("relu")


EXTREMES = [0.0, 1e-30, -1e-30, 1.0, -1.0, 88.7, -88.7, 1e4, -1e4, 3e38, -3e38]


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_nan_or_inf_for_finite_inputs(name, dtype):
    a = functions.get(name)
    x = torch.tensor(EXTREMES, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, d = a(x), a.derivative(x)
        yn = a.numpy(x.numpy())
    assert torch.isfinite(d).all(), f"{name}' not finite at {x[~torch.isfinite(d)].tolist()}"
    assert torch.isfinite(y).all(), f"{name} not finite at {x[~torch.isfinite(y)].tolist()}"
    assert np.isfinite(yn).all()


@settings(max_examples=100, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False, width=32), name=st.sampled_from(ELEMENTWISE))
def test_float32_any_finite_input(x, name):
    a = functions.get(name)
    t = torch.tensor([x], dtype=torch.float32)
    exact = a(t.double())
    if exact.abs().max() > torch.finfo(torch.float32).max:  # the true value overflows float32 (SELU's 1.05x)
        return
    assert torch.isfinite(a(t)).all() and torch.isfinite(a.derivative(t)).all()


def test_numpy_form_matches_torch():
    x = np.linspace(-5, 5, 101)
    for n in ELEMENTWISE:
        a = functions.get(n)
        np.testing.assert_allclose(a.numpy(x), a(torch.from_numpy(x)).numpy())
        np.testing.assert_allclose(a.numpy_derivative(x), a.derivative(torch.from_numpy(x)).numpy())


def test_maxout_is_a_layer_with_k_fold_weights():
    a = functions.get("maxout")
    z = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    out = a(z)
    assert out.shape == (5, 3)
    torch.testing.assert_close(out, z.detach().view(5, 3, 2).amax(-1))
    (g,) = torch.autograd.grad(out.sum(), z)
    torch.testing.assert_close(a.derivative(z.detach()), g)
    assert functions.maxout_weight_count(10, 4, k=3) == 3 * functions.dense_weight_count(10, 4)
    with pytest.raises(ValueError, match="divisible by k=2"):
        a(torch.zeros(3))


def test_lecun_tanh_maps_one_to_one_and_is_a_scaled_tanh():
    """1.7159 tanh(2x/3) (LeCun et al. 1998, §4.4): f(+-1) = +-1 to four digits, slope 1.7159 * 2/3 at 0."""
    a = functions.get("lecun_tanh")
    x = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    assert a(x).tolist() == pytest.approx([-1.0, 0.0, 1.0], abs=1e-4)
    assert float(a.derivative(torch.zeros(1, dtype=torch.float64))) == pytest.approx(1.7159 * 2 / 3, rel=1e-15)
    xs = torch.linspace(-20, 20, 4001, dtype=torch.float64)
    torch.testing.assert_close(a(xs), 1.7159 * functions.get("tanh")(xs * 2 / 3), rtol=1e-15, atol=0)
    assert a.cite == "lecun1998" and a.color == functions.get("tanh").color and a.elementwise


@pytest.mark.parametrize("name", sorted(GATED))
def test_gated_unit_is_value_times_gate_of_the_two_halves(name):
    """A gated layer's pre-activations are (values a, gate inputs b), halves of the last axis, as
    torch.nn.functional.glu splits them; the unit is a * g(b) with the registry's gate g."""
    act, gate = functions.get(name), functions.get(GATED[name])
    assert not act.elementwise and act.pieces == 2 and act.gate == GATED[name]
    g = torch.Generator().manual_seed(0)
    z = torch.randn(7, 3, 10, dtype=torch.float64, generator=g) * 4
    out = act(z)
    assert out.shape == (7, 3, 5)
    torch.testing.assert_close(out, z[..., :5] * gate(z[..., 5:]), rtol=0, atol=0)
    torch.testing.assert_close(out, act.torch_ref(z), rtol=1e-12, atol=1e-12)  # through torch's own gate
    if name == "glu":
        torch.testing.assert_close(out, torch.nn.functional.glu(z, -1), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="even length"):
        act(torch.zeros(3))


@pytest.mark.parametrize("name", sorted(GATED))
def test_gated_derivative_matches_autograd_incl_the_gates_kinks(name):
    """Each pre-activation feeds one output, so the registry's derivative (g(b) for a, a g'(b) for
    b) is the gradient of the summed outputs; the grid holds b = 0 (ReLU's kink) exactly."""
    act = functions.get(name)
    v = properties.grid(10.0, 401)
    a, b = torch.meshgrid(v, v, indexing="ij")
    z = torch.cat([a.reshape(-1, 1), b.reshape(-1, 1)], -1).requires_grad_(True)  # 401^2 units of one input each
    (grad,) = torch.autograd.grad(act(z).sum(), z)
    assert float((act.derivative(z.detach()) - grad).abs().max()) < 1e-12
    wide = torch.randn(4, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    (grad,) = torch.autograd.grad(act(wide).sum(), wide)
    torch.testing.assert_close(act.derivative(wide.detach()), grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(GATED))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gated_units_are_finite_for_finite_pre_activations(name, dtype):
    """No NaN or inf from any pair of extreme values and gate inputs, except where the true value
    itself is beyond the dtype's range (3e38 * 3e38)."""
    act = functions.get(name)
    e = torch.tensor(EXTREMES, dtype=torch.float64)
    a, b = torch.meshgrid(e, e, indexing="ij")
    z = torch.stack([a.reshape(-1), b.reshape(-1)], -1)
    top = torch.finfo(dtype).max
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (act.forward, act.derivative):
            exact, got = f(z), f(z.to(dtype))
            fits = torch.isfinite(exact) & (exact.abs() <= top)
            assert torch.isfinite(got[fits]).all(), (name, f.__name__)


def test_layer_weight_counts():
    dense = functions.dense_weight_count
    assert functions.glu_weight_count(10, 4) == 2 * dense(10, 4) == functions.maxout_weight_count(10, 4, k=2)
    assert functions.weight_count("relu", 3, (6, 5), 2) == dense(3, 6) + dense(6, 5) + dense(5, 2)
    assert functions.weight_count("swiglu", 3, (6, 5), 2) == 2 * dense(3, 6) + 2 * dense(6, 5) + dense(5, 2)
    for n in GATED:
        assert functions.extra_per_unit(n, 64) == 65
        assert 64 * functions.extra_per_unit(n, 64) == properties.extra_parameters(n, 64)


def test_matched_width_keeps_the_parameter_count_of_a_plain_layer():
    # Shazeer (2020): a 3072-unit ReLU feed-forward layer of a 768-wide model becomes 2048 gated
    # units at the same parameter count (no biases there; with them the match is the same here)
    assert functions.matched_width("swiglu", 768, 3072, 768) == 2048
    assert functions.matched_width("relu", 10, 20, 3) == 20 and functions.matched_width("prelu", 5, 7, 2, depth=3) == 7
    for name, n_in, width, n_out, depth in [("glu", 64, 64, 10, 1), ("reglu", 2, 50, 1, 1), ("geglu", 8, 30, 3, 4),
                                            ("maxout", 64, 100, 10, 2), ("swiglu", 1, 1, 1, 1)]:
        m = functions.matched_width(name, n_in, width, n_out, depth)
        target = functions.weight_count("relu", n_in, (width,) * depth, n_out)
        gap = lambda w: abs(functions.weight_count(name, n_in, (w,) * depth, n_out) - target)  # noqa: B023
        assert 1 <= m <= width and all(gap(m) <= gap(w) for w in range(1, width + 1)), (name, m)
    with pytest.raises(ValueError, match="positive"):
        functions.matched_width("glu", 64, 0, 10)


def test_register_refuses_an_inconsistent_layer():
    base = functions.get("glu")
    from dataclasses import replace

    with pytest.raises(ValueError, match="1 piece per unit"):
        functions.register(replace(base, name="glu_bad", pieces=1))
    with pytest.raises(ValueError, match="gate 'maxout'"):
        functions.register(replace(base, name="glu_bad", gate="maxout"))
    assert "glu_bad" not in functions.names()


def test_known_values():
    g = lambda n, v: float(functions.get(n)(torch.tensor(v, dtype=torch.float64)))
    assert g("sigmoid", 0.0) == 0.5 and g("tanh", 0.0) == 0.0 and g("step", 0.0) == 1.0
    assert g("gelu", 1.0) == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))))
    assert g("selu", -50.0) == pytest.approx(-functions.SELU_SCALE * functions.SELU_ALPHA)
    assert g("mish", -1.1924) == pytest.approx(-0.30884, abs=1e-5)


# ---------------------------------------------------------------- tails and limits

mp = pytest.importorskip("mpmath")
mp.mp.dps = 60

_sig = lambda x: 1 / (1 + mp.exp(-x))
_sp = lambda x: mp.log1p(mp.exp(x)) if x < 0 else x + mp.log1p(mp.exp(-x))
_u = lambda x: mp.sqrt(2 / mp.pi) * (x + mp.mpf("0.044715") * x**3)
# Independent high-precision forms of every elementwise function (mpmath), differentiated by
# mpmath: the reference the registry's float derivatives are checked against in the tails.
MP_FORMS = {
    "identity": lambda x: x, "step": lambda x: mp.mpf(1) if x >= 0 else mp.mpf(0),
    "sigmoid": _sig, "hardsigmoid": lambda x: max(0, min(1, x / 6 + mp.mpf(1) / 2)),
    "tanh": mp.tanh, "lecun_tanh": lambda x: mp.mpf("1.7159") * mp.tanh(2 * x / 3), "hardtanh": lambda x: max(-1, min(1, x)), "softsign": lambda x: x / (1 + abs(x)),
    "relu": lambda x: max(0, x), "relu6": lambda x: min(max(0, x), 6),
    "leaky_relu": lambda x: x if x > 0 else mp.mpf("0.01") * x, "prelu": lambda x: x if x > 0 else x / 4,
    "elu": lambda x: x if x > 0 else mp.expm1(x),
    "selu": lambda x: mp.mpf(functions.SELU_SCALE) * (x if x > 0 else mp.mpf(functions.SELU_ALPHA) * mp.expm1(x)),
    "celu": lambda x: x if x > 0 else mp.expm1(x), "gelu": lambda x: x * mp.ncdf(x),
    "gelu_tanh": lambda x: x * _sig(2 * _u(x)), "silu": lambda x: x * _sig(x),
    "mish": lambda x: x * mp.tanh(_sp(x)), "softplus": _sp,
    "hardswish": lambda x: 0 if x <= -3 else (x if x >= 3 else x * (x + 3) / 6),
}
TAIL = np.concatenate([-np.linspace(5, 40, 141), np.linspace(5, 40, 141)])


def test_every_elementwise_function_has_a_reference_form():
    assert set(MP_FORMS) == set(ELEMENTWISE)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_derivative_relative_error_in_the_tails(name, dtype):
    """|x| in [5, 40]: relative error against mpmath wherever the true value is a normal
    number of the dtype, and no more than the smallest normal where it is not (underflow)."""
    a, f = functions.get(name), MP_FORMS[name]
    away = [v for v in TAIL if all(abs(v - k) > 1e-9 for k in a.kinks)]  # a kink has no derivative
    x = torch.tensor(away, dtype=dtype)
    got = a.derivative(x).double().numpy()
    ref = np.array([float(mp.diff(f, mp.mpf(float(v)))) for v in x.tolist()])
    tiny = torch.finfo(dtype).tiny
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    normal = np.abs(ref) >= tiny
    rel = np.abs(got[normal] - ref[normal]) / np.abs(ref[normal])
    assert rel.max(initial=0) <= tol, f"{name}' rel. error {rel.max():.2e} at x = {x.numpy()[normal][rel.argmax()]}"
    assert np.all(np.abs(got[~normal]) <= tiny), f"{name}' where the true value underflows"


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_infinite_inputs_give_the_limits(name, dtype):
    """f(+-inf) and f'(+-inf) are the limits (what f and f' approach at +-1e30), never NaN."""
    a = functions.get(name)
    x, far = torch.tensor([-math.inf, math.inf], dtype=dtype), torch.tensor([-1e30, 1e30], dtype=dtype)
    y, y_far, d, d_far = a(x), a(far), a.derivative(x), a.derivative(far)
    assert not torch.isnan(y).any() and not torch.isnan(d).any(), (name, y, d)
    for v, v_far in zip(y.tolist(), y_far.tolist(), strict=True):
        assert v == pytest.approx(v_far, rel=1e-6, abs=1e-30) if abs(v_far) < 1e20 else v == math.copysign(math.inf, v_far)
    torch.testing.assert_close(d, d_far, rtol=1e-6, atol=1e-30)


def test_textbook_forms_are_what_the_tails_test_catches():
    """The forms the registry no longer uses fail exactly where the issue said they do."""
    x64 = torch.tensor([20.0, 38.0, -38.0], dtype=torch.float64)
    tanh_naive = 1 - torch.tanh(x64) ** 2
    s = torch.sigmoid(x64)
    assert tanh_naive[0] == 0 and functions.get("tanh").derivative(x64)[0] > 0
    assert (s * (1 - s))[1] == 0 and (s * (1 - s))[2] > 0  # zero on the right only
    x32 = torch.tensor([9.0])
    naive32 = float(1 - torch.tanh(x32) ** 2)
    true = float(functions.get("tanh").derivative(x32.double()))
    assert abs(naive32 / true - 1) > 0.3 and abs(float(functions.get("tanh").derivative(x32)) / true - 1) < 1e-5


def test_registry_citations_are_in_the_bibliography():
    from actlab import paths

    bib = (paths.CHAPTERS / "references.bib").read_text()
    for n in functions.names():
        for key in filter(None, (functions.get(n).cite or "").split(",")):
            assert "{" + key.strip() + "," in bib, (n, key)
    # ReLU's history before Nair & Hinton; SiLU before Ramachandran et al. named it swish
    assert functions.get("relu").cite.split(",") == ["fukushima1969", "hahnloser2000", "jarrett2009", "nair2010",
                                                     "glorot2011", "krizhevsky2012"]
    assert functions.get("silu").cite.split(",") == ["hendrycks2016", "elfwing2018", "ramachandran2017"]


def test_hard_sigmoid_formula_matches_its_citation():
    """The registry uses PyTorch's x/6 + 1/2 and cites MobileNetV3, not Gulcehre's 0.25x + 0.5."""
    a = functions.get("hardsigmoid")
    x = torch.tensor([-3.0, 0.0, 1.5, 3.0], dtype=torch.float64)
    assert a(x).tolist() == [0.0, 0.5, 0.75, 1.0] and a.cite == "howard2019" and "x/6" in a.latex


def test_maxout_counts_and_drawing_agree_with_k():
    from actlab import gallery

    k = functions.get("maxout").params["k"]
    assert len(gallery.MAXOUT_PIECES) == k
    assert functions.extra_per_unit("maxout", 64) == (k - 1) * 65
    assert 64 * functions.extra_per_unit("maxout", 64) == properties.extra_parameters("maxout", 64)
    assert functions.extra_per_unit("prelu") == 1 and functions.extra_per_unit("relu") == 0
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    y, _ = gallery.curves("maxout", x)
    slopes = np.diff(y) / np.diff(x.numpy())
    assert len(np.unique(np.round(slopes[np.abs(np.diff(slopes, prepend=slopes[0])) < 1e-9], 6))) == k


@pytest.mark.parametrize("name", sorted(GATED))
def test_gated_unit_is_drawn_as_x_times_its_gate(name):
    """The gallery draws a gated unit with value and gate input both x: x g(x), its derivative
    g(x) + x g'(x), checked against autograd of that 1-D function."""
    from actlab import gallery

    g = functions.get(GATED[name])
    x = torch.linspace(-6, 6, 1201, dtype=torch.float64, requires_grad=True)
    y, dy = gallery.curves(name, x.detach())
    np.testing.assert_allclose(y, (x * g(x)).detach().numpy(), rtol=0, atol=1e-15)
    (ref,) = torch.autograd.grad((x * g(x)).sum(), x)
    np.testing.assert_allclose(dy, ref.numpy(), rtol=0, atol=1e-12)
    if name == "glu":  # x sigma(x): GLU's 1-D panel is SiLU's curve
        np.testing.assert_allclose(y, functions.get("silu")(x.detach()).numpy(), rtol=1e-15, atol=1e-15)


def test_families_share_a_hue_and_differ_by_style():
    tanhs = [functions.get(n) for n in ("tanh", "lecun_tanh", "hardtanh", "softsign")]
    gated = [functions.get(n) for n in GATED]
    for fam in (tanhs, gated):
        assert len({a.color for a in fam}) == 1 and len({str(a.linestyle) for a in fam}) == len(fam)
    assert gated[0].color not in {functions.get(n).color for n in functions.names() if n not in GATED}


def test_gallery_panels_show_every_kink():
    from actlab import gallery

    assert gallery.panel_range("relu6", 5.0) > 6 and gallery.panel_range("relu", 5.0) == 5.0


# ---------------------------------------------------------------- properties table and cost


def test_properties_table_says_nowhere_for_smooth_functions():
    from actlab import tables

    rows = {r[0]: r for r in (line.split(" | ") for line in
            tables.properties_table(properties.table_rows(["sigmoid", "relu"])).splitlines()[2:])}
    assert rows["| sigmoid"][2] == "nowhere" and rows["| ReLU"][2] == "0 (uses 0)"


def _fake_timings(a, b):
    from actlab import cost

    return cost.Timings(n=1000, repeats=len(a), width=10, t={"relu:fwd_torch": np.array(b), "x": np.array(a)})


def test_timing_ratios_are_paired_per_repeat_with_an_interval():
    # a machine slowing down over the rounds slows both alike: the paired ratio stays exactly 2
    t = _fake_timings([2.0, 4.0, 8.0, 16.0, 32.0], [1.0, 2.0, 4.0, 8.0, 16.0])
    m = t.ratio("x", "relu:fwd_torch")
    assert m.value == m.lo == m.hi == 2.0 and m.n == 5
    noisy = _fake_timings([1.0, 1.3, 0.8, 1.1, 0.9], [1.0] * 5).ratio("x", "relu:fwd_torch")
    assert noisy.lo < 1 < noisy.hi  # a thin margin is undecided, not a side
    assert t.ns("relu:fwd_torch").value == pytest.approx(1e9 * 4.0 / 1000)


def test_excess_share_separates_recomputing_from_reusing_backward():
    from actlab import cost

    r = np.ones(6)
    base = {"relu:fwd_torch": r, "relu:bwd_torch": r}
    recompute = cost.Timings(1, 6, 1, {**base, "sigmoid:fwd_torch": 3 * r, "sigmoid:bwd_torch": 3 * r})
    reuse = cost.Timings(1, 6, 1, {**base, "sigmoid:fwd_torch": 3 * r, "sigmoid:bwd_torch": 1.1 * r})
    assert cost.excess_share(recompute, "sigmoid").value == pytest.approx(1.0)
    assert cost.excess_share(reuse, "sigmoid").value == pytest.approx(0.05)


def test_timing_covers_kernel_and_registry_forward_and_the_backward_of_every_function():
    from actlab import cost, tables

    names = ["step", "sigmoid", "gelu", "relu"]
    t = cost.time_activations(names, 4096, 2, width=64, block_s=1e-4)
    assert cost.kinds("step") == ["fwd_torch", "fwd_registry", "bwd_registry"]  # heaviside has no backward
    assert cost.kinds("gelu") == ["fwd_torch", "bwd_torch", "fwd_registry"]
    assert cost.kinds("sigmoid") == ["fwd_torch", "bwd_torch"]  # the registry's form is the kernel
    for n in names:
        for k in cost.kinds(n):
            assert t.t[f"{n}:{k}"].shape == (1, 2) and (t.t[f"{n}:{k}"] > 0).all()  # one build, two rounds
    assert t.has("linear") and t.has("copy") and t.n == 4096
    table = tables.cost_table(t, names)
    assert "linear layer, 64 → 64" in table and "—" in table and "‡" in table.split("| step |")[1].split("\n")[0]


def test_a_timing_interval_spans_every_build_and_halves_split_the_builds():
    from actlab import cost

    rng = np.random.default_rng(0)
    fast, slow = 1 + 0.01 * rng.standard_normal((2, 20)), 2 + 0.01 * rng.standard_normal((2, 20))
    m = cost.spread(np.vstack([fast, slow]))  # builds 0, 1 near 1; builds 2, 3 near 2
    assert m.lo < 1.01 and m.hi > 1.99 and m.n == 80  # as wide as the builds disagree
    assert m.halves[0].hi < 1.05 and m.halves[1].lo > 1.95  # the first two builds, then the last two
    one = cost.spread(fast[:1])  # one build: the bootstrap over its rounds, halves over rounds
    assert 0.99 < one.lo <= one.value <= one.hi < 1.01 and one.n == 20 and one.halves[0].n == 10
    agree = cost.spread(np.vstack([fast, fast]))
    assert agree.hi - agree.lo < 0.02


def test_timing_data_repeats_the_timing_in_fresh_processes_at_each_thread_count(monkeypatch):
    from actlab import cost

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4194304")  # the evidence cells' setting
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    data = cost.timing_data(2048, 2, 0.1, 2, [1, 2], names=["relu", "sigmoid", "tanh"])
    t = cost.from_data(data)
    assert sorted(t) == [1, 2] and t[2].threads == 2 and t[1].builds == 2 and data["n"] == 2048
    assert all(np.asarray(v).shape == (2, 2) for v in data["timings"]["2"].values())
    # the builds timed under the kernels' allocator settings; the caller's are restored
    assert data["allocator"] == cost.TIMING_MALLOC and os.environ["MALLOC_MMAP_THRESHOLD_"] == "4194304"
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ
    m = cost.metrics(t, ["relu", "sigmoid", "tanh"])
    assert m["fwd_rel_sigmoid_tmax"] == m["fwd_rel_sigmoid_t2"] and m["threads_timed"] == "1, 2"
    assert m["cost_builds"] == 2 and m["fwd_rel_sigmoid_n"] == 4 and m["machine"] == data["machine"]


def _luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula_matches_wcag_reference_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # WCAG's classic borderline grey


@pytest.mark.parametrize("name", functions.names())
def test_every_activation_colour_has_3_to_1_contrast_on_the_figure_background(name):
    c = functions.get(name).color
    assert contrast(c, "#ffffff") >= 3.0, f"{name}: {c} has {contrast(c, '#ffffff'):.2f}:1 on white"


def test_no_two_activations_share_colour_and_line_style():
    seen = {}
    for name in functions.names():
        act = functions.get(name)
        key = (act.color.lower(), str(act.linestyle))
        assert key not in seen, f"{name} and {seen.get(key)} are drawn identically"
        seen[key] = name


VISIONS = (None, "deuteranomaly", "protanomaly", "tritanomaly")  # at full severity: the -opias
FAMILY_DELTA_E = 11.0  # CAM02-UCS; the first palette had 2.3 (step and ReLU under deuteranopia)


def _seen_as(hex_colours, vision):
    """The colours in CAM02-UCS as a reader with ``vision`` sees them (Machado et al. 2009's
    simulation, as colorspacious implements it; None: normal vision)."""
    import matplotlib.colors as mc
    from colorspacious import cspace_convert

    rgb = np.array([mc.to_rgb(c) for c in hex_colours])
    if vision is not None:
        rgb = np.clip(cspace_convert(rgb, {"name": "sRGB1+CVD", "cvd_type": vision, "severity": 100}, "sRGB1"), 0, 1)
    return cspace_convert(rgb, "sRGB1", "CAM02-UCS")


def _delta_e(a: str, b: str) -> float:
    """The smallest colour difference of a and b over normal vision and the three deficiencies."""
    return min(float(np.linalg.norm(np.subtract(*_seen_as([a, b], v)))) for v in VISIONS)


def test_the_colour_vision_check_sees_the_confusions_it_guards_against():
    # the pairs: tanh and ReLU's first colours under deuteranopia, sigmoid and GELU's under protanopia
    assert _delta_e("#c2570c", "#d62728") < 4 and _delta_e("#1f64b4", "#7b4fb0") < 4
    assert _delta_e("#000000", "#ffffff") > 90


def test_functions_drawn_alike_differ_in_colour_for_every_colour_vision():
    """Two functions with one line style (a family's members differ by style) are told apart by
    colour alone: at least FAMILY_DELTA_E apart under normal vision and simulated deuteranopia,
    protanopia and tritanopia."""
    acts = [functions.get(n) for n in functions.names()]
    close = [(f"{a.name}/{b.name}", round(_delta_e(a.color, b.color), 1))
             for i, a in enumerate(acts) for b in acts[i + 1:]
             if str(a.linestyle) == str(b.linestyle) and _delta_e(a.color, b.color) < FAMILY_DELTA_E]
    assert not close, f"pairs drawn alike whose colours a reader may confuse (delta E): {close}"


@pytest.mark.parametrize("n", [2, 4, 6, 10])
def test_layer_ramps_step_evenly_in_lightness_for_every_colour_vision(n):
    """A ramp (layers, widths) reads in order: lightness falls at every step, by at least half an
    even step of the whole span under every vision, and its lightest shade keeps 3:1 on white."""
    import matplotlib.colors as mc

    from actlab import plotting

    for name in functions.names():
        shades = [mc.to_hex(c) for c in plotting.layer_shades(name, n)]
        assert contrast(shades[0], "#ffffff") >= 3.0, (name, shades[0])
        even = (plotting.LIGHTEST_J - plotting.DARKEST_J) / (n - 1)
        for vision in VISIONS:
            jab = _seen_as(shades, vision)
            assert np.all(np.diff(jab[:, 0]) < 0), (name, vision, shades)
            steps = np.linalg.norm(np.diff(jab, axis=0), axis=1)
            assert steps.min() >= 0.5 * even, (name, vision, n, steps.round(1))


def test_time_ops_counts_its_calls_and_reads_the_clock_it_is_given():
    import time

    from actlab import timing

    calls = []
    ops = {"sleep": lambda: (calls.append(1), time.sleep(0.002))}
    wall = timing.time_ops(ops, repeats=2, inner=2, calls=3)
    assert len(calls) == 1 + 2 * 2 * 3  # a warm-up call, then repeats x inner blocks of `calls`
    assert (wall["sleep"] >= 0.002).all()  # the wall clock sees the sleep...
    cpu = timing.time_ops(ops, repeats=2, inner=1, calls=2, clock=time.thread_time)
    assert (cpu["sleep"] < 0.001).all()  # ...this thread's CPU clock does not


def test_every_function_names_a_recommended_initialisation():
    from actlab.ensemble import INITS

    for name in functions.names():
        f = functions.get(name)
        assert f.init in INITS and f.gain > 0, name
    assert functions.get("selu").init == "lecun"  # its fixed point assumes LeCun-normal weights
    assert (functions.get("tanh").init, functions.get("tanh").gain) == ("xavier", 5 / 3)  # torch's calculate_gain
    assert functions.get("relu").init == functions.get("gelu").init == "kaiming"
