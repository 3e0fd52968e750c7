"""The exact tabular model of a scenario, built lazily stage by stage.

A scenario whose tags carry the ``tabular_model`` capability returns a
:class:`TabularModel` from :meth:`Scenario.tabular_model`. Exact DP walks it
backwards and asks for one stage at a time, so its peak memory is about two
stages, whatever the horizon. States are addressed by ``(epoch,
observation)`` through the model's explicit :attr:`TabularModel.index`, never
by inverting floats of the observation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Stage = tuple[Any, np.ndarray]


@dataclass(frozen=True)
class TabularModel:
    """A finite-horizon MDP in the DP engine's layout, with a map from observations to states.

    Attributes
    ----------
    horizon : int
        Number of stages ``T``.
    n_states : callable ``t -> int``
        Number of states ``S_t`` of epoch ``t`` (``t = T`` allowed: the terminal states).
    stage : callable ``t -> (P_t, C_t)``
        ``P_t`` of shape ``(A * S_t, S_{t+1})``, action-major rows; ``C_t`` of
        shape ``(S_t, A)`` [currency, undiscounted], ``inf`` for infeasible
        actions. Built on each call: callers keep what they need.
    observations : callable ``t -> ndarray``
        The observation of every state of epoch ``t``, in state order, shape ``(S_t, ...)``.
    index : callable ``(t, observations) -> ndarray``
        State index in ``0..S_t - 1`` of each observation of epoch ``t``; ``-1``
        for an observation that is no state of the model.
    initial_index : int
        State of the initial observation at epoch 0.
    actions : ndarray of int, shape (A, d), optional
        For a scenario whose actions are vectors (``MultiDiscrete``): the action
        vector of each column ``a`` of ``C_t`` (and block ``a`` of the rows of
        ``P_t``). None: column ``a`` is the scenario's action ``a``.
    """

    horizon: int
    n_states: Callable[[int], int]
    stage: Callable[[int], Stage]
    observations: Callable[[int], np.ndarray]
    index: Callable[[int, np.ndarray], np.ndarray]
    initial_index: int = 0
    actions: np.ndarray | None = None

    def terminal(self) -> np.ndarray:
        """Terminal cost ``V_T``: zero on every terminal state."""
        return np.zeros(self.n_states(self.horizon))

    def stages(self) -> Sequence[Stage]:
        """The stages as a lazy sequence: ``stages()[t]`` builds stage ``t`` on access."""
        return _LazyStages(self)


class _LazyStages(Sequence):
    """``model.stage`` as a sequence, so DP solvers take a lazy model and a list of stages alike."""

    def __init__(self, model: TabularModel) -> None:
        self._model = model

    def __len__(self) -> int:
        return self._model.horizon

    def __getitem__(self, t: int) -> Stage:  # type: ignore[override]
        if not isinstance(t, (int, np.integer)):
            raise TypeError("lazy stages are indexed by an epoch")
        if t < 0:
            t += self._model.horizon
        if not 0 <= t < self._model.horizon:
            raise IndexError(t)
        return self._model.stage(int(t))


def nearest_index(values: np.ndarray, observed: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """Position of each observed value in a sorted array of the values a state component takes; -1 if none.

    The explicit index of a float component (a population on a lattice): the
    observed value must equal one of ``values`` to a relative ``rtol``, so an
    observation that is no state maps to ``-1`` instead of a neighbour.
    """
    values = np.asarray(values, dtype=float)
    observed = np.asarray(observed, dtype=float)
    pos = np.clip(np.searchsorted(values, observed), 1, max(len(values) - 1, 1)) if len(values) > 1 else \
        np.zeros(observed.shape, dtype=np.int64)
    if len(values) > 1:
        left = pos - 1
        pos = np.where(np.abs(values[left] - observed) <= np.abs(values[pos] - observed), left, pos)
    close = np.abs(values[pos] - observed) <= rtol * np.maximum(np.abs(observed), 1.0)
    return np.where(close, pos, -1).astype(np.int64)


__all__ = ["TabularModel", "nearest_index"]
