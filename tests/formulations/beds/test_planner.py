"""The bed family's planner under the generic planner policies, against the simulator on the same paths."""

from __future__ import annotations

import numpy as np
import pytest

import optalloc as oa
from optalloc.evaluation import rollout
from optalloc.formulations.beds.planner import BedPlanner
from optalloc.formulations.policies import SamplePlanner


@pytest.fixture(scope="module")
def scenario():
    return oa.make_scenario("beds/stochastic-v0", horizon=8)


def test_the_scenario_returns_its_planner(scenario):
    planner = scenario.planner()
    assert isinstance(planner, BedPlanner) and isinstance(planner, SamplePlanner) and planner.scenario is scenario
    assert scenario.tags.has("planner")


def test_saa_objective_is_the_plans_mean_cost_on_its_training_paths(scenario):
    """The sample-average model charges a plan what the simulator charges it on the same paths."""
    saa = oa.make_policy("saa", samples=40).fit(scenario, seed=2)
    train = scenario.sample_noise(2, 40, stream="train")
    assert rollout(saa, scenario, train).total_cost.mean() == pytest.approx(saa.objective_, rel=1e-9)
    # In sample, no plan beats it: not the expected-value plan either.
    milp = oa.make_policy("milp").fit(scenario)
    assert rollout(milp, scenario, train).total_cost.mean() >= saa.objective_ * (1 - 1e-9)
    assert [(r.kind, r.status) for r in saa.solves_] == [("saa", "optimal")]


def test_rolling_cache_keys_are_beds_and_lattice(scenario):
    """States that differ only in last year's unattended patient-days share one re-plan."""
    policy = oa.make_policy("milp-rolling").fit(scenario)
    state = scenario.initial_state(3)
    state["unattended"] = np.array([0.0, 10.0, 500.0])
    obs = scenario.observe(0, state)
    actions = policy.act_batch(obs, {"action_mask": scenario.action_mask(0, state), "epoch": np.zeros(3, int)})
    assert len(set(actions.tolist())) == 1 and policy.cache_size() == len(policy.solves_) == 1


def test_milp_refuses_a_wider_bed_range(scenario):
    policy = oa.make_policy("milp").fit(scenario)
    wider = oa.make_scenario("beds/stochastic-v0", horizon=8, max_beds=400)
    with pytest.raises(oa.exceptions.PolicyScenarioMismatch, match=r"its model covers 50\.\.130 beds"):
        policy.check_can_act(wider)
