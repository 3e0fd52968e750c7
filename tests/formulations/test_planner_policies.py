"""The generic planner policies (open loop, rolling horizon, SAA, MILP hindsight) on the toy walk's MIP planner.

References nobody here chose: the walk's optimum by enumerating every action
sequence (:func:`toy_family.scenario.brute_force_optimum`, and
:func:`value_from` below), exact DP, the scenario's own perfect-information
solve, and rollouts of the simulator on the same paths.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from toy_family.planner import WalkPlanner
from toy_family.scenario import WalkScenario, brute_force_optimum

import optalloc as oa
from optalloc.evaluation import rollout
from optalloc.exceptions import ConfigurationError, InfeasibleFormulation, UnsupportedScenarioError
from optalloc.formulations.policies import Planner, SamplePlanner, SolveRecord

#: A walk where ties are rare and the optimum moves (start away from the middle, cheap steps).
VARIANTS = [{}, {"size": 6, "horizon": 5, "start": 5, "step_cost": 0.2}]
GAP_TOLERANCE = 1e-6


def walk(**overrides):
    return oa.make_scenario("toy/walk-v0", **overrides)


def plan_cost(scenario, actions, targets=None):
    """Cost of an action sequence: expected distances, or the mean realised distance over target paths."""
    p, pos, total = scenario.params, scenario.params.start, 0.0
    for t, a in enumerate(actions):
        pos += int(a) - 1
        assert 0 <= pos < p.size
        distance = np.abs(pos - np.arange(p.size)).mean() if targets is None else np.abs(pos - targets[:, t]).mean()
        total += distance + p.step_cost * abs(int(a) - 1)
    return total


def value_from(scenario, t, pos):
    """Optimal expected cost of steps t.. from position pos, by enumerating every remaining sequence."""
    p, best = scenario.params, np.inf
    for plan in itertools.product(range(3), repeat=scenario.horizon - t):
        at, total = pos, 0.0
        for a in plan:
            at += a - 1
            if not 0 <= at < p.size:
                break
            total += np.abs(at - np.arange(p.size)).mean() + p.step_cost * abs(a - 1)
        else:
            best = min(best, total)
    return best if t < scenario.horizon else 0.0


def assert_solved(records, kind, count=None):
    assert all(isinstance(r, SolveRecord) for r in records)
    if count is not None:
        assert len(records) == count
    for r in records:
        assert r.kind == kind and r.status == "optimal", r
        assert r.gap is not None and r.gap <= GAP_TOLERANCE, r
        assert r.seconds > 0 and r.objective is not None


def test_the_toy_planner_implements_the_protocols():
    planner = walk().planner()
    assert isinstance(planner, Planner) and isinstance(planner, SamplePlanner)


# ---------------------------------------------------------------- open loop
@pytest.mark.parametrize("overrides", VARIANTS)
def test_open_loop_plan_is_the_walk_optimum(overrides):
    scenario = walk(**overrides)
    policy = oa.make_policy("milp").fit(scenario)
    optimum = brute_force_optimum(scenario)
    assert policy.objective_ == pytest.approx(optimum, rel=1e-9)
    assert oa.make_policy("dp").fit(scenario).expected_cost_ == pytest.approx(optimum, rel=1e-9)
    # The plan read back through the action table costs what the model says.
    assert plan_cost(scenario, policy.plan_) == pytest.approx(optimum, rel=1e-9)
    assert_solved(policy.solves_, "plan", count=1)
    table = policy.solve_table()
    assert isinstance(table, pd.DataFrame) and list(table.columns) == [
        "kind", "epoch", "status", "objective", "bound", "gap", "seconds", "termination"]
    assert table["objective"].iloc[0] == policy.objective_


def test_open_loop_plan_survives_save_and_load(tmp_path):
    scenario = walk(**VARIANTS[1])
    policy = oa.make_policy("milp").fit(scenario)
    loaded = oa.load_policy(oa.save_policy(policy, tmp_path / "milp.zip"))
    np.testing.assert_array_equal(loaded.plan_, policy.plan_)
    assert loaded.solves_ == policy.solves_
    noise = scenario.sample_noise(0, 4)
    np.testing.assert_array_equal(rollout(loaded, scenario, noise).actions, rollout(policy, scenario, noise).actions)


# ---------------------------------------------------------------- rolling horizon
def test_rolling_horizon_decisions_are_optimal_from_every_state():
    """Each re-plan's first move reaches the optimal value from its (epoch, position), by enumeration."""
    scenario = walk(**VARIANTS[1])
    p = scenario.params
    policy = oa.make_policy("milp-rolling").fit(scenario)
    positions = np.arange(p.size, dtype=float)[:, None]
    for t in range(scenario.horizon):
        state = {"pos": np.arange(p.size)}
        mask = scenario.action_mask(t, state)
        actions = policy.act_batch(positions, {"action_mask": mask, "epoch": np.full(p.size, t)})
        for pos, a in enumerate(actions):
            assert mask[pos, a]
            nxt = pos + int(a) - 1
            here = np.abs(nxt - np.arange(p.size)).mean() + p.step_cost * abs(int(a) - 1)
            assert here + value_from(scenario, t + 1, nxt) == pytest.approx(value_from(scenario, t, pos), rel=1e-9)
    assert_solved(policy.solves_, "replan", count=scenario.horizon * p.size)
    assert [r.epoch for r in policy.solves_] == [t for t in range(scenario.horizon) for _ in range(p.size)]


def test_rolling_horizon_caches_per_state_and_keeps_one_persistent_model_per_epoch():
    scenario = walk(**VARIANTS[1])
    policy = oa.make_policy("milp-rolling").fit(scenario)
    noise = scenario.sample_noise(1, 6)
    actions = rollout(policy, scenario, noise).actions
    # Positions ignore the noise: every episode visits the same state each epoch, so one solve per epoch.
    assert policy.cache_size() == len(policy.solves_) == scenario.horizon
    np.testing.assert_array_equal(actions, rollout(oa.make_policy("milp").fit(scenario), scenario, noise).actions)
    rollout(policy, scenario, scenario.sample_noise(2, 6))
    assert len(policy.solves_) == scenario.horizon, "a cached state was solved again"
    # A batch of every position at epoch 1 (one seen, the others new) re-solves the same model.
    positions = np.arange(scenario.params.size, dtype=float)[:, None]
    mask = scenario.action_mask(1, {"pos": np.arange(scenario.params.size)})
    twice = [policy.act_batch(positions, {"action_mask": mask, "epoch": np.ones(len(positions), int)}) for _ in "ab"]
    np.testing.assert_array_equal(*twice)
    assert policy.cache_size() == len(policy.solves_) == scenario.horizon + scenario.params.size - 1
    solver = policy._models[1][1]
    assert solver.builds == 1 and len(solver.history) == scenario.params.size


# ---------------------------------------------------------------- sample-average approximation
def test_saa_plan_is_the_best_plan_on_its_training_paths():
    scenario = walk(**VARIANTS[1])
    policy = oa.make_policy("saa", samples=7).fit(scenario, seed=3)
    targets = scenario.sample_noise(3, 7, stream="train")["target"]
    best = min(plan_cost(scenario, plan, targets) for plan in itertools.product(range(3), repeat=scenario.horizon)
               if all(0 <= scenario.params.start + s < scenario.params.size
                      for s in np.cumsum(np.array(plan) - 1)))
    assert policy.objective_ == pytest.approx(best, rel=1e-9)
    # The simulator on the same paths charges the plan its objective.
    train = scenario.sample_noise(3, 7, stream="train")
    assert rollout(policy, scenario, train).total_cost.mean() == pytest.approx(policy.objective_, rel=1e-9)
    assert_solved(policy.solves_, "saa", count=1)


def test_saa_refuses_a_planner_without_a_sample_average_model():
    class Plain:
        """The toy planner without build_saa / update_saa."""

        def __init__(self, scenario):
            self._inner = WalkPlanner(scenario)
            self.scenario = scenario
            for name in ("build", "update", "decision", "decision_variables", "cache_key", "covers"):
                setattr(self, name, getattr(self._inner, name))

    class PlainWalk(WalkScenario):
        def planner(self):
            return Plain(self)

    scenario = PlainWalk("toy/plain-walk")
    assert oa.make_policy("milp").fit(scenario).objective_ == pytest.approx(brute_force_optimum(scenario))
    with pytest.raises(UnsupportedScenarioError, match="builds no sample-average model .*build_saa, update_saa"):
        oa.make_policy("saa", samples=3).fit(scenario)


# ---------------------------------------------------------------- MILP hindsight
def test_planner_hindsight_equals_the_scenarios_perfect_information():
    scenario = walk(**VARIANTS[1])
    noise = scenario.sample_noise(4, 9)
    policy = oa.make_policy("hindsight-milp").fit(scenario)
    costs = rollout(policy, scenario, noise).total_cost
    _, exact = scenario.perfect_information(noise)
    np.testing.assert_allclose(costs, exact, rtol=1e-9)
    np.testing.assert_allclose(costs, rollout(oa.make_policy("hindsight").fit(scenario), scenario, noise).total_cost,
                               rtol=1e-9)
    assert_solved(policy.solves_, "hindsight", count=9)
    assert [r.epoch for r in policy.solves_] == list(range(9))


# ---------------------------------------------------------------- refusals and failures
class _Infeasible(WalkPlanner):
    """The toy planner whose models ask for two moves in one step."""

    def build(self, start):
        import pyomo.environ as pyo

        model = super().build(start)
        model.impossible = pyo.Constraint(expr=model.left[0] + model.right[0] >= 3)
        return model


class _InfeasibleWalk(WalkScenario):
    def planner(self):
        return _Infeasible(self)


@pytest.mark.parametrize(("policy_id", "message"), [
    ("milp", r"Policy milp \(OpenLoopPolicy\) could not plan from epoch 0: the model 'WalkPlanner\[.*' ended "
             "with status infeasible"),
    ("milp-rolling", r"Policy milp-rolling \(RollingHorizonPolicy\) could not re-plan in epoch 0 from the state "
                     r"observed as \[0.0\]: .*status infeasible"),
])
def test_an_infeasible_planner_model_is_a_clear_error(policy_id, message):
    scenario = _InfeasibleWalk("toy/infeasible-walk")
    policy = oa.make_policy(policy_id)
    with pytest.raises(InfeasibleFormulation, match=message):
        policy.fit(scenario)
        rollout(policy, scenario, scenario.sample_noise(0, 2))
    assert [r.status for r in policy.solves_] == ["infeasible"]


def test_scenarios_without_a_planner_are_refused_by_tags():
    pool = oa.make_scenario("toy/pool-v0")
    for policy_id in ("milp", "milp-rolling", "saa", "hindsight-milp"):
        policy = oa.make_policy(policy_id)
        assert not policy.tags.accepts(pool.tags)
        with pytest.raises(UnsupportedScenarioError, match=r"needs a scenario with (fixed plans \(.*\) and )?planner"):
            policy.fit(pool)


def test_a_planner_missing_protocol_methods_is_a_clear_error():
    class Broken(WalkScenario):
        def planner(self):
            return object()

    with pytest.raises(ConfigurationError, match="must implement the Planner protocol.*without build, cache_key"):
        oa.make_policy("milp").fit(Broken("toy/broken-walk"))


@pytest.mark.parametrize(("params", "message"), [
    ({"time_limit": 0}, "'time_limit' parameter of OpenLoopPolicy must be a positive number of seconds or None"),
    ({"mip_rel_gap": 2}, "'mip_rel_gap' parameter of OpenLoopPolicy must be a number in"),
])
def test_bad_solver_options_are_clear_errors(params, message):
    with pytest.raises(ConfigurationError, match=message):
        oa.make_policy("milp", **params).fit(walk())


def test_saa_samples_must_be_positive():
    with pytest.raises(ConfigurationError, match="'samples' parameter of SAAPolicy must be a positive integer"):
        oa.make_policy("saa", samples=0).fit(walk())
