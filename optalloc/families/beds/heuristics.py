"""Classic bed-expansion heuristics of Kabir, Shuvo & Ahmed (2021)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from optalloc.exceptions import bad_value
from optalloc.policy import Policy, epochs_of
from optalloc.scenario import Scenario
from optalloc.tags import PolicyTags

_TRAIN_EPISODES = "a positive integer"


def _grid_search(policy: Policy, scenario: Scenario, seed: int | None, candidates: Sequence[Any],
                 setter: Callable[[Any], None]) -> tuple[Any, np.ndarray]:
    """Pick the candidate with the lowest mean cost on training paths.

    Returns the best candidate and the mean cost of every candidate.
    """
    from optalloc.evaluation import check_evaluation_size, rollout

    check_evaluation_size(scenario, policy.train_episodes)
    noise = scenario.sample_noise(0 if seed is None else seed, policy.train_episodes, stream="train")
    means = np.empty(len(candidates))
    for i, candidate in enumerate(candidates):
        setter(candidate)
        means[i] = rollout(policy, scenario, noise).total_cost.mean()
    best = candidates[int(np.argmin(means))]  # ties: the first (smallest) candidate
    setter(best)
    return best, means


def _check_train_episodes(policy: Policy) -> None:
    n = policy.train_episodes
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise bad_value(type(policy).__name__, "train_episodes", _TRAIN_EPISODES, n)


def _largest_feasible(mask: np.ndarray) -> np.ndarray:
    """Largest feasible action index per row of a (n, A) mask."""
    return mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)


class RigidPolicy(Policy):
    """Add the same number of beds every year.

    Parameters
    ----------
    k : int, optional
        Beds added per year. ``None``: ``fit`` grid-searches every feasible
        ``k`` on ``train_episodes`` training paths.
    train_episodes : int
        Training paths used by the grid search.
    """

    tags = PolicyTags(method="heuristic", families=frozenset({"beds"}))

    def __init__(self, k: int | None = None, train_episodes: int = 200) -> None:
        self.k = k
        self.train_episodes = train_episodes

    def _validate_params(self) -> None:
        _check_train_episodes(self)
        if self.k is not None and (isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 0):
            raise bad_value("RigidPolicy", "k", "a non-negative integer or None", self.k)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        n_actions = scenario.action_space.n
        if self.k is not None:
            if self.k >= n_actions:
                raise bad_value("RigidPolicy", "k", f"at most {n_actions - 1} (the scenario's max_add)", self.k)
            self.k_ = int(self.k)
            return
        self.k_, self.grid_costs_ = _grid_search(self, scenario, seed, list(range(n_actions)),
                                                 lambda k: setattr(self, "k_", int(k)))

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        return np.minimum(self.k_, _largest_feasible(infos["action_mask"]))


class ComplaintPolicy(Policy):
    """Add ``min(limit, round(delta * U))`` beds, ``U`` = last year's unattended patient-days.

    Nothing is added in the first year (no complaints yet). Rounding is half up.

    Parameters
    ----------
    delta : float, optional
        Beds per unattended patient-day. ``None``: ``fit`` grid-searches
        ``grid_size`` equally spaced values on [0, 1].
    limit : int, optional
        Largest yearly addition; default the scenario's ``max_add``.
    train_episodes : int
        Training paths used by the grid search.
    grid_size : int
        Number of grid values of ``delta``.
    """

    tags = PolicyTags(method="heuristic", families=frozenset({"beds"}))

    def __init__(self, delta: float | None = None, limit: int | None = None, train_episodes: int = 200,
                 grid_size: int = 101) -> None:
        self.delta = delta
        self.limit = limit
        self.train_episodes = train_episodes
        self.grid_size = grid_size

    def _validate_params(self) -> None:
        _check_train_episodes(self)
        if self.delta is not None and (isinstance(self.delta, bool) or not isinstance(self.delta, (int, float))
                                       or self.delta < 0):
            raise bad_value("ComplaintPolicy", "delta", "a non-negative number or None", self.delta)
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, (int, np.integer))
                                       or self.limit < 0):
            raise bad_value("ComplaintPolicy", "limit", "a non-negative integer or None", self.limit)
        if isinstance(self.grid_size, bool) or not isinstance(self.grid_size, (int, np.integer)) or self.grid_size < 2:
            raise bad_value("ComplaintPolicy", "grid_size", "an integer >= 2", self.grid_size)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        max_add = scenario.action_space.n - 1
        self.limit_ = max_add if self.limit is None else min(int(self.limit), max_add)
        if self.delta is not None:
            self.delta_ = float(self.delta)
            return
        grid = list(np.linspace(0.0, 1.0, self.grid_size))
        self.delta_, self.grid_costs_ = _grid_search(self, scenario, seed, grid,
                                                     lambda d: setattr(self, "delta_", float(d)))

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        unattended = observations[:, 3]
        wanted = np.floor(self.delta_ * unattended + 0.5).astype(np.int64)
        wanted = np.where(epochs_of(infos, len(observations)) == 0, 0, wanted)
        return np.minimum(np.minimum(wanted, self.limit_), _largest_feasible(infos["action_mask"]))
