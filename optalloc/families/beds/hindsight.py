"""Deterministic capacity expansion by dynamic programming, many instances at once.

The problem: start with ``grid[0]`` units of capacity; in each period ``t``
add ``a_t`` in ``{0, ..., max_add}`` units (never beyond ``grid[-1]``), which
are in service from ``t`` on, and pay::

    weights[t] * (unit_cost * a_t + holding_cost * H_t + table[t, H_t]),   H_t = H_{t-1} + a_t

where ``table[t, k]`` is any cost of holding ``grid[k]`` units in period ``t``
(e.g. the realised shortage cost of a hindsight problem). Backward induction
over (period, capacity) is exact for any table, convex or not, and costs
``O(T * K * max_add)`` per instance; all instances advance together as
arrays.
"""

from __future__ import annotations

import numpy as np


def capacity_expansion_dp(table: np.ndarray, unit_cost: float, holding_cost: float, weights: np.ndarray,
                          max_add: int, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal expansion plans of ``E`` deterministic instances.

    Parameters
    ----------
    table : ndarray, shape (E, T, K)
        Cost of holding ``grid[k]`` units in period ``t`` [currency], per instance.
    unit_cost : float
        Cost of one added unit [currency/unit].
    holding_cost : float
        Cost of one unit in service for one period [currency/(unit period)].
    weights : ndarray, shape (T,)
        Multiplier of each period's cost (e.g. discount factors).
    max_add : int
        Largest addition per period [units].
    grid : ndarray of int, shape (K,)
        Consecutive capacities ``grid[0], grid[0] + 1, ...``; ``grid[0]`` is the start.

    Returns
    -------
    plans : ndarray of int, shape (E, T)
        Units added each period (the smallest addition among equally cheap ones).
    values : ndarray, shape (E,)
        Optimal total weighted cost [currency].
    """
    table = np.asarray(table, dtype=np.float64)
    episodes, horizon, width = table.shape
    if len(grid) != width or np.any(np.diff(grid) != 1):
        raise ValueError("grid must hold consecutive capacities, one per column of the table")
    weights = np.asarray(weights, dtype=np.float64)
    adds = np.arange(max_add + 1)
    value = np.zeros((episodes, width))
    choice = np.empty((horizon, episodes, width), dtype=np.int64)
    # Pad past the top of the grid with +inf so that additions beyond it are never chosen.
    pad = np.full((episodes, max_add), np.inf)
    for t in reversed(range(horizon)):
        # Cost from period t on of being at capacity index k after adding: holding, table, future.
        after = weights[t] * (holding_cost * grid[None, :] + table[:, t]) + value
        shifted = np.concatenate([after, pad], axis=1)
        # candidates[a, e, k]: add a units at index k (landing on k + a)
        candidates = np.stack([shifted[:, a:a + width] for a in adds]) + (weights[t] * unit_cost * adds)[:, None, None]
        choice[t] = np.argmin(candidates, axis=0)
        value = np.take_along_axis(candidates, choice[t][None], axis=0)[0]
    plans = np.empty((episodes, horizon), dtype=np.int64)
    index = np.zeros(episodes, dtype=np.int64)
    rows = np.arange(episodes)
    for t in range(horizon):
        plans[:, t] = choice[t, rows, index]
        index = index + plans[:, t]
    return plans, value[:, 0]


__all__ = ["capacity_expansion_dp"]
