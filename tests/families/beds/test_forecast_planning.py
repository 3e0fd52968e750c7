"""Planners on a population forecast: the simulated population keeps its own dynamics."""

from __future__ import annotations

import numpy as np
import pytest

import optalloc as oa
from optalloc.exceptions import ConfigurationError
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


def test_forecast_planners_are_evaluated_on_the_true_dynamics(scenario):
    """A forecast plan is a plan, not a bound: it costs at least the exact optimum (within CI)."""
    result = oa.evaluate({"dp": oa.make_policy("dp"),
                          "dp-naive": oa.make_policy("dp", forecaster="naive"),
                          "milp-exp": oa.make_policy("milp", forecaster="exponential"),
                          "rolling-lin": oa.make_policy("milp-rolling", forecaster="linear")},
                         scenario, episodes=150, seed=4)
    s = result.summary.set_index("policy")
    assert result.bound_kind == "exact optimum (dp)"
    for name in ("dp-naive", "milp-exp", "rolling-lin"):
        assert s.loc[name, "diff_vs_dp"] >= -s.loc[name, "diff_ci95"], name
    # Planning on no growth under-builds: more unattended patient-days than the optimum.
    assert s.loc["dp-naive", "unattended_patient_days"] > s.loc["dp", "unattended_patient_days"]
    assert oa.make_policy("dp", forecaster="naive").fit(scenario).expected_cost_ is None


def test_forecast_dp_survives_save_and_load(tmp_path, scenario):
    policy = oa.make_policy("dp", forecaster="exponential").fit(scenario, seed=0)
    loaded = oa.load_policy(oa.save_policy(policy, tmp_path / "p.zip"))
    noise = scenario.sample_noise(1, 5)
    np.testing.assert_array_equal(oa.rollout(policy, scenario, noise).actions,
                                  oa.rollout(loaded, scenario, noise).actions)


def test_unknown_forecaster_is_a_clear_error(scenario):
    with pytest.raises(ConfigurationError, match="'forecaster' parameter of DPPolicy"):
        oa.make_policy("dp", forecaster="crystal-ball").fit(scenario)
