"""Every registered policy and scenario through the public conformance checks that apply to them."""

from __future__ import annotations

import optalloc as oa
from optalloc.exceptions import ConfigurationError
from optalloc.registry import list_scenarios
from optalloc.testing import parametrize_with_checks, policy_checks, scenario_checks

#: Policy checks fit every policy several times: scenarios longer than this are shortened (an override, so it is
#: part of the spec and save/load still rebuilds them).
HORIZON = 6


def short(scenario_id: str) -> oa.Scenario:
    """The registered scenario, with its horizon cut to :data:`HORIZON` epochs where its ``horizon_parameter`` allows.

    A preset whose other parameters depend on the horizon (a profile of one value per epoch) refuses the
    shorter horizon and is checked in full.
    """
    scenario = oa.make_scenario(scenario_id)
    name = scenario.horizon_parameter
    if name is not None and scenario.horizon > HORIZON:
        # The parameter may count days of several epochs each (3 shifts a day): cut to HORIZON epochs or fewer.
        per_unit = max(1, scenario.horizon // int(getattr(scenario.params, name)))
        try:
            return oa.make_scenario(scenario_id, **{name: max(1, HORIZON // per_unit)})
        except ConfigurationError:
            return scenario
    return scenario


@parametrize_with_checks(policies=[], checks=scenario_checks())
def test_scenario_conformance(policy, scenario, check):
    check(policy, scenario)


@parametrize_with_checks(scenarios=[short(s.id) for s in list_scenarios()], checks=policy_checks())
def test_policy_conformance(policy, scenario, check):
    check(policy, scenario)
