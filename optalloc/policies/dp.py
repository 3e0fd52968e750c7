"""Exact dynamic programming as a Policy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optalloc.exceptions import PolicyScenarioMismatch, UnsupportedScenarioError
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
        population model (:mod:`optalloc.families.beds.planning`); the policy is
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
        from optalloc.families.beds.planning import check_forecast_params

        check_forecast_params("DPPolicy", self.forecaster, self.forecast_cutoff)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        from optalloc.dp import backward_induction
        from optalloc.families.beds.planning import planning_scenario

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

    def _check_can_act(self, scenario: Scenario) -> str | None:
        """The table covers the fitted horizon and states: every reachable state of ``scenario`` must map into it."""
        fitted = len(self.offsets_) - 1
        if scenario.horizon > fitted:
            return f"its table covers {fitted} epochs, the scenario has {scenario.horizon}"
        if not hasattr(scenario, "tabular_observations"):
            return None  # no enumeration of reachable states: act_batch still refuses states outside the table
        for t in range(scenario.horizon):
            epochs, index = self._scenario.tabular_index(scenario.tabular_observations(t))
            outside = self._outside_table(epochs, index)
            if outside.any():
                size = self.offsets_[t + 1] - self.offsets_[t]
                return (f"{int(outside.sum()):,} reachable states of epoch {t} lie outside its table of {size:,} "
                        f"states (other initial or maximum resources)")
        return None

    def _outside_table(self, epochs: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Which (epoch, state index) pairs have no entry in ``table_`` (bool, per pair)."""
        return (index < 0) | (index >= self.offsets_[epochs + 1] - self.offsets_[epochs])

    def _check_loaded(self) -> None:
        """``table_`` and ``offsets_`` must match the stages of the manifest's scenario."""
        scenario = self._scenario
        sizes = [len(scenario.tabular_observations(t)) for t in range(scenario.horizon)]
        expected = np.cumsum([0] + sizes)
        if self.offsets_.shape != expected.shape or not np.array_equal(self.offsets_, expected):
            raise ValueError(f"offsets_ of shape {self.offsets_.shape} do not match the scenario's "
                             f"{scenario.horizon} stages of {sum(sizes):,} states")
        if self.table_.shape != (expected[-1],):
            raise ValueError(f"table_ has shape {self.table_.shape}; the scenario's stages hold {expected[-1]:,} states")
        n = scenario.action_space.n
        if len(self.table_) and not (0 <= self.table_.min() and self.table_.max() < n):
            raise ValueError(f"table_ holds actions outside 0..{n - 1}")

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        t, index = self._scenario.tabular_index(np.asarray(observations))
        if t.size and (t.min() < 0 or t.max() >= len(self.offsets_) - 1):
            raise PolicyScenarioMismatch(f"Policy {self.name} has a table of {len(self.offsets_) - 1} epochs; "
                                         f"asked to act in epoch {int(t.max())}.")
        outside = self._outside_table(t, index)
        if outside.any():
            raise PolicyScenarioMismatch(f"Policy {self.name} has no table entry for the state observed as "
                                         f"{np.asarray(observations)[np.flatnonzero(outside)[0]].tolist()}.")
        return self.table_[self.offsets_[t] + index]
