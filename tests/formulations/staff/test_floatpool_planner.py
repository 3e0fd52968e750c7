"""The float-pool planner models and policies against references nobody here chose.

References: the scenario's own :meth:`step` (a hindsight plan replayed on its path; every plan of a short
horizon enumerated), the exact DP of the scenario's tabular model (its values, its Q-values, its optimal
policy rolled out), exact policy evaluation of an open-loop plan on the tabular model, and the nursevendor
closed form of Green, Savin & Savva (2013, :func:`optalloc.families.staff.staffing.nursevendor_level`) with
the one-unit, one-booking mapping of ``tests/families/staff/test_floatpool.py``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

import optalloc as oa
from optalloc.dp import backward_induction
from optalloc.evaluation import rollout
from optalloc.exceptions import (
    ConfigurationError,
    PolicyScenarioMismatch,
    ResourceLimitError,
    UnsupportedScenarioError,
)
from optalloc.families.staff.staffing import demand_pmf_from_census, nursevendor_cost, nursevendor_level
from optalloc.formulations.policies import PlannerHindsightPolicy, RollingHorizonPolicy
from optalloc.formulations.solve import Solver
from optalloc.formulations.staff.floatpool import (
    FloatPoolPlanner,
    LookaheadPolicy,
    perfect_information,
    planner,
)
from optalloc.formulations.staff.floatpool_saa import TwoStageSAAPolicy
from optalloc.policies.hindsight import HindsightPolicy

SMALL = "staff/floatpool-small-v0"
#: Monte Carlo bounds are this many standard errors wide.
Z = 4.5
#: Absolute tolerance on costs in USD (the MIPs are solved to a relative gap of 1e-9).
COST_TOL = 1e-5


# ---------------------------------------------------------------- helpers
def with_hooks(scenario: oa.Scenario) -> oa.Scenario:
    """The scenario with the planner and perfect-information hooks the family's scenario offers."""
    scenario.planner = lambda: planner(scenario)
    scenario.perfect_information = lambda noise: perfect_information(scenario, noise)
    scenario.tags = dataclasses.replace(scenario.tags, capabilities=scenario.tags.capabilities
                                        | {"planner", "perfect_information", "open_loop"})
    return scenario


def replay(scenario: oa.Scenario, noise: dict, actions: np.ndarray) -> np.ndarray:
    """Total cost of per-episode action sequences ``(E, T, 2U)`` through the scenario's step."""
    state = scenario.initial_state(len(actions))
    total = np.zeros(len(actions))
    for t in range(scenario.horizon):
        state, cost, _ = scenario.step(t, state, actions[:, t], scenario.noise_at(noise, t))
        total += cost
    return total


def infos(scenario: oa.Scenario, t: int, state: dict) -> dict:
    n = len(state["census"])
    return {"action_mask": scenario.action_mask(t, state), "episode": np.arange(n), "epoch": np.full(n, t)}


def open_loop_value(scenario: oa.Scenario, plan: np.ndarray) -> float:
    """Exact expected cost of a fixed plan ``(T, 2U)``, carried forward through the tabular model's ``P_t``, ``C_t``."""
    model = scenario.tabular_model()
    columns = {tuple(row): j for j, row in enumerate(scenario.tabular_actions().tolist())}
    dist = np.zeros(model.n_states(0))
    dist[model.initial_index] = 1.0
    total = 0.0
    for t in range(model.horizon):
        P, C = model.stage(t)
        S, j = len(dist), columns[tuple(plan[t].tolist())]
        total += float(dist @ C[:, j])
        dist = P[j * S:(j + 1) * S].T @ dist
    return total


@pytest.fixture(scope="module")
def small() -> oa.Scenario:
    return with_hooks(oa.make_scenario(SMALL))


@pytest.fixture(scope="module")
def small_dp(small):
    return oa.make_policy("dp").fit(small)


@pytest.fixture(scope="module")
def small_exact(small):
    """The small scenario's exact DP: values and stages of every shift."""
    model = small.tabular_model()
    return model, backward_induction(model.stages(), model.terminal())


# ---------------------------------------------------------------- hindsight
HINDSIGHT_CASES = {
    "small": (SMALL, {}, 6),
    "v0": ("staff/floatpool-v0", {}, 2),
    "agency-absence": (SMALL, {"agency_absence": 0.3}, 6),  # show-ups depend on the booking: binaries per level
    "non-convex": (SMALL, {"overtime_cap": 1, "overtime_multiplier": 2.0}, 6),  # overtime dearer than a patient
}


@pytest.mark.parametrize("case", list(HINDSIGHT_CASES))
def test_hindsight_objective_is_its_plan_replayed_through_the_step(case):
    scenario_id, overrides, episodes = HINDSIGHT_CASES[case]
    scenario = oa.make_scenario(scenario_id, **overrides)
    if case == "non-convex":
        assert not FloatPoolPlanner(scenario).convex  # the case exercises the binary lambdas
    noise = scenario.sample_noise(3, episodes)
    actions, costs = perfect_information(scenario, noise)
    assert actions.shape == (episodes, scenario.horizon, 2 * scenario.n_units)
    # Feasible: within the pool and the caps, no booking in the last shift.
    assert np.all(actions[:, :, :scenario.n_units].sum(axis=2) <= scenario.params.pool)
    assert np.all((actions >= 0) & (actions < scenario.action_space.nvec))
    assert np.all(actions[:, -1, scenario.n_units:] == 0)
    np.testing.assert_allclose(replay(scenario, noise, actions), costs, rtol=0, atol=COST_TOL)


@pytest.mark.parametrize("overrides", [{}, {"agency_absence": 0.3}, {"overtime_cap": 1, "overtime_multiplier": 2.0}],
                         ids=["small", "agency-absence", "non-convex"])
def test_hindsight_is_the_cheapest_of_all_plans_of_its_path(overrides):
    """One day (3 shifts) of the small scenario: every plan enumerated and replayed through the step."""
    scenario = oa.make_scenario(SMALL, days=1, **overrides)
    E, T, U = 3, scenario.horizon, scenario.n_units
    noise = scenario.sample_noise(11, E)
    _, costs = perfect_information(scenario, noise)
    splits = [f for f in itertools.product(*(range(int(c) + 1) for c in scenario.float_cap))
              if sum(f) <= scenario.params.pool]
    bookings = list(itertools.product(*(range(int(c) + 1) for c in scenario.agency_cap)))
    shift = [f + a for f in splits for a in bookings]
    last = [f + (0,) * U for f in splits]
    plans = np.array([list(p) for p in itertools.product(*([shift] * (T - 1) + [last]))])  # (P, T, 2U)
    tiled = {k: np.repeat(v, len(plans), axis=0) for k, v in noise.items()}
    totals = replay(scenario, tiled, np.tile(plans, (E, 1, 1))).reshape(E, len(plans))
    np.testing.assert_allclose(costs, totals.min(axis=1), rtol=0, atol=COST_TOL)


def test_hindsight_lower_bounds_the_exact_dp(small, small_dp):
    noise = small.sample_noise(5, 100)
    _, bound = perfect_information(small, noise)
    realised = rollout(small_dp, small, noise).total_cost
    assert np.all(bound <= realised + COST_TOL)  # per episode: the DP's decisions are one plan of the path
    assert np.any(bound < realised - 1.0)  # knowing the path is worth something on some paths
    # In expectation: the sample mean of the bound within noise of at most the DP's exact optimal value.
    assert bound.mean() <= small_dp.expected_cost_ + Z * bound.std(ddof=1) / math.sqrt(len(bound))


def test_generic_hindsight_policies_agree_with_the_perfect_information_solve(small):
    noise = small.sample_noise(8, 12)
    _, bound = perfect_information(small, noise)
    oracle = HindsightPolicy().fit(small)
    np.testing.assert_allclose(rollout(oracle, small, noise).total_cost, bound, atol=COST_TOL)
    milp = PlannerHindsightPolicy().fit(small)
    np.testing.assert_allclose(rollout(milp, small, noise).total_cost, bound, atol=COST_TOL)


# ---------------------------------------------------------------- the lookahead model
def test_whole_horizon_lookahead_objective_is_the_exact_open_loop_cost_of_its_plan(small):
    plans = FloatPoolPlanner(small)  # lookahead None: the rest of the horizon
    model = plans.build(0)
    result = Solver(model, mip_rel_gap=1e-9).solve()
    plan = plans.decision(model)
    assert plan.shape == (small.horizon, 2 * small.n_units)
    assert result.objective == pytest.approx(open_loop_value(small, plan), rel=1e-9, abs=COST_TOL)
    # The generic open-loop policy acts from the same plan.
    milp = oa.make_policy("milp").fit(small)
    assert milp.objective_ == pytest.approx(result.objective, rel=1e-9)


@pytest.mark.parametrize("lookahead", [2, 4, None])
def test_one_padded_model_gives_the_per_shift_models_optimum(small, lookahead):
    plans = FloatPoolPlanner(small, lookahead)
    padded = plans.build(0)
    solver = Solver(padded, mip_rel_gap=1e-9)
    noise = small.sample_noise(2, 2)
    state = small.initial_state(2)
    for t in range(small.horizon):
        obs = small.observe(t, state)
        for e in range(2):
            plans.update(padded, t, obs[e], {})
            own = plans.build(t)
            plans.update(own, t, obs[e], {})
            assert solver.solve().objective == pytest.approx(Solver(own, mip_rel_gap=1e-9).solve().objective,
                                                             rel=1e-9, abs=COST_TOL)
        state, _, _ = small.step(t, state, np.zeros((2, 2 * small.n_units), dtype=np.int64), small.noise_at(noise, t))


# ---------------------------------------------------------------- the two-stage policy
def test_exact_two_stage_saa_takes_dp_optimal_actions(small, small_exact):
    """Every decision on visited states attains the DP's optimal value (its Q-value = V, up to ties)."""
    model, exact = small_exact
    policy = TwoStageSAAPolicy(samples=None).fit(small)
    columns = {tuple(row): j for j, row in enumerate(small.tabular_actions().tolist())}
    noise = small.sample_noise(4, 4)
    state = small.initial_state(4)
    for t in range(small.horizon):
        obs = small.observe(t, state)
        actions = policy.act_batch(obs, infos(small, t, state))
        P, C = model.stage(t)
        S = model.n_states(t)
        rows = small.tabular_index(t, obs)
        for s, action in zip(rows, actions):
            j = columns[tuple(action.tolist())]
            q = C[s, j] + P[[j * S + s]] @ exact.values[t + 1]
            assert float(np.ravel(q)[0]) == pytest.approx(exact.values[t][s], rel=1e-9, abs=1e-6)
        state, _, _ = small.step(t, state, actions, small.noise_at(noise, t))


def _paired(policy_costs: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    diff = policy_costs - reference
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff)))


def _near_dp(small, small_dp, episodes: int, policies: dict[str, Any], allowed: dict[str, float]) -> None:
    noise = small.sample_noise(21, episodes)
    dp_costs = rollout(small_dp, small, noise).total_cost
    for name, policy in policies.items():
        trajectory = rollout(policy.fit(small, seed=1), small, noise)  # rollout refuses infeasible actions
        U = small.n_units
        assert np.all(trajectory.actions[:, :, :U].sum(axis=2) <= small.params.pool)
        mean, se = _paired(trajectory.total_cost, dp_costs)
        assert mean >= -Z * se - COST_TOL, name  # no policy beats the optimum beyond noise
        # A sane gap: at most the allowed share of the optimal expected cost above the DP, beyond noise.
        assert mean <= allowed[name] * small_dp.expected_cost_ + Z * se, (name, mean, se)


def test_milp_rolling_and_saa_are_feasible_and_near_the_dp(small, small_dp):
    _near_dp(small, small_dp, 16, {"milp-rolling": LookaheadPolicy(lookahead=4), "saa": TwoStageSAAPolicy(samples=30)},
             {"milp-rolling": 0.05, "saa": 0.02})


@pytest.mark.slow
def test_milp_rolling_and_saa_are_near_the_dp_over_200_episodes(small, small_dp):
    _near_dp(small, small_dp, 200, {"milp-rolling": LookaheadPolicy(), "saa": TwoStageSAAPolicy(samples=100)},
             {"milp-rolling": 0.05, "saa": 0.02})


def test_each_policy_builds_one_model_and_loads_it_into_highs_once(small):
    noise = small.sample_noise(9, 3)
    for policy in (LookaheadPolicy(lookahead=3), TwoStageSAAPolicy(samples=20)):
        policy.fit(small)
        model, solver = policy._model
        rollout(policy, small, noise)
        rollout(policy, small, small.sample_noise(10, 2))
        assert policy._model[0] is model
        assert solver.builds == 1
        assert len(policy.solves_) == policy.cache_size() > small.horizon


def test_generic_rolling_horizon_policy_runs_on_the_planner_hook(small):
    noise = small.sample_noise(12, 3)
    generic = RollingHorizonPolicy().fit(small)
    own = LookaheadPolicy(lookahead=None).fit(small)
    costs = [rollout(p, small, noise).total_cost for p in (generic, own)]
    objectives = [np.array([r.objective for r in p.solves_[:1]]) for p in (generic, own)]
    np.testing.assert_allclose(objectives[0], objectives[1], rtol=1e-9)  # the same model from the initial state
    assert all(np.all(np.isfinite(c)) for c in costs)


# ---------------------------------------------------------------- one unit, one booking: the nursevendor
NURSEVENDOR_GRID = [
    (recourse_kind, absence, census, idle)
    for recourse_kind in ("penalty", "overtime")
    for absence in (0.05, 0.2)
    for census in (2, 6)
    for idle in (0.0, 33.0)
]


def one_unit(recourse_kind: str, absence: float, census: int, idle: float):
    """The mapping of ``tests/families/staff/test_floatpool.py``: one unit, no roster, no pool, one day.

    The epoch-0 booking is the whole staffing of shift 1, before its absences. ``penalty``: ratio 1 and no
    overtime (``c_a`` = shortage cost); ``overtime``: ratio 2 and overtime for any shortfall (``c_a`` = overtime
    wage). 10 beds and an agency cap of 8 (there 14 and 12) keep the two-stage models small.
    """
    common = {"days": 1, "units": ("ward",), "beds": (10,), "los_days": (2.0,), "admissions_per_day": (4.0,),
              "base_roster": (0,), "pool": 0, "agency_cap": 8, "absence": absence, "agency_absence": absence,
              "initial_census": (census,), "idle_cost": idle}
    if recourse_kind == "penalty":
        return oa.make_scenario(SMALL, ratio=(1,), overtime_cap=0, shortage_cost=1500.0, **common), 1, "shortage"
    return oa.make_scenario(SMALL, ratio=(2,), overtime_cap=10, overtime_multiplier=3.0, **common), 2, "overtime"


def nursevendor_reference(recourse_kind: str, absence: float, census: int, idle: float):
    """The scenario, the closed-form level, its cost curve, and the inputs, from the card's formulas (SciPy)."""
    scenario, ratio, kind = one_unit(recourse_kind, absence, census, idle)
    p = scenario.params
    discharge = 1.0 - math.exp(-p.discharge_share[0] / p.los_days[0])
    admissions = p.admissions_per_day[0] * p.admission_share[0]
    beds = p.beds[0]
    total = np.convolve(stats.binom.pmf(np.arange(census + 1), census, 1.0 - discharge),
                        stats.poisson.pmf(np.arange(beds + 80), admissions))
    pmf = np.append(total[:beds], 1.0 - total[:beds].sum())  # census capped at the beds
    demand = demand_pmf_from_census(pmf, ratio)
    w = p.agency_multiplier * p.wage
    c_a = p.shortage_cost if kind == "shortage" else p.overtime_multiplier * p.wage
    q = 1.0 - absence
    level = nursevendor_level(demand, q, w, c_a, idle, max_nurses=p.agency_cap)
    costs = nursevendor_cost(np.arange(p.agency_cap + 1), demand, q, w, c_a, idle)
    assert 0 < level < p.agency_cap  # an interior optimum: the test can tell levels apart
    return scenario, level, costs, (demand, q, c_a, idle)


def saa_booking(scenario: oa.Scenario, samples: int | None) -> int:
    policy = TwoStageSAAPolicy(samples=samples).fit(scenario, seed=0)
    state = scenario.initial_state(1)
    action = policy.act_batch(scenario.observe(0, state), infos(scenario, 0, state))
    assert action[0, 0] == 0  # no pool
    return int(action[0, 1])


@pytest.mark.parametrize(("recourse_kind", "absence", "census", "idle"), NURSEVENDOR_GRID)
def test_dp_and_saa_book_the_nursevendor_level(recourse_kind, absence, census, idle):
    scenario, level, costs, (demand, q, c_a, h) = nursevendor_reference(recourse_kind, absence, census, idle)
    dp = oa.make_policy("dp").fit(scenario)
    state = scenario.initial_state(1)
    assert dp.act_batch(scenario.observe(0, state), infos(scenario, 0, state))[0].tolist() == [0, level]

    # The exact next-shift distribution: the closed form's level (or a level of equal cost, a tie).
    booked = saa_booking(scenario, None)
    assert booked == level or costs[booked] == pytest.approx(costs[level], rel=1e-9, abs=1e-7)

    # 2,000 samples: the sample estimates C(N + 1) - C(N) = w + q h - q (c_a + h) P(D > Y_N) through the
    # frequency of {D > Y_N, the extra nurse comes}: standard error (c_a + h) sqrt(p (1 - p) / K), p = q P(D > Y_N).
    samples = 2000
    booked = saa_booking(scenario, samples)
    survival = np.append(np.cumsum(demand[::-1])[::-1][1:], 0.0)  # P(D > y)

    def standard_error(n: int) -> float:
        p = q * float(stats.binom.pmf(np.arange(len(survival)), n, q) @ survival)
        return (c_a + h) * math.sqrt(p * (1 - p) / samples)

    if all(abs(costs[n] - costs[level]) > Z * standard_error(min(n, level)) for n in (level - 1, level + 1)):
        assert booked == level
    else:  # a near tie: finite samples may pick the neighbour
        assert abs(booked - level) <= 1


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(("policy", "pattern"), [
    (LookaheadPolicy(lookahead=1), r"'lookahead'.*integer >= 2.*Got 1"),
    (LookaheadPolicy(lookahead=0), r"'lookahead'.*integer >= 2"),
    (LookaheadPolicy(lookahead=2.5), r"'lookahead'.*integer >= 2"),
    (LookaheadPolicy(lookahead=True), r"'lookahead'.*integer >= 2"),
    (TwoStageSAAPolicy(samples=0), r"'samples'.*positive integer.*or None"),
    (TwoStageSAAPolicy(samples=-5), r"'samples'.*positive integer"),
    (TwoStageSAAPolicy(samples=2.0), r"'samples'.*positive integer"),
    (TwoStageSAAPolicy(samples=True), r"'samples'.*positive integer"),
    (TwoStageSAAPolicy(time_limit=0), r"'time_limit'.*positive number"),
    (LookaheadPolicy(mip_rel_gap=2), r"'mip_rel_gap'.*\[0, 1\]"),
])
def test_bad_hyperparameters_are_refused_clearly(small, policy, pattern):
    with pytest.raises(ConfigurationError, match=pattern):
        policy.fit(small)


def test_exact_distribution_of_the_two_week_scenario_is_refused_clearly():
    with pytest.raises(ResourceLimitError, match=r"exact next-shift distribution of scenario staff/floatpool-v0.*"
                                                 r"Give samples=K"):
        TwoStageSAAPolicy(samples=None).fit(oa.make_scenario("staff/floatpool-v0"))


def test_other_families_and_other_parameters_are_refused(small):
    with pytest.raises(UnsupportedScenarioError, match=r"families \['staff'\]"):
        LookaheadPolicy().fit(oa.make_scenario("beds/seed002-v0"))
    policy = TwoStageSAAPolicy(samples=5).fit(small)
    assert policy.check_can_act(oa.make_scenario(SMALL, days=2)) is not None  # a shorter horizon: it can act
    with pytest.raises(PolicyScenarioMismatch, match="units, rosters, caps and costs of scenario staff/floatpool-small-v0"):
        policy.check_can_act(oa.make_scenario(SMALL, shortage_cost=900.0))


def test_block_refuses_bad_data(small):
    plans = FloatPoolPlanner(small, lookahead=3)
    model = plans.build(0)
    with pytest.raises(ConfigurationError, match=r"'cost'.*shape \(3, 2, 3\)"):
        model.staffing.set_costs(np.zeros((2, 2, 3)))
    concave = np.zeros((3, 2, 3))
    concave[0, 1] = [0.0, 5.0, 6.0]
    with pytest.raises(ConfigurationError, match=r"'cost'.*convex.*node 0, unit 1"):
        model.staffing.set_costs(concave)
    with pytest.raises(ConfigurationError, match=r"without random show-ups"):
        model.staffing.set_shows(np.zeros((3, 2, 2)))
    with pytest.raises(ConfigurationError, match=r"'lookahead'.*integer >= 2"):
        FloatPoolPlanner(small, lookahead=1)
    saa_model = plans.build_saa(small.sample_noise(0, 2))
    with pytest.raises(ConfigurationError, match=r"'noise'.*2 paths"):
        plans.update_saa(saa_model, small.sample_noise(0, 3))
