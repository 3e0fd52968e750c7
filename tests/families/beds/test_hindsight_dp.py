"""Deterministic capacity expansion DP against brute-force enumeration of every plan."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from optalloc.families.beds.hindsight import capacity_expansion_dp


def brute_force(table, unit_cost, holding_cost, weights, max_add, grid):
    """Cheapest cost over all plans in {0..max_add}^T that stay on the grid."""
    horizon = table.shape[0]
    best = np.inf
    for plan in itertools.product(range(max_add + 1), repeat=horizon):
        index = np.cumsum(plan)
        if index[-1] >= len(grid):
            continue
        held = grid[index]
        best = min(best, float(np.sum(weights * (unit_cost * np.array(plan) + holding_cost * held
                                                 + table[np.arange(horizon), index]))))
    return best


def plan_cost(plan, table, unit_cost, holding_cost, weights, grid):
    index = np.cumsum(plan)
    return float(np.sum(weights * (unit_cost * plan + holding_cost * grid[index] + table[np.arange(len(plan)), index])))


@pytest.mark.parametrize("seed", range(4))
def test_random_nonconvex_instances_match_enumeration(seed):
    rng = np.random.default_rng(seed)
    episodes, horizon, max_add = 5, 5, 2
    grid = np.arange(7, 7 + 8)  # 8 capacities: some plans run off the top
    table = rng.uniform(0, 10, size=(episodes, horizon, len(grid)))  # arbitrary, not convex
    weights = 0.9 ** np.arange(horizon)
    plans, values = capacity_expansion_dp(table, 1.5, 0.3, weights, max_add, grid)
    for e in range(episodes):
        expected = brute_force(table[e], 1.5, 0.3, weights, max_add, grid)
        assert values[e] == pytest.approx(expected, rel=1e-12)
        assert plans[e].max() <= max_add and plans[e].sum() < len(grid)
        assert plan_cost(plans[e], table[e], 1.5, 0.3, weights, grid) == pytest.approx(expected, rel=1e-12)


def test_grid_must_be_consecutive():
    with pytest.raises(ValueError, match="consecutive"):
        capacity_expansion_dp(np.zeros((1, 2, 3)), 1.0, 0.0, np.ones(2), 1, np.array([0, 2, 3]))
