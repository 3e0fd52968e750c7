"""The bed scenario against an implementation written from its card alone.

``beds_reference`` restates the card with literal preset numbers and plain
loops. The package's simulator, exact DP model and MILP share one demand
function and one cost function, so their consistency tests agree with each
other even when that shared code is wrong; these tests compare against a
second, separate reading instead: one-step costs and transitions on given
noise, the law of the daily census, the tabular model, the exact optimum and
the discounting of the reported total.
"""

from __future__ import annotations

import dataclasses
import math

import beds_reference as ref
import numpy as np
import pytest

import optalloc as oa

REL = 1e-9

PRESETS = {"seed002": ("beds/seed002-v0", ref.SEED002), "stochastic": ("beds/stochastic-v0", ref.STOCHASTIC)}


def make_case(preset: str, **overrides: object) -> tuple[oa.Scenario, ref.CardParams]:
    """The package scenario and the reference parameters of a preset with the same overrides."""
    scenario_id, params = PRESETS[preset]
    return oa.make_scenario(scenario_id, **overrides), params.with_(**overrides)


def hand_noise(scenario: oa.Scenario, xi: list[list[int]], surge: list[list[bool]],
               seed: int = 11) -> dict[str, np.ndarray]:
    """A noise path with the given lattice steps and surge flags and sampled census keys."""
    episodes, horizon = len(xi), len(xi[0])
    noise = scenario.sample_noise(seed, episodes)
    assert noise["xi"].shape == (episodes, horizon)
    noise["xi"] = np.array(xi, dtype=np.int64)
    noise["surge"] = np.array(surge, dtype=bool)
    return noise


def start_lattice(xi_row: list[int], t: int) -> int:
    """Lattice index at the start of year ``t``: the sum of the steps of years before ``t``."""
    total = 0
    for k in range(t):
        total += xi_row[k]
    return total


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_parameters_are_the_card_numbers(preset):
    scenario, params = make_case(preset)
    for field in dataclasses.fields(ref.CardParams):
        assert getattr(scenario.params, field.name) == getattr(params, field.name), field.name
    assert scenario.max_beds == params.bed_cap == 350
    assert scenario.discount == pytest.approx(1 / (1 + params.discount_rate), rel=1e-15)


# ---------------------------------------------------------------- one step, transitions, episodes
STEP_XI = [[1, 0, -1, 1, 1], [0, 0, 0, 0, 0], [-1, -1, 1, 0, -1], [1, 1, 1, 1, 1], [0, -1, 0, 1, 0], [-1, 0, 0, 0, 1]]
STEP_SURGE = [[False, True, False, False, True], [True, True, False, False, False],
              [False, False, False, True, False], [True, False, True, False, True],
              [False, False, False, False, False], [False, True, True, True, False]]
STEP_BEDS = [50, 62, 41, 75, 90, 58]
STEP_ADDED = [0, 3, 1, 2, 0, 3]


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("t", [0, 2, 4])
def test_one_step_cost_and_transition(preset, t):
    scenario, params = make_case(preset, horizon=5, max_add=3)
    xi = STEP_XI if params.growth_step > 0 else [[0] * 5 for _ in STEP_XI]
    noise = hand_noise(scenario, xi, STEP_SURGE)
    census = scenario.daily_demand(noise)
    lattice = [start_lattice(row, t) for row in xi]
    state = {
        "t": np.full(len(xi), t, dtype=np.int64),
        "beds": np.array(STEP_BEDS, dtype=np.int64),
        "lattice": np.array(lattice, dtype=np.int64),
        "unattended": np.full(len(xi), 123.0),
    }
    next_state, cost, info = scenario.step(t, state, np.array(STEP_ADDED), scenario.noise_at(noise, t))
    next_obs = scenario.observe(t + 1, next_state)
    short = 0
    for e in range(len(xi)):
        days = [int(r) for r in census[e, t]]
        assert len(days) == 365
        beds, lat, year_cost, unattended = ref.step(params, t, STEP_BEDS[e], lattice[e], STEP_ADDED[e], xi[e][t], days)
        short += unattended > 0
        assert info["unattended"][e] == unattended
        assert info["beds"][e] == beds and info["added"][e] == STEP_ADDED[e]
        assert cost[e] == pytest.approx(year_cost, rel=REL)
        assert next_state["beds"][e] == beds and next_state["lattice"][e] == lat
        assert next_state["t"][e] == t + 1 and next_state["unattended"][e] == unattended
        np.testing.assert_allclose(next_obs[e], ref.observation(params, t + 1, beds, lat, unattended), rtol=REL)
    assert short >= 4  # the bed counts are chosen so that the shortage term is exercised


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_initial_observation(preset):
    scenario, params = make_case(preset)
    obs = scenario.observe(0, scenario.initial_state(2))
    np.testing.assert_allclose(obs, [ref.observation(params, 0, 50, 0, 0.0)] * 2, rtol=REL)
    np.testing.assert_allclose(obs[0], [0.0, 50.0, 232_162.0, 0.0], rtol=1e-15)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_episode_stage_costs_and_discounted_total(preset):
    """A whole episode by steps and by ``rollout``; year ``t`` is weighted by ``1.03**-t`` (stochastic)."""
    horizon = 5
    scenario, params = make_case(preset, horizon=horizon, max_add=4)
    noise = scenario.sample_noise(4, 8)
    census = scenario.daily_demand(noise)
    xi = noise["xi"].tolist()
    surge = noise["surge"].tolist()
    assert any(any(row) for row in surge) == (params.surge_probability > 0)
    trajectory = oa.rollout(oa.make_policy("rigid", k=2).fit(scenario), scenario, noise)
    for e in range(len(xi)):
        beds, lattice, costs = 50, 0, []
        for t in range(horizon):
            beds, lattice, cost, _ = ref.step(params, t, beds, lattice, 2, xi[e][t], [int(r) for r in census[e, t]])
            costs.append(cost)
        np.testing.assert_allclose(trajectory.stage_cost[e], costs, rtol=REL)
        assert trajectory.total_cost[e] == pytest.approx(ref.discounted_total(params, costs), rel=REL)
    if params.discount_rate > 0:
        # The literal weights of years 0..4 at 3 %: year 0 is undiscounted.
        weights = [1.0, 1 / 1.03, 1 / 1.03**2, 1 / 1.03**3, 1 / 1.03**4]
        total = sum(w * c for w, c in zip(weights, trajectory.stage_cost[0].tolist()))
        assert trajectory.total_cost[0] == pytest.approx(total, rel=REL)


def test_surge_year_census_has_the_card_law():
    """Days of a surge year are Poisson with mean ``62 * P_t / P_0 * 1.30``; other years without the 1.30."""
    scenario, params = make_case("stochastic", horizon=3)
    episodes = 200
    noise = hand_noise(scenario, [[1, -1, 0]] * episodes, [[False, True, True]] * episodes, seed=5)
    census = scenario.daily_demand(noise)
    # (year, lattice index at its start, surge)
    for t, lattice, surge in [(0, 0, False), (1, 1, True), (2, 0, True)]:
        mean = ref.demand_mean(params, t, lattice, surge)
        days = census[:, t].ravel().astype(float)
        n = days.size
        # Poisson: the variance equals the mean; the sample variance has variance (m + 2 m^2) / n.
        assert abs(days.mean() - mean) < 5 * math.sqrt(mean / n), (t, days.mean(), mean)
        assert abs(days.var(ddof=1) - mean) < 5 * math.sqrt((mean + 2 * mean**2) / n), (t, days.var(), mean)
    assert ref.demand_mean(params, 1, 1, True) == pytest.approx(62 * 1.012 * math.exp(0.006) * 1.30, rel=1e-12)


# ---------------------------------------------------------------- exact model
TABULAR_CASES = [
    ("seed002", {"horizon": 4, "max_add": 3}),
    ("stochastic", {"horizon": 4, "max_add": 3}),
    ("stochastic", {"horizon": 4, "max_add": 3, "max_beds": 56}),
]


def case_id(case: tuple[str, dict[str, int]]) -> str:
    """``preset-key1value1-...`` for a test id."""
    preset, overrides = case
    return "-".join([preset] + [f"{k}{v}" for k, v in overrides.items()])


@pytest.mark.parametrize(("preset", "overrides"), TABULAR_CASES, ids=[case_id(c) for c in TABULAR_CASES])
def test_tabular_stages_are_the_card_expectations(preset, overrides):
    scenario, params = make_case(preset, **overrides)
    shortage = ref.ExpectedShortage(params)
    law = ref.step_law(params)
    stages = scenario.tabular_stages()
    assert len(stages) == params.horizon
    infeasible_seen = 0
    for t, (P, C) in enumerate(stages):
        beds, lat = scenario.stage_states(t)
        next_beds, next_lat = scenario.stage_states(t + 1)
        states = list(zip(beds.tolist(), lat.tolist()))
        width = ref.lattice_width(params, t)
        assert sorted(states) == [(b, j) for b in ref.reachable_beds(params, t) for j in range(-width, width + 1)]
        index_next = {s: i for i, s in enumerate(zip(next_beds.tolist(), next_lat.tolist()))}
        P = P.toarray()
        S = len(states)
        assert C.shape == (S, params.max_add + 1)
        for s, (b, j) in enumerate(states):
            for a in range(params.max_add + 1):
                expected = ref.expected_year_cost(params, shortage, t, j, b, a)
                if expected == math.inf:
                    infeasible_seen += 1
                    assert C[s, a] == np.inf
                    continue
                assert C[s, a] == pytest.approx(expected, rel=REL), (t, b, j, a)
                row = np.zeros(P.shape[1])
                for xi, prob in law:
                    row[index_next[(b + a, j + xi)]] += prob
                np.testing.assert_allclose(P[a * S + s], row, rtol=0, atol=1e-15)
    assert (infeasible_seen > 0) == ("max_beds" in overrides)


OPTIMUM_CASES = [
    ("seed002", {"horizon": 5, "max_add": 3}),
    ("stochastic", {"horizon": 5, "max_add": 3}),
    ("stochastic", {"horizon": 3, "max_add": 2}),
    ("stochastic", {"horizon": 4, "max_add": 3, "max_beds": 56}),
    ("seed002", {}),
]


@pytest.mark.parametrize(("preset", "overrides"), OPTIMUM_CASES, ids=[case_id(c) for c in OPTIMUM_CASES])
def test_exact_optimum_matches_reference_backward_induction(preset, overrides):
    scenario, params = make_case(preset, **overrides)
    solution = ref.solve(params)
    dp = oa.make_policy("dp").fit(scenario)
    assert dp.expected_cost_ == pytest.approx(solution.cost, rel=REL)
    # Every action of the DP table attains the reference optimum (ties may pick either action).
    shortage = ref.ExpectedShortage(params)
    beta = 1 / (1 + params.discount_rate)
    for t in range(params.horizon):
        states = list(solution.values[t])
        obs = np.array([ref.observation(params, t, b, j, 0.0) for b, j in states])
        chosen = dp.act_batch(obs, {"action_mask": scenario.action_mask(t, {"beds": obs[:, 1].astype(np.int64)}),
                                    "epoch": np.full(len(obs), t)})
        for (b, j), a in zip(states, chosen.tolist()):
            future = sum(p * solution.values[t + 1][(b + a, j + xi)] for xi, p in ref.step_law(params))
            q = ref.expected_year_cost(params, shortage, t, j, b, a) + beta * future
            assert q == pytest.approx(solution.values[t][(b, j)], rel=REL), (t, b, j, a)


def test_two_year_optimum_by_hand():
    """Stochastic preset, 2 years, at most 1 bed a year: the recursion written out with the card's numbers.

    Year 0 from 50 beds; the 3 % discount weights year 1 by 1/1.03, the lattice
    is at -1, 0 or +1 in year 1 with probabilities 1/4, 1/2, 1/4.
    """
    scenario, params = make_case("stochastic", horizon=2, max_add=1)
    shortage = ref.ExpectedShortage(params)
    year1 = {}
    for b in (50, 51):
        for j in (-1, 0, 1):
            year1[(b, j)] = min(1e6 * a + 1e5 * (b + a) + 5e4 * shortage(1, j, b + a) for a in (0, 1))
    total = min(
        1e6 * a + 1e5 * (50 + a) + 5e4 * shortage(0, 0, 50 + a)
        + (0.25 * year1[(50 + a, -1)] + 0.5 * year1[(50 + a, 0)] + 0.25 * year1[(50 + a, 1)]) / 1.03
        for a in (0, 1)
    )
    assert ref.solve(params).cost == pytest.approx(total, rel=1e-12)
    assert oa.make_policy("dp").fit(scenario).expected_cost_ == pytest.approx(total, rel=REL)


@pytest.mark.slow
def test_full_stochastic_optimum_is_the_data_readme_number():
    """The data README states the exact optimum of ``beds/stochastic-v0``: 435,990,088.72 taka."""
    solution = ref.solve(ref.STOCHASTIC)
    assert solution.cost == pytest.approx(435_990_088.72, abs=0.01)
    dp = oa.make_policy("dp").fit(oa.make_scenario("beds/stochastic-v0"))
    assert dp.expected_cost_ == pytest.approx(solution.cost, rel=REL)
