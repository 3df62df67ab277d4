"""Unit tests for actlab.outputs (the output-activations chapter): seconds in all."""
import math

import numpy as np
import pytest
import torch

from actlab import outputs as out
from actlab.numbers import count_word


@pytest.mark.parametrize("loss", out.LOSSES)
def test_logit_gradient_is_autograds(loss):
    assert out.gradient_gap(loss, z_max=10.0) < 1e-10
    # numpy and torch give the same closed form
    z = np.linspace(-5, 5, 11)
    assert np.allclose(out.logit_gradient(z, 1.0, loss), out.logit_gradient(torch.from_numpy(z), 1.0, loss).numpy())


def test_the_squared_error_carries_sigma_prime_and_the_cross_entropy_does_not():
    z = -8.0
    bce, mse = (abs(float(out.logit_gradient(np.float64(z), 1.0, l))) for l in out.LOSSES)
    s = 1 / (1 + math.exp(-z))
    assert bce == pytest.approx(1 - s, rel=1e-12)
    assert mse == pytest.approx((1 - s) * s * (1 - s), rel=1e-12)
    assert bce / mse == pytest.approx(2 + math.exp(8) + math.exp(-8), rel=1e-12)  # 1/(sigma(-8) sigma(8))


def test_curvature_bce_convex_mse_concave_below_minus_ln2():
    _, h = out.curvature("bce")
    assert h.min() > 0 and h.max() == pytest.approx(0.25, abs=1e-12)
    z, h = out.curvature("mse")
    assert (h[z < -math.log(2) - 1e-3] < 0).all() and (h[(z > -math.log(2) + 1e-3) & (z < 3)] > 0).all()
    assert out.concave_below() == pytest.approx(-math.log(2), abs=1e-12)
    # closed form for y = 1: sigma (1 - sigma)^2 (3 sigma - 1)
    s = 1 / (1 + np.exp(-z))
    assert np.allclose(h, s * (1 - s) ** 2 * (3 * s - 1), atol=1e-14)


@pytest.mark.parametrize("loss", out.LOSSES)
@pytest.mark.parametrize("start", [0.5, 3.0, 9.0])
def test_flow_steps_is_the_integral_of_one_over_the_gradient(loss, start):
    from scipy.integrate import quad

    end = math.log(0.9 / 0.1)
    val, _ = quad(lambda v: 1 / abs(float(out.logit_gradient(np.float64(v), 1.0, loss))), -start, end,
                  limit=200, epsrel=1e-11, epsabs=0)
    assert out.flow_steps(loss, start, 0.1, 2.0) == pytest.approx(val / 2.0, rel=1e-8)


@pytest.mark.parametrize("start", [0.5, 3.0, 9.0])
def test_flow_constants_give_the_closed_form_counts(start):
    k = out.flow_constants(0.1)
    assert k["c"] == pytest.approx(math.log(9)) and k["e_c"] == pytest.approx(9)
    bce = start + k["bce"] - math.exp(-start)
    mse = math.exp(start) + 3 * start + k["mse"] - 3 * math.exp(-start) - 0.5 * math.exp(-2 * start)
    assert out.flow_steps("bce", start, 0.1, 1.0) == pytest.approx(bce, rel=1e-12)
    assert out.flow_steps("mse", start, 0.1, 1.0) == pytest.approx(mse, rel=1e-12)


def test_a_larger_squared_error_step_is_the_loss_without_the_half():
    # (p - y)^2 has twice the gradient of (p - y)^2 / 2: the same path as twice the step
    r1 = out.escape_race([4.0], seeds=2, lr=1.0, max_steps=2000, mse_step_factor=2.0)
    r0 = out.escape_race([4.0], seeds=2, lr=1.0, max_steps=2000)
    assert np.array_equal(r1.steps["bce"], r0.steps["bce"])  # the cross-entropy's step is untouched
    assert r1.steps["mse"].max() < r0.steps["mse"].min()
    assert r1.median("mse")[0] == pytest.approx(out.flow_steps("mse", 4.0, 0.1, 2.0), rel=0.15)


def test_race_data_starts_every_example_equally_wrong():
    x, y, u = out.race_data(3, 10, 4, 0.5)
    assert x.shape == (10, 4) and y.sum() == 5 and np.linalg.norm(u) == pytest.approx(1)
    proj = x @ u
    assert np.allclose(proj, np.where(y == 1, 1.0, -1.0))  # the noise is orthogonal to u


def test_escape_race_follows_gradient_flow_and_the_squared_error_falls_behind():
    r = out.escape_race([2.0, 6.0], seeds=3, lr=1.0, max_steps=2000)
    assert r.steps["bce"].shape == (3, 2) and np.isfinite(r.steps["bce"]).all()
    for loss in out.LOSSES:
        for j, v in enumerate(r.starts):
            assert r.median(loss)[j] == pytest.approx(out.flow_steps(loss, v, 0.1, 1.0), rel=0.15), (loss, v)
    assert (r.ratio()[:, 1] > 20).all() and (r.ratio()[:, 0] < r.ratio()[:, 1]).all()
    # deterministic
    assert np.array_equal(r.steps["mse"], out.escape_race([2.0, 6.0], seeds=3, lr=1.0, max_steps=2000).steps["mse"])


def test_escape_race_says_never_when_the_budget_is_short():
    r = out.escape_race([8.0], seeds=2, lr=1.0, max_steps=50)
    assert np.isinf(r.steps["mse"]).all() and np.isfinite(r.steps["bce"]).all()


def test_start_key_and_spread_text():
    assert out.start_key(8.0) == "z8" and out.start_key(2.5) == "z2_5"
    assert out.spread_text([3, 3, 3]) == "3"
    assert out.spread_text([1, 2, 4]) == "2 (1–4 over 3 seeds)"
    assert out.spread_text([3063.0, 3032.0, 3080.0]) == "3063 (3032–3080 over 3 seeds)"  # counts print whole


def test_softmax_forms_agree_where_both_work_and_only_the_stable_one_survives_large_logits():
    z = out.example_logits()
    assert np.allclose(out.naive_softmax(z), out.stable_softmax(z), rtol=1e-14)
    assert out.logsumexp(z) == pytest.approx(float(torch.logsumexp(torch.from_numpy(z), 0)), rel=1e-15)
    big = (z + 1000).astype("float32")
    assert not out.is_distribution(out.naive_softmax(big)) and out.is_distribution(out.stable_softmax(big))
    assert out.stable_cross_entropy(big, 0) == pytest.approx(-math.log(out.stable_softmax(z)[0]), rel=1e-5)


@pytest.mark.parametrize("dtype", out.DTYPES)
def test_naive_softmax_limit_is_log_max_less_the_logsumexp_of_the_offsets(dtype):
    z = out.example_logits()
    offsets = z - z.max()
    limit = out.largest_safe_logit(dtype, offsets)
    predicted = math.log(float(np.finfo(dtype).max)) - float(out.logsumexp(offsets))
    assert limit == pytest.approx(predicted, abs=0.01)
    assert not out.is_distribution(out.naive_softmax((limit + 0.02 + offsets).astype(dtype)))
    # one logit alone: the limit is ln(max float) itself
    assert out.largest_safe_logit(dtype, np.zeros(1)) == pytest.approx(math.log(float(np.finfo(dtype).max)), abs=0.01)


def test_bfloat16_has_float32s_range_and_the_table_reports_the_stable_forms_error():
    z = out.example_logits()
    rows = {r["dtype"]: r for r in out.overflow_rows(z)}
    assert set(rows) == {"float16", "float32", "float64", "bfloat16"}
    assert rows["bfloat16"]["log_max"] == pytest.approx(rows["float32"]["log_max"], abs=0.01)
    assert abs(rows["bfloat16"]["naive_limit"] - rows["bfloat16"]["predicted"]) < 0.1
    assert all(r["stable_ok"] for r in rows.values())
    # a distribution, but of rounded logits: the error follows the dtype's spacing at 1000
    assert rows["float64"]["stable_error"] == 0 and rows["float32"]["stable_error"] < 1e-3
    assert rows["float16"]["spacing_at"] == 0.5 and rows["float16"]["stable_error"] > 0.01
    assert rows["bfloat16"]["spacing_at"] == 4.0 and rows["bfloat16"]["stable_error"] > rows["float16"]["stable_error"]
    assert out.spacing_at(1000.0, "float32") == float(np.spacing(np.float32(1000)))
    assert "bfloat16" in out.overflow_table(list(rows.values()))


def test_softmax_gradient_is_p_minus_onehot_and_two_classes_are_a_sigmoid():
    assert out.softmax_xent_gap() < 1e-14
    assert out.two_class_gap() < 1e-13


def test_temperature_limits():
    z = out.example_logits()
    sw = out.temperature_sweep(z, np.logspace(-2, 2, 41))
    assert sw.entropy[0] < 1e-20 and sw.entropy[-1] == pytest.approx(math.log(10), abs=1e-3)
    assert (np.diff(sw.entropy) > 0).all()
    assert sw.grad_wrong[0] * sw.temps[0] == pytest.approx(math.sqrt(2), rel=1e-9)
    assert sw.grad_right[0] < 1e-20
    assert 0.1 < out.half_entropy_temperature(sw) < 10
    assert out.temperature_gradient_gap(z) < 1e-14


def test_the_list_of_losses_matches_the_code():
    assert out.loss_audit() == []
    counts = out.pairing_counts()
    assert sum(counts.values()) == len(out.TRAINED)
    # the pairing this chapter warns against is trained nowhere else
    assert {e.chapter for e in out.TRAINED if (e.output, e.loss) == (out.SIGMOID_UNIT, out.SQUARED)} == {
        "output-activations"}


def test_the_exceptions_are_generated_from_the_list():
    groups = out.exceptions()
    assert out.MAIN_PAIRING not in groups
    assert sum(len(es) for es in groups.values()) + out.pairing_counts()[" / ".join(out.MAIN_PAIRING)] == len(
        out.TRAINED)
    assert [len(es) for es in groups.values()] == sorted((len(es) for es in groups.values()), reverse=True)
    md = out.exceptions_markdown()
    assert md.count("\n- ") + 1 == len(groups)
    for es in groups.values():
        for e in es:
            assert f"{{doc}}`{e.chapter}`" in md and e.what in md
    assert count_word(3) == "three" and count_word(12) == "12"


def test_the_audit_catches_a_missing_entry_and_a_wrong_pointer():
    without_xor = tuple(e for e in out.TRAINED if e.chapter != "linear-collapse")
    assert any("xor.py" in p and "'bce'" in p for p in out.loss_audit(without_xor))
    wrong = out.TRAINED + (out.OutputAndLoss("x", "y", out.LINEAR, out.SQUARED, "", (("xor.py", "no such text"),)),)
    assert any("no such text" in p for p in out.loss_audit(wrong))
    # an entry that names the file but the wrong loss does not cover the call
    relabelled = tuple(out.OutputAndLoss(e.chapter, e.what, e.output, out.SQUARED if e.loss == out.BCE else e.loss,
                                   e.shown, e.code) for e in out.TRAINED)
    assert any("xor.py" in p for p in out.loss_audit(relabelled))


def test_figures_render_within_the_book_limits():
    r = out.escape_race([2.0, 4.0], seeds=2, lr=1.0, max_steps=500)
    img = out.race_figure(r, np.linspace(-12, 6, 50))
    assert img.data[:8] == b"\x89PNG\r\n\x1a\n"
    sw = out.temperature_sweep(out.example_logits(), np.logspace(-2, 2, 21))
    assert out.temperature_figure(sw).data[:8] == b"\x89PNG\r\n\x1a\n"
