"""The perfect-information (hindsight) bound over :meth:`Scenario.perfect_information`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optalloc.exceptions import OptallocError
from optalloc.policy import Policy, epochs_of
from optalloc.scenario import Noise, Scenario
from optalloc.tags import ACTION_KINDS, PolicyTags


class ActsFromPlans(Policy):
    """An oracle that acts from per-episode plans made in :meth:`reset`: ``_plans[episode, epoch]``."""

    _plans: np.ndarray | None = None

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        if self._plans is None:
            raise OptallocError(f"{type(self).__name__} is an oracle: call reset(noise=...) with the episodes' "
                                "noise first.")
        return self._plans[np.asarray(infos["episode"]), epochs_of(infos, len(observations))]


class HindsightPolicy(ActsFromPlans):
    """Perfect-information bound: each episode's optimal decisions for its own realised noise.

    An oracle: :meth:`reset` receives the batch's noise path and asks the
    scenario for the optimal decisions of every episode on its own path
    (:meth:`Scenario.perfect_information`, capability
    ``perfect_information``; a deterministic optimisation per episode). The
    mean cost is a lower bound on every non-anticipative policy's expected
    cost, reported as a bound, never as a policy score.

    Attributes
    ----------
    bound_costs_ : ndarray or None
        The perfect-information cost of each episode of the last batch
        [scenario cost unit] (discounted totals); None before a batch.
    """

    tags = PolicyTags(method="math_programming", information="oracle", action_kinds=frozenset(ACTION_KINDS),
                      needs=frozenset({"perfect_information"}))
    refit_on_load = True

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._plans: np.ndarray | None = None
        self.bound_costs_: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, noise: Noise | None = None) -> None:
        super().reset(seed=seed, noise=noise)
        if noise is None:
            self._plans, self.bound_costs_ = None, None
            return
        actions, costs = self._scenario.perfect_information(noise)
        self._plans, self.bound_costs_ = np.asarray(actions, dtype=np.int64), np.asarray(costs, dtype=float)
