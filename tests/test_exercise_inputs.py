"""An exercise's overrides fix every input of the experiment its chapter reruns for it, so the
printed command (quick profile + overrides) records the numbers the chapter quotes. The functions
take their inputs as required keywords; these tests keep each header and its function in step
without training anything."""
import inspect

import pytest

from actlab import evidence, gating, guide, mnist1dcnn, tanhrace
from actlab.contents import exercise
from actlab.verdicts import Measure, bootstrap, measure_from


def keywords(f) -> set[str]:
    return {n for n, p in inspect.signature(f).parameters.items() if p.kind is p.KEYWORD_ONLY}


@pytest.mark.parametrize("chapter, ex_id, inputs", [
    ("tanh", "deep", set(evidence.CELLS[tanhrace.CELL].params)),
    ("gated", "deeper", keywords(gating.compare)),
    ("mnist1d", "deep20", keywords(mnist1dcnn.deep_profile)),
    ("guide", "shallow", set(evidence.CELLS[guide.CELL].params)),
])
def test_an_exercise_fixes_every_input_of_its_experiment(chapter, ex_id, inputs):
    assert set(exercise(chapter, ex_id)) == inputs


def test_the_named_parameter_lists_are_the_functions_inputs():
    assert set(gating.COMPARE_PARAMS) == keywords(gating.compare)
    assert set(mnist1dcnn.DEEP_PARAMS) == keywords(mnist1dcnn.deep_profile)


def test_the_guide_refuses_a_partial_parameter_set():
    params = dict(evidence.CELLS[guide.CELL].params)
    del params["seeds"]
    with pytest.raises(TypeError, match="missing: seeds"):
        guide.run(**params)


def test_the_tanh_race_refuses_a_partial_parameter_set():
    params = dict(evidence.CELLS[tanhrace.CELL].params)
    del params["starts"]
    with pytest.raises(TypeError, match="missing: starts"):
        tanhrace.run(**params)


def test_a_measure_flattens_as_record_measure_records_it():
    from actlab.verdicts import measure_metrics

    for m in (bootstrap([1.0, 2.0, 4.0]), Measure(2.0, 1.0, float("inf"), 4, "censored")):
        flat = measure_metrics("x", m)
        assert set(flat) == {"x", "x_lo", "x_hi", "x_n", "x_ci", "x_iv"}
        assert measure_from(flat, "x") == m
