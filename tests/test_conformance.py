"""Every registered policy x scenario through the public conformance checks."""

from __future__ import annotations

import pytest

import optalloc as oa
from optalloc.registry import list_policies, list_scenarios
from optalloc.testing import check_scenario, policy_checks, scenario_checks

# Short horizons keep the suite fast; overrides are part of the spec, so save/load still rebuilds them.
HORIZON = 6

SCENARIO_IDS = [s.id for s in list_scenarios()]


@pytest.mark.parametrize("check", scenario_checks(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_scenario_conformance(scenario_id, check):
    check(oa.make_scenario(scenario_id))


@pytest.mark.parametrize("check", policy_checks(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
@pytest.mark.parametrize("spec", list_policies(), ids=lambda s: s.id)
def test_policy_conformance(spec, scenario_id, check):
    for module in spec.requires:
        pytest.importorskip(module)
    policy = oa.make_policy(spec.id, **spec.test_params)
    check(policy, oa.make_scenario(scenario_id, horizon=HORIZON))


def test_check_scenario_runs_all():
    check_scenario(oa.make_scenario("beds/seed002-v0", horizon=3))
