"""Float-pool scenarios shared by the staff family's tests, the exact DP, and exact policy evaluation.

The exact DP is the generic ``dp`` (backward induction on the scenario's tabular model); it acts with the
action vector of the optimal column of ``C_t`` (:attr:`TabularModel.actions`, here
:meth:`FloatPoolScenario.tabular_actions`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import optalloc as oa
from optalloc.policies.dp import DPPolicy
from optalloc.policy import Policy


def model_value(policy: Policy, scenario: oa.Scenario) -> float:
    """Exact expected total cost of a fitted policy, by policy evaluation on the scenario's tabular model.

    The policy acts on every state of every epoch (the model's observations, with the scenario's
    masks); its action vector is located among the model's columns and the value is carried back
    through ``P_t`` and ``C_t``. Independent of :meth:`Scenario.step`.
    """
    model = scenario.tabular_model()
    columns = {tuple(row): j for j, row in enumerate(scenario.tabular_actions().tolist())}
    value = model.terminal()
    for t in range(model.horizon - 1, -1, -1):
        P, C = model.stage(t)
        obs = model.observations(t)
        S = len(obs)
        mask = scenario.action_mask(t, {"census": np.zeros((S, scenario.n_units), dtype=np.int64)})
        actions = policy.act_batch(obs, {"action_mask": mask, "episode": np.arange(S), "epoch": np.full(S, t)})
        chosen = np.array([columns[tuple(a)] for a in np.asarray(actions).tolist()])
        value = C[np.arange(S), chosen] + P[chosen * S + np.arange(S)] @ value
    return float(value[model.initial_index])


@pytest.fixture(scope="session")
def small() -> oa.Scenario:
    return oa.make_scenario("staff/floatpool-small-v0")


@pytest.fixture(scope="session")
def v0() -> oa.Scenario:
    return oa.make_scenario("staff/floatpool-v0")


@pytest.fixture(scope="session")
def small_dp(small) -> DPPolicy:
    return oa.make_policy("dp").fit(small)


@pytest.fixture(scope="session")
def evaluate_on_model() -> Callable[[Policy, oa.Scenario], float]:
    return model_value
