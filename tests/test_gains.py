"""The gains of LeCun-normal weights: their moments, the registry's values and deep random networks."""

import math

import numpy as np
import pytest
import torch

from actlab import functions, gains


def test_relu_s_moments_are_a_half_and_its_two_gains_are_he_s():
    m_f, m_b = gains.moments("relu")
    assert m_f == pytest.approx(0.5, abs=1e-6) and m_b == pytest.approx(0.5, abs=1e-4)  # the jump at 0 on the grid
    g_f, g_b = gains.derived("relu")
    assert g_f == pytest.approx(math.sqrt(2), rel=1e-5) and g_b == pytest.approx(math.sqrt(2), rel=1e-4)
    assert gains.fixed_point_slope("relu", g_f) == pytest.approx(1.0, rel=1e-4)  # homogeneous: q maps linearly


def test_selu_keeps_unit_scale_at_the_lecun_scale_as_klambauer_et_al_designed():
    assert gains.derived("selu")[0] == pytest.approx(1.0, abs=2e-3)
    assert gains.fixed_point("selu", 1.0, q=2.0) == pytest.approx(1.0, abs=1e-2)  # and it attracts


def test_the_moments_match_monte_carlo_for_a_smooth_and_a_shifted_function():
    x = torch.randn(2_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for name in ("tanh", "sigmoid"):
        act = functions.get(name)
        m_f, m_b = gains.moments(name)
        assert m_f == pytest.approx(float((act.forward(x) ** 2).mean()), rel=3e-3)
        assert m_b == pytest.approx(float((act.derivative(x) ** 2).mean()), rel=3e-3)
    assert gains.moments("tanh", q=4.0)[0] == pytest.approx(float((torch.tanh(2 * x) ** 2).mean()), rel=3e-3)


def test_pytorch_s_table_where_it_has_an_entry():
    assert gains.torch_gain("tanh") == pytest.approx(5 / 3) and gains.torch_gain("selu") == 0.75
    assert gains.torch_gain("gelu") is None and gains.torch_gain("identity") == 1.0


def test_deep_ratios_follow_the_moments_at_the_forward_gain():
    # tanh: the forward scale is kept (slope < 1), the error grows by g_f² E[f'²] per layer
    rows = gains.rows(["identity", "tanh", "sigmoid"], width=128, depth=8, n_inputs=32, seeds=6)
    by = {r["name"]: r for r in rows}
    assert by["identity"]["fwd"].value == pytest.approx(1, abs=0.02) and by["identity"]["bwd"].value == pytest.approx(1, abs=0.02)
    for name in ("tanh", "sigmoid"):
        r = by[name]
        assert r["slope"] < 1 and r["fwd"].value == pytest.approx(1, abs=0.03)
        assert r["bwd"].value == pytest.approx(r["chi"], rel=0.05)
    assert by["tanh"]["chi"] > 1 > by["sigmoid"]["chi"]  # one gain cannot keep both for either


def test_a_gain_changes_nothing_but_the_gain_common_random_numbers():
    a = gains.deep_ratios("relu", 1.0, width=32, depth=4, n_inputs=8, seeds=3)
    b = gains.deep_ratios("relu", 2.0, width=32, depth=4, n_inputs=8, seeds=3)
    # ReLU is homogeneous: doubling the gain of 3 later layers multiplies q by 4³ exactly, and the error too
    assert np.allclose(b.forward / a.forward, 4.0**3) and np.allclose(b.backward / a.backward, 4.0**3)


def test_the_table_has_a_row_per_function_and_says_where_pytorch_has_no_gain():
    rows = gains.rows(["relu", "gelu"], width=16, depth=3, n_inputs=4, seeds=2)
    t = gains.table(rows)
    assert t.count("\n") == 3 and "| GELU | " in t and "—" in t.split("| GELU | ")[1].split("\n")[0]
    m = gains.metrics(rows)
    assert "gain_torch_relu" in m and "gain_torch_gelu" not in m and m["gain_fwd_gelu_n"] == 2


def test_a_symmetric_start_stays_symmetric_and_a_random_one_does_not():
    from actlab import symmetry

    sym = symmetry.run(["tanh", "sigmoid"], width=8, depth=2, seeds=2, steps=30, lr=0.1)
    assert (sym.rank["tanh", "zero"] == 0).all()  # tanh(0) = 0: no error reaches the hidden layers
    assert (sym.rank["sigmoid", "zero"] == 1).all() and (sym.distinct["sigmoid", "zero"] == 1).all()
    for act in ("tanh", "sigmoid"):
        assert (sym.rank[act, "constant"] == 1).all() and (sym.distinct[act, "constant"] == 1).all()
        assert (sym.rank[act, "random"] == 8).all() and (sym.distinct[act, "random"] == 8).all()
    m = symmetry.metrics(sym)
    assert m["sym_rank_tanh_zero"] == 0 and m["sym_error_tanh_random_n"] == 2
    assert symmetry.table(sym).count("\n") == 2 + 2 * 3 - 1


def test_rank_and_distinct_units_count_what_they_say():
    from actlab import symmetry

    w = torch.tensor([[1.0, 2.0], [1.0, 2.0], [2.0, 4.0]])
    assert symmetry.rank(w) == 1 and symmetry.distinct_units(w) == 2
    assert symmetry.rank(torch.zeros(3, 2)) == 0 and symmetry.rank(torch.eye(3)) == 3


def test_the_registry_holds_each_function_s_gains_as_derived_here():
    for name in ("relu", "tanh", "gelu", "hardswish"):
        assert functions.get(name).gains == gains.derived(name)
    g_f, g_b = functions.get("leaky_relu").gains  # PyTorch's √(2 / (1 + a²)) for a homogeneous function
    assert g_f == pytest.approx(math.sqrt(2 / (1 + 0.01**2)), rel=1e-5) and g_b == pytest.approx(g_f, rel=1e-4)
    assert functions.get("step").gains[1] == math.inf  # no error flows back through a step
