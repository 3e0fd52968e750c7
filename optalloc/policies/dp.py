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

    Attributes
    ----------
    expected_cost_ : float
        Optimal expected (discounted) total cost from the initial state.
    table_ : ndarray of int
        Optimal action of every tabular state, all epochs concatenated.
    offsets_ : ndarray of int
        Start of each epoch's states in ``table_``.
    """

    family = "dynamic_programming"
    exact = True

    def __init__(self) -> None:
        pass

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        from optalloc.dp import backward_induction

        if not hasattr(scenario, "tabular_stages"):
            raise UnsupportedScenarioError(
                f"DPPolicy needs a scenario with an exact tabular model (tabular_stages); "
                f"scenario {scenario.id!r} of family {scenario.family!r} has none."
            )
        stages = scenario.tabular_stages()
        terminal = np.zeros(stages[-1][0].shape[1])
        result = backward_induction(stages, terminal, gamma=scenario.discount)
        self.table_ = np.concatenate(result.policy).astype(np.int64)
        self.offsets_ = np.cumsum([0] + [len(p) for p in result.policy])
        _, start = scenario.tabular_index(scenario.observe(0, scenario.initial_state(1)))
        self.expected_cost_ = float(result.values[0][start[0]])

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        t, index = self._scenario.tabular_index(np.asarray(observations))
        return self.table_[self.offsets_[t] + index]
