"""``optalloc describe`` on the beds presets and heuristics: their documented values, units and meanings.

The describe machinery itself is tested on the toy family in tests/test_describe.py.
"""

from __future__ import annotations

import dataclasses

import optalloc as oa
from optalloc import describe as d


def test_beds_scenario_table_has_preset_value_default_and_meaning():
    table = d.describe_scenario("beds/stochastic-v0").set_index("parameter")
    scenario = oa.make_scenario("beds/stochastic-v0")
    assert list(table.index) == [f.name for f in dataclasses.fields(scenario.params_class)]
    assert table.loc["surge_probability", "value"] == 0.1
    assert table.loc["surge_probability", "default"] == 0.0
    assert "surge" in table.loc["surge_probability", "meaning"]
    assert table.loc["shortage_cost", "meaning"] == "Cost per unattended patient-day [taka]."
    # Values keep their Python types: 30 stays an int, None stays None.
    assert table.loc["horizon", "value"] == 30 and isinstance(table.loc["horizon", "value"], int)
    assert table.loc["max_beds", "default"] is None


def test_beds_seed_preset_values_are_the_defaults():
    table = d.describe_scenario("beds/seed002-v0")
    assert table["value"].tolist() == table["default"].tolist()


def test_rigid_policy_table_comes_from_the_docstring_parameters_section():
    table = d.describe_policy("rigid").set_index("parameter")
    assert list(table.index) == ["k", "train_episodes"]
    assert table.loc["k", "default"] is None and table.loc["train_episodes", "default"] == 200
    assert table.loc["train_episodes", "meaning"] == "Training paths used by the grid search."
    # reStructuredText markup is dropped: ``k`` -> k.
    assert "every feasible k on train_episodes" in table.loc["k", "meaning"]
