"""The float-pool staffing scenario against its model card.

References nobody here chose: the closed-form mean and variance of a binomial survival plus a Poisson
arrival, distributions computed here with SciPy from the card's formulas (not from the scenario's
tables), the recourse rules of the card worked by hand, Gymnasium's env checker, Monte Carlo of the
step against the exact DP of the tabular model, and the nursevendor closed form of Green, Savin &
Savva (2013, :func:`optalloc.families.staff.staffing.nursevendor_level`).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scipy import stats

import optalloc as oa
from optalloc.dp import backward_induction
from optalloc.evaluation import rollout
from optalloc.exceptions import ConfigurationError, ResourceLimitError, UnsupportedScenarioError
from optalloc.families.staff.staffing import demand_pmf_from_census, nursevendor_cost, nursevendor_level
from optalloc.rl import AllocationEnv

PRESET_IDS = ("staff/floatpool-v0", "staff/floatpool-small-v0")
#: Monte Carlo bounds are this many standard errors wide (a false alarm about once in 150,000 per comparison).
Z = 4.5


# ---------------------------------------------------------------- the card's formulas, written out here
def discharge_probability(params, unit: int, shift: int) -> float:
    """``1 - exp(-discharge_share / los_days)``: one patient's chance of discharge in a shift."""
    return 1.0 - math.exp(-params.discharge_share[shift] / params.los_days[unit])


def admission_mean(params, unit: int, shift: int) -> float:
    """``admissions_per_day x admission_share``."""
    return params.admissions_per_day[unit] * params.admission_share[shift]


def next_census(census: int, p: float, lam: float, beds: int) -> tuple[np.ndarray, float]:
    """Pmf of ``min(Binomial(census, 1 - p) + Poisson(lam), beds)`` and the mean overflow above ``beds``."""
    stay = stats.binom.pmf(np.arange(census + 1), census, 1.0 - p)  # patients staying
    top = int(lam + 30 * math.sqrt(lam) + 60)
    admit = stats.poisson.pmf(np.arange(top + 1), lam)
    total = np.convolve(stay, admit)
    pmf = np.zeros(beds + 1)
    pmf[:beds] = total[:beds]
    pmf[beds] = 1.0 - total[:beds].sum()
    overflow = float(np.maximum(np.arange(total.size) - beds, 0) @ total)
    return pmf, overflow


def recourse(census: int, staff: int, ratio: int, overtime_cap: int) -> tuple[int, int, int]:
    """Overtime, patients above the ratio and idle nurses of one unit's shift, as the card words them."""
    need = -(-census // ratio)
    overtime = min(max(need - staff, 0), overtime_cap)
    return overtime, max(census - ratio * (staff + overtime), 0), max(staff - need, 0)


def zero_actions(scenario, n: int) -> np.ndarray:
    return np.zeros((n, len(scenario.action_space.nvec)), dtype=np.int64)


def one_step(scenario, t: int, state: dict, action: np.ndarray, seed: int = 0):
    """One step of ``n`` episodes at epoch ``t`` from ``state`` on evaluation noise."""
    n = len(state["census"])
    noise = scenario.sample_noise(seed, n)
    return scenario.step(t, state, action, scenario.noise_at(noise, t))


def state_of(census, rostered, agency) -> dict:
    return {k: np.atleast_2d(np.asarray(v, dtype=np.int64)) for k, v in
            (("census", census), ("rostered", rostered), ("agency", agency))}


def within(estimate: float, exact: float, standard_error: float) -> bool:
    return abs(estimate - exact) <= Z * standard_error + 1e-12


# ---------------------------------------------------------------- spaces and the Gymnasium checker
@pytest.mark.parametrize("scenario_id", PRESET_IDS)
def test_env_passes_the_gymnasium_checker_without_warnings(scenario_id):
    env = AllocationEnv(oa.make_scenario(scenario_id))
    env.action_space.seed(123)  # check_env draws actions before it resets
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    assert [str(w.message) for w in caught] == []


def test_action_space_is_floats_then_agency_per_unit(v0, small):
    assert v0.action_space.nvec.tolist() == [3, 3, 3, 3, 4, 4, 4, 4]  # pool 2, agency cap 3, four units
    assert small.action_space.nvec.tolist() == [2, 2, 2, 2]
    assert v0.horizon == 42 and small.horizon == 9  # three shifts a day
    assert v0.tags.cost_unit == "USD" and v0.tags.action_kind == "multi_discrete"


def test_only_the_last_shift_forbids_bookings(small):
    state = small.initial_state(2)
    for t in range(small.horizon - 1):
        assert small.action_mask(t, state).all()
    last = small.action_mask(small.horizon - 1, state)
    # Floats of both units free; agency components allow 0 only.
    assert last.tolist() == [[True, True, True, True, True, False, True, False]] * 2


# ---------------------------------------------------------------- census, attendance and costs
@pytest.mark.parametrize("shift", [0, 1, 2])
def test_census_moments_are_binomial_survival_plus_poisson(shift):
    # Beds far above the census: no cap, so the next census is Binomial(c, 1 - p) + Poisson(lambda).
    scenario = oa.make_scenario("staff/floatpool-small-v0", beds=(120, 120), initial_census=(40, 15))
    n = 20_000
    state = scenario.initial_state(n)
    nxt, _, _ = one_step(scenario, shift, state, zero_actions(scenario, n), seed=shift)
    for u, c in enumerate((40, 15)):
        p, lam = discharge_probability(scenario.params, u, shift), admission_mean(scenario.params, u, shift)
        mean, var = c * (1 - p) + lam, c * p * (1 - p) + lam
        x = nxt["census"][:, u].astype(float)
        m4 = float(np.mean((x - x.mean()) ** 4))
        assert within(x.mean(), mean, math.sqrt(var / n)), (u, x.mean(), mean)
        assert within(x.var(ddof=1), var, math.sqrt((m4 - var**2) / n)), (u, x.var(ddof=1), var)


def test_census_at_the_bed_cap_and_diversions_follow_the_card(small):
    n = 20_000
    start = (7, 5)
    scenario = oa.make_scenario("staff/floatpool-small-v0", initial_census=start, admissions_per_day=(4.0, 3.0))
    nxt, _, info = one_step(scenario, 0, scenario.initial_state(n), zero_actions(scenario, n), seed=3)
    overflow_total = 0.0
    for u, c in enumerate(start):
        beds = scenario.params.beds[u]
        pmf, overflow = next_census(c, discharge_probability(scenario.params, u, 0),
                                    admission_mean(scenario.params, u, 0), beds)
        freq = np.bincount(nxt["census"][:, u], minlength=beds + 1) / n
        assert freq.shape == pmf.shape
        assert np.all(np.abs(freq - pmf) <= Z * np.sqrt(pmf * (1 - pmf) / n) + 1e-3), (u, freq, pmf)
        overflow_total += overflow
    diverted = info["diverted"].astype(float)
    assert within(diverted.mean(), overflow_total, diverted.std(ddof=1) / math.sqrt(n))


def test_attendance_is_binomial_for_rostered_and_agency_nurses():
    scenario = oa.make_scenario("staff/floatpool-small-v0", base_roster=((1, 3, 2), 2), absence=0.2,
                                agency_cap=3, agency_absence=0.3)
    n = 20_000
    action = zero_actions(scenario, n)
    action[:, 2:] = (3, 2)  # book 3 agency nurses for med-surg, 2 for the ICU
    nxt, cost, info = one_step(scenario, 0, scenario.initial_state(n), action, seed=5)
    for k, trials, q in (("rostered", (3, 2), 0.8), ("agency", (3, 2), 0.7)):  # next shift: evening rosters 3, 2
        for u, m in enumerate(trials):
            x = nxt[k][:, u].astype(float)
            assert within(x.mean(), m * q, math.sqrt(m * q * (1 - q) / n)), (k, u)
            freq = np.bincount(nxt[k][:, u], minlength=m + 1) / n
            pmf = stats.binom.pmf(np.arange(m + 1), m, q)
            assert np.all(np.abs(freq - pmf) <= Z * np.sqrt(pmf * (1 - pmf) / n)), (k, u, freq, pmf)
    # Booked agency nurses are paid whether they come or not.
    assert np.all(info["agency"] == 5)


def test_shift_cost_is_the_cards_recourse():
    scenario = oa.make_scenario("staff/floatpool-small-v0", overtime_cap=1)
    p = scenario.params
    state = state_of([3, 6], [1, 1], [1, 0])
    action = np.array([[1, 1, 1, 0]])  # one float asked by each unit (the pool has one), one agency nurse booked
    _, cost, info = one_step(scenario, 0, state, action)
    # The float goes to med-surg (unit 0 first); the ICU keeps its 1 rostered nurse.
    staff = (1 + 1 + 1, 1 + 0 + 0)
    expected = p.agency_multiplier * p.wage * 1
    totals = np.zeros(3)
    for u in range(2):
        overtime, above, idle = recourse(state["census"][0, u], staff[u], p.ratio[u], 1)
        totals += (overtime, above, idle)
        expected += p.overtime_multiplier * p.wage * overtime + p.shortage_cost * above + p.idle_cost * idle
    assert tuple(totals) == (1, 2, 2)  # ICU: 3 needed, 1 on overtime, 2 patients above 1:2; med-surg: 2 idle
    assert cost[0] == pytest.approx(expected, rel=1e-12)
    assert (info["overtime"][0], info["above_ratio"][0], info["idle"][0], info["agency"][0]) == (1, 2, 2, 1)
    assert (info["float_med-surg"][0], info["float_ICU"][0]) == (1, 0)


@pytest.mark.parametrize(("asked", "sent"), [
    ((3, 2, 1, 0), (3, 1, 0, 0)),
    ((0, 0, 4, 4), (0, 0, 4, 0)),
    ((1, 1, 1, 1), (1, 1, 1, 1)),
    ((0, 4, 0, 1), (0, 4, 0, 0)),
])
def test_floats_beyond_the_pool_are_dropped_from_the_last_unit_down(asked, sent):
    v0 = oa.make_scenario("staff/floatpool-v0", pool=4)
    state = v0.initial_state(1)
    action = np.array([list(asked) + [0, 0, 0, 0]])
    _, _, info = one_step(v0, 0, state, action)
    assert tuple(int(info[f"float_{u}"][0]) for u in v0.names) == sent


def test_kpis_add_up_the_shifts(small):
    noise = small.sample_noise(11, 50)
    tr = rollout(oa.make_policy("proportional").fit(small), small, noise)
    np.testing.assert_allclose(tr.kpis["total_cost"], tr.total_cost, rtol=1e-12)
    for key in ("agency", "overtime", "above_ratio", "idle", "diverted"):
        np.testing.assert_array_equal(tr.kpis[key], tr.info[key].sum(axis=1))


def test_census_and_attendance_do_not_depend_on_the_policy(v0):
    # Common random numbers: staffing decisions never change who is admitted, discharged or absent.
    noise = v0.sample_noise(4, 20)
    seen = []
    for name in ("newsvendor", "proportional"):
        tr = rollout(oa.make_policy(name).fit(v0), v0, noise, keep_observations=True)
        U = v0.n_units
        seen.append(tr.observations[:, :, 1:1 + 2 * U])  # census and rostered nurses present
    np.testing.assert_array_equal(seen[0], seen[1])


# ---------------------------------------------------------------- the exact model
def test_tabular_stage_matches_probabilities_computed_from_the_card(small):
    p = small.params
    model = small.tabular_model()
    t = 1  # an evening: discharge and admission rates of the evening, the night roster next
    P, C = model.stage(t)
    census, present = small.stage_states(t)
    S = len(census)
    columns = small.tabular_actions()
    rng = np.random.default_rng(0)
    for s, j in zip(rng.integers(0, S, 12), rng.integers(0, len(columns), 12)):
        floats, booked = columns[j, :2], columns[j, 2:]
        expected = np.zeros(model.n_states(t + 1))
        unit_pmfs = []
        for u in range(2):
            pmf, _ = next_census(int(census[s, u]), discharge_probability(p, u, 1), admission_mean(p, u, 1), p.beds[u])
            roster = p.base_roster[u]
            attend = np.convolve(stats.binom.pmf(np.arange(roster + 1), roster, 1 - p.absence),
                                 stats.binom.pmf(np.arange(booked[u] + 1), booked[u], 1 - p.agency_absence))
            unit_pmfs.append((pmf, attend))
        for (c0, n0), (c1, n1) in itertools.product(
                itertools.product(range(p.beds[0] + 1), range(len(unit_pmfs[0][1]))),
                itertools.product(range(p.beds[1] + 1), range(len(unit_pmfs[1][1])))):
            index = small.state_index(t + 1, np.array([c0, c1]), np.array([n0, n1]))
            expected[index] += unit_pmfs[0][0][c0] * unit_pmfs[0][1][n0] * unit_pmfs[1][0][c1] * unit_pmfs[1][1][n1]
        row = P[[j * S + s]].toarray()[0]
        np.testing.assert_allclose(row, expected, atol=1e-12)
        cost = p.agency_multiplier * p.wage * booked.sum()
        for u in range(2):
            overtime, above, idle = recourse(int(census[s, u]), int(present[s, u] + floats[u]), p.ratio[u],
                                             p.overtime_cap)
            cost += p.overtime_multiplier * p.wage * overtime + p.shortage_cost * above + p.idle_cost * idle
        assert C[s, j] == pytest.approx(cost, rel=1e-12)


def test_exact_optimum_is_the_mean_cost_of_the_dp_policy_rolled_out(small, small_dp):
    ev = oa.evaluate({"dp": small_dp}, small, episodes=4000, seed=21)
    costs = ev.trajectories["dp"].total_cost
    half = stats.t.ppf(0.995, len(costs) - 1) * costs.std(ddof=1) / math.sqrt(len(costs))
    assert abs(costs.mean() - small_dp.expected_cost_) <= half, (costs.mean(), half, small_dp.expected_cost_)


def test_the_two_week_scenario_refuses_the_exact_model_clearly(v0):
    assert not v0.tags.has("tabular_model")
    with pytest.raises(ResourceLimitError, match=r"exact tabular model of scenario staff/floatpool-v0 .* lower the "
                                                 r"units, beds, rosters, pool or agency caps"):
        v0.tabular_model()
    with pytest.raises(UnsupportedScenarioError):
        oa.make_policy("dp").fit(v0)


# ---------------------------------------------------------------- one unit, one booking: the nursevendor
NURSEVENDOR_GRID = [
    # (recourse, absence, initial census, idle cost)
    (recourse_kind, absence, census, idle)
    for recourse_kind in ("penalty", "overtime")
    for absence in (0.05, 0.2)
    for census in (3, 9)
    for idle in (0.0, 33.0)
]


def one_unit(recourse_kind: str, absence: float, census: int, idle: float):
    """One unit, no roster and no pool: the epoch-0 booking is the whole staffing of shift 1, before its absences.

    ``penalty``: ratio 1 and no overtime, so a nurse short leaves one patient above the ratio (``c_a`` =
    shortage cost). ``overtime``: ratio 2 and overtime enough for any shortfall (``c_a`` = overtime wage).
    """
    common = {"days": 1, "units": ("ward",), "beds": (14,), "los_days": (2.0,), "admissions_per_day": (6.0,),
              "base_roster": (0,), "pool": 0, "agency_cap": 12, "absence": absence, "agency_absence": absence,
              "initial_census": (census,), "idle_cost": idle}
    if recourse_kind == "penalty":
        return oa.make_scenario("staff/floatpool-small-v0", ratio=(1,), overtime_cap=0, shortage_cost=1500.0,
                                **common), 1, "shortage"
    return oa.make_scenario("staff/floatpool-small-v0", ratio=(2,), overtime_cap=14, overtime_multiplier=3.0,
                            **common), 2, "overtime"


@pytest.mark.parametrize(("recourse_kind", "absence", "census", "idle"), NURSEVENDOR_GRID)
def test_dp_books_the_nursevendor_level(recourse_kind, absence, census, idle):
    scenario, ratio, kind = one_unit(recourse_kind, absence, census, idle)
    p = scenario.params
    w = p.agency_multiplier * p.wage
    c_a = p.shortage_cost if kind == "shortage" else p.overtime_multiplier * p.wage
    pmf, _ = next_census(census, discharge_probability(p, 0, 0), admission_mean(p, 0, 0), p.beds[0])
    demand = demand_pmf_from_census(pmf, ratio)
    level = nursevendor_level(demand, 1 - absence, w, c_a, idle, max_nurses=p.agency_cap)
    assert 0 < level < p.agency_cap  # an interior optimum: the test can tell levels apart

    model = scenario.tabular_model()
    result = backward_induction(model.stages(), model.terminal())
    columns = scenario.tabular_actions()
    start = model.initial_index
    assert columns[result.policy[0][start]].tolist() == [0, level]  # no pool; the booking

    # Beyond the argmin: the DP's action values at epoch 0 differ by the nursevendor cost differences.
    P, C = model.stage(0)
    S = model.n_states(0)
    q_values = np.array([C[start, a] + P[[a * S + start]] @ result.values[1] for a in range(len(columns))]).ravel()
    booked = columns[:, 1]
    costs = nursevendor_cost(booked, demand, 1 - absence, w, c_a, idle)
    np.testing.assert_allclose(q_values - q_values[0], costs - costs[0], rtol=1e-9, atol=1e-7)


# ---------------------------------------------------------------- bad parameters
@pytest.mark.parametrize(("overrides", "pattern"), [
    ({"absence": -0.1}, r"'absence'.*probability in \[0, 1\).*Got -0.1"),
    ({"agency_absence": 1.0}, r"'agency_absence'.*probability in \[0, 1\)"),
    ({"ratio": (5, 0)}, r"'ratio'.*2 positive numbers"),
    ({"beds": (8,)}, r"'beds'.*2 integers >= 1 \(one per unit of \['med-surg', 'ICU'\]\)"),
    ({"float_cap": 2}, r"'float_cap'.*at most the pool of 1 nurses"),
    ({"pool": -1}, r"'pool'.*integer >= 0"),
    ({"agency_cap": (1, 2, 3)}, r"'agency_cap'.*an integer >= 0 or 2 of them"),
    ({"admission_share": (0.5, 0.5, 0.5)}, r"'admission_share'.*summing to 1"),
    ({"discharge_share": (1.0, 0.0)}, r"'discharge_share'.*3 non-negative shares"),
    ({"initial_census": (9, 2)}, r"'initial_census'.*between 0 and the beds of each unit \(med-surg: 8\)"),
    ({"base_roster": (1, (1, 2))}, r"'base_roster'.*lists of 3"),
    ({"los_days": (4.5, 0.0)}, r"'los_days'.*positive numbers"),
    ({"days": 0}, r"'days'.*integer >= 1"),
    ({"units": ("ICU", "ICU")}, r"'units'.*distinct unit names"),
    ({"shortage_cost": -1.0}, r"'shortage_cost'.*non-negative number"),
    ({"beds": (8, 6.5)}, r"'beds'.*integers >= 1"),
])
def test_bad_parameters_are_refused_clearly(overrides, pattern):
    with pytest.raises(ConfigurationError, match=pattern):
        oa.make_scenario("staff/floatpool-small-v0", **overrides)


def test_unknown_parameter_is_refused():
    with pytest.raises(ConfigurationError, match="nurses_per_bed"):
        oa.make_scenario("staff/floatpool-v0", nurses_per_bed=1)
