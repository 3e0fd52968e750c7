"""The scanner family's planner and hindsight MIP against an independent exact DP and the simulator.

References nobody here chose: the optimal schedule of a day whose arrivals
are known, by an exact deterministic DP over (slot, waiting counts) written
below from the model card; the exact stochastic DP (``dp``) of the
scenario's tabular model; the one-step optimum of the last slot by
enumeration; and rollouts of the simulator on the same arrival paths.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import optalloc as oa
from optalloc.evaluation import rollout
from optalloc.exceptions import ConfigurationError
from optalloc.families.scanners.scenario import PRESETS, ScannerScenario
from optalloc.formulations.policies import Planner, SamplePlanner
from optalloc.formulations.scanners.planner import ScannerPlanner, perfect_information

#: A capped variant whose queues fill and turn patients away, with waiting costs that would make turning
#: patients away by choice pay (the simulator admits every arrival while there is room).
CAPPED = ("gocgun-v0", {"queue_cap": 2, "waiting_cost": (0.15, 0.1, 0.05)})
#: (preset, overrides, whether hindsight turns patients away on the test's days)
VARIANTS = [("gocgun-v0", {}, False), ("gocgun-1scanner-v0", {}, False), (*CAPPED, True),
            ("gocgun-v0", {"queue_cap": 2}, True), ("large-v0", {}, False)]

class PlannedScanners(ScannerScenario):
    """The scanner scenario with the planner and the perfect-information solve of this package."""

    tags = dataclasses.replace(ScannerScenario.tags, capabilities=ScannerScenario.tags.capabilities
                               | {"planner", "perfect_information"})

    def planner(self) -> ScannerPlanner:
        return ScannerPlanner(self)

    def perfect_information(self, noise):
        return perfect_information(self, noise)


def planned(preset: str, **overrides) -> PlannedScanners:
    return PlannedScanners(f"scanners/{preset}", **{**PRESETS[preset], **overrides})


# ----------------------------------------------------------------- reference
def exact_hindsight(params, arrivals: np.ndarray) -> float:
    """Least cost of a day with known arrivals ``(slots, 4)`` (CEP, OP, IP, NCEP), by backward DP from the card.

    Slot t: the CEPs that arrived in slot t-1 take scanners; scan a <= waiting with sum(a) <= scanners - cep;
    arrivals of slot t join up to the cap (the rest are turned away at their end-of-day cost); pay
    -revenue + waiting cost of those left waiting; after the last slot every waiting patient costs its
    end-of-day cost. States: every waiting count up to the patients arrived so far (and the cap), one grid
    per slot.
    """
    S, T, cap = params.scanners, params.slots, params.queue_cap
    rev, eod, wait = (np.asarray(v, dtype=float) for v in (params.revenue, params.end_of_day_cost,
                                                           params.waiting_cost))
    arrivals = np.asarray(arrivals, dtype=np.int64)
    # Most patients of each type that can wait at the start of slot t.
    reach = np.vstack([np.zeros(3, dtype=np.int64), np.cumsum(arrivals[:, 1:], axis=0)])
    if cap is not None:
        reach = np.minimum(reach, cap)
    actions = [np.array(a) for a in itertools.product(range(S + 1), repeat=3) if sum(a) <= S]
    grid = np.indices(tuple(reach[T] + 1)).reshape(3, -1).T
    value = grid @ eod  # after the last slot
    for t in range(T - 1, -1, -1):
        following = value.reshape(tuple(reach[t + 1] + 1))
        grid = np.indices(tuple(reach[t] + 1)).reshape(3, -1).T
        cep = arrivals[t - 1, 0] if t > 0 else 0
        come = arrivals[t, 1:]
        best = np.full(len(grid), np.inf)
        for a in actions:
            if a.sum() > S - cep:
                continue
            ok = np.all(grid >= a, axis=1)
            rest = grid[ok] - a
            joined = np.broadcast_to(come, rest.shape) if cap is None else np.minimum(come, cap - rest)
            cost = -(params.cep_revenue * cep + rev @ a) + rest @ wait + (come - joined) @ eod
            after = rest + joined
            best[ok] = np.minimum(best[ok], cost + following[after[:, 0], after[:, 1], after[:, 2]])
        value = best
    return float(value[0])


def last_slot_optimum(scenario: ScannerScenario, cep: int, waiting: np.ndarray) -> tuple[float, set[int]]:
    """Least expected cost of the last slot from (cep, waiting), uncapped, and the actions reaching it."""
    p = scenario.params
    mean = p.max_arrivals * np.asarray(p.arrival_probability, dtype=float)  # stationary presets
    costs = {}
    for a, counts in enumerate(scenario.action_table().table):
        if counts.sum() > p.scanners - cep or np.any(counts > waiting):
            continue
        rest = waiting - counts
        costs[a] = (-(p.cep_revenue * cep + np.dot(p.revenue, counts)) + np.dot(p.waiting_cost, rest)
                    + np.dot(p.end_of_day_cost, rest + mean))
    best = min(costs.values())
    return best, {a for a, c in costs.items() if c <= best + 1e-9}


@pytest.fixture(scope="module")
def gocgun() -> PlannedScanners:
    return planned("gocgun-v0")


@pytest.fixture(scope="module")
def gocgun_dp(gocgun):
    return oa.make_policy("dp").fit(gocgun)


# ----------------------------------------------------------------- protocol
def test_the_planner_implements_the_protocols(gocgun):
    planner = gocgun.planner()
    assert isinstance(planner, Planner) and isinstance(planner, SamplePlanner) and planner.scenario is gocgun
    assert planner.covers(gocgun) is None
    assert "the scenario has 3" in planner.covers(oa.make_scenario("scanners/large-v0"))
    capped = ScannerPlanner(planned("gocgun-v0", queue_cap=3))
    assert "caps queues at 3" in capped.covers(gocgun)
    assert capped.covers(planned("gocgun-v0", queue_cap=2)) is None


# ----------------------------------------------------------------- hindsight
@pytest.mark.parametrize(("preset", "overrides", "turns_away"), VARIANTS,
                         ids=["gocgun", "1scanner", "capped", "capped-no-waiting-cost", "large"])
def test_hindsight_mip_is_the_exact_dp_of_the_known_day(preset, overrides, turns_away):
    scenario = planned(preset, **overrides)
    noise = scenario.sample_noise(7, 30)
    # The scenario's perfect_information (this package's function) through the generic hindsight policy; the
    # rollout steps the simulator on the same arrivals and refuses any infeasible action.
    policy = oa.make_policy("hindsight").fit(scenario)
    trajectory = rollout(policy, scenario, noise)
    costs = policy.bound_costs_
    assert trajectory.actions.shape == (30, scenario.horizon) and trajectory.actions.dtype == np.int64
    reference = np.array([exact_hindsight(scenario.params, path) for path in noise["arrivals"]])
    np.testing.assert_allclose(costs, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(trajectory.total_cost, costs, rtol=1e-9, atol=1e-9)
    turned_away = sum(trajectory.info[f"turned_away_{k}"].sum() for k in ("OP", "IP", "NCEP"))
    assert (turned_away > 0) == turns_away


def test_hindsight_milp_policy_solves_the_same_models(gocgun):
    noise = gocgun.sample_noise(3, 8)
    _, costs = perfect_information(gocgun, noise)
    policy = oa.make_policy("hindsight-milp").fit(gocgun)
    trajectory = rollout(policy, gocgun, noise)
    np.testing.assert_allclose(trajectory.total_cost, costs, rtol=1e-9, atol=1e-9)
    assert [r.kind for r in policy.solves_] == ["hindsight"] * 8
    np.testing.assert_allclose([r.objective for r in policy.solves_], costs, rtol=1e-9, atol=1e-9)
    # One persistent model: the second batch re-solves it with new arrivals, no rebuild.
    rollout(policy, gocgun, gocgun.sample_noise(4, 2))
    assert policy._model[1].builds == 1


@pytest.mark.parametrize("capped", [False, True], ids=["gocgun", "capped"])
def test_hindsight_is_a_bound_on_the_exact_dp(capped, gocgun, gocgun_dp):
    """Hindsight beats the optimal policy on every day, and in mean its expected cost.

    Without a cap or waiting costs the bound is tight (scanning the waiting patients of the highest revenue
    plus end-of-day cost first is optimal even knowing the arrivals); with them it is strictly below.
    """
    scenario, dp = (planned(CAPPED[0], **CAPPED[1]), None) if capped else (gocgun, gocgun_dp)
    dp = dp or oa.make_policy("dp").fit(scenario)
    noise = scenario.sample_noise(11, 30 if capped else 60)
    _, costs = perfect_information(scenario, noise)
    dp_costs = rollout(dp, scenario, noise).total_cost
    assert np.all(costs <= dp_costs + 1e-9), "hindsight must beat every policy on its own day"
    standard_error = costs.std(ddof=1) / np.sqrt(len(costs))
    assert costs.mean() <= dp.expected_cost_ + 3 * standard_error
    if capped:
        value_of_information = dp_costs - costs
        assert value_of_information.mean() > 3 * value_of_information.std(ddof=1) / np.sqrt(len(costs))


def test_update_saa_keeps_the_number_of_paths(gocgun):
    planner = gocgun.planner()
    model = planner.build_saa(gocgun.sample_noise(0, 2))
    with pytest.raises(ConfigurationError, match="2 paths"):
        planner.update_saa(model, gocgun.sample_noise(0, 3))


# ----------------------------------------------------------------- rolling horizon
def test_rolling_horizon_last_slot_is_the_exact_one_step_optimum(gocgun):
    """In the last slot the expected-arrivals model is exact: its decision and value are the enumerated optimum."""
    T = gocgun.horizon
    cep, waiting = gocgun.stage_states(T - 1)
    keep = np.flatnonzero(waiting.max(axis=1) <= 2)
    state = gocgun.make_state(T - 1, cep[keep], waiting[keep])
    policy = oa.make_policy("milp-rolling").fit(gocgun)
    actions = policy.act_batch(gocgun.observe(T - 1, state), {"action_mask": gocgun.action_mask(T - 1, state),
                                                              "epoch": np.full(len(keep), T - 1)})
    replans = [r for r in policy.solves_ if r.epoch == T - 1]
    assert len(replans) == len(keep) and policy.cache_size() == len(keep)
    for i, (a, record) in enumerate(zip(actions, replans)):
        best, optimal = last_slot_optimum(gocgun, int(cep[keep[i]]), waiting[keep[i]])
        assert int(a) in optimal
        assert record.status == "optimal" and record.objective == pytest.approx(best, abs=1e-9)


def test_rolling_horizon_solves_once_per_slot_state(gocgun):
    """Observations that differ only in waiting times share one re-plan (the key is cep and the counts)."""
    state = gocgun.make_state(3, np.zeros(2), np.array([[1, 0, 1], [1, 0, 1]]), waited=np.array([[2, 0, 2],
                                                                                                [1, 0, 1]]))
    obs = gocgun.observe(3, state)
    assert not np.array_equal(obs[0], obs[1])
    policy = oa.make_policy("milp-rolling").fit(gocgun)
    actions = policy.act_batch(obs, {"action_mask": gocgun.action_mask(3, state), "epoch": np.full(2, 3)})
    assert actions[0] == actions[1] and policy.cache_size() == len(policy.solves_) == 1
    np.testing.assert_array_equal(gocgun.planner().cache_key(3, obs), [[0, 1, 0, 1]] * 2)


@pytest.mark.slow
def test_rolling_horizon_is_close_to_the_exact_dp(gocgun, gocgun_dp):
    noise = gocgun.sample_noise(5, 50)
    policy = oa.make_policy("milp-rolling").fit(gocgun)
    costs = rollout(policy, gocgun, noise).total_cost  # the rollout checks every action against the mask
    _, bound = perfect_information(gocgun, noise)
    assert np.all(bound <= costs + 1e-9)
    revenue, optimum = -costs.mean(), -gocgun_dp.expected_cost_
    assert abs(revenue - optimum) <= 0.03 * optimum, (revenue, optimum)


@pytest.mark.slow
def test_large_scenario_runs_hindsight_and_rolling_horizon():
    scenario = planned("large-v0")
    noise = scenario.sample_noise(2, 2)
    actions, bound = perfect_information(scenario, noise)
    hindsight = rollout(oa.make_policy("hindsight").fit(scenario), scenario, noise).total_cost
    np.testing.assert_allclose(hindsight, bound, rtol=1e-9, atol=1e-9)
    rolling = rollout(oa.make_policy("milp-rolling", time_limit=1.0).fit(scenario), scenario, noise).total_cost
    assert np.all(bound <= rolling + 1e-9)


def test_a_fluid_plan_of_later_slots_reads_back_as_actions(gocgun):
    """With continuous later scans the plan's rows are rounded down, so each is an action that fits the scanners."""
    from optalloc.formulations import Solver

    planner = ScannerPlanner(gocgun, integer_slots=1)
    model = planner.build(0)
    Solver(model, load=planner.decision_variables(model)).solve()
    scans = np.array([[model.schedule.scan[s, k].value for k in range(3)] for s in range(gocgun.horizon)])
    plan = planner.decision(model)
    assert np.any(scans != np.round(scans)), "later slots should plan fractional scans"
    np.testing.assert_array_equal(plan, np.floor(scans + 1e-6))
    gocgun.action_table().encode(plan)  # raises for a count vector that is no action
    with pytest.raises(ConfigurationError, match="integer_slots"):
        ScannerPlanner(gocgun, integer_slots=0)
