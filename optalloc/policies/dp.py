"""Exact dynamic programming as a Policy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optalloc.exceptions import UnsupportedScenarioError
from optalloc.policy import Policy
from optalloc.scenario import Scenario


class DPPolicy(Policy):
    """Optimal policy by finite-horizon backward induction on the scenario's exact tabular model.

    Works on any scenario that provides ``tabular_stages()`` (per-epoch
    transition matrices and expected costs) and ``tabular_index(observations)``.

    Parameters
    ----------
    forecaster : str, optional
        Plan on this population forecast instead of the scenario's own
        population model (:mod:`optalloc.policies.planning`); the policy is
        then optimal for the forecast, not for the scenario.
    forecast_cutoff : int
        Last census year the forecaster sees.

    Attributes
    ----------
    expected_cost_ : float or None
        Optimal expected (discounted) total cost from the initial state;
        None when planning on a forecast (see ``planned_cost_``).
    planned_cost_ : float
        Expected cost under the model planned on.
    table_ : ndarray of int
        Optimal action of every tabular state, all epochs concatenated.
    offsets_ : ndarray of int
        Start of each epoch's states in ``table_``.
    """

    family = "dynamic_programming"
    exact = True

    def __init__(self, forecaster: str | None = None, forecast_cutoff: int = 2001) -> None:
        self.forecaster = forecaster
        self.forecast_cutoff = forecast_cutoff

    def _validate_params(self) -> None:
        from optalloc.policies.planning import check_forecast_params

        check_forecast_params("DPPolicy", self.forecaster, self.forecast_cutoff)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        from optalloc.dp import backward_induction
        from optalloc.policies.planning import planning_scenario

        if not hasattr(scenario, "tabular_stages"):
            raise UnsupportedScenarioError(
                f"DPPolicy needs a scenario with an exact tabular model (tabular_stages); "
                f"scenario {scenario.id!r} of family {scenario.family!r} has none."
            )
        plan_on = planning_scenario(scenario, self.forecaster, self.forecast_cutoff)
        stages = plan_on.tabular_stages()
        terminal = np.zeros(stages[-1][0].shape[1])
        result = backward_induction(stages, terminal, gamma=plan_on.discount)
        self.table_ = np.concatenate(result.policy).astype(np.int64)
        self.offsets_ = np.cumsum([0] + [len(p) for p in result.policy])
        _, start = plan_on.tabular_index(plan_on.observe(0, plan_on.initial_state(1)))
        self.planned_cost_ = float(result.values[0][start[0]])
        self.expected_cost_ = self.planned_cost_ if plan_on is scenario else None
        # The table is indexed by the planning model's states; a forecast plan is rebuilt on load.
        self._scenario = plan_on
        self.refit_on_load = plan_on is not scenario

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        t, index = self._scenario.tabular_index(np.asarray(observations))
        return self.table_[self.offsets_[t] + index]
