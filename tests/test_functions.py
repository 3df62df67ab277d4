"""The registry against torch.nn.functional and autograd."""
import math
import warnings

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import given, settings

from actlab import functions, properties

ELEMENTWISE = functions.names(elementwise_only=True)
WITH_REF = [n for n in ELEMENTWISE if functions.get(n).torch_ref is not None]
REQUIRED = ["identity", "step", "sigmoid", "hardsigmoid", "tanh", "hardtanh", "softsign", "relu",
            "relu6", "leaky_relu", "prelu", "elu", "selu", "celu", "gelu", "gelu_tanh", "silu",
            "mish", "softplus", "maxout"]


def test_registry_has_every_required_function():
    assert set(REQUIRED) <= set(functions.names())


def test_unknown_name_says_what_exists():
    with pytest.raises(KeyError, match="unknown activation 'relu7'.*relu6"):
        functions.get("relu7")


def test_register_refuses_a_duplicate():
    with pytest.raises(ValueError, match="already registered"):
        functions.register(functions.get("relu"))


def test_every_entry_is_complete():
    colors = set()
    for n in functions.names():
        a = functions.get(n)
        assert a.latex and a.label and a.color.startswith("#")
        assert isinstance(a.params, dict) and a.learnable >= 0
        colors.add(a.color)
    assert len(colors) == len(functions.names()), "every activation needs its own colour"


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


def test_known_values():
    g = lambda n, v: float(functions.get(n)(torch.tensor(v, dtype=torch.float64)))
    assert g("sigmoid", 0.0) == 0.5 and g("tanh", 0.0) == 0.0 and g("step", 0.0) == 1.0
    assert g("gelu", 1.0) == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))))
    assert g("selu", -50.0) == pytest.approx(-functions.SELU_SCALE * functions.SELU_ALPHA)
    assert g("mish", -1.1924) == pytest.approx(-0.30884, abs=1e-5)
