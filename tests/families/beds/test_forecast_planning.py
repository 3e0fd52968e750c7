"""Planners on a population forecast: the simulated population keeps its own dynamics."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import optalloc as oa
from optalloc.exceptions import ConfigurationError, UnknownIdError, UnsupportedScenarioError
from optalloc.families.beds.forecast import forecast_population_path, load_census, make_forecaster, training_series
from optalloc.families.beds.planning import planning_scenario


@pytest.fixture(scope="module")
def scenario():
    return oa.make_scenario("beds/stochastic-v0", horizon=8)


def test_planning_scenario_follows_the_forecast(scenario):
    plan_on = planning_scenario(scenario, "linear", 2001)
    fitted = make_forecaster("linear").fit(*training_series(load_census(), 2001))
    path = forecast_population_path(fitted, 2001, scenario.horizon, scenario.params.initial_population)
    np.testing.assert_allclose(plan_on.median_population(np.arange(8)), path)
    assert plan_on.params.growth_step == 0 and plan_on.params.surge_probability == scenario.params.surge_probability
    assert planning_scenario(scenario, None, 2001) is scenario


def plan_on(inner, forecaster, **inner_params):
    return oa.make_policy("plan-on", inner=inner, inner_params=inner_params, transform="forecast",
                          transform_params={"forecaster": forecaster, "cutoff": 2001})


def test_forecast_planners_are_evaluated_on_the_true_dynamics(scenario):
    """A forecast plan is a plan, not a bound: it costs at least the exact optimum (within CI)."""
    result = oa.evaluate({"dp": oa.make_policy("dp"),
                          "dp-naive": plan_on("dp", "naive"),
                          "milp-exp": plan_on("milp", "exponential"),
                          "rolling-lin": plan_on("milp-rolling", "linear")},
                         scenario, episodes=150, seed=4)
    s = result.summary.set_index("policy")
    assert result.bound_kind == "exact optimum (dp)"
    for name in ("dp-naive", "milp-exp", "rolling-lin"):
        assert s.loc[name, "diff_vs_dp"] >= -s.loc[name, "diff_ci95"], name
    # The wrapper reports its inner policy's method kind.
    assert s.loc["dp-naive", "method"] == "dynamic_programming" and s.loc["milp-exp", "method"] == "math_programming"
    # Planning on no growth under-builds: more unattended patient-days than the optimum.
    assert s.loc["dp-naive", "unattended_patient_days"] > s.loc["dp", "unattended_patient_days"]


def test_plan_on_acts_as_the_inner_policy_fitted_on_the_planning_scenario(scenario):
    """Two routes to the same plan: the wrapper, and the inner policy fitted by hand on planning_scenario."""
    wrapped = plan_on("dp", "linear").fit(scenario, seed=0)
    by_hand = oa.make_policy("dp").fit(planning_scenario(scenario, "linear", 2001))
    noise = scenario.sample_noise(2, 20)
    np.testing.assert_array_equal(oa.rollout(wrapped, scenario, noise).actions,
                                  oa.rollout(by_hand, scenario, noise).actions)
    # Optimal for the forecast, not for the scenario: no expected cost, the planned one apart.
    assert wrapped.expected_cost_ is None and wrapped.planned_cost_ == by_hand.expected_cost_
    assert not wrapped.exact and wrapped.planning_scenario_spec_["overrides"]["growth_step"] == 0.0


def test_forecast_dp_survives_save_and_load(tmp_path, scenario):
    policy = plan_on("dp", "exponential").fit(scenario, seed=0)
    path = oa.save_policy(policy, tmp_path / "p.zip")
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("manifest.json"))["refit_on_load"] is True  # rebuilt from the forecast on load
    loaded = oa.load_policy(path)
    noise = scenario.sample_noise(1, 5)
    np.testing.assert_array_equal(oa.rollout(policy, scenario, noise).actions,
                                  oa.rollout(loaded, scenario, noise).actions)


def test_unknown_forecaster_is_a_clear_error(scenario):
    with pytest.raises(ConfigurationError, match="'forecaster' parameter of the planning transform 'forecast'"):
        plan_on("dp", "crystal-ball").fit(scenario)
    with pytest.raises(ConfigurationError, match=r"Unknown transform_params \['forcaster'\].*Did you mean 'forecaster'"):
        oa.make_policy("plan-on", transform="forecast", transform_params={"forcaster": "naive"}).fit(scenario)
    with pytest.raises(UnknownIdError, match="Did you mean 'forecast'"):
        oa.make_policy("plan-on", transform="forecats").fit(scenario)


def test_a_family_without_the_transform_is_refused_by_tags():
    walk = oa.make_scenario("toy/walk-v0")
    policy = oa.make_policy("plan-on", inner="dp", transform="forecast", transform_params={"forecaster": "naive"})
    assert policy.tags.families == frozenset({"beds"}) and not policy.tags.accepts(walk.tags)
    with pytest.raises(UnsupportedScenarioError, match="toy"):
        policy.fit(walk)
