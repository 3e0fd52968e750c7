"""The float-pool staffing rules against their written rules, the nursevendor closed form and the exact optimum.

References: the rules worked by hand on chosen observations, the nursevendor level of a demand pmf
computed here with SciPy (Green, Savin & Savva 2013), the exact DP optimum of the tabular model, and
each rule's exact expected cost by policy evaluation on that model (independent of the step),
compared with its Monte Carlo cost through the step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import optalloc as oa
from optalloc.evaluation import rollout
from optalloc.families.staff.staffing import demand_pmf_from_census, nursevendor_level

RULES = ("newsvendor", "proportional")


@pytest.fixture(scope="module")
def pool4():
    """floatpool-v0 with a pool of 4, the pool the hand-worked splits below are written for."""
    return oa.make_scenario("staff/floatpool-v0", pool=4)


def act(policy, scenario, t: int, census, rostered, agency) -> np.ndarray:
    """The rule's action for one observation ``[t, census, rostered present, agency present]``."""
    obs = np.concatenate([[t], census, rostered, agency]).astype(float)[None, :]
    mask = scenario.action_mask(t, {"census": np.zeros((1, scenario.n_units), dtype=np.int64)})
    return policy.act_batch(obs, {"action_mask": mask, "episode": np.arange(1), "epoch": np.full(1, t)})[0]


# ---------------------------------------------------------------- against the exact optimum
@pytest.mark.parametrize("rule", RULES)
def test_exact_dp_beats_or_ties_each_rule(small, small_dp, evaluate_on_model, rule):
    value = evaluate_on_model(oa.make_policy(rule).fit(small), small)
    assert value >= small_dp.expected_cost_ - 1e-9 * abs(small_dp.expected_cost_)


@pytest.mark.parametrize("rule", RULES)
def test_rule_rollouts_cost_their_exact_value(small, evaluate_on_model, rule):
    policy = oa.make_policy(rule).fit(small)
    exact = evaluate_on_model(policy, small)
    costs = rollout(policy, small, small.sample_noise(31, 4000)).total_cost
    half = stats.t.ppf(0.995, len(costs) - 1) * costs.std(ddof=1) / math.sqrt(len(costs))
    assert abs(costs.mean() - exact) <= half, (costs.mean(), half, exact)


def test_dp_beats_the_rules_on_common_paths(small, small_dp):
    ev = oa.evaluate({"dp": small_dp, **{r: oa.make_policy(r) for r in RULES}}, small, episodes=2000, seed=3)
    for rule in RULES:
        diff = ev.episodes.query("policy == @rule").total_cost.to_numpy() - \
            ev.episodes.query("policy == 'dp'").total_cost.to_numpy()
        half = stats.t.ppf(0.995, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff))
        assert diff.mean() + half >= 0, (rule, diff.mean(), half)


# ---------------------------------------------------------------- the newsvendor rule
def test_newsvendor_books_the_nursevendor_level_of_a_lone_unit():
    # One unit without roster or pool, ratio 1 and no overtime: a nurse short leaves one patient above the
    # ratio, so the rule's shortage cost (shortage cost x patients per nurse needed) is the card's cost of a
    # nurse short, and its booking is the whole staffing of the next shift.
    for absence, census in ((0.05, 3), (0.2, 9), (0.1, 6)):
        scenario = oa.make_scenario(
            "staff/floatpool-small-v0", days=1, units=("ward",), beds=(14,), ratio=(1,), los_days=(2.0,),
            admissions_per_day=(6.0,), base_roster=(0,), pool=0, agency_cap=12, overtime_cap=0,
            absence=absence, agency_absence=absence, initial_census=(census,), shortage_cost=1500.0)
        p = scenario.params
        stay = stats.binom.pmf(np.arange(census + 1), census, math.exp(-p.discharge_share[0] / p.los_days[0]))
        admit = stats.poisson.pmf(np.arange(80), p.admissions_per_day[0] * p.admission_share[0])
        total = np.convolve(stay, admit)
        pmf = np.append(total[:p.beds[0]], 1.0 - total[:p.beds[0]].sum())
        level = nursevendor_level(demand_pmf_from_census(pmf, 1), 1 - absence, p.agency_multiplier * p.wage,
                                  p.shortage_cost, p.idle_cost, max_nurses=p.agency_cap)
        policy = oa.make_policy("newsvendor").fit(scenario)
        action = act(policy, scenario, 0, [census], [0], [0])
        assert action.tolist() == [0, level], (absence, census)


def test_newsvendor_floats_go_to_the_largest_shortfalls(pool4):
    v0 = pool4
    policy = oa.make_policy("newsvendor").fit(v0)
    # Needs ceil((30, 24, 16, 12) / (5, 4, 3, 2)) = 6 each; present (5, 3, 4, 6): short (1, 3, 2, 0).
    # Floats one at a time: telemetry (3), telemetry (2, tied with step-down: the lower index), step-down, med-surg.
    action = act(policy, v0, 4, [30, 24, 16, 12], [5, 3, 4, 6], [0, 0, 0, 0])
    assert action[:4].tolist() == [1, 2, 1, 0]
    # Nobody short: nobody floated.
    assert act(policy, v0, 4, [10, 8, 6, 4], [2, 2, 2, 2], [0, 0, 0, 0])[:4].tolist() == [0, 0, 0, 0]


# ---------------------------------------------------------------- the proportional rule
@pytest.mark.parametrize(("census", "floats"), [
    ((30, 24, 16, 12), (1, 1, 1, 1)),  # quotas 1.46, 1.17, 0.78, 0.59: floors (1, 1, 0, 0), then 0.78 and 0.59
    ((20, 20, 1, 0), (2, 2, 0, 0)),  # quotas 1.95, 1.95, 0.10, 0
    ((10, 0, 0, 0), (4, 0, 0, 0)),
    ((0, 0, 0, 0), (0, 0, 0, 0)),
    ((1, 1, 1, 1), (1, 1, 1, 1)),
    ((3, 3, 3, 0), (2, 1, 1, 0)),  # quotas 4/3 each: one left over, to the lowest index among equal remainders
])
def test_proportional_splits_the_pool_by_largest_remainder(pool4, census, floats):
    v0 = pool4
    policy = oa.make_policy("proportional").fit(v0)
    assert act(policy, v0, 0, list(census), [5, 5, 4, 5], [0, 0, 0, 0])[:4].tolist() == list(floats)


def test_proportional_float_caps_clip_the_shares():
    scenario = oa.make_scenario("staff/floatpool-v0", pool=4, float_cap=(1, 4, 4, 4))
    policy = oa.make_policy("proportional").fit(scenario)
    assert act(policy, scenario, 0, [10, 0, 0, 0], [5, 5, 4, 5], [0, 0, 0, 0])[:4].tolist() == [1, 0, 0, 0]


def test_proportional_books_when_the_projected_census_exceeds_the_ratio(v0):
    policy = oa.make_policy("proportional").fit(v0)
    p = v0.params
    census = [30, 20, 16, 12]
    action = act(policy, v0, 0, census, [5, 5, 4, 5], [0, 0, 0, 0])  # a day shift: the evening is booked for
    expected = []
    for u, c in enumerate(census):
        projected = min(c * math.exp(-p.discharge_share[0] / p.los_days[u]) + p.admissions_per_day[u]
                        * p.admission_share[0], p.beds[u])
        need = math.ceil(projected / p.ratio[u] - 1e-9)
        expected.append(min(max(need - p.base_roster[u], 0), p.agency_cap))
    assert action[4:].tolist() == expected
    assert expected[0] == 1 and expected[1] == 0  # med-surg: about 28 patients projected, 6 nurses for a roster of 5


# ---------------------------------------------------------------- feasibility on the two-week scenario
@pytest.mark.parametrize("rule", RULES)
def test_rules_stay_within_the_pool_and_book_nobody_after_the_horizon(v0, rule):
    tr = rollout(oa.make_policy(rule).fit(v0), v0, v0.sample_noise(2, 40))  # rollout checks every mask
    U = v0.n_units
    assert tr.actions[:, :, :U].sum(axis=2).max() <= v0.params.pool
    assert not tr.actions[:, -1, U:].any()
    assert np.isfinite(tr.total_cost).all()
