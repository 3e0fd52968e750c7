"""Exact dynamic programming as a Policy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optalloc.exceptions import PolicyScenarioMismatch
from optalloc.policy import Policy, epochs_of
from optalloc.scenario import Scenario
from optalloc.tags import PolicyTags


class DPPolicy(Policy):
    """Optimal policy by finite-horizon backward induction on the scenario's exact tabular model.

    Works on any scenario whose tags carry the ``tabular_model`` capability
    (:meth:`Scenario.tabular_model`); the stages are built one at a time,
    from the last epoch back. Acting reads the epoch from ``info["epoch"]``.
    With vector actions (``MultiDiscrete``), the model lists the action vector
    of each of its columns (:attr:`TabularModel.actions <optalloc.tabular.TabularModel.actions>`)
    and the policy acts with those vectors.

    To plan on another model of the scenario (a forecast, say), wrap it:
    ``make_policy("plan-on", inner="dp", transform=...)``
    (:class:`optalloc.policies.plan_on.PlanOnPolicy`).

    Attributes
    ----------
    expected_cost_ : float
        Optimal expected (discounted) total cost from the initial state.
    table_ : ndarray of int
        Optimal action (column of the model) of every tabular state, all epochs concatenated.
    offsets_ : ndarray of int
        Start of each epoch's states in ``table_``.
    """

    tags = PolicyTags(method="dynamic_programming", exact=True, needs=frozenset({"tabular_model"}),
                      action_kinds=frozenset({"discrete", "multi_discrete"}))

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        from optalloc.dp import backward_induction

        model = scenario.tabular_model()
        result = backward_induction(model.stages(), model.terminal(), gamma=scenario.discount)
        self.table_ = np.concatenate(result.policy).astype(np.int64)
        self.offsets_ = np.cumsum([0] + [len(p) for p in result.policy])
        self.expected_cost_ = float(result.values[0][model.initial_index])

    def _check_can_act(self, scenario: Scenario) -> str | None:
        """The table covers the fitted horizon and states: every reachable state of ``scenario`` must map into it."""
        fitted = len(self.offsets_) - 1
        if scenario.horizon > fitted:
            return f"its table covers {fitted} epochs, the scenario has {scenario.horizon}"
        if not scenario.tags.has("tabular_model"):
            return None  # no enumeration of reachable states: act_batch still refuses states outside the table
        own, other = self._scenario.tabular_model(), scenario.tabular_model()
        for t in range(scenario.horizon):
            index = own.index(t, other.observations(t))
            outside = self._outside_table(np.full(len(index), t), index)
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
        model = self._scenario.tabular_model()
        sizes = [model.n_states(t) for t in range(model.horizon)]
        expected = np.cumsum([0] + sizes)
        if self.offsets_.shape != expected.shape or not np.array_equal(self.offsets_, expected):
            raise ValueError(f"offsets_ of shape {self.offsets_.shape} do not match the scenario's "
                             f"{model.horizon} stages of {sum(sizes):,} states")
        if self.table_.shape != (expected[-1],):
            raise ValueError(f"table_ has shape {self.table_.shape}; the scenario's stages hold {expected[-1]:,} states")
        actions = model.actions
        n = self._scenario.action_space.n if actions is None else len(actions)
        if len(self.table_) and not (0 <= self.table_.min() and self.table_.max() < n):
            raise ValueError(f"table_ holds actions outside 0..{n - 1}")

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        observations = np.asarray(observations)
        t = epochs_of(infos, len(observations))
        epochs = len(self.offsets_) - 1
        if t.size and (t.min() < 0 or t.max() >= epochs):
            raise PolicyScenarioMismatch(f"Policy {self.name} has a table of {epochs} epochs; "
                                         f"asked to act in epoch {int(t.max())}.")
        model = self._model()
        index = np.empty(len(t), dtype=np.int64)
        for epoch in np.unique(t):  # one epoch in a rollout; a user's batch may mix them
            rows = t == epoch
            index[rows] = model.index(int(epoch), observations[rows])
        outside = self._outside_table(t, index)
        if outside.any():
            raise PolicyScenarioMismatch(f"Policy {self.name} has no table entry for the state observed as "
                                         f"{observations[np.flatnonzero(outside)[0]].tolist()} in epoch "
                                         f"{int(t[np.flatnonzero(outside)[0]])}.")
        columns = self.table_[self.offsets_[t] + index]
        return columns if model.actions is None else model.actions[columns]

    def _model(self):
        """The planning model's :class:`~optalloc.tabular.TabularModel` (its index), kept between calls."""
        if getattr(self, "_model_for", None) is not self._scenario:
            self._model_cache, self._model_for = self._scenario.tabular_model(), self._scenario
        return self._model_cache
