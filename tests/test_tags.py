"""Tags, action tables, KPI specs and the tabular index: the contracts generic code asks instead of a family."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

import optalloc as oa
from optalloc.actions import ActionTable, check_actions, mask_rows
from optalloc.describe import describe_tags
from optalloc.exceptions import ConfigurationError, InfeasibleActionError, UnsupportedScenarioError
from optalloc.kpis import KPISpec
from optalloc.tabular import nearest_index
from optalloc.tags import PolicyTags, ScenarioTags


# ---------------------------------------------------------------- tags
def test_policy_tags_refuse_with_the_reason():
    walk, pool = oa.make_scenario("toy/walk-v0").tags, oa.make_scenario("toy/pool-v0").tags
    dp = PolicyTags(method="dynamic_programming", exact=True, needs=frozenset({"tabular_model"}))
    assert dp.accepts(walk) and not dp.accepts(pool)
    assert dp.refusal(pool) == "it takes discrete actions, not multi_discrete"
    assert oa.make_policy("dp").tags.refusal(pool) == "it needs a scenario with tabular model"
    assert PolicyTags(action_kinds=frozenset({"discrete", "multi_discrete"}),
                      needs=frozenset({"tabular_model"})).refusal(pool) == "it needs a scenario with tabular model"
    assert PolicyTags(families=frozenset({"beds"})).refusal(walk) == "it supports the families ['beds'], not 'toy'"


def test_fit_refuses_a_scenario_the_tags_refuse():
    with pytest.raises(UnsupportedScenarioError, match=r"DPPolicy cannot be fitted on scenario 'toy/pool-v0' "
                       r"\(family 'toy'\): it needs a scenario with tabular model\."):
        oa.make_policy("dp").fit(oa.make_scenario("toy/pool-v0"))
    with pytest.raises(UnsupportedScenarioError, match="supports the families \\['beds'\\], not 'toy'"):
        oa.make_policy("rigid").fit(oa.make_scenario("toy/walk-v0"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"action_kind": "vector"}, "action_kind must be one of"),
    ({"capabilities": frozenset({"oracle"})}, "capabilities must be some of"),
    ({"cost_scale": 0.0}, "cost_scale must be positive"),
])
def test_scenario_tags_refuse_typos(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        ScenarioTags(family="x", **kwargs)


def test_cost_labels():
    assert ScenarioTags(family="x", cost_unit="taka", cost_scale=1e6).cost_label == "million taka"
    assert ScenarioTags(family="x", cost_unit="EUR").cost_label == "EUR"
    assert ScenarioTags(family="x").cost_label == "cost"
    assert ScenarioTags(family="x", cost_scale=250.0).cost_label == "x 250"


# ---------------------------------------------------------------- action tables
def test_action_table_round_trip_and_words():
    table = ActionTable(("OP", "IP", "NCEP"), np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 1]]), "scanned")
    actions = np.array([[0, 3], [2, 1]])
    counts = table.decode(actions)
    np.testing.assert_array_equal(counts["OP"], [[0, 1], [0, 1]])
    np.testing.assert_array_equal(counts["NCEP"], [[0, 1], [0, 0]])
    np.testing.assert_array_equal(table.encode(counts), actions)
    assert table.describe(3) == "1 OP + 1 NCEP scanned" and table.describe(0) == "none scanned"
    with pytest.raises(ConfigurationError, match=r"No action has the counts \{'OP': 1, 'IP': 1, 'NCEP': 0\}"):
        table.encode({"OP": 1, "IP": 1, "NCEP": 0})
    vector = ActionTable(("unit A", "unit B"), None, "helpers")
    assert vector.describe(np.array([2, 0])) == "2 unit A helpers"
    np.testing.assert_array_equal(vector.encode(vector.decode(np.array([[1, 3]]))), [[1, 3]])


def test_the_bed_table_counts_beds():
    table = oa.make_scenario("beds/seed002-v0").action_table()
    assert table.components == ("beds",) and table.describe(3) == "3 beds added"
    np.testing.assert_array_equal(table.decode(np.arange(11))["beds"], np.arange(11))


# ---------------------------------------------------------------- the one action check
def test_multi_discrete_masks_are_per_component():
    space = spaces.MultiDiscrete([3, 2])
    mask = np.array([[True, False, True, True, True], [True, True, True, False, True]])
    actions = np.array([[1, 0], [2, 0]])
    np.testing.assert_array_equal(mask_rows(space, mask, actions), [False, False])  # 1 of comp 0; 0 of comp 1
    np.testing.assert_array_equal(mask_rows(space, mask, np.array([[2, 1], [1, 1]])), [True, True])
    with pytest.raises(InfeasibleActionError, match=r"Policy p chose infeasible action \[1, 0\] in epoch 4 of "
                       r"episode 0; feasible: \[\[0, 2\], \[0, 1\]\]\."):
        check_actions("Policy p", space, actions, mask, 4)
    with pytest.raises(InfeasibleActionError, match="must return 2 integer action vectors of length 2 in epoch 0"):
        check_actions("Policy p", space, np.array([1, 0]), mask, 0)
    with pytest.raises(InfeasibleActionError, match=r"chose infeasible action \[3, 0\]"):  # outside nvec
        check_actions("Policy p", space, np.array([[3, 0], [0, 0]]), mask, 0)


def test_discrete_actions():
    space, mask = spaces.Discrete(3), np.array([[True, False, True]])
    check_actions("Policy p", space, np.array([2]), mask, 0)
    with pytest.raises(InfeasibleActionError, match=r"chose infeasible action 1 in epoch 0 of episode 0; "
                       r"feasible: \[0, 2\]"):
        check_actions("Policy p", space, np.array([1]), mask, 0)
    with pytest.raises(InfeasibleActionError, match="must return 1 integer actions"):
        check_actions("Policy p", space, np.array([1.0]), mask, 0)


# ---------------------------------------------------------------- KPI specs
def test_kpi_specs_format_and_label():
    spec = KPISpec("patient-days", "unattended patient-days", "{:,.0f}")
    assert spec.format(12345.6) == "12,346 patient-days" and spec.label == "unattended patient-days [patient-days]"
    beds = oa.make_scenario("beds/seed002-v0", horizon=3)
    noise = beds.sample_noise(0, 4)
    kpis = oa.rollout(oa.make_policy("dp").fit(beds), beds, noise).kpis
    assert list(kpis) == list(beds.kpi_specs())


# ---------------------------------------------------------------- tabular index
def test_nearest_index_matches_only_values_it_holds():
    values = np.array([1.0, 2.5, 4.0])
    np.testing.assert_array_equal(nearest_index(values, [2.5, 4.0 * (1 + 1e-12), 1.0, 3.0, 0.0]),
                                  [1, 2, 0, -1, -1])
    np.testing.assert_array_equal(nearest_index(np.array([7.0]), [7.0, 7.5]), [0, -1])


@pytest.mark.parametrize("preset", ["seed002-v0", "stochastic-v0"])
def test_bed_index_inverts_the_model_observations(preset):
    scenario = oa.make_scenario(f"beds/{preset}", horizon=6)
    model = scenario.tabular_model()
    for t in range(model.horizon + 1):
        np.testing.assert_array_equal(model.index(t, model.observations(t)), np.arange(model.n_states(t)))
    obs = model.observations(3).copy()
    obs[:, 1] += 0.5  # no state has half a bed
    assert (model.index(3, obs) == -1).all()
    if preset == "stochastic-v0":
        obs = model.observations(3).copy()
        obs[:, 2] *= 1.001  # a population between lattice points
        assert (model.index(3, obs) == -1).all()


def test_dp_acts_from_the_epoch_in_the_info():
    scenario = oa.make_scenario("toy/walk-v0")
    dp = oa.make_policy("dp").fit(scenario)
    obs = np.array([[2.0], [2.0]])
    info = {"action_mask": np.ones((2, 3), dtype=bool), "epoch": np.array([0, scenario.horizon - 1])}
    table = np.stack([dp.act_batch(obs[:1], {"action_mask": info["action_mask"][:1], "epoch": np.array([t])})
                      for t in info["epoch"]])[:, 0]
    np.testing.assert_array_equal(dp.act_batch(obs, info), table)  # one batch mixing epochs
    with pytest.raises(ConfigurationError, match="must hold 'epoch'"):
        dp.act_batch(obs, {"action_mask": info["action_mask"]})


def test_exact_dp_on_the_toy_equals_brute_force():
    from toy_family.scenario import brute_force_optimum

    for overrides in ({}, {"size": 6, "horizon": 5, "start": 3, "step_cost": 0.7}):
        scenario = oa.make_scenario("toy/walk-v0", **overrides)
        assert oa.make_policy("dp").fit(scenario).expected_cost_ == pytest.approx(brute_force_optimum(scenario),
                                                                                rel=1e-12)


# ---------------------------------------------------------------- describe
def test_describe_shows_the_tags():
    tags = describe_tags("beds/stochastic-v0")
    assert (tags["family"], tags["epoch"], tags["cost_unit"]) == ("beds", "year", "taka")
    assert tags["capabilities"] == ["open_loop", "perfect_information", "planner", "tabular_model"]
    assert tags["kpis"]["unattended_patient_days"]["unit"] == "patient-days"
    assert describe_tags("dp")["needs"] == ["tabular_model"]


def test_the_printed_table_formats_kpis_by_their_specs_and_names_the_currency():
    from optalloc.cli import format_summary
    from optalloc.evaluation import PolicyRun, Trajectory, summarise

    trajectory = Trajectory(np.array([1.0, 3.0]), np.zeros((2, 1)), np.zeros((2, 1), dtype=int), {},
                            {"waiting": np.array([1234.25, 1236.75]), "helpers": np.array([2.0, 3.0])}, 0.0)
    summary = summarise({"p": PolicyRun("p", "heuristic", "non_anticipative", 0.0, trajectory)}, "toy/x", 0).summary
    table = format_summary(summary, {"waiting": KPISpec("minutes", fmt="{:,.0f}")}, "EUR")
    header, row = table.splitlines()
    assert "mean cost (EUR)" in header and "waiting" in header and "helpers" in header
    assert row.split()[-4:-2] == ["1,236", "2.5"]  # the spec's format; one decimal without a spec
